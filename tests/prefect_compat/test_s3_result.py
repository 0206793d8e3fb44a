# Ported from https://github.com/PrefectHQ/prefect, tag 1.4.1 (commit f6648e44f514), path tests/engine/results/test_s3_result.py
# Copyright Prefect Technologies, Inc. Licensed under the Apache License, Version 2.0 (Apache-2.0).
# Changes are limited to imports, fixtures and runtime glue; each is marked "# port:".
# port: the mocked SDK clients are the session's local servers (moto_server, gcp-storage-emulator, Azurite),
# reached through the Airflow connections tests/storage_servers.py points at them; where Prefect
# asserted a mocked call (upload_fileobj(Key=...)), the port asserts the object that call stores.
import uuid  # port

import cloudpickle
import pytest

from airflow_results_provider.results import S3Result  # port: prefect.engine.results
from tests.prefect_compat.conftest import CONNECTION_CREDENTIALS  # port

pytest.importorskip("boto3")
pytest.importorskip("botocore")
pytestmark = pytest.mark.airflow  # port


@pytest.fixture
def mock_boto3(s3_server):  # port: moto_server, bucket results-test, a fresh prefix per test
    s3_server.prefix = f"prefect-compat/{uuid.uuid4().hex}"
    yield s3_server


def bucket_result(mock_boto3, **kwargs):  # port: the moto bucket and this test's prefix
    return S3Result(bucket="results-test", prefix=mock_boto3.prefix, **kwargs)


class TestS3Result:
    @pytest.mark.skip(reason=CONNECTION_CREDENTIALS)  # port
    def test_s3_client_init_uses_secrets(self, mock_boto3):
        pass  # port: boto3.client(aws_access_key_id=..., ...) from Prefect's AWS_CREDENTIALS secret

    def test_forwards_boto3_kwargs(self, mock_boto3):
        result = S3Result(bucket="mybucket", boto3_kwargs={"region_name": "a-region"})
        assert result.client is not None

        assert result.client.meta.region_name == "a-region"  # port: mock_boto3.client.call_args[1]

    def test_s3_writes_to_blob_with_rendered_filename(self, mock_boto3):
        result = bucket_result(mock_boto3, location="{thing}/here.txt")  # port: bucket="foo"

        new_result = result.write("so-much-data", thing="yes!")  # port: prefect.context(thing="yes!")

        key = f"{mock_boto3.prefix}/{new_result.location}"  # port: upload_fileobj's Key
        mock_boto3.head_object(Bucket="results-test", Key=key)
        assert new_result.location.startswith("yes!/here.txt")

    def test_s3_writes_with_upload_options(self, mock_boto3):
        upload_options = {"ServerSideEncryption": "aws:kms"}

        result = bucket_result(mock_boto3, location="{thing}/here.txt", upload_options=upload_options)

        new_result = result.write("so-much-data", thing="yes!")  # port: prefect.context(thing="yes!")

        # port: upload_fileobj's ExtraArgs -> the stored object's encryption
        head = mock_boto3.head_object(Bucket="results-test", Key=f"{mock_boto3.prefix}/{new_result.location}")
        assert head["ServerSideEncryption"] == upload_options["ServerSideEncryption"]

    def test_s3_result_is_pickleable(self, mock_boto3):
        result = S3Result(bucket="foo")
        assert result.client is not None  # port: a real (unpicklable) boto3 client from the connection

        res = cloudpickle.loads(cloudpickle.dumps(result))
        assert isinstance(res, S3Result)

    def test_s3_result_does_not_exist(self, mock_boto3):
        result = bucket_result(mock_boto3, location="stuff")
        result = result.format()
        assert result.exists("stuff") is False

    def test_s3_result_exists(self, mock_boto3):
        # port: Prefect's mocked client found any key; here "stuff" is stored in moto first
        mock_boto3.put_object(Bucket="results-test", Key=f"{mock_boto3.prefix}/stuff", Body=b"x")
        result = bucket_result(mock_boto3, location="stuff")
        result = result.format()
        assert result.exists("stuff") is True

# Ported from https://github.com/PrefectHQ/prefect, tag 0.13.19 (commit 9d78841eea41), path tests/engine/result_handlers/test_result_handlers.py
# Copyright Prefect Technologies, Inc. Licensed under the Apache License, Version 2.0 (Apache-2.0).
# Changes are limited to imports, fixtures and runtime glue; each is marked "# port:".
import os
import tempfile
from unittest.mock import MagicMock

import cloudpickle
import pendulum
import pytest

from airflow_results_provider import config as _config  # port: prefect.config
from airflow_results_provider.result_handlers import (  # port: prefect.engine.result_handlers
    AzureResultHandler,
    ConstantResultHandler,
    GCSResultHandler,
    JSONResultHandler,
    LocalResultHandler,
    ResultHandler,
    S3ResultHandler,
    SecretResultHandler,
)
from tests.prefect_compat.conftest import (  # port
    CONNECTION_CREDENTIALS,
    NO_PREFECT_HOME,
    NO_PREFECT_SECRET_TASK,
)


class TestConstantResultHandler:
    def test_instantiates_with_value(self):
        handler = ConstantResultHandler(5)
        assert handler.value == 5

        handler = ConstantResultHandler(value=10)
        assert handler.value == 10

    def test_read_returns_value(self):
        handler = ConstantResultHandler("hello world")
        assert handler.read("this param isn't used") == "hello world"

    def test_write_doesnt_overwrite_value(self):
        handler = ConstantResultHandler("untouchable!")

        handler.write("a different value")
        assert handler.value == "untouchable!"
        assert handler.read("still unused") == "untouchable!"

    def test_write_returns_value(self):
        handler = ConstantResultHandler("constant value")

        output = handler.write("a different value")
        assert output == "'constant value'"

    def test_handles_none_as_constant(self):
        handler = ConstantResultHandler(None)
        assert handler.read("still not used") is None
        output = handler.write("also not used")
        assert output == "None"


class TestJSONHandler:
    def test_json_handler_initializes_with_no_args(self):
        handler = JSONResultHandler()  # noqa: F841

    @pytest.mark.parametrize("res", [42, "stringy", None])
    def test_json_handler_writes(self, res):
        handler = JSONResultHandler()
        blob = handler.write(res)
        assert isinstance(blob, str)

    @pytest.mark.parametrize("res", [42, "stringy", None])
    def test_json_handler_writes_and_reads(self, res):
        handler = JSONResultHandler()
        final = handler.read(handler.write(res))
        assert final == res

    def test_json_handler_raises_normally(self):
        handler = JSONResultHandler()
        with pytest.raises(TypeError):
            handler.write(type(None))

    def test_json_handler_is_pickleable(self):
        handler = JSONResultHandler()
        new = cloudpickle.loads(cloudpickle.dumps(handler))
        assert isinstance(new, JSONResultHandler)


class TestLocalHandler:
    @pytest.fixture(scope="class")
    def tmp_dir(self):
        with tempfile.TemporaryDirectory() as tmp:
            yield tmp

    def test_local_handler_initializes_with_no_args(self):
        handler = LocalResultHandler()
        assert handler.dir == _config.local_dir()  # port: os.path.join(prefect.config.home_dir, "results")

    def test_local_handler_initializes_with_dir(self):
        root_dir = os.path.abspath(os.sep)
        handler = LocalResultHandler(dir=root_dir)
        assert handler.dir == root_dir

    @pytest.mark.skip(reason=NO_PREFECT_HOME)  # port
    def test_local_handler_cleverly_redirects_prefect_defaults(self):
        pass  # port: LocalResultHandler(dir=prefect.config.home_dir).dir == home_dir/results

    @pytest.mark.parametrize("res", [42, "stringy", None, type(None)])
    def test_local_handler_writes_and_writes_to_dir(self, tmp_dir, res):
        handler = LocalResultHandler(dir=tmp_dir)
        fpath = handler.write(res)
        assert isinstance(fpath, str)
        assert os.path.basename(fpath).startswith("prefect-result")

        with open(fpath, "rb") as f:
            val = f.read()
        assert isinstance(val, bytes)

    @pytest.mark.parametrize("res", [42, "stringy", None, type(None)])
    def test_local_handler_writes_and_reads(self, tmp_dir, res):
        handler = LocalResultHandler(dir=tmp_dir)
        final = handler.read(handler.write(res))
        assert final == res

    def test_local_handler_is_pickleable(self):
        handler = LocalResultHandler(dir="root")
        new = cloudpickle.loads(cloudpickle.dumps(handler))
        assert isinstance(new, LocalResultHandler)


def test_result_handler_base_class_is_a_passthrough():
    handler = ResultHandler()
    assert handler.write("foo") is None
    assert handler.read(99) is None


@pytest.mark.xfail(raises=ImportError, reason="google extras not installed.")
class TestGCSResultHandler:
    @pytest.fixture
    def google_client(self, monkeypatch):
        import google.cloud.storage  # noqa: F401

        from airflow_results_provider.results.gcs_result import GCSResult  # port

        client_util = MagicMock()
        # port: the client comes from GCSHook (GCSResult.client), not prefect.utilities.gcp.get_storage_client
        monkeypatch.setattr(GCSResult, "client", property(lambda self: client_util()))
        yield client_util

    @pytest.mark.skip(reason=CONNECTION_CREDENTIALS)  # port
    def test_gcs_init(self, google_client):
        handler = GCSResultHandler(bucket="bob")
        assert handler.bucket == "bob"
        assert handler.credentials_secret == "GOOGLE_APPLICATION_CREDENTIALS"

    def test_gcs_writes_to_blob_prefixed_by_date_suffixed_by_prefect(self, google_client):
        bucket = MagicMock()
        google_client.return_value.bucket = MagicMock(return_value=bucket)
        handler = GCSResultHandler(bucket="foo")
        handler.write("so-much-data")
        assert bucket.blob.called
        assert bucket.blob.call_args[0][0].startswith(pendulum.now("utc").format("Y/M/D"))
        assert bucket.blob.call_args[0][0].endswith("prefect_result")

    @pytest.mark.skip(reason=CONNECTION_CREDENTIALS)  # port
    def test_gcs_uses_custom_secret_name(self, google_client):
        pass  # port: GCSResultHandler(credentials_secret=...) reads a Prefect secret

    def test_gcs_writes_binary_string(self, google_client):
        blob = MagicMock()
        google_client.return_value.bucket = MagicMock(
            return_value=MagicMock(blob=MagicMock(return_value=blob))
        )
        handler = GCSResultHandler(bucket="foo")
        handler.write(None)
        assert blob.upload_from_string.called
        assert isinstance(blob.upload_from_string.call_args[0][0], str)

    def test_gcs_handler_is_pickleable(self, google_client, monkeypatch):
        class gcs_bucket:
            def __init__(self, *args, **kwargs):
                pass

            def __getstate__(self):
                raise ValueError("I cannot be pickled.")

        handler = GCSResultHandler("foo")
        res = cloudpickle.loads(cloudpickle.dumps(handler))
        assert isinstance(res, GCSResultHandler)


@pytest.mark.xfail(raises=ImportError, reason="aws extras not installed.")
class TestS3ResultHandler:
    @pytest.fixture
    def session(self, s3_server):  # port: moto_server instead of a mocked boto3 module
        yield s3_server

    @pytest.mark.skip(reason=CONNECTION_CREDENTIALS)  # port
    def test_s3_client_init_uses_secrets(self, session):
        pass  # port: handler.initialize_client() with AWS_CREDENTIALS from Prefect secrets

    @pytest.mark.skip(reason=CONNECTION_CREDENTIALS)  # port
    def test_s3_client_init_uses_custom_secrets(self, session):
        pass  # port: aws_credentials_secret="MY_FOO"

    def test_s3_writes_to_blob_prefixed_by_date_suffixed_by_prefect(self, session):
        handler = S3ResultHandler(bucket="results-test")  # port: the moto bucket

        uri = handler.write("so-much-data")

        # port: the key written (mocked upload_fileobj(Key=...) in Prefect) is listed by moto_server
        keys = [o["Key"] for o in session.list_objects_v2(Bucket="results-test")["Contents"]]
        used_uri = uri if uri in keys else None

        assert used_uri == uri
        assert used_uri.startswith(pendulum.now("utc").format("Y/M/D"))
        assert used_uri.endswith("prefect_result")

    def test_s3_handler_is_pickleable(self, session):
        handler = S3ResultHandler(bucket="foo")
        handler._client()  # port: a client was made (from the connection) before pickling
        res = cloudpickle.loads(cloudpickle.dumps(handler))
        assert isinstance(res, S3ResultHandler)

    def test_s3_uninitialized_client(self, session):
        handler = S3ResultHandler(bucket="bob")  # port: no aws_credentials_secret
        assert handler.bucket == "bob"
        assert handler._client() is not None  # port: handler.client

    @pytest.mark.skip(reason=CONNECTION_CREDENTIALS)  # port
    def test_s3_with_kwargs_invalid_service_name(self, session):
        pass  # port: boto3_kwargs service_name check of Prefect's boto3 client factory

    @pytest.mark.skip(reason=CONNECTION_CREDENTIALS)  # port
    def test_s3_with_kwarg_overwrite_aws_keys(self, session):
        pass  # port: secrets vs boto3_kwargs precedence

    @pytest.mark.skip(reason=CONNECTION_CREDENTIALS)  # port
    def test_s3_with_kwargs_aws_keys(self, session):
        pass  # port: aws keys in boto3_kwargs

    def test_s3_with_kwargs(self, session):
        from botocore.client import Config

        kw = dict(
            region_name="us-east-1",
            # port: api_version="0.0.1" dropped: a real botocore client refuses an unknown API version
            endpoint_url=session.endpoint,  # port: moto_server instead of https://minio.local/
            config=Config(
                signature_version="s3v4",
                s3=dict(region_name="us-east-1", addressing_style="path", inject_host_prefix=False),
            ),
        )
        handler = S3ResultHandler(bucket="results-test", boto3_kwargs=kw)  # port: the moto bucket
        # port: Prefect checked the mocked Session().client kwargs; here the kwargs must reach the client
        client = handler._client()
        assert client.meta.endpoint_url == session.endpoint
        assert client.meta.region_name == "us-east-1"
        assert client.meta.config.s3["addressing_style"] == "path"
        assert handler.bucket == "results-test"


@pytest.mark.xfail(raises=ImportError, reason="azure extras not installed.")
class TestAzureResultHandler:
    @pytest.mark.skip(reason=CONNECTION_CREDENTIALS)  # port
    def test_azure_service_init_uses_secrets_with_account_key(self):
        pass

    @pytest.mark.skip(reason=CONNECTION_CREDENTIALS)  # port
    def test_azure_service_init_uses_secrets_with_sas_token(self):
        pass

    @pytest.mark.skip(reason=CONNECTION_CREDENTIALS)  # port
    def test_azure_service_init_uses_custom_secrets(self):
        pass

    @pytest.mark.skip(reason=CONNECTION_CREDENTIALS)  # port
    def test_azure_service_init_uses_connection_string_over_secret(self):
        pass

    def test_azure_service_writes_to_blob_prefixed_by_date_suffixed_by_prefect(self, azure_server):
        handler = AzureResultHandler(container="results-test")  # port: the Azurite container

        uri = handler.write("so-much-data")

        # port: the blob written (mocked create_blob_from_text(blob_name=...) in Prefect) is listed by Azurite
        names = [b.name for b in azure_server.get_container_client("results-test").list_blobs()]
        used_uri = uri if uri in names else None

        assert used_uri == uri
        assert used_uri.startswith(pendulum.now("utc").format("Y/M/D"))
        assert used_uri.endswith("prefect_result")

    def test_azure_service_handler_is_pickleable(self, azure_server):
        handler = AzureResultHandler(container="foo")
        handler._blob("x")  # port: a service client was made before pickling
        res = cloudpickle.loads(cloudpickle.dumps(handler))
        assert isinstance(res, AzureResultHandler)


class TestSecretHandler:
    @pytest.fixture
    def secret_task(self):
        return "test"  # port: an Airflow Variable name instead of PrefectSecret(name="test")

    @pytest.mark.skip(reason=NO_PREFECT_SECRET_TASK)  # port
    def test_secret_handler_requires_secret_task_at_init(self):
        pass

    @pytest.mark.skip(reason=NO_PREFECT_SECRET_TASK)  # port
    def test_secret_handler_initializes_with_secret_task(self, secret_task):
        pass

    @pytest.mark.parametrize("res", [42, "stringy", None, dict(blah=lambda x: None)])
    def test_secret_handler_writes_by_only_returning_name(self, res, secret_task):
        handler = SecretResultHandler(secret_task)
        out = handler.write(res)
        assert out == "test"

    @pytest.mark.parametrize("res", [42, "stringy", None])
    def test_secret_handler_writes_and_reads(self, res, secret_task, monkeypatch):
        handler = SecretResultHandler(secret_task)
        # port: Variable "test" from the environment instead of prefect.context(secrets=...)
        from airflow_results_provider.results.secret_result import SecretResult

        monkeypatch.setattr(SecretResult, "_fetch", lambda self, name: {"test": res}[name])
        final = handler.read(handler.write(res))
        assert final == res

    @pytest.mark.skip(reason=NO_PREFECT_SECRET_TASK)  # port
    def test_secret_handler_can_use_any_secret_type(self):
        pass

    def test_secret_handler_is_pickleable(self, secret_task):
        handler = SecretResultHandler(secret_task)
        new = cloudpickle.loads(cloudpickle.dumps(handler))
        assert isinstance(new, SecretResultHandler)

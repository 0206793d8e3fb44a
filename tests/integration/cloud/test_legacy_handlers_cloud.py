"""Payloads written by Prefect's cloud result handlers (base64 cloudpickle blobs) are read back through the
handlers and through the matching Results; the handlers write the same format."""

from __future__ import annotations

import base64
import warnings

import cloudpickle
import pytest

from tests.integration.cloud.test_cloud_results import BUCKET

pytestmark = pytest.mark.airflow
KEY = "2020/01/02/3f1c2b9a-0d4e-4c8e-9a51-2b7d8a1e5f00.prefect_result"
VALUE = {"legacy": True, "rows": [1, 2, 3]}
OLD_BLOB = base64.b64encode(cloudpickle.dumps(VALUE))  # byte for byte what Prefect 0.x uploaded


def converted(handler):
    from airflow_results_provider.result_handlers import convert_result_handler

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return convert_result_handler(handler)


def assert_readable_once_signed(result):
    """Through a Result, an old blob (no sidecar, nobody holding the key vouched for it) is refused until the
    operator signs it: ``airflow results sign --bare-serializer <the Result's serializer>``."""
    from airflow_results_provider.exceptions import UnsignedRecordError
    from airflow_results_provider.index.resign import sign_stores

    with pytest.raises(UnsignedRecordError):
        result.read(KEY)
    plan = sign_stores(
        [result.store_spec()], prefix=KEY, bare_serializer=result.serializer.label, dry_run=False
    )
    assert (plan.signed, plan.errors) == (1, [])
    assert result.read(KEY).value == VALUE


def test_s3(s3_server):
    from airflow_results_provider.result_handlers import S3ResultHandler

    s3_server.put_object(Bucket=BUCKET, Key=KEY, Body=OLD_BLOB)
    handler = S3ResultHandler(BUCKET)
    assert handler.read(KEY) == VALUE
    assert_readable_once_signed(converted(handler))
    ref = handler.write([9])
    assert ref.endswith(".prefect_result")
    assert s3_server.get_object(Bucket=BUCKET, Key=ref)["Body"].read() == base64.b64encode(
        cloudpickle.dumps([9])
    )


def test_gcs(gcs_server):
    from airflow_results_provider.result_handlers import GCSResultHandler

    gcs_server.bucket(BUCKET).blob(KEY).upload_from_string(OLD_BLOB)
    handler = GCSResultHandler(BUCKET)
    assert handler.read(KEY) == VALUE
    assert_readable_once_signed(converted(handler))
    ref = handler.write([9])
    assert cloudpickle.loads(base64.b64decode(gcs_server.bucket(BUCKET).blob(ref).download_as_bytes())) == [9]


def test_azure(azure_server):
    from airflow_results_provider.result_handlers import AzureResultHandler

    azure_server.get_blob_client(container=BUCKET, blob=KEY).upload_blob(OLD_BLOB, overwrite=True)
    handler = AzureResultHandler(BUCKET)
    assert handler.read(KEY) == VALUE
    assert_readable_once_signed(converted(handler))
    ref = handler.write([9])
    blob = azure_server.get_blob_client(container=BUCKET, blob=ref).download_blob().readall()
    assert cloudpickle.loads(base64.b64decode(blob)) == [9]

# Ported from https://github.com/PrefectHQ/prefect, tag 1.4.1 (commit f6648e44f514), path tests/engine/results/test_gcs_result.py
# Copyright Prefect Technologies, Inc. Licensed under the Apache License, Version 2.0 (Apache-2.0).
# Changes are limited to imports, fixtures and runtime glue; each is marked "# port:".
# port: the mocked SDK clients are the session's local servers (moto_server, gcp-storage-emulator, Azurite),
# reached through the Airflow connections tests/storage_servers.py points at them; where Prefect
# asserted a mocked call (upload_fileobj(Key=...)), the port asserts the object that call stores.
import uuid  # port
from unittest.mock import MagicMock

import cloudpickle
import pytest

from airflow_results_provider.results import GCSResult  # port: prefect.engine.results

pytest.importorskip("google.cloud")
pytestmark = pytest.mark.airflow  # port


class TestGCSResult:
    @pytest.fixture
    def google_client(self, monkeypatch):
        # port: where only the call shape is under test, the hook's client is mocked
        # (GCSResult.client instead of prefect.utilities.gcp.get_storage_client)
        client_util = MagicMock()
        monkeypatch.setattr(GCSResult, "client", property(lambda self: client_util()))
        yield client_util

    @pytest.fixture
    def emulator(self, gcs_server):  # port: gcp-storage-emulator, bucket results-test, a fresh prefix
        gcs_server.prefix = f"prefect-compat/{uuid.uuid4().hex}"
        yield gcs_server

    def test_gcs_init(self, google_client):
        result = GCSResult(bucket="bob")
        assert result.value is None
        assert result.bucket == "bob"
        assert google_client.called is False
        result.client.bucket(result.bucket)  # port: result.gcs_bucket()
        assert google_client.return_value.bucket.call_args[0][0] == "bob"

    def test_gcs_init_with_value(self):
        result = GCSResult(value=3, bucket="bob")
        assert result.value == 3

    def test_gcs_writes_to_blob_using_rendered_template_name(self, emulator):
        result = GCSResult(bucket="results-test", prefix=emulator.prefix, location="{thing}/here.txt")  # port
        new_result = result.write("so-much-data", thing=42)

        assert new_result.location == "42/here.txt"
        # port: bucket.blob("42/here.txt") was called -> the blob exists in the emulator
        assert emulator.bucket("results-test").get_blob(f"{emulator.prefix}/42/here.txt") is not None

    def test_gcs_reads_and_updates_location(self, emulator):
        # port: the mocked blob downloaded b"" -> an empty object in the emulator
        emulator.bucket("results-test").blob(f"{emulator.prefix}/path/to/my/stuff.txt").upload_from_string(
            b""
        )
        result = GCSResult(bucket="results-test", prefix=emulator.prefix, location="{thing}/here.txt")  # port
        new_result = result.read("path/to/my/stuff.txt")

        assert new_result.location == "path/to/my/stuff.txt"
        assert new_result.value is None

    def test_gcs_writes_binary_string(self, emulator):
        result = GCSResult(bucket="results-test", prefix=emulator.prefix, location="nothing/here.txt")  # port
        new_result = result.write(None)  # noqa: F841
        # port: blob.upload_from_string(<bytes>) -> the stored object holds those bytes
        blob = emulator.bucket("results-test").get_blob(f"{emulator.prefix}/nothing/here.txt")
        assert blob is not None
        assert isinstance(blob.download_as_bytes(), bytes)

    def test_gcs_result_is_pickleable(self, google_client, monkeypatch):
        class gcs_bucket:
            def __init__(self, *args, **kwargs):
                pass

            def __getstate__(self):
                raise ValueError("I cannot be pickled.")

        result = GCSResult("foo")
        res = cloudpickle.loads(cloudpickle.dumps(result))
        assert isinstance(res, GCSResult)

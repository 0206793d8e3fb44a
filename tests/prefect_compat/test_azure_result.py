# Ported from https://github.com/PrefectHQ/prefect, tag 1.4.1 (commit f6648e44f514), path tests/engine/results/test_azure_result.py
# Copyright Prefect Technologies, Inc. Licensed under the Apache License, Version 2.0 (Apache-2.0).
# Changes are limited to imports, fixtures and runtime glue; each is marked "# port:".
# port: the mocked SDK clients are the session's local servers (moto_server, gcp-storage-emulator, Azurite),
# reached through the Airflow connections tests/storage_servers.py points at them; where Prefect
# asserted a mocked call (upload_fileobj(Key=...)), the port asserts the object that call stores.
import uuid  # port

import cloudpickle
import pytest

from airflow_results_provider.results import AzureResult  # port: prefect.engine.results
from tests.prefect_compat.conftest import CONNECTION_CREDENTIALS  # port

pytest.importorskip("azure.storage.blob")
pytestmark = pytest.mark.airflow  # port


class TestAzureResult:
    @pytest.fixture
    def azurite(self, azure_server):  # port: Azurite, container results-test, a fresh prefix per test
        azure_server.prefix = f"prefect-compat/{uuid.uuid4().hex}"
        yield azure_server

    def container_result(self, azurite, **kwargs):  # port: the Azurite container and this test's prefix
        return AzureResult(container="results-test", prefix=azurite.prefix, **kwargs)

    @pytest.mark.skip(reason=CONNECTION_CREDENTIALS)  # port
    def test_azure_init(self):
        pass  # port: AzureResult(connection_string=...), connection_string_secret, initialize_service()

    def test_azure_init_with_values(self):
        result = AzureResult(container="bob", value=3)  # port: connection_string="conn" is the connection's
        assert result.value == 3

    @pytest.mark.skip(reason=CONNECTION_CREDENTIALS)  # port
    def test_azure_init_without_connection_string(self):
        pass

    @pytest.mark.skip(reason=CONNECTION_CREDENTIALS)  # port
    def test_azure_init_connection_string(self):
        pass

    @pytest.mark.skip(reason=CONNECTION_CREDENTIALS)  # port
    def test_azure_init_connection_string_without_key(self):
        pass

    def test_azure_writes_to_blob_using_rendered_template_name(self, azurite):
        result = self.container_result(azurite, location="{thing}/here.txt")  # port: container="foo"
        new_result = result.write("so-much-data", thing=42)

        assert new_result.location == "42/here.txt"
        # port: get_blob_client(container=, blob="42/here.txt").upload_blob was called -> the blob exists
        blob = azurite.get_blob_client(container="results-test", blob=f"{azurite.prefix}/42/here.txt")
        assert blob.exists()

    def test_azure_reads_and_updates_location(self, azurite):
        # port: the mocked download returned b"" -> an empty blob in Azurite
        azurite.get_blob_client(
            container="results-test", blob=f"{azurite.prefix}/path/to/my/stuff.txt"
        ).upload_blob(b"")
        result = self.container_result(azurite, location="{thing}/here.txt")
        new_result = result.read("path/to/my/stuff.txt")

        assert new_result.location == "path/to/my/stuff.txt"
        assert new_result.value is None

    def test_azure_writes_binary_string(self, azurite):
        result = self.container_result(azurite, location="nothing/here.txt")
        new_result = result.write(None)  # noqa: F841
        # port: upload_blob(<bytes>) -> the stored blob holds those bytes
        blob = azurite.get_blob_client(container="results-test", blob=f"{azurite.prefix}/nothing/here.txt")
        assert isinstance(blob.download_blob().readall(), bytes)

    def test_azure_result_is_pickleable(self):
        result = AzureResult("foo")
        res = cloudpickle.loads(cloudpickle.dumps(result))
        assert isinstance(res, AzureResult)

    @pytest.mark.parametrize("exists", [True, False])
    def test_azure_exists(self, azurite, exists):
        if exists:  # port: the mocked client answered `exists`; here the blob is stored in Azurite first
            azurite.get_blob_client(container="results-test", blob=f"{azurite.prefix}/44.txt").upload_blob(
                b"x"
            )
        result = self.container_result(azurite, location="{thing}/here.txt")
        assert result.exists("44.txt") is exists

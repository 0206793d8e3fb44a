"""AzureResultHandler: base64 cloudpickle blobs in a container, through WasbHook (Prefect 0.x format)."""

from __future__ import annotations

from typing import Any

from airflow_results_provider.result_handlers import _blob_format
from airflow_results_provider.result_handlers.result_handler import ResultHandler


class AzureResultHandler(ResultHandler):
    """``write`` uploads ``base64(cloudpickle(value))`` to ``YYYY/M/D/<uuid>.prefect_result`` and returns the name."""

    def __init__(self, container: str, wasb_conn_id: str = "wasb_default") -> None:
        self.container = container
        self.wasb_conn_id = wasb_conn_id

    def _blob(self, name: str) -> Any:
        from airflow_results_provider.results.azure_result import AzureResult

        return AzureResult(self.container, wasb_conn_id=self.wasb_conn_id)._blob(name)

    def write(self, result: Any) -> str:
        key = _blob_format.new_key()
        self._blob(key).upload_blob(_blob_format.encode(result), overwrite=True)
        return key

    def read(self, uri: str) -> Any:
        return _blob_format.decode(self._blob(uri).download_blob().readall())

    def _as_result(self) -> tuple[Any, str]:
        """The Result that replaces this handler, and how to spell it (for the deprecation warning)."""
        from airflow_results_provider.results.azure_result import AzureResult

        return AzureResult(
            self.container, wasb_conn_id=self.wasb_conn_id
        ), f"AzureResult(container={self.container!r})"

    def _as_result(self) -> tuple[Any, str]:
        """The Result that replaces this handler, and how to spell it (for the deprecation warning)."""
        from airflow_results_provider.results.azure_result import AzureResult

        return AzureResult(
            self.container, wasb_conn_id=self.wasb_conn_id
        ), f"AzureResult(container={self.container!r})"

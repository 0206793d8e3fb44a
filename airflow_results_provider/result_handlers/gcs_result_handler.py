"""GCSResultHandler: base64 cloudpickle blobs in a bucket, through GCSHook (Prefect 0.x format)."""

from __future__ import annotations

from typing import Any

from airflow_results_provider.result_handlers import _blob_format
from airflow_results_provider.result_handlers.result_handler import ResultHandler


class GCSResultHandler(ResultHandler):
    """``write`` uploads ``base64(cloudpickle(value))`` to ``YYYY/M/D/<uuid>.prefect_result`` and returns the name."""

    def __init__(self, bucket: str, gcp_conn_id: str = "google_cloud_default") -> None:
        self.bucket = bucket
        self.gcp_conn_id = gcp_conn_id

    def _bucket(self) -> Any:
        from airflow_results_provider.results.gcs_result import GCSResult

        return GCSResult(self.bucket, gcp_conn_id=self.gcp_conn_id).client.bucket(self.bucket)

    def write(self, result: Any) -> str:
        key = _blob_format.new_key()
        self._bucket().blob(key).upload_from_string(_blob_format.encode(result).decode("ascii"))
        return key

    def read(self, uri: str) -> Any:
        return _blob_format.decode(self._bucket().blob(uri).download_as_bytes())

    def _as_result(self) -> tuple[Any, str]:
        """The Result that replaces this handler, and how to spell it (for the deprecation warning)."""
        from airflow_results_provider.results.gcs_result import GCSResult

        return GCSResult(self.bucket, gcp_conn_id=self.gcp_conn_id), f"GCSResult(bucket={self.bucket!r})"

    def _as_result(self) -> tuple[Any, str]:
        """The Result that replaces this handler, and how to spell it (for the deprecation warning)."""
        from airflow_results_provider.results.gcs_result import GCSResult

        return GCSResult(self.bucket, gcp_conn_id=self.gcp_conn_id), f"GCSResult(bucket={self.bucket!r})"

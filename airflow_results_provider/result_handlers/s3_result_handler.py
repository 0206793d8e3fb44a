"""S3ResultHandler: base64 cloudpickle objects in a bucket, through S3Hook (Prefect 0.x format)."""

from __future__ import annotations

from typing import Any

from airflow_results_provider.result_handlers import _blob_format
from airflow_results_provider.result_handlers.result_handler import ResultHandler


class S3ResultHandler(ResultHandler):
    """``write`` uploads ``base64(cloudpickle(value))`` to ``YYYY/M/D/<uuid>.prefect_result`` and returns the key."""

    def __init__(
        self, bucket: str, aws_conn_id: str = "aws_default", boto3_kwargs: dict | None = None
    ) -> None:
        self.bucket = bucket
        self.aws_conn_id = aws_conn_id
        self.boto3_kwargs = dict(boto3_kwargs or {})

    def _client(self) -> Any:
        from airflow_results_provider.results.s3_result import S3Result

        return S3Result(self.bucket, aws_conn_id=self.aws_conn_id, boto3_kwargs=self.boto3_kwargs).client

    def write(self, result: Any) -> str:
        key = _blob_format.new_key()
        self._client().put_object(Bucket=self.bucket, Key=key, Body=_blob_format.encode(result))
        return key

    def read(self, uri: str) -> Any:
        body = self._client().get_object(Bucket=self.bucket, Key=uri)["Body"].read()
        return _blob_format.decode(body)

    def _as_result(self) -> tuple[Any, str]:
        """The Result that replaces this handler, and how to spell it (for the deprecation warning)."""
        from airflow_results_provider.results.s3_result import S3Result

        kwargs = f", boto3_kwargs={self.boto3_kwargs!r}" if self.boto3_kwargs else ""
        result = S3Result(self.bucket, aws_conn_id=self.aws_conn_id, boto3_kwargs=self.boto3_kwargs)
        return result, f"S3Result(bucket={self.bucket!r}{kwargs})"

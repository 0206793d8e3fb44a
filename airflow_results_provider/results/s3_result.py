"""S3Result: payloads as S3 objects through the amazon provider's S3Hook (``pip install ...[amazon]``)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import IO, Any, ClassVar
from urllib.parse import quote

from airflow_results_provider.results.base import Location
from airflow_results_provider.results.bucket_result import BucketResult
from airflow_results_provider.results.part_writer import PART_SIZE, BufferedPartWriter
from airflow_results_provider.results.storage import PayloadWriter
from airflow_results_provider.serializers.base import Serializer


def _error_code(exc: Exception) -> str:
    """The S3 error code of a botocore ``ClientError``; ``""`` for errors with no response (connection reset,
    timeout: their ``response`` is ``None``)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    return str((response.get("Error") or {}).get("Code", ""))


class S3Result(BucketResult):
    """Stores payloads in ``s3://bucket/prefix/<location>`` through ``S3Hook(aws_conn_id)``.

    Large values stream as a multipart upload (one 8 MB part in memory at a time) that becomes visible only when
    completed; a failed write aborts it and the previous object stays. ``exists`` is one HEAD request.

    :param bucket: the bucket.
    :param location: template or callable giving the key under ``prefix``.
    :param aws_conn_id: Airflow connection (``aws_default``).
    :param upload_options: extra arguments of every upload, e.g. ``{"ServerSideEncryption": "aws:kms"}``.
    :param prefix: key prefix inside the bucket.
    :param boto3_kwargs: extra arguments of the boto3 client (Prefect's ``boto3_kwargs``: ``endpoint_url``,
        ``region_name``, ``config``, ...), over those of the connection; credentials stay the connection's.
    """

    scheme: ClassVar[str] = "s3"
    container_attr: ClassVar[str] = "bucket"
    conn_attr: ClassVar[str] = "aws_conn_id"
    default_conn_id: ClassVar[str] = "aws_default"
    hook_path: ClassVar[tuple[str, str, str]] = ("airflow.providers.amazon.aws.hooks.s3", "S3Hook", "amazon")
    conditional_writes: ClassVar[bool] = True
    provider: ClassVar[str] = "S3"

    def __init__(
        self,
        bucket: str,
        location: Location | None = None,
        serializer: Serializer | None = None,
        aws_conn_id: str = "aws_default",
        upload_options: dict[str, Any] | None = None,
        prefix: str = "",
        part_size: int = PART_SIZE,
        boto3_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self.aws_conn_id = aws_conn_id
        self.upload_options = dict(upload_options or {})
        self.boto3_kwargs = dict(boto3_kwargs or {})
        self.part_size = part_size
        super().__init__(bucket, location=location, serializer=serializer, prefix=prefix, **kwargs)

    @property
    def client(self) -> Any:
        """The connection's S3 client; with ``boto3_kwargs``, one made from the connection's session with them."""
        client = super().client
        if not self.boto3_kwargs:
            return client

        def make() -> Any:
            meta = client.meta
            kwargs = {"endpoint_url": meta.endpoint_url, "region_name": meta.region_name, **self.boto3_kwargs}
            return self.hook.get_session(region_name=kwargs["region_name"]).client("s3", **kwargs)

        key = ("boto3", self.aws_conn_id, repr(sorted(self.boto3_kwargs.items())))
        return self.client_cache.get(key, make)

    def console_url(self, key: str) -> str | None:
        return f"https://s3.console.aws.amazon.com/s3/object/{self.bucket}?prefix={quote(key)}"

    @staticmethod
    def _is_not_found(exc: Exception) -> bool:
        return _error_code(exc) in ("404", "NoSuchKey", "NotFound")

    def _error_detail(self, exc: Exception) -> str:
        return _error_code(exc) or type(exc).__name__

    def _open_key_writer(self, key: str) -> PayloadWriter:
        return _MultipartWriter(self, key)

    def _list_keys(self, key_prefix: str) -> Iterator[tuple[str, int, Any]]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=key_prefix):
            for item in page.get("Contents", ()):
                yield item["Key"], item.get("Size", 0), item.get("LastModified")

    def _open_key_reader(self, key: str) -> IO[bytes]:
        return self._call(key, "read", lambda: self.client.get_object(Bucket=self.bucket, Key=key)["Body"])

    def _head(self, key: str) -> dict[str, Any] | None:
        head = self._call(key, "HEAD", lambda: self.client.head_object(Bucket=self.bucket, Key=key), None)
        return None if head is None else {"size": head.get("ContentLength"), "etag": head.get("ETag")}

    def _get_small(self, key: str) -> bytes | None:
        return self._call(
            key, "read", lambda: self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read(), None
        )

    def _put_small(self, key: str, data: bytes) -> None:
        self._call(
            key,
            "write",
            lambda: self.client.put_object(Bucket=self.bucket, Key=key, Body=data, **self.upload_options),
        )

    def _create_if_absent(self, key: str, data: bytes) -> bool:
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, IfNoneMatch="*")
        except Exception as exc:
            if _error_code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409"):
                return False
            raise self._fail(exc, key, "write") from exc
        return True

    def _delete_key(self, key: str) -> bool:
        if self._head(key) is None:
            return False
        self._call(key, "delete", lambda: self.client.delete_object(Bucket=self.bucket, Key=key))
        return True


class _MultipartWriter(BufferedPartWriter):
    def __init__(self, result: S3Result, key: str) -> None:
        super().__init__(result.part_size, result.upload_parallelism)
        self.result, self.key = result, key
        self.upload_id: str | None = None
        self.etags: dict[int, dict[str, Any]] = {}

    @functools.cached_property
    def _client(self) -> Any:
        return self.result.client

    def begin(self) -> None:
        r = self.result
        try:
            created = self._client.create_multipart_upload(Bucket=r.bucket, Key=self.key, **r.upload_options)
        except Exception as exc:
            raise r._fail(exc, self.key, "multipart upload") from exc
        self.upload_id = created["UploadId"]

    def upload_part(self, data: bytes, index: int) -> None:
        r = self.result
        number = index + 1
        try:
            part = self._client.upload_part(
                Bucket=r.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=data
            )
        except Exception as exc:
            raise r._fail(exc, self.key, "multipart upload") from exc
        self.etags[index] = {"PartNumber": number, "ETag": part["ETag"]}

    def finish(self, small: bytes | None) -> None:
        r = self.result
        if small is not None:
            r._put_small(self.key, small)
            return
        try:
            self._client.complete_multipart_upload(
                Bucket=r.bucket,
                Key=self.key,
                UploadId=self.upload_id,
                MultipartUpload={"Parts": [self.etags[i] for i in sorted(self.etags)]},
            )
        except Exception as exc:
            self.discard()
            raise r._fail(exc, self.key, "multipart completion") from exc

    def discard(self) -> None:
        if self.upload_id is not None:
            try:
                self._client.abort_multipart_upload(
                    Bucket=self.result.bucket, Key=self.key, UploadId=self.upload_id
                )
            except Exception:  # best effort: a lifecycle rule cleans up what an abort could not
                pass

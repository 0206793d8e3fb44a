"""GCSResult: payloads as Google Cloud Storage objects through the google provider's GCSHook (``[google]``)."""

from __future__ import annotations

from typing import IO, Any, ClassVar
from urllib.parse import quote

from airflow_results_provider.results._object_store import ObjectStoreResult
from airflow_results_provider.results.base import Location, PayloadWriter
from airflow_results_provider.serializers.base import Serializer

CHUNK_SIZE = 32 * 1024 * 1024  # resumable upload / ranged download chunk (a multiple of 256 KiB)


class GCSResult(ObjectStoreResult):
    """Stores payloads in ``gs://bucket/prefix/<location>`` through ``GCSHook(gcp_conn_id)``.

    Large values stream as a resumable upload (32 MB chunks) that only creates the object when finalized; a
    failed write never finalizes, so the previous object stays. ``exists`` is one metadata GET.
    """

    scheme: ClassVar[str] = "gs"
    container_attr: ClassVar[str] = "bucket"
    conn_attr: ClassVar[str] = "gcp_conn_id"
    default_conn_id: ClassVar[str] = "google_cloud_default"
    hook_path: ClassVar[tuple[str, str, str]] = (
        "airflow.providers.google.cloud.hooks.gcs",
        "GCSHook",
        "google",
    )
    conditional_writes: ClassVar[bool] = True
    provider: ClassVar[str] = "GCS"

    def __init__(
        self,
        bucket: str,
        location: Location | None = None,
        serializer: Serializer | None = None,
        gcp_conn_id: str = "google_cloud_default",
        prefix: str = "",
        chunk_size: int = CHUNK_SIZE,
        **kwargs: Any,
    ) -> None:
        self.gcp_conn_id = gcp_conn_id
        self.chunk_size = chunk_size
        super().__init__(bucket, location=location, serializer=serializer, prefix=prefix, **kwargs)

    def _blob(self, key: str) -> Any:
        return self.client.bucket(self.bucket).blob(key, chunk_size=self.chunk_size)

    def console_url(self, key: str) -> str | None:
        return f"https://console.cloud.google.com/storage/browser/_details/{self.bucket}/{quote(key)}"

    @staticmethod
    def _is_not_found(exc: Exception) -> bool:
        return type(exc).__name__ == "NotFound" or getattr(exc, "code", None) == 404

    def _open_key_writer(self, key: str) -> PayloadWriter:
        return _ResumableWriter(self, key)

    def _open_key_reader(self, key: str) -> IO[bytes]:
        blob = self._blob(key)

        def open_blob() -> IO[bytes]:
            blob.reload()
            return blob.open("rb", chunk_size=self.chunk_size)

        return self._call(key, "read", open_blob)

    def _head(self, key: str) -> dict[str, Any] | None:
        blob = self._call(key, "metadata GET", lambda: self.client.bucket(self.bucket).get_blob(key))
        return None if blob is None else {"size": blob.size, "generation": blob.generation}

    def _get_small(self, key: str) -> bytes | None:
        return self._call(key, "read", lambda: self._blob(key).download_as_bytes(), None)

    def _put_small(self, key: str, data: bytes) -> None:
        self._call(key, "write", lambda: self.client.bucket(self.bucket).blob(key).upload_from_string(data))

    def _delete_key(self, key: str) -> bool:
        deleted = self._call(key, "delete", lambda: self.client.bucket(self.bucket).blob(key).delete(), False)
        return deleted is not False

    def _create_if_absent(self, key: str, data: bytes) -> bool:
        try:
            self.client.bucket(self.bucket).blob(key).upload_from_string(data, if_generation_match=0)
        except Exception as exc:
            if type(exc).__name__ == "PreconditionFailed" or getattr(exc, "code", None) == 412:
                return False
            raise self._fail(exc, key, "write") from exc
        return True


class _ResumableWriter(PayloadWriter):
    """A resumable upload session: the object exists only after ``commit`` finalizes it."""

    def __init__(self, result: GCSResult, key: str) -> None:
        self.result, self.key = result, key
        try:
            self._writer = result._blob(key).open("wb", chunk_size=result.chunk_size, ignore_flush=True)
        except Exception as exc:
            raise result._fail(exc, key, "upload") from exc

    def write(self, data: bytes | memoryview) -> int:
        # BlobWriter buffers a whole write() before uploading: feed it one chunk at a time, so a large
        # pickle-5 buffer is never copied whole.
        view = memoryview(data).cast("B")
        step = self.result.chunk_size
        try:
            for start in range(0, view.nbytes, step):
                self._writer.write(view[start : start + step])
        except Exception as exc:
            raise self.result._fail(exc, self.key, "upload") from exc
        return view.nbytes

    def commit(self) -> None:
        try:
            self._writer.close()  # uploads the last chunk and finalizes the object
        except Exception as exc:
            raise self.result._fail(exc, self.key, "upload") from exc

    def abort(self) -> None:
        # An unfinalized resumable session creates no object; dropping it leaves the previous one in place.
        pass

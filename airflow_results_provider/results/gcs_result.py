"""GCSResult: payloads as Google Cloud Storage objects through the google provider's GCSHook (``[google]``)."""

from __future__ import annotations

import io
import queue
import threading
from collections.abc import Iterator
from typing import IO, Any, ClassVar
from urllib.parse import quote

from airflow_results_provider.results.base import Location
from airflow_results_provider.results.bucket_result import BucketResult
from airflow_results_provider.results.storage import PayloadWriter
from airflow_results_provider.serializers.base import Serializer

CHUNK_SIZE = 32 * 1024 * 1024  # resumable upload chunk (a multiple of 256 KiB)
#: A read is one streaming GET on a helper thread, handed over in pieces of this size through a queue of at
#: most _READ_QUEUE pieces (so a read holds at most ~16 MB besides what the caller keeps).
_READ_PIECE = 1024 * 1024
_READ_QUEUE = 16


class GCSResult(BucketResult):
    """Stores payloads in ``gs://bucket/prefix/<location>`` through ``GCSHook(gcp_conn_id)``.

    Large values stream as a resumable upload (32 MB chunks) that only creates the object when finalized; a
    failed write never finalizes, so the previous object stays. Reads are one streaming GET (checksum-validated by the
    client), as ``download_to_file`` does. ``exists`` is one metadata GET.
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
        # No chunk_size on the blob: with one, downloads become ranged requests that hold each whole range in
        # memory (unvalidated); the upload's chunk size is given to blob.open() by the writer.
        return self.client.bucket(self.bucket).blob(key)

    def console_url(self, key: str) -> str | None:
        return f"https://console.cloud.google.com/storage/browser/_details/{self.bucket}/{quote(key)}"

    @staticmethod
    def _is_not_found(exc: Exception) -> bool:
        return type(exc).__name__ == "NotFound" or getattr(exc, "code", None) == 404

    def _open_key_writer(self, key: str) -> PayloadWriter:
        return _ResumableWriter(self, key)

    def _list_keys(self, key_prefix: str) -> Iterator[tuple[str, int, Any]]:
        for blob in self.client.bucket(self.bucket).list_blobs(prefix=key_prefix):
            yield blob.name, blob.size or 0, blob.updated

    def _open_key_reader(self, key: str) -> IO[bytes]:
        blob = self._blob(key)

        def open_blob() -> IO[bytes]:
            blob.reload()
            return _StreamingDownload(blob)  # type: ignore[return-value]

        return self._call(key, "read", open_blob)

    def _head(self, key: str) -> dict[str, Any] | None:
        blob = self._call(key, "metadata GET", lambda: self.client.bucket(self.bucket).get_blob(key))
        return None if blob is None else {"size": blob.size, "generation": blob.generation}

    def _get_small(self, key: str) -> bytes | None:
        return self._call(key, "read", lambda: self._blob(key).download_as_bytes(), None)

    def _put_small(self, key: str, data: bytes) -> None:
        self._call(key, "write", lambda: self._blob(key).upload_from_string(data))

    def _delete_key(self, key: str) -> bool:
        deleted = self._call(key, "delete", lambda: self._blob(key).delete(), False)
        return deleted is not False

    def _create_if_absent(self, key: str, data: bytes) -> bool:
        try:
            self._blob(key).upload_from_string(data, if_generation_match=0)
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


class _StreamingDownload(io.RawIOBase):
    """``blob.download_to_file`` (one GET) on a helper thread, read through a bounded queue."""

    def __init__(self, blob: Any) -> None:
        super().__init__()
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=_READ_QUEUE)
        self._piece = memoryview(b"")
        self._cancelled = False
        self._finished = False
        self._thread = threading.Thread(
            target=self._download, args=(blob,), name="results-gcs-read", daemon=True
        )
        self._thread.start()

    def _download(self, blob: Any) -> None:
        sink = _QueueSink(self)
        try:
            blob.download_to_file(sink)
            sink.flush()
            self._queue.put(None)
        except BaseException as exc:  # handed to the reader
            self._queue.put(exc)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while not self._piece.nbytes:
            if self._finished:
                return 0
            item = self._queue.get()
            if item is None:
                self._finished = True
                return 0
            if isinstance(item, BaseException):
                self._finished = True
                raise item
            self._piece = memoryview(item)
        n = min(view.nbytes, self._piece.nbytes)
        view[:n] = self._piece[:n]
        self._piece = self._piece[n:]
        return n

    def close(self) -> None:
        if not self.closed and self._thread.is_alive():
            self._cancelled = True
            while self._thread.is_alive():  # unblock a full queue until the downloader stops
                try:
                    self._queue.get(timeout=0.1)
                except queue.Empty:
                    pass
        super().close()


class _QueueSink:
    def __init__(self, reader: _StreamingDownload) -> None:
        self._reader = reader
        self._pending = bytearray()

    def write(self, data: Any) -> int:
        if self._reader._cancelled:
            raise OSError("read cancelled")
        self._pending += data
        if len(self._pending) >= _READ_PIECE:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self._pending:
            self._reader._queue.put(bytes(self._pending))
            self._pending = bytearray()

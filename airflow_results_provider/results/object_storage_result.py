"""ObjectStorageResult: payloads at any Airflow ``ObjectStoragePath`` URL (s3://, gs://, abfs://, file://, memory://)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import IO, Any, ClassVar
from urllib.parse import urlsplit

from airflow_results_provider.results.base import Location
from airflow_results_provider.results.bucket_result import BucketResult
from airflow_results_provider.results.storage import PayloadWriter
from airflow_results_provider.serializers.base import Serializer


class ObjectStorageResult(BucketResult):
    """Stores payloads under ``base`` (an ``ObjectStoragePath`` URL, ``conn_id@bucket`` form accepted).

    Writes stream to a temporary key beside the target and are moved into place when complete (a rename on
    file systems, a server-side copy on object stores), so a failed write never replaces the previous object.
    """

    scheme: ClassVar[str] = "objectstorage"
    container_attr: ClassVar[str] = "base"
    _transient = ("_hook_cache", "_path_cache")

    def __init__(
        self,
        base: str,
        location: Location | None = None,
        serializer: Serializer | None = None,
        conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.conn_id = conn_id
        # The base URL plays the bucket's part; keys are the locations themselves (no prefix).
        super().__init__(base.rstrip("/"), location=location, serializer=serializer, **kwargs)

    def _validate_container(self, container: str) -> None:
        if "://" not in container:
            raise ValueError(
                f"ObjectStorageResult: base must be a URL like s3://bucket/prefix, got {container!r}"
            )

    @property
    def client(self) -> Any:
        """The fsspec file system behind ``base``."""
        return self._path("").fs

    def _path(self, key: str) -> Any:
        from airflow.sdk import ObjectStoragePath

        root = self.__dict__.get("_path_cache")
        if root is None:
            root = self.__dict__["_path_cache"] = ObjectStoragePath(self.base, conn_id=self.conn_id)
        return root / key

    def uri(self, location: str) -> str:
        parts = urlsplit(self.base)
        netloc = parts.netloc.rpartition("@")[2]
        return f"{parts.scheme}://{netloc}{parts.path}/{location}"

    def store_spec(self) -> str | None:
        return f"objectstorage+{self.base}" if self.conn_id is None else None

    def _key_uri(self, key: str) -> str:
        return self.uri(key)  # no prefix: the key is the location

    def _open_key_writer(self, key: str) -> PayloadWriter:
        return _MoveIntoPlaceWriter(self, key)

    def _list_keys(self, key_prefix: str) -> Iterator[tuple[str, int, Any]]:
        root = self._path("")
        directory, _, _ = key_prefix.rpartition("/")
        start = root / directory if directory else root
        found = self._call(key_prefix, "list", lambda: start.fs.find(start.path, detail=True), {})
        base = root.path.rstrip("/") + "/"
        for path, info in sorted(found.items()):
            key = path[len(base) :] if path.startswith(base) else path
            if info.get("type") != "directory" and key.startswith(key_prefix) and not key.endswith(".tmp"):
                yield key, info.get("size") or 0, _modified(info)

    def _open_key_reader(self, key: str) -> IO[bytes]:
        path = self._path(key)  # through the file system: ObjectStoragePath.open reports lineage per call
        return self._call(key, "read", lambda: path.fs.open(path.path, "rb"))

    def _head(self, key: str) -> dict[str, Any] | None:
        path = self._path(key)
        info = self._call(key, "stat", lambda: path.fs.info(path.path), None)
        if info is None or info.get("type") == "directory":
            return None
        return {"size": info.get("size")}

    def _get_small(self, key: str) -> bytes | None:
        path = self._path(key)
        return self._call(key, "read", lambda: path.fs.cat_file(path.path), None)

    def _put_small(self, key: str, data: bytes) -> None:
        _MoveIntoPlaceWriter(self, key).write_and_commit(data)

    def _delete_key(self, key: str) -> bool:
        path = self._path(key)
        deleted = self._call(key, "delete", lambda: path.fs.rm(path.path), False)
        return deleted is not False


class _MoveIntoPlaceWriter(PayloadWriter):
    def __init__(self, result: ObjectStorageResult, key: str) -> None:
        self.result, self.key = result, key
        self.final = result._path(key)
        self.temp = result._path(f"{key}.{uuid.uuid4().hex}.tmp")
        try:
            self.final.parent.mkdir(parents=True, exist_ok=True)
            # The file system's own writer: ObjectStoragePath.open would report the temp key as lineage.
            self._file = self.temp.fs.open(self.temp.path, "wb")
        except Exception as exc:
            raise result._fail(exc, key, "write") from exc
        self._done = False

    def write(self, data: bytes | memoryview) -> int:
        return self._file.write(data)

    def commit(self) -> None:
        self._file.close()
        try:
            self.temp.fs.mv(self.temp.path, self.final.path)
        except Exception as exc:
            self.abort()
            raise self.result._fail(exc, self.key, "move into place") from exc
        self._done = True

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            self._file.close()
            self.temp.fs.rm(self.temp.path)
        except Exception:  # nothing was made visible; a leftover temp object is harmless
            pass


def _modified(info: dict[str, Any]) -> dt.datetime | None:
    """The modification time in an fsspec ``info`` dict (its name differs between file systems)."""
    for name in ("mtime", "LastModified", "updated", "last_modified", "created"):
        value = info.get(name)
        if isinstance(value, dt.datetime):
            return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
        if isinstance(value, (int, float)):
            return dt.datetime.fromtimestamp(value, dt.timezone.utc)
    return None

"""A third-party store as a user would write one: payloads as plain files under a directory, behind the public
storage protocol only (``StorageResult``), resolved from ``dirstore:///abs/dir`` specs once registered."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import uuid
from collections.abc import Iterator, Mapping
from typing import IO, Any
from urllib.parse import urlsplit

from airflow_results_provider.exceptions import InvalidLocationError, ResultNotFoundError
from airflow_results_provider.results.storage import PayloadWriter, StorageResult, StoredObject

SCHEME = "dirstore"
SIDECAR = ".meta.json"


class _FileWriter(PayloadWriter):
    def __init__(self, path: str) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.path, self.temp = path, f"{path}.{uuid.uuid4().hex}.part"
        self.handle = open(self.temp, "wb")  # noqa: SIM115 - closed on commit/abort

    def write(self, data: bytes | memoryview) -> int:
        return self.handle.write(data)

    def commit(self) -> None:
        self.handle.close()
        os.replace(self.temp, self.path)

    def abort(self) -> None:
        self.handle.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.temp)


class DirectoryStore(StorageResult):
    """Payloads under ``root``; the spec ``dirstore:///abs/root`` names it."""

    def __init__(self, root: str, **kwargs: Any) -> None:
        self.root = os.path.abspath(root)
        super().__init__(**kwargs)

    @classmethod
    def from_spec(cls, spec: str) -> DirectoryStore:
        return cls(urlsplit(spec).path)

    def _path(self, location: str) -> str:
        return os.path.join(self.root, *location.split("/"))

    def _check_location(self, location: str) -> None:
        if not location or location.startswith("/") or ".." in location.split("/"):
            raise InvalidLocationError(f"DirectoryStore location {location!r} must be a relative key")

    def uri(self, location: str) -> str:
        return f"{SCHEME}://{self.root}/{location}"

    def store_spec(self) -> str | None:
        return f"{SCHEME}://{self.root}"

    def open_writer(self, location: str) -> PayloadWriter:
        return _FileWriter(self._path(location))

    @contextlib.contextmanager
    def open_reader(self, location: str) -> Iterator[IO[bytes]]:
        try:
            handle = open(self._path(location), "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError as exc:
            raise ResultNotFoundError(f"No result at {self.uri(location)}") from exc
        with handle:
            yield handle

    def stat(self, location: str) -> dict[str, Any] | None:
        try:
            return {"size": os.stat(self._path(location)).st_size}
        except FileNotFoundError:
            return None

    def read_metadata(self, location: str) -> dict[str, Any] | None:
        try:
            with open(self._path(location) + SIDECAR, "rb") as handle:
                return json.loads(handle.read())
        except FileNotFoundError:
            return None

    def write_metadata(self, location: str, metadata: Mapping[str, Any]) -> None:
        _FileWriter(self._path(location) + SIDECAR).write_and_commit(json.dumps(dict(metadata)).encode())

    def delete_payload(self, location: str) -> bool:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path(location) + SIDECAR)
        try:
            os.unlink(self._path(location))
        except FileNotFoundError:
            return False
        return True

    def list_objects(self, prefix: str = "") -> Iterator[StoredObject]:
        for directory, _, files in os.walk(os.path.join(self.root, prefix)):
            for name in sorted(files):
                path = os.path.join(directory, name)
                st = os.stat(path)
                modified = dt.datetime.fromtimestamp(st.st_mtime, dt.timezone.utc)
                yield StoredObject(
                    os.path.relpath(path, self.root).replace(os.sep, "/"), st.st_size, modified
                )

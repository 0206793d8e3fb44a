"""LocalResult: payloads as files under a base directory, written atomically."""

from __future__ import annotations

import functools
import logging
import os
import stat
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from airflow_results_provider._metadata import METADATA_SUFFIX, decode_metadata, encode_metadata
from airflow_results_provider.exceptions import InvalidLocationError, ResultError, ResultNotFoundError
from airflow_results_provider.results.base import Location, PayloadWriter, Result
from airflow_results_provider.serializers.base import Serializer


@functools.cache
def _file_mode() -> int:
    # mkstemp creates 0600 files; published results get the mode a plain open() would give them.
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _AtomicFileWriter(PayloadWriter):
    """Temp file in the target's directory; ``commit`` = flush + fsync + ``os.replace`` + directory fsync."""

    def __init__(self, final_path: str) -> None:
        self.final_path = final_path
        directory = os.path.dirname(final_path)
        os.makedirs(directory, exist_ok=True)
        fd, self.temp_path = tempfile.mkstemp(
            dir=directory, prefix=f".{os.path.basename(final_path)}.", suffix=".tmp"
        )
        os.fchmod(fd, _file_mode())
        self._file = os.fdopen(fd, "wb", buffering=0)
        self._done = False

    def write(self, data) -> int:  # type: ignore[override]
        return self._file.write(data)

    def commit(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self.temp_path, self.final_path)
        self._done = True
        _fsync_dir(os.path.dirname(self.final_path))

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        self._file.close()
        try:
            os.unlink(self.temp_path)
        except FileNotFoundError:
            pass


@functools.cache
def _warn_if_distributed() -> None:
    from airflow_results_provider import config

    executor = config.distributed_executor()
    if executor:
        logging.getLogger(__name__).warning(
            "LocalResult writes to this machine's disk, but [core] executor is %s: workers on other machines "
            "will not see these files. Use S3Result, GCSResult, AzureResult or a shared file system.",
            executor,
        )


def write_file_atomically(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new content, never a mix."""
    _AtomicFileWriter(path).write_and_commit(data)


class LocalResult(Result):
    """Stores payloads as files under ``dir`` (default: ``[results] local_dir``).

    Relative locations live under ``dir`` and may not escape it; absolute locations are used as they are.
    Writes go to a temp file in the same directory, are fsynced and renamed into place, so the previous
    file survives any failure. Metadata (sha256, size, preview, ...) is stored beside the payload in
    ``<location>.meta.json`` and the sha256 is verified on every read.

    :param dir: base directory; resolved when first used, never created at construction.
    :param location: template or callable giving the location relative to ``dir``.
    :param serializer: defaults to :class:`PickleSerializer`.

    .. code-block:: python

        LocalResult(dir="/data/results", location="{{ dag.dag_id }}/{{ ds }}/{{ ti.task_id }}.pkl")
    """

    def __init__(
        self,
        dir: str | os.PathLike[str] | None = None,
        location: Location | None = None,
        serializer: Serializer | None = None,
        **kwargs: Any,
    ) -> None:
        self.dir = os.fspath(dir) if dir is not None else None
        super().__init__(location=location, serializer=serializer, **kwargs)

    @property
    def base_dir(self) -> str:
        """The absolute base directory (``dir`` or ``[results] local_dir``)."""
        given = self.__dict__.get("dir")
        if given is not None:
            return os.path.abspath(os.path.expanduser(given))
        from airflow_results_provider import config

        return config.local_dir()

    @property  # type: ignore[no-redef]
    def dir(self) -> str:
        """The directory as given, else the resolved ``[results] local_dir`` (Prefect: the default directory).

        An unset ``dir`` is stored as None (compared, copied and pickled as such) and resolved when read, so a
        DAG file parsed on one machine follows the worker's configuration.
        """
        return self.__dict__.get("dir") or self.base_dir

    @dir.setter
    def dir(self, value: str | None) -> None:
        self.__dict__["dir"] = value

    def path(self, location: str) -> str:
        """Absolute file path of ``location``.

        :raises InvalidLocationError: a relative location escapes ``dir`` or uses ``..``.
        """
        if not location or not str(location).strip():
            raise InvalidLocationError(f"{type(self).__name__}: empty location")
        location = os.fspath(location)
        if ".." in Path(location).parts:
            raise InvalidLocationError(
                f"{type(self).__name__}: location {location!r} contains '..'; locations may not leave their base "
                f"directory {self.base_dir}"
            )
        if os.path.isabs(location):
            return os.path.normpath(location)
        base = self.base_dir
        full = os.path.normpath(os.path.join(base, location))
        if os.path.commonpath([base, full]) != base or full == base:
            raise InvalidLocationError(
                f"{type(self).__name__}: location {location!r} escapes its base directory {base}"
            )
        return full

    def uri(self, location: str) -> str:
        return Path(self.path(location)).as_uri()

    def store_spec(self) -> str | None:
        return Path(self.base_dir).as_uri()

    def _check_location(self, location: str) -> None:
        self.path(location)

    def _open_writer(self, location: str) -> PayloadWriter:
        _warn_if_distributed()
        path = self.path(location)
        try:
            return _AtomicFileWriter(path)
        except (NotADirectoryError, FileExistsError, PermissionError, IsADirectoryError) as exc:
            raise ResultError(f"Cannot write a result at {self.uri(location)}: {exc}") from exc

    @contextmanager
    def _open_reader(self, location: str) -> Iterator[IO[bytes]]:
        path = self.path(location)
        try:
            handle = open(path, "rb", buffering=0)  # noqa: SIM115 - closed below
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise ResultNotFoundError(f"No result at {self.uri(location)}") from exc
        with handle:
            yield handle

    def _stat(self, location: str) -> dict[str, Any] | None:
        try:
            st = os.stat(self.path(location))
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        return {"size": st.st_size, "mtime": st.st_mtime}

    def _delete(self, location: str) -> bool:
        path = self.path(location)
        try:
            os.unlink(path + METADATA_SUFFIX)
        except FileNotFoundError:
            pass
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        return True

    def _read_metadata(self, location: str) -> dict[str, Any] | None:
        try:
            with open(self.path(location) + METADATA_SUFFIX, "rb") as handle:
                data = handle.read()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return decode_metadata(data, self.uri(location))

    def _write_metadata(self, location: str, metadata: Mapping[str, Any]) -> None:
        write_file_atomically(self.path(location) + METADATA_SUFFIX, encode_metadata(metadata))

"""LocalResult: payloads as files under a base directory, written atomically."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import functools
import logging
import os
import stat
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from airflow_results_provider import config
from airflow_results_provider.core.sidecar import METADATA_SUFFIX, decode_metadata, encode_metadata
from airflow_results_provider.exceptions import (
    InvalidLocationError,
    ResultError,
    ResultNotFoundError,
    ResultWriteError,
)
from airflow_results_provider.results.base import Location, Result
from airflow_results_provider.results.claims import Claim, FileClaim
from airflow_results_provider.results.storage import PayloadWriter, StorageResult, StoredObject
from airflow_results_provider.serializers.base import Serializer

#: The longest file name most file systems allow (ext4, xfs, tmpfs, APFS).
_MAX_NAME_BYTES = 255


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


_TEMP_SUFFIX = ".tmp"
#: Suffix of a temp file in the instant before its writer locks it (never swept: see _AtomicFileWriter).
_STAGING_SUFFIX = ".new"


def _temp_prefix(final_path: str) -> str:
    return f".{os.path.basename(final_path)}."


class _AtomicFileWriter(PayloadWriter):
    """Temp file in the target's directory; ``commit`` = flush + fsync + ``os.replace`` + directory fsync.

    The writer holds an exclusive ``flock`` on its temp file while it lives, so :func:`sweep_dead_temp_files`
    can tell the temp files of killed writers (lock free) from those of writers still at work.
    """

    def __init__(self, final_path: str) -> None:
        self.final_path = final_path
        directory = os.path.dirname(final_path)
        os.makedirs(directory, exist_ok=True)
        # Born under another suffix and renamed once locked: a sweeper that saw a ".tmp" file between its
        # creation and its flock would take it for a dead writer's and delete it (seen with 8 writers under load).
        fd, staging = tempfile.mkstemp(dir=directory, prefix=_temp_prefix(final_path), suffix=_STAGING_SUFFIX)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self.temp_path = staging[: -len(_STAGING_SUFFIX)] + _TEMP_SUFFIX
            os.rename(staging, self.temp_path)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(staging)
            raise
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
    executor = config.distributed_executor()
    if executor:
        logging.getLogger(__name__).warning(
            "LocalResult writes to this machine's disk, but [core] executor is %s: workers on other machines "
            "will not see these files. Use S3Result, GCSResult, AzureResult or a shared file system.",
            executor,
        )


config.on_clear(_warn_if_distributed.cache_clear)
config.on_clear(_file_mode.cache_clear)


def write_file_atomically(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new content, never a mix."""
    _AtomicFileWriter(path).write_and_commit(data)


def sweep_dead_temp_files(final_path: str) -> int:
    """Delete temp files that killed writers left beside ``final_path`` (their ``flock`` is free); return how
    many. Temp files of writers still at work are locked and kept."""
    directory, prefix = os.path.dirname(final_path), _temp_prefix(final_path)
    removed = 0
    try:
        entries = [
            e for e in os.scandir(directory) if e.name.startswith(prefix) and e.name.endswith(_TEMP_SUFFIX)
        ]
    except OSError:
        return 0
    for entry in entries:
        try:
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # a live writer holds it
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
                removed += 1
        finally:
            os.close(fd)
    return removed


@contextlib.contextmanager
def _location_lock(final_path: str) -> Iterator[None]:
    """Exclusive lock of the payload's directory (``flock`` on the directory itself, so no lock files), held
    only while a write commits; released by the kernel when its holder dies, so a killed writer never blocks
    the next one."""
    fd = os.open(os.path.dirname(final_path), os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class LocalResult(StorageResult):
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

        :raises InvalidLocationError: a relative location escapes ``dir`` (``..`` or a symlink leading out),
            or a location is empty, holds a NUL byte or a name longer than the file system allows.
        """
        if not location or not str(location).strip():
            raise InvalidLocationError(f"{type(self).__name__}: empty location")
        location = os.fspath(location)
        if "\x00" in location:
            raise InvalidLocationError(f"{type(self).__name__}: location {location!r} contains a NUL byte")
        parts = Path(location).parts
        if ".." in parts:
            raise InvalidLocationError(
                f"{type(self).__name__}: location {location!r} contains '..'; locations may not leave their base "
                f"directory {self.base_dir}"
            )
        if any(len(part.encode("utf-8", "surrogateescape")) > _MAX_NAME_BYTES for part in parts):
            raise InvalidLocationError(
                f"{type(self).__name__}: location {location!r} has a name longer than {_MAX_NAME_BYTES} bytes"
            )
        if os.path.isabs(location):
            return os.path.normpath(location)
        base = self.base_dir
        full = os.path.normpath(os.path.join(base, location))
        real_base = os.path.realpath(base)
        real = os.path.realpath(full)
        if full == base or os.path.commonpath([real_base, real]) != real_base:
            raise InvalidLocationError(
                f"{type(self).__name__}: location {location!r} escapes its base directory {base}"
                + (f" (through a symlink to {real})" if os.path.commonpath([base, full]) == base else "")
            )
        return full

    def format(self, **context: Any) -> Result:
        new = super().format(**context)
        template = self.location
        template_is_absolute = callable(template) or (
            isinstance(template, str) and os.path.isabs(template.strip())
        )
        if os.path.isabs(new.location) and not template_is_absolute:
            raise InvalidLocationError(
                f"{type(self).__name__}: location template {template!r} rendered the absolute path "
                f"{new.location!r}; only a template that is itself absolute may write outside {self.base_dir} "
                "(a template variable, e.g. a DAG param, must not choose where files go)"
            )
        return new

    def uri(self, location: str) -> str:
        return Path(self.path(location)).as_uri()

    def store_spec(self) -> str | None:
        return Path(self.base_dir).as_uri()

    def _check_location(self, location: str) -> None:
        self.path(location)

    def open_writer(self, location: str) -> PayloadWriter:
        _warn_if_distributed()
        path = self.path(location)
        try:
            return _AtomicFileWriter(path)
        except OSError as exc:
            raise ResultWriteError(f"Cannot write a result at {self.uri(location)}: {exc}") from exc

    @contextlib.contextmanager
    def commit_lock(self, location: str) -> Iterator[None]:
        path = self.path(location)
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(_location_lock(path))
            except OSError as exc:
                raise ResultWriteError(f"Cannot lock {self.uri(location)} for writing: {exc}") from exc
            stack.callback(sweep_dead_temp_files, path + METADATA_SUFFIX)
            stack.callback(sweep_dead_temp_files, path)
            yield

    @property
    def supports_claims(self) -> bool:
        """Always: a claim is a ``flock`` on a lock file, released by the kernel if its holder dies."""
        return True

    def _take_claim(self, location: str, ttl: float) -> Claim | None:
        return FileClaim.try_take(self.path(location), self.uri(location))

    @contextlib.contextmanager
    def open_reader(self, location: str) -> Iterator[IO[bytes]]:
        path = self.path(location)
        try:
            handle = open(path, "rb", buffering=0)  # noqa: SIM115 - closed below
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise ResultNotFoundError(f"No result at {self.uri(location)}") from exc
        except OSError as exc:
            raise ResultError(f"Cannot read the result at {self.uri(location)}: {exc}") from exc
        with handle:
            yield handle

    def stat(self, location: str) -> dict[str, Any] | None:
        try:
            st = os.stat(self.path(location))
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise ResultError(f"Cannot check the result at {self.uri(location)}: {exc}") from exc
        if not stat.S_ISREG(st.st_mode):
            return None
        return {"size": st.st_size, "mtime": st.st_mtime}

    def delete_payload(self, location: str) -> bool:
        path = self.path(location)
        try:
            # Payload first: a delete killed midway leaves a sidecar gc lists and finishes, never a bare payload.
            try:
                os.unlink(path)
            except FileNotFoundError:
                deleted = False
            else:
                deleted = True
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path + METADATA_SUFFIX)
            if not deleted:
                return False
        except OSError as exc:
            raise ResultError(f"Cannot delete the result at {self.uri(location)}: {exc}") from exc
        return True

    def read_metadata(self, location: str) -> dict[str, Any] | None:
        try:
            with open(self.path(location) + METADATA_SUFFIX, "rb") as handle:
                data = handle.read()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise ResultError(f"Cannot read the metadata of {self.uri(location)}: {exc}") from exc
        return decode_metadata(data, self.uri(location))

    def list_objects(self, prefix: str = "") -> Iterator[StoredObject]:
        """Every file under ``base_dir/prefix`` (symlinks not followed), streamed; files deleted meanwhile are
        skipped."""
        base = self.base_dir
        stack = [os.path.join(base, prefix) if prefix else base]
        while stack:
            directory = stack.pop()
            try:
                entries = os.scandir(directory)
            except (FileNotFoundError, NotADirectoryError):
                continue
            with entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        try:
                            st = entry.stat()
                        except FileNotFoundError:  # deleted meanwhile (gc deletes while it scans)
                            continue
                        location = os.path.relpath(entry.path, base).replace(os.sep, "/")
                        modified = dt.datetime.fromtimestamp(st.st_mtime, dt.timezone.utc)
                        yield StoredObject(location, st.st_size, modified)

    def write_metadata(self, location: str, metadata: Mapping[str, Any]) -> None:
        try:
            write_file_atomically(self.path(location) + METADATA_SUFFIX, encode_metadata(metadata))
        except OSError as exc:
            raise ResultWriteError(f"Cannot write the metadata of {self.uri(location)}: {exc}") from exc

"""Shared logic of the object-store Results (S3, GCS, Azure Blob, ObjectStoragePath).

Locations are keys relative to ``bucket``/``container`` and ``prefix``; the metadata sidecar is the object
``<key>.meta.json``. Subclasses implement a handful of key-level operations over their provider hook. Payloads
become visible in one step (a completed multipart upload, a finalized resumable upload, a committed block list),
so a failed or killed write never replaces the previous object.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import IO, Any, ClassVar

from airflow_results_provider.core.keys import MAX_KEY_BYTES, is_relative_key
from airflow_results_provider.core.metadata import build_metadata
from airflow_results_provider.core.sidecar import METADATA_SUFFIX, decode_metadata, encode_metadata
from airflow_results_provider.core.values import NOTHING
from airflow_results_provider.exceptions import (
    InvalidLocationError,
    ResultError,
    ResultNotFoundError,
    ResultWriteError,
    SerializationError,
    UnsignedRecordError,
    missing_extra_error,
)
from airflow_results_provider.results.base import Location, Result
from airflow_results_provider.results.storage import PayloadWriter, StorageResult, StoredObject
from airflow_results_provider.serializers.base import Serializer

#: Suffix of the lease object held while a write to ``<key>`` commits.
LOCK_SUFFIX = ".lock"
#: Seconds a commit lease lives (a commit takes a few requests; a killed writer's lease expires after this).
LOCK_TTL = 30.0
log = logging.getLogger(__name__)

#: Reads of one object before a provider failure mid-body is reported (a read is cheap to repeat).
READ_ATTEMPTS = 3
#: Actions whose failure leaves the previous payload in place and is reported as ResultWriteError.
_WRITE_ACTIONS = frozenset(
    {
        "write",
        "upload",
        "multipart upload",
        "multipart completion",
        "block upload",
        "block list commit",
        "move into place",
    }
)


class ClientCache:
    """The connected hook and SDK clients of a Result, shared by every copy made from it.

    Copies are made per execution, per write and per XCom chunk; each building its own client cost ~0.3-1 s of
    CPU per boto3 client (64 chunks of one offloaded list made 64 clients). Never pickled: an unpickled Result
    starts a cache of its own. Entries are keyed by what the client depends on (the connection id, SDK
    arguments), so a copy given another connection gets another client."""

    __slots__ = ("_entries", "_lock")

    def __init__(self) -> None:
        self._entries: dict[Any, Any] = {}
        self._lock = threading.RLock()  # make() may ask for another entry (the S3 hook for a boto3 client)

    def get(self, key: Any, make: Callable[[], Any]) -> Any:
        """The entry for ``key``, made by ``make()`` once (also when threads ask at the same time)."""
        with self._lock:
            if key not in self._entries:
                self._entries[key] = make()
            return self._entries[key]


class BucketResult(StorageResult):
    """Base of Results whose locations are keys in a bucket/container under an optional prefix."""

    scheme: ClassVar[str] = ""
    #: Name of the bucket/container attribute (``bucket`` or ``container``).
    container_attr: ClassVar[str] = "bucket"
    conn_attr: ClassVar[str] = ""
    default_conn_id: ClassVar[str] = ""
    #: (module, class, extra) of the Airflow hook whose ``get_conn()`` gives the SDK client.
    hook_path: ClassVar[tuple[str, str, str]] = ("", "", "")
    #: Provider name in error messages (``S3 read of s3://bucket/key failed (...)``).
    provider: ClassVar[str] = ""
    _transient = ("_hook_cache",)
    #: The store can create an object only if it is absent (S3 If-None-Match, GCS ifGenerationMatch=0, Azure
    #: overwrite=False): commits are serialized per key with a lease object.
    conditional_writes: ClassVar[bool] = False
    #: Parts (S3 multipart, Azure blocks) uploaded at once by one write: memory per write is bounded by
    #: ``(upload_parallelism + 1) * part size`` (40 MB with the 8 MB default parts).
    upload_parallelism: ClassVar[int] = 4

    def __init__(
        self,
        container: str,
        location: Location | None = None,
        serializer: Serializer | None = None,
        prefix: str = "",
        **kwargs: Any,
    ) -> None:
        self._validate_container(container)
        self._hook_cache = ClientCache()
        setattr(self, self.container_attr, container)
        self.prefix = prefix.strip("/")
        super().__init__(location=location, serializer=serializer, **kwargs)

    def _validate_container(self, container: str) -> None:
        if not container or "/" in container:
            raise ValueError(f"{type(self).__name__}: invalid {self.container_attr} {container!r}")

    @property
    def client_cache(self) -> ClientCache:
        """Connected clients shared with this Result's copies (made on first use after unpickling)."""
        cache = self.__dict__.get("_hook_cache")
        if cache is None:
            cache = self.__dict__["_hook_cache"] = ClientCache()
        return cache

    @property
    def hook(self) -> Any:
        """The Airflow hook of the connection, made on first use, never pickled."""
        return self._connection()[0]

    @property
    def client(self) -> Any:
        """The SDK client of the connection (``hook.get_conn()``), made on first use, never pickled."""
        return self._connection()[1]

    def _connection(self) -> tuple[Any, Any]:
        """``(hook, hook.get_conn())`` of this Result's connection, from the shared cache."""
        conn_id = getattr(self, self.conn_attr)

        def make() -> tuple[Any, Any]:
            module, name, extra = self.hook_path
            try:
                hook_class = getattr(importlib.import_module(module), name)
            except ImportError as exc:
                raise missing_extra_error(type(self).__name__, extra, exc) from exc
            hook = hook_class(**{self.conn_attr: conn_id})
            return hook, hook.get_conn()

        return self.client_cache.get(("hook", conn_id), make)

    # ------------------------------------------------------------------ identity

    @property
    def store_name(self) -> str:
        """The bucket or container name."""
        return getattr(self, self.container_attr)

    def key(self, location: str) -> str:
        """The object key of ``location`` (``prefix/location``)."""
        return f"{self.prefix}/{location}" if self.prefix else location

    def uri(self, location: str) -> str:
        return f"{self.scheme}://{self.store_name}/{self.key(location)}"

    def store_spec(self) -> str | None:
        conn_id = getattr(self, self.conn_attr, None) if self.conn_attr else None
        owner = f"{conn_id}@" if conn_id and conn_id != self.default_conn_id else ""
        return f"{self.scheme}://{owner}{self.store_name}/{self.prefix}"

    def console_url(self, key: str) -> str | None:
        """An https link to the object in the provider's web console."""
        return None

    def _check_location(self, location: str) -> None:
        if not is_relative_key(location):
            raise InvalidLocationError(
                f"{type(self).__name__} location {location!r} must be a relative, normalized key under "
                f"{self.uri('')} (no leading '/', '..', '.', '//', backslash or NUL)"
            )
        if len(self.key(location).encode("utf-8", "surrogateescape")) > MAX_KEY_BYTES:
            raise InvalidLocationError(
                f"{type(self).__name__} location {location!r} makes a key longer than {MAX_KEY_BYTES} bytes"
            )

    # ------------------------------------------------------------------ errors

    @staticmethod
    def _is_not_found(exc: Exception) -> bool:
        """Whether a provider exception means "no such object"."""
        return isinstance(exc, FileNotFoundError)

    def _error_detail(self, exc: Exception) -> str:
        return type(exc).__name__

    def _key_uri(self, key: str) -> str:
        return f"{self.scheme}://{self.store_name}/{key}"

    def _fail(self, exc: Exception, key: str, action: str) -> Exception:
        """The typed error for a failed provider call: not found, or a ResultError naming bucket and key."""
        uri = self._key_uri(key)
        writing = action in _WRITE_ACTIONS
        if self._is_not_found(exc) and not writing:
            return ResultNotFoundError(f"No result at {uri}")
        what = f"{self.provider} {action}".lstrip()
        error = ResultWriteError if writing else ResultError
        return error(f"{what} of {uri} failed ({self._error_detail(exc)}): {exc}")

    def _call(self, key: str, action: str, call: Callable[[], Any], missing: Any = NOTHING) -> Any:
        """Run one provider call; "not found" returns ``missing`` when given, any other error is :meth:`_fail`."""
        try:
            return call()
        except Exception as exc:
            if missing is not NOTHING and self._is_not_found(exc):
                return missing
            raise self._fail(exc, key, action) from exc

    def extra_metadata(self, location: str) -> dict[str, Any]:
        url = self.console_url(self.key(location))
        return {"url": url} if url else {}

    @contextmanager
    def commit_lock(self, location: str) -> Iterator[None]:
        """A lease object ``<key>.lock`` created only if absent (a conditional PUT), so writers to one key
        commit one after the other; a lease left by a killed writer expires after :data:`LOCK_TTL` seconds."""
        if not self.conditional_writes:
            yield
            return
        key = self.key(location) + LOCK_SUFFIX
        token = uuid.uuid4().hex
        deadline = time.monotonic() + 2 * LOCK_TTL
        delay = 0.02
        while True:
            lease = json.dumps({"token": token, "expires": time.time() + LOCK_TTL}).encode()
            if self._create_if_absent(key, lease):
                break
            held = _lease(self._get_small(key))
            if held is not None and held.get("expires", 0) < time.time():
                self._delete_key(key)  # the holder died: break its lease
                continue
            if time.monotonic() > deadline:
                raise ResultWriteError(
                    f"{self._key_uri(key)} stayed locked by another writer for {2 * LOCK_TTL:.0f} s"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
        try:
            yield
        finally:
            held = _lease(self._get_small(key))
            if held is not None and held.get("token") == token:
                self._delete_key(key)

    def _create_if_absent(self, key: str, data: bytes) -> bool:
        """Create ``key`` only if it does not exist; ``False`` when it does (stores with ``conditional_writes``)."""
        raise NotImplementedError

    def read(self, location: str, *, sha256: str | None = None) -> Result:
        """:meth:`Result.read`; an empty object (0 bytes) reads as ``None``, as Prefect's GCS/Azure Results did.

        A read the provider broke off (a reset, a truncated or stalled body, retries exhausted: a plain
        :class:`ResultError`) is read again, :data:`READ_ATTEMPTS` times in all."""
        for attempt in range(1, READ_ATTEMPTS + 1):
            try:
                return self._read_or_empty(location, sha256)
            except ResultError as exc:
                if type(exc) is not ResultError or attempt == READ_ATTEMPTS:
                    raise
                log.warning("%s (attempt %d of %d); reading it again", exc, attempt, READ_ATTEMPTS)
        raise AssertionError("unreachable")  # pragma: no cover

    def _read_or_empty(self, location: str, sha256: str | None) -> Result:
        try:
            return super().read(location, sha256=sha256)
        except (SerializationError, UnsignedRecordError):  # an empty object holds no code
            stat = self.stat(location)
            if stat is None or stat.get("size") != 0:
                raise
        new = self.copy()
        new.location, new.value = location, None
        new.metadata = build_metadata(
            result_type=type(self).__name__,
            uri=self.uri(location),
            serializer=self.serializer.label,
            size=0,
            sha256=hashlib.sha256(b"").hexdigest(),
        )
        return new

    # ------------------------------------------------------------------ key operations (subclasses)

    def _open_key_writer(self, key: str) -> PayloadWriter:
        raise NotImplementedError

    def _open_key_reader(self, key: str) -> IO[bytes]:
        """A binary stream of the object; raises ResultNotFoundError when it does not exist."""
        raise NotImplementedError

    def _head(self, key: str) -> dict[str, Any] | None:
        raise NotImplementedError

    def _get_small(self, key: str) -> bytes | None:
        raise NotImplementedError

    def _put_small(self, key: str, data: bytes) -> None:
        raise NotImplementedError

    def _delete_key(self, key: str) -> bool:
        raise NotImplementedError

    def _list_keys(self, key_prefix: str) -> Iterator[tuple[str, int, Any]]:
        """``(key, size, modified)`` of every object whose key starts with ``key_prefix``, streamed."""
        raise NotImplementedError

    # ------------------------------------------------------------------ the storage protocol

    def open_writer(self, location: str) -> PayloadWriter:
        return self._open_key_writer(self.key(location))

    @contextmanager
    def open_reader(self, location: str) -> Iterator[IO[bytes]]:
        key = self.key(location)
        stream = _GuardedStream(self._open_key_reader(key), lambda exc: self._fail(exc, key, "read"))
        try:
            yield stream
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()

    def stat(self, location: str) -> dict[str, Any] | None:
        return self._head(self.key(location))

    def delete_payload(self, location: str) -> bool:
        # Payload first: a delete killed midway leaves a sidecar gc lists and finishes, never a bare payload
        # nothing lists (and that would read as unsigned).
        key = self.key(location)
        deleted = self._delete_key(key)
        self._delete_key(key + METADATA_SUFFIX)
        return deleted

    def read_metadata(self, location: str) -> dict[str, Any] | None:
        data = self._get_small(self.key(location) + METADATA_SUFFIX)
        if data is None:
            return None
        return decode_metadata(data, self.uri(location))

    def write_metadata(self, location: str, metadata: Mapping[str, Any]) -> None:
        self._put_small(self.key(location) + METADATA_SUFFIX, encode_metadata(metadata))

    def list_objects(self, prefix: str = "") -> Iterator[StoredObject]:
        """Every object under ``prefix`` (relative to this Result's own prefix), from the provider's listing."""
        base = f"{self.prefix}/" if self.prefix else ""
        for key, size, modified in self._list_keys(base + prefix):
            yield StoredObject(key[len(base) :], size or 0, modified)


class _GuardedStream:
    """A provider's payload stream whose failures mid-body (a reset, a truncated or stalled body, the client's
    retries exhausted) surface as the store's typed read error, never as an SDK exception."""

    def __init__(self, stream: Any, fail: Callable[[Exception], Exception]) -> None:
        self._stream = stream
        self._fail = fail
        if hasattr(stream, "readinto"):
            self.readinto = self._readinto

    def read(self, size: int = -1) -> bytes:
        try:
            return self._stream.read() if size is None or size < 0 else self._stream.read(size)
        except ResultError:
            raise
        except Exception as exc:
            raise self._fail(exc) from exc

    def _readinto(self, buffer: Any) -> int:
        try:
            return self._stream.readinto(buffer)
        except ResultError:
            raise
        except Exception as exc:
            raise self._fail(exc) from exc

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _lease(data: bytes | None) -> dict[str, Any] | None:
    if data is None:
        return None
    try:
        lease = json.loads(data)
    except ValueError:
        return {"expires": 0}  # unreadable: treat as expired
    return lease if isinstance(lease, dict) else {"expires": 0}

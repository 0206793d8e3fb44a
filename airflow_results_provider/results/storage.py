"""The storage protocol: what a Result that stores payloads implements, and the commit protocol built on it.

A store author subclasses :class:`StorageResult` and implements :meth:`~StorageResult.open_writer`,
:meth:`~StorageResult.open_reader`, :meth:`~StorageResult.stat`, :meth:`~StorageResult.read_metadata`,
:meth:`~StorageResult.write_metadata`, :meth:`~StorageResult.delete_payload`,
:meth:`~StorageResult.list_objects`, :meth:`~airflow_results_provider.results.base.Result.uri` and
:meth:`~airflow_results_provider.results.base.Result.store_spec`; it may override :meth:`~StorageResult.commit_lock`
(a per-location lock) and :meth:`~StorageResult.extra_metadata`. Registered with
:func:`airflow_results_provider.results.registry.register_store`, its specs resolve to it, the Results index
lists its payloads and ``airflow results gc`` collects its orphans. Everything else (atomic, verified
``write``/``read``, ``exists``, ``delete``, ``checksum``, :meth:`~StorageResult.list_payloads`) is built here
on those methods.
"""

from __future__ import annotations

import datetime as dt
import gc
import io
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import IO, Any

from airflow_results_provider import config
from airflow_results_provider.core.identity import check_no_collision, task_label
from airflow_results_provider.core.metadata import build_metadata
from airflow_results_provider.core.sidecar import (
    METADATA_SUFFIX,
    accepted_digests,
    committed_digests,
    final_metadata,
)
from airflow_results_provider.core.signing import RECORD_RESULT
from airflow_results_provider.core.streams import CHUNK_SIZE, HashingReader, HashingWriter, verified_source
from airflow_results_provider.exceptions import (
    ResultIntegrityError,
    ResultNotImplementedError,
    ResultWriteError,
    SerializationError,
)
from airflow_results_provider.results.base import Location, Result, _needs_render
from airflow_results_provider.results.claimable_store import ClaimableStore
from airflow_results_provider.results.lineage import report_result
from airflow_results_provider.results.record_signatures import commit_signatures, loadable_digests
from airflow_results_provider.templating.context import build_location_context

log = logging.getLogger(__name__)


class PayloadWriter:
    """What :meth:`StorageResult.open_writer` returns: a binary sink that is only visible after commit.

    ``commit()`` makes the payload visible at its location in one step; ``abort()`` discards it and leaves
    whatever was there before untouched.
    """

    def write(self, data: bytes | memoryview) -> int:
        """Append ``data`` to the pending payload; returns the number of bytes taken."""
        raise NotImplementedError

    def flush(self) -> None:
        """Nothing to flush by default (writers buffer until commit)."""
        pass

    def commit(self) -> None:
        """Make the payload visible at its location in one step."""
        raise NotImplementedError

    def abort(self) -> None:
        """Discard the payload; what the location held before stays untouched."""
        raise NotImplementedError

    def write_and_commit(self, data: bytes) -> None:
        """Write ``data`` and commit; on any failure abort, leaving the previous payload in place."""
        try:
            self.write(data)
            self.commit()
        except BaseException:
            self.abort()
            raise


@dataclass(frozen=True)
class StoredObject:
    """One object of a store's listing: its location (relative to the store), size and modification time."""

    location: str
    size: int
    modified: dt.datetime | None = None


#: Reads of one location before an overwrite racing every one of them is reported as an integrity error.
_READ_ATTEMPTS = 5
#: How many other objects :meth:`StorageResult.list_payloads` remembers while pairing payloads with sidecars.
_RECENT = 10_000


class StorageResult(ClaimableStore, Result):
    """Base of Results that store payloads at locations a later process finds again: the storage protocol.

    Subclasses implement the protocol methods (they raise :class:`ResultNotImplementedError` here); ``write``
    and ``read`` implement the commit protocol over them: the payload streams through the serializer and a
    sha256, a "pending" sidecar names what the location may still hold, the payload commits in one step, then
    the final sidecar; a reader accepts a payload only when its digest is one the sidecar (or the caller's
    ``sha256``) names.

    Where a signing key exists, every sidecar carries a signature binding the payload's digest to the record
    kind (:attr:`record_kind`), the payload's URI, its serializer and owner; a serializer that can run code
    only loads a payload whose digest such a signature vouches for (or the caller's ``sha256``, taken from a
    signed XCom envelope).
    """

    #: What the records this Result writes are (``result``, ``cache``, ``loop-state``): part of their signature,
    #: so a record of one kind never verifies as another.
    record_kind: str = RECORD_RESULT
    #: Reads need a valid signature whatever the serializer (records that direct other reads, e.g. loop state).
    requires_signature: bool = False

    # ------------------------------------------------------------------ the protocol (store authors)

    def open_writer(self, location: str) -> PayloadWriter:
        """A sink for the payload at ``location``, visible only after ``commit()``."""
        raise ResultNotImplementedError(self._not_implemented("write"))

    def open_reader(self, location: str) -> AbstractContextManager[IO[bytes]]:
        """A context manager giving a binary stream of the payload.

        :raises ResultNotFoundError: nothing is stored at ``location``."""
        raise ResultNotImplementedError(self._not_implemented("read"))

    def stat(self, location: str) -> dict[str, Any] | None:
        """``{"size": ...}`` (and what else the store knows) of the payload, or ``None`` when there is none."""
        raise ResultNotImplementedError(self._not_implemented("exists"))

    def read_metadata(self, location: str) -> dict[str, Any] | None:
        """The metadata sidecar stored beside the payload, or ``None`` when there is none.

        :raises ResultIntegrityError: the sidecar is not a JSON object."""
        return None

    def write_metadata(self, location: str, metadata: Mapping[str, Any]) -> None:
        """Store ``metadata`` as the sidecar of ``location``, atomically."""

    def delete_payload(self, location: str) -> bool:
        """Delete the payload and its sidecar; ``False`` if nothing was there."""
        raise ResultNotImplementedError(self._not_implemented("delete"))

    def list_objects(self, prefix: str = "") -> Iterator[StoredObject]:
        """Every object of the store under ``prefix`` (payloads, sidecars and anything else), streamed."""
        raise ResultNotImplementedError(self._not_implemented("list"))

    def commit_lock(self, location: str) -> AbstractContextManager[Any]:
        """Held while a write commits (sidecar, payload, sidecar): a per-location lock where the store has
        one, so concurrent writers commit one after the other."""
        return nullcontext()

    def extra_metadata(self, location: str) -> dict[str, Any]:
        """Store-specific metadata (e.g. ``url``: an https console link) added on write."""
        return {}

    # ------------------------------------------------------------------ built on the protocol

    def list_payloads(self, prefix: str = "") -> Iterator[StoredObject]:
        """Every payload under ``prefix`` that has a metadata sidecar (what Results write), streamed; ``size``
        counts the payload and its sidecar. Memory: the sizes of the last few thousand other objects listed
        (listings are mostly sorted, a payload just before its sidecar); a payload not among them is stat'ed."""
        recent: OrderedDict[str, int] = OrderedDict()
        for obj in self.list_objects(prefix):
            if not obj.location.endswith(METADATA_SUFFIX):
                recent[obj.location] = obj.size
                if len(recent) > _RECENT:
                    recent.popitem(last=False)
                continue
            location = obj.location[: -len(METADATA_SUFFIX)]
            payload = recent.pop(location, None)
            if payload is None:
                try:
                    payload = (self.stat(location) or {}).get("size") or 0
                except Exception:  # unreadable: counted as its sidecar only
                    payload = 0
            yield StoredObject(location, obj.size + payload, obj.modified)

    def write(self, value_: Any, **context: Any) -> Result:
        """Store ``value_`` at the rendered location and return a new Result holding value and location.

        The write is atomic: a failed or interrupted write leaves the previous payload at that location intact,
        and the location always holds one writer's payload with that writer's metadata.

        :raises SerializationError: the value cannot be serialized (names the serializer, task and location).
        :raises ResultWriteError: the store refused the bytes (disk full, read-only, permission denied).
        :raises LocationCollisionError: another map index of the same task wrote this location in this run.
        """
        variables = build_location_context(context)
        new = self.format(**variables)
        new.value = value_
        location = new.location
        uri = self.uri(location)
        writer = self.open_writer(location)
        try:
            hashing = HashingWriter(writer)
            try:
                buffered = io.BufferedWriter(hashing, CHUNK_SIZE)
                new.serializer.dump(value_, buffered)
                buffered.flush()
            except Exception as exc:
                if hashing.error is not None:  # the store failed, not the serializer
                    raise ResultWriteError(f"Cannot write the result at {uri}: {hashing.error}") from exc
                if isinstance(exc, SerializationError):
                    raise SerializationError(f"{exc} (task {task_label(variables)}, location {uri})") from exc
                raise SerializationError(
                    f"{type(new.serializer).__name__} ({new.serializer.label}) could not serialize a "
                    f"{type(value_).__module__}.{type(value_).__qualname__} for task {task_label(variables)} "
                    f"at {uri}: {type(exc).__name__}: {exc}"
                ) from exc
            metadata = build_metadata(
                result_type=type(self).__name__,
                uri=uri,
                serializer=new.serializer.label,
                size=hashing.size,
                sha256=hashing.hexdigest(),
                value=value_,
                context=variables,
                **self.extra_metadata(location),
            )
            self._commit(writer, location, metadata, variables)
        except BaseException:
            writer.abort()
            raise
        new.metadata = metadata
        report_result("output", self, location)
        return new

    def _commit(
        self, writer: PayloadWriter, location: str, metadata: dict[str, Any], variables: Mapping[str, Any]
    ) -> None:
        """Commit the written payload under the location's lock: pending sidecar, payload, final sidecar.

        The pending sidecar names what the location may still hold if this write dies before its payload
        lands; a reader accepts the payload only when its sha256 is one the sidecar names, so payload and
        metadata never disagree and the previous value survives any number of killed writes. With a signing
        key both sidecars are signed (``metadata`` gets the final signature)."""
        key = config.envelope_signing_key()
        with self.commit_lock(location):
            previous = self._safe_previous_metadata(location)
            check_no_collision(previous, variables, metadata["location"])
            candidates = committed_digests(previous)
            pending = {**metadata, "pending": True, "candidates": candidates}
            if key:
                pending["signature"], metadata["signature"] = commit_signatures(
                    self.record_kind, metadata, previous, candidates, key
                )
            self.write_metadata(location, pending)
            writer.commit()
            self.write_metadata(location, metadata)

    def read(self, location: str, *, sha256: str | None = None) -> Result:
        """A new Result holding the value stored at ``location`` (an already rendered location).

        The payload's sha256 is checked against ``sha256`` when given (e.g. from a signed XCom envelope), else
        against the metadata stored beside it. A serializer that can run code while loading (pickle) only ever
        sees bytes that were verified first, and exactly those bytes.

        :raises ResultNotFoundError: nothing is stored there.
        :raises ResultIntegrityError: the payload does not match its recorded sha256.
        :raises SerializationError: the payload cannot be deserialized with this Result's serializer.
        """
        self._check_location(location)
        attempts = 1 if sha256 else _READ_ATTEMPTS
        for attempt in range(1, attempts + 1):
            metadata = None if sha256 else self.read_metadata(location)
            try:
                read = self._read_once(location, sha256, metadata)
            except ResultIntegrityError:
                # A writer committed between our sidecar read and our payload read: its new sidecar names
                # the payload we saw. Read again; a sidecar that did not move means a corrupt payload.
                if attempt == attempts or self._safe_previous_metadata(location) == metadata:
                    raise
                log.debug(
                    "%s changed while it was read (attempt %d); reading it again", self.uri(location), attempt
                )
                continue
            report_result("input", self, location)
            return read
        raise AssertionError("unreachable")  # pragma: no cover

    def _read_once(self, location: str, sha256: str | None, metadata: dict[str, Any] | None) -> Result:
        """One read of the payload, verified against ``sha256`` or the digests ``metadata`` accepts."""
        new = self.copy()
        new.location = location
        accepted = {sha256} if sha256 else accepted_digests(metadata)
        verify_first = self.serializer.loads_code or self.requires_signature
        error: Exception | None = None
        with self.open_reader(location) as raw:
            if verify_first and not sha256:
                accepted = loadable_digests(
                    self.record_kind, self.uri(location), self.serializer.label, metadata, accepted
                )
            if accepted and verify_first:
                with verified_source(raw, accepted, self._corrupt_error(location, metadata)) as source:
                    digest, size = source.digest, source.size
                    with _gc_paused():
                        value = self.serializer.load(io.BufferedReader(source.reader, CHUNK_SIZE))
            else:
                hashing = HashingReader(raw)
                try:
                    with _gc_paused():
                        value = self.serializer.load(io.BufferedReader(hashing, CHUNK_SIZE))
                except Exception as exc:
                    value, error = None, exc
                hashing.drain()
                digest, size = hashing.hexdigest(), hashing.size
                if accepted and digest not in accepted:
                    raise self._corrupt_error(location, metadata)(digest, size) from error
        if error is not None:
            if isinstance(error, SerializationError):
                raise SerializationError(f"{error} (location {self.uri(location)})") from error
            raise SerializationError(
                f"{type(self.serializer).__name__} could not read {self.uri(location)}: {error!r}"
            ) from error
        if metadata and digest != metadata.get("sha256"):
            log.warning("%s: metadata is newer than the payload (interrupted write?)", self.uri(location))
            metadata = None
        new.value = value
        new.metadata = final_metadata(metadata) or build_metadata(
            result_type=type(self).__name__,
            uri=self.uri(location),
            serializer=self.serializer.label,
            size=size,
            sha256=digest,
        )
        return new

    def _corrupt_error(self, location: str, metadata: Mapping[str, Any] | None) -> Callable[..., Exception]:
        def error(digest: str, size: int) -> Exception:
            recorded = (metadata or {}).get("sha256", "the expected digest")
            written = (metadata or {}).get("size")
            return ResultIntegrityError(
                f"Result at {self.uri(location)} is corrupt: sha256 {digest} does not match {recorded} "
                f"({size} bytes read" + (f", {written} written)" if written is not None else ")")
            )

        return error

    def exists(self, location: Location | None = None, **context: Any) -> bool:
        """Whether a payload is stored at ``location`` (rendered with ``context``): one stat/HEAD, no read.

        Not-found is ``False``; failing to reach the store (permissions, network) raises.
        """
        new = self if location is None else self._with_location(location)
        rendered = new.format(**context).location if _needs_render(new.location, context) else new.location
        if rendered is None:
            return False
        self._check_location(rendered)
        return self.stat(rendered) is not None

    def delete(self, location: str) -> bool:
        """Delete the payload and its metadata at ``location``; ``False`` if nothing was there."""
        self._check_location(location)
        return self.delete_payload(location)

    def checksum(self, location: str) -> str:
        """sha256 hex of the payload at ``location``, streamed; nothing is deserialized."""
        self._check_location(location)
        with self.open_reader(location) as raw:
            hashing = HashingReader(raw)
            hashing.drain()
        return hashing.hexdigest()

    def _safe_previous_metadata(self, location: str) -> dict[str, Any] | None:
        try:
            return self.read_metadata(location)
        except Exception:  # a broken old sidecar must not block a new write
            return None


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a value is rebuilt.

    Deserializing a large container allocates millions of objects, and every few hundred allocations the
    collector would walk the ever-growing heap: pausing it made a 100 MB JSON load 2-3x faster (measured).
    Nothing is leaked: collection resumes right after, and reference counting frees as usual meanwhile.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()

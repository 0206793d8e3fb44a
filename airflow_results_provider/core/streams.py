"""Stream wrappers that hash and count bytes on their way through, so a payload is never buffered twice."""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

CHUNK_SIZE = 8 * 1024 * 1024

#: The first read of a payload of unknown size (verification buffers grow from here to CHUNK_SIZE).
FIRST_READ = 64 * 1024

#: Chunks at least this large are hashed on a second thread while the caller reads or writes (hashlib and file
#: or socket I/O release the GIL, so the two overlap on two cores); smaller ones inline.
OVERLAP_MIN = 1024 * 1024


class _Hasher:
    """A sha256 fed in order, large pieces on a helper thread; :meth:`wait` before reusing a fed buffer."""

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self._thread: threading.Thread | None = None

    def feed(self, data) -> None:
        self.wait()
        if memoryview(data).nbytes < OVERLAP_MIN:
            self._sha.update(data)
            return
        self._thread = threading.Thread(target=self._sha.update, args=(data,), daemon=True)
        self._thread.start()

    def update(self, data) -> None:
        """Hash ``data`` now (its buffer is reused as soon as we return)."""
        self.wait()
        self._sha.update(data)

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def hexdigest(self) -> str:
        """sha256 (hex) of every byte that went through."""
        self.wait()
        return self._sha.hexdigest()


def read_into(source: IO[bytes], view: memoryview) -> int:
    """``source.readinto(view)``, or for sources without it (cloud SDK streams, which buffer what they return)
    a ``read`` of at most one chunk copied into ``view``, so a 1 GB read never holds a second full copy."""
    readinto = getattr(source, "readinto", None)
    if readinto is not None:
        return readinto(view) or 0
    chunk = source.read(min(view.nbytes, CHUNK_SIZE))
    view[: len(chunk)] = chunk
    return len(chunk)


class HashingWriter(io.RawIOBase):
    """Write-through wrapper around a binary sink that keeps a sha256 and a byte count.

    A failure of the sink itself (disk full, network) is kept in :attr:`error`, so callers can tell it from a
    serializer failure whatever the serializer wraps it in.
    """

    def __init__(self, sink: IO[bytes]) -> None:
        super().__init__()
        self._sink = sink
        self._sha = _Hasher()
        self.size = 0
        self.error: BaseException | None = None

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[override]
        """Write ``data`` to the sink, hashing it on the way; returns its length."""
        view = memoryview(data).cast("B")
        self._sha.feed(view)  # hashed while the sink writes; the caller may reuse ``data`` once we return
        try:
            self._sink.write(view)
        except Exception as exc:
            self.error = exc
            raise
        finally:
            self._sha.wait()
        self.size += view.nbytes
        return view.nbytes

    def flush(self) -> None:
        self._sink.flush()

    def hexdigest(self) -> str:
        """sha256 (hex) of every byte that went through."""
        return self._sha.hexdigest()


class HashingReader(io.RawIOBase):
    """Read-through wrapper around a binary source that keeps a sha256 and a byte count of what was read."""

    def __init__(self, source: IO[bytes]) -> None:
        super().__init__()
        self._source = source
        self._sha = _Hasher()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        """Fill ``buffer`` from the source; returns the number of bytes read (0 at the end)."""
        view = memoryview(buffer).cast("B")
        self._sha.wait()
        n = read_into(self._source, view)
        if n:
            self._sha.update(view[:n])
            self.size += n
        return n

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (all that is left when negative), hashed on the way."""
        if size is None or size < 0:
            return self.readall()
        data = self._source.read(min(size, CHUNK_SIZE))
        self._sha.feed(data)  # bytes are immutable: hashed while the caller parses them
        self.size += len(data)
        return data

    def readall(self) -> bytes:
        data = self._source.read()
        self._sha.feed(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        """Read (and hash) whatever the consumer left unread."""
        while self.read(CHUNK_SIZE):
            pass

    def hexdigest(self) -> str:
        """sha256 (hex) of every byte that went through."""
        return self._sha.hexdigest()


#: Payloads up to this size are verified in memory; larger ones in a private temporary file.
SPOOL_MAX_MEMORY = 32 * 1024 * 1024


class VerifiedSource:
    """A reader positioned at the start of bytes whose sha256 (:attr:`digest`) was checked."""

    def __init__(self, reader: IO[bytes], digest: str, size: int) -> None:
        self.reader, self.digest, self.size = reader, digest, size


def _is_local_file(raw: Any) -> bool:
    try:
        raw.fileno()
        return bool(raw.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def _hash_into(source: IO[bytes], sink: IO[bytes] | None, size_hint: int | None = None) -> tuple[str, int]:
    """sha256 and size of what ``source`` yields (copied to ``sink`` when given). The next chunk is read on a
    helper thread while this one is hashed (and copied), so hashing overlaps the I/O.

    Buffers start at ``size_hint`` + 1 bytes (the payload's size, when known) or :data:`FIRST_READ`, and grow
    to :data:`CHUNK_SIZE` only once a read fills one: a small payload does not pay for 16 MB of buffers.
    """
    sha, size = hashlib.sha256(), 0
    first = FIRST_READ if size_hint is None else max(1, min(CHUNK_SIZE, size_hint + 1))
    buffers: list[memoryview | None] = [memoryview(bytearray(first)), None]
    ahead: dict[str, Any] = {}

    def read_ahead(view: memoryview) -> None:
        try:
            ahead["n"] = read_into(source, view)
        except BaseException as exc:  # re-raised in the caller's thread
            ahead["error"] = exc

    current = 0
    n = read_into(source, buffers[current])
    while n:
        filled = buffers[current]
        want = CHUNK_SIZE if n == filled.nbytes else filled.nbytes  # a full read: more may follow
        following = buffers[1 - current]
        if following is None or following.nbytes < want:
            following = buffers[1 - current] = memoryview(bytearray(want))
        if size_hint is not None and size + n >= size_hint:
            reader = None  # the rest is the end-of-file read (or whatever grew since): no helper thread
        else:
            reader = threading.Thread(target=read_ahead, args=(following,), daemon=True)
            reader.start()
        try:
            chunk = filled[:n]
            sha.update(chunk)
            if sink is not None:
                sink.write(chunk)
        finally:
            if reader is not None:
                reader.join()
        if reader is None:
            read_ahead(following)
        if "error" in ahead:
            raise ahead["error"]
        size += n
        n, current = ahead.pop("n"), 1 - current
    return sha.hexdigest(), size


@contextmanager
def verified_source(
    raw: IO[bytes], accepted: set[str], mismatch: Callable[[str, int], Exception]
) -> Iterator[VerifiedSource]:
    """Hash ``raw`` completely, raise ``mismatch(digest, size)`` unless the digest is in ``accepted``, then
    yield a reader of exactly the bytes that were hashed.

    A local file is hashed and then re-read through the same open descriptor (a rename of the path in between
    does not change what it reads); any other stream is copied into a private temporary file (in memory up to
    :data:`SPOOL_MAX_MEMORY`) while hashing, so nothing outside this process can swap the bytes.
    """
    if _is_local_file(raw):
        start = raw.tell()
        digest, size = _hash_into(raw, None, max(0, os.fstat(raw.fileno()).st_size - start))
        if digest not in accepted:
            raise mismatch(digest, size)
        raw.seek(start)
        yield VerifiedSource(raw, digest, size)
        return
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX_MEMORY) as spool:
        digest, size = _hash_into(raw, spool)
        if digest not in accepted:
            raise mismatch(digest, size)
        spool.seek(0)
        yield VerifiedSource(_SpoolReader(spool), digest, size)  # type: ignore[arg-type]


class _SpoolReader(io.RawIOBase):
    """A full ``io`` reader over a ``SpooledTemporaryFile`` (which on Python 3.10 has no ``readable`` or
    ``readinto``, so ``io.BufferedReader`` cannot wrap it)."""

    def __init__(self, spool: IO[bytes]) -> None:
        super().__init__()
        self._spool = spool

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._spool.seek(offset, whence)

    def tell(self) -> int:
        return self._spool.tell()

    def readinto(self, buffer) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        if hasattr(self._spool, "readinto"):  # Python >= 3.11: no copy
            return self._spool.readinto(view)
        chunk = self._spool.read(len(view))
        view[: len(chunk)] = chunk
        return len(chunk)


class ForwardOnlyReader(io.RawIOBase):
    """A readable view of ``source`` that says it cannot seek (whatever ``source`` claims)."""

    def __init__(self, source: IO[bytes]) -> None:
        super().__init__()
        self._source = source

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        """Fill ``buffer`` from the source; returns the number of bytes read (0 at the end)."""
        view = memoryview(buffer).cast("B")
        return read_into(self._source, view)


def peek_reader(source: IO[bytes], n: int) -> tuple[bytes, IO[bytes]]:
    """Return the first ``n`` bytes of ``source`` and a reader that still yields them, without seeking."""
    head = source.read(n)
    return head, _PrefixedReader(head, source)


class _PrefixedReader(io.RawIOBase):
    def __init__(self, prefix: bytes, source: IO[bytes]) -> None:
        super().__init__()
        self._prefix = memoryview(prefix)
        self._source = source

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        """Fill ``buffer`` from the source; returns the number of bytes read (0 at the end)."""
        view = memoryview(buffer).cast("B")
        if self._prefix.nbytes:
            n = min(self._prefix.nbytes, view.nbytes)
            view[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        return read_into(self._source, view)

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (all that is left when negative), hashed on the way."""
        if size is None or size < 0:
            return self.readall()
        if self._prefix.nbytes:
            if size <= self._prefix.nbytes:
                out = bytes(self._prefix[:size])
                self._prefix = self._prefix[size:]
                return out
            out = bytes(self._prefix) + self._source.read(size - self._prefix.nbytes)
            self._prefix = memoryview(b"")
            return out
        return self._source.read(size)

    def readall(self) -> bytes:
        out = bytes(self._prefix) + self._source.read()
        self._prefix = memoryview(b"")
        return out

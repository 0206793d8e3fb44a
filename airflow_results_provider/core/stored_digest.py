"""What a cache key sees of a value that is already stored: its recorded digest, never its payload."""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from collections.abc import Iterator


@dataclasses.dataclass(frozen=True)
class StoredDigest:
    """A stand-in for an upstream value stored as a Result or an offloaded XCom value, carrying the digest its
    signed record states (``algorithm`` ``"sha256"``, ``digest`` hex). A cache key hashes this instead of the
    value, so computing the key never reads the payload. ``parts`` is set for a value stored in chunks (a chunked
    list): the digests of its chunks, in order."""

    algorithm: str
    digest: str
    serializer: str = ""
    parts: tuple[str, ...] = ()


_DIGESTS_ONLY: contextvars.ContextVar[bool] = contextvars.ContextVar("results_digests_only", default=False)


@contextlib.contextmanager
def digests_only() -> Iterator[None]:
    """While active, the XCom backend answers a pull of a stored (offloaded) value with its
    :class:`StoredDigest` instead of reading the payload: a cache key is computed from what the signed records
    say, and on a hit the payload is never read."""
    token = _DIGESTS_ONLY.set(True)
    try:
        yield
    finally:
        _DIGESTS_ONLY.reset(token)


def wants_digests() -> bool:
    """Whether pulls should return :class:`StoredDigest` stand-ins (inside :func:`digests_only`)."""
    return _DIGESTS_ONLY.get()

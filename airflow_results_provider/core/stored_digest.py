"""What a cache key sees of a value that is already stored: its recorded digest, never its payload."""

from __future__ import annotations

import dataclasses


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

"""Exclusive, lease-based claims on a key of a store: single-flight computation of a cache key.

Task instances (threads, processes, Celery workers on other machines) about to compute the same cache key call
:meth:`~airflow_results_provider.results.claimable_store.ClaimableStore.try_claim` on the key's claim location:
one gets a :class:`Claim`, checks the cache once more (a holder may have written the value just before releasing)
and computes; the others get ``None``, wait, and reuse the value (or claim again: a dead holder's claim is taken
over).

**Local stores** (:class:`FileClaim`): an exclusive, non-blocking ``flock`` on a lock file at the claim location,
held through an open file description the claim keeps until :meth:`Claim.release`. ``flock`` excludes other open
file descriptions, so two claims in one process exclude each other as claims in two processes do, and the kernel
drops the lock when its holder dies: a killed holder's claim is free at once (``ttl`` is not needed). Claims never
delete the lock file; if something else deletes or replaces it, a claimant that locked the old file sees that the
inode of its descriptor is not the path's and locks the new one, and the old holder's :meth:`Claim.lost` is true.

**Object stores** with conditional creates (S3, GCS, Azure): numbered lease objects created only if absent and
renewed while held (:class:`~airflow_results_provider.results.lease_claim.LeaseClaim`, whose module argues why
two holders never overlap). Stores that cannot create exclusively (``supports_claims`` false) grant every claim:
single-flight is off there, which is logged once per store class.
"""

from __future__ import annotations

import fcntl
import logging
import math
import os
import threading
from typing import Any

from airflow_results_provider.exceptions import ResultConfigError, ResultWriteError

log = logging.getLogger(__name__)

#: Lock files replaced under a claimant this many times in a row make :meth:`FileClaim.try_take` give up.
_RELOCK_ATTEMPTS = 5


class Claim:
    """An exclusive claim on a key of a store, from :meth:`ClaimableStore.try_claim`; held until
    :meth:`release` (or the holder's death). Use it as a context manager:

    .. code-block:: python

        claim = result.try_claim("_cache/etl/policy/3f2a.claim")
        if claim is not None:
            with claim:
                result.write(compute(), location="_cache/etl/policy/3f2a")
    """

    #: The URI of the claim (its lock file or lease key), for messages.
    uri: str = ""

    def release(self) -> None:
        """Give the claim up; idempotent. Only ever removes this claim's own lock or lease."""

    def lost(self) -> bool:
        """Whether another claimant may hold the key now: this holder was presumed dead (its lease expired
        before it was renewed, or was replaced)."""
        return False

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.uri!r})"


class GrantedClaim(Claim):
    """The claim a store without exclusive creates grants to everyone (single-flight off)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri


_unsupported_logged: set[str] = set()


def granted_claim(store: Any, location: str) -> Claim:
    """A :class:`GrantedClaim` on ``location``; the first one per store class logs that single-flight is off."""
    name = type(store).__name__
    if name not in _unsupported_logged:
        _unsupported_logged.add(name)
        log.warning(
            "%s cannot create objects exclusively, so single-flight is off for it: task instances computing "
            "the same cache key at once all compute",
            name,
        )
    return GrantedClaim(store.uri(location))


class FileClaim(Claim):
    """An exclusive ``flock`` on the lock file at ``path``, held through the descriptor this claim keeps open."""

    def __init__(self, fd: int, path: str, uri: str) -> None:
        self.path, self.uri = path, uri
        self._fd: int | None = fd
        self._lost = False
        self._lock = threading.Lock()

    @classmethod
    def try_take(cls, path: str, uri: str) -> FileClaim | None:
        """Lock the file at ``path`` (created if absent, with its directories); ``None`` when it is locked.

        :raises ResultWriteError: the lock file cannot be created or locked (permissions, a file system
            without ``flock``), or it was replaced under us again and again.
        """
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            for _ in range(_RELOCK_ATTEMPTS):
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o666)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    return None
                except BaseException:
                    os.close(fd)
                    raise
                if _is_file_at(fd, path):
                    return cls(fd, path, uri)
                os.close(fd)  # deleted or replaced after we opened it: the file at the path is the lock
        except OSError as exc:
            raise ResultWriteError(f"Cannot claim {uri}: {exc}") from exc
        raise ResultWriteError(f"Cannot claim {uri}: its lock file was replaced {_RELOCK_ATTEMPTS} times")

    def lost(self) -> bool:
        """Whether the lock file was deleted or replaced while held (another claimant may lock the new one)."""
        with self._lock:
            fd = self._fd
            if fd is not None and not self._lost:
                self._lost = not _is_file_at(fd, self.path)
            return self._lost

    def release(self) -> None:
        """Unlock (also for processes forked meanwhile, which share the lock) and close the lock file."""
        with self._lock:
            fd, self._fd = self._fd, None
            if fd is None:
                return
            try:
                self._lost = self._lost or not _is_file_at(fd, self.path)
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)


def _is_file_at(fd: int, path: str) -> bool:
    """Whether ``fd`` is the file now at ``path``."""
    try:
        opened, current = os.fstat(fd), os.stat(path, follow_symlinks=False)
    except OSError:  # deleted (or no longer reachable): not the lock others take
        return False
    return (opened.st_dev, opened.st_ino) == (current.st_dev, current.st_ino)


def checked_ttl(ttl: float) -> float:
    """``ttl`` as a float; :raises ResultConfigError: it is not a positive, finite number of seconds."""
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not math.isfinite(ttl) or ttl <= 0:
        raise ResultConfigError(f"Claim ttl must be a positive number of seconds, got {ttl!r}")
    return float(ttl)

"""Claims on object stores with conditional creates (S3 If-None-Match, GCS ifGenerationMatch=0, Azure
overwrite=False): numbered lease objects ``<key>.<n>`` holding ``{"token", "expires", ...}``. A claimant

1. lists and reads the leases of the key; if one is live, it returns ``None``;
2. creates ``<key>.<n+1>`` (``n``: the highest number listed, ``-1`` when none) only if it is absent: of the
   claimants that found the same expired lease exactly one creates it, the others return ``None``;
3. lists and reads the leases again: if another lease is live, or its own no longer holds its token, it deletes
   its own and returns ``None``. Otherwise it holds the claim and deletes the expired leases; a daemon thread
   rewrites its lease every ``ttl/3``, after reading that it still holds its token.

*Two holders never overlap.* Say A and B hold at one moment and A made its step-3 listing first. A's lease was
created before that listing, so B's listing saw it, and it was still there: only its holder deletes a live lease
(a claimant deletes only leases it judged expired, which A's is not while A holds, see below). So B read A's
lease, judged it live and backed off: a contradiction. The conditional create only decides who, among claimants
that saw the same expired lease, goes on to step 3 (so a takeover does not livelock); safety rests on step 3
alone, so numbers that are deleted and created again are harmless.

*Expiry.* A reader judges a lease expired when its bytes have not changed for ``ttl`` seconds since this process
first saw them (the reader's monotonic clock, so clock skew plays no part), or when it is well formed and its
``expires`` is more than ``ttl`` in the past (a lease abandoned long ago is taken over at once; this assumes
clocks agree within ``ttl``). A holder counts on its lease until ``ttl`` after the start of its last rewrite
that completed before the previous such deadline (monotonic). Any reader saw those bytes only after that start,
so none judges the lease expired before the holder stops counting on it. A rewrite that completes late, keeps
failing, or finds another token (or none) marks the claim :meth:`~Claim.lost`; it is then neither rewritten nor
deleted. Everyone claiming one key must use the same ``ttl``. Leases are untrusted input: one that is not JSON,
has no usable ``expires`` or one in the year 9999, is judged by the first rule only, so it blocks a key for
``ttl`` after it is first seen, never longer, and the next holder deletes it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from airflow_results_provider.results.claims import Claim

log = logging.getLogger(__name__)

#: Lease numbers are decimal suffixes of at most this many digits (a longer suffix is not a lease).
_MAX_DIGITS = 30
_LEASE_NUMBER = re.compile(rf"[0-9]{{1,{_MAX_DIGITS}}}")
#: Leases larger than this are not read (a planted huge object): they are judged by size and date, as garbage.
_MAX_LEASE_BYTES = 4096
#: Leases whose first sighting this process remembers (oldest dropped first beyond it).
_MAX_SIGHTINGS = 10_000


def _lease_bytes(token: str, ttl: float, renewals: int) -> bytes:
    holder = f"{socket.gethostname()}:{os.getpid()}"
    lease = {"token": token, "expires": time.time() + ttl, "ttl": ttl, "renewals": renewals, "holder": holder}
    return json.dumps(lease).encode()


def _parse(data: bytes) -> dict[str, Any]:
    """The lease in ``data``; ``{}`` for anything that is not a JSON object (untrusted bytes)."""
    try:
        lease = json.loads(data)
    except (ValueError, RecursionError):
        return {}
    return lease if isinstance(lease, dict) else {}


def _token(data: bytes | None) -> str | None:
    token = _parse(data).get("token") if data is not None else None
    return token if isinstance(token, str) else None


class _Sightings:
    """When this process first saw each lease's current bytes (monotonic), shared by every claimant in it."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[bytes, float]] = {}
        self._lock = threading.Lock()

    def age(self, uri: str, data: bytes) -> float:
        """Seconds since ``data`` was first seen at ``uri`` (0 when it is new there)."""
        now, digest = time.monotonic(), hashlib.sha256(data).digest()
        with self._lock:
            seen = self._seen.get(uri)
            if seen is None or seen[0] != digest:
                if len(self._seen) >= _MAX_SIGHTINGS:
                    for old in list(self._seen)[: _MAX_SIGHTINGS // 2]:
                        del self._seen[old]
                self._seen.pop(uri, None)
                self._seen[uri] = seen = (digest, now)
            return now - seen[1]


_sightings = _Sightings()


def _expired(uri: str, data: bytes, ttl: float) -> bool:
    """Whether a reader may take the lease in ``data`` over (the two rules of the module docstring)."""
    if _sightings.age(uri, data) >= ttl:
        return True
    expires = _parse(data).get("expires")
    if isinstance(expires, bool) or not isinstance(expires, int | float) or not math.isfinite(expires):
        return False
    return expires + ttl < time.time()


@dataclass(frozen=True)
class _Lease:
    key: str
    number: int
    token: str | None
    live: bool


def _read_leases(store: Any, key: str, ttl: float) -> list[_Lease]:
    """The leases ``<key>.<n>`` in the store, read and judged; leases deleted meanwhile are left out."""
    prefix = f"{key}."
    listed = store._call(prefix, "list", lambda: list(store._list_keys(prefix)))
    leases = []
    for found, size, modified in listed:
        suffix = found[len(prefix) :]
        if not _LEASE_NUMBER.fullmatch(suffix):
            continue
        if (size or 0) > _MAX_LEASE_BYTES:
            data: bytes | None = f"oversized {size} {modified}".encode()
        else:
            data = store._get_small(found)
        if data is None:
            continue
        live = not _expired(store._key_uri(found), data, ttl)
        leases.append(_Lease(found, int(suffix), _token(data), live))
    return leases


def try_lease(store: Any, key: str, ttl: float) -> LeaseClaim | None:
    """Steps 1-3 of the module docstring on ``store``'s key operations (a ``BucketResult`` with
    ``conditional_writes``): the claim on ``key``, or ``None`` when a live lease holds it."""
    leases = _read_leases(store, key, ttl)
    if any(lease.live for lease in leases):
        return None
    own_key = f"{key}.{max((lease.number for lease in leases), default=-1) + 1}"
    token = uuid.uuid4().hex
    started = time.monotonic()
    if not store._create_if_absent(own_key, _lease_bytes(token, ttl, 0)):
        return None  # another claimant created this number first
    try:
        leases = _read_leases(store, key, ttl)
    except BaseException:
        _delete_quietly(store, own_key)
        raise
    own = [lease for lease in leases if lease.key == own_key and lease.token == token]
    others = [lease for lease in leases if lease.key != own_key]
    if not own or any(lease.live for lease in others) or time.monotonic() > started + ttl:
        if own:
            _delete_quietly(store, own_key)
        return None
    for lease in others:  # every one expired: their holders are presumed dead
        _delete_quietly(store, lease.key)
    return LeaseClaim(store, own_key, token, ttl, started + ttl)


def _delete_quietly(store: Any, key: str) -> None:
    try:
        store._delete_key(key)
    except Exception as exc:  # a lease left behind expires and the next holder deletes it
        log.warning("Could not delete the lease %s: %s", store._key_uri(key), exc)


class LeaseClaim(Claim):
    """A held lease object in an object store, rewritten every ``ttl/3`` by a daemon thread until released."""

    def __init__(self, store: Any, key: str, token: str, ttl: float, deadline: float) -> None:
        self._store, self.key, self._token, self._ttl = store, key, token, ttl
        self.uri = store._key_uri(key)
        self._deadline = deadline  # monotonic: we count on the lease until then
        self._renewals = 0
        self._lost = self._released = False
        self._lock = threading.Lock()  # one store call on the lease at a time (renewal or release)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._keep_alive, name=f"claim {self.uri}", daemon=True)
        self._thread.start()

    def lost(self) -> bool:
        """Whether the lease was replaced or not renewed in time (another claimant may have taken it over)."""
        return self._lost or (not self._released and time.monotonic() > self._deadline)

    def release(self) -> None:
        """Stop renewing and delete the lease if it still holds our token and has time left; a lease that could
        not be deleted expires after ``ttl`` (errors are logged, never raised)."""
        self._stop.set()
        with self._lock:
            if self._released:
                return
            self._released = True
            remaining = self._deadline - time.monotonic()
            self._lost = self._lost or remaining < 0
            # Too close to the deadline to be sure the lease is still ours when the delete lands: let it expire.
            if not self._lost and remaining > self._ttl / 3:
                try:
                    if _token(self._store._get_small(self.key)) == self._token:
                        self._store._delete_key(self.key)
                except Exception as exc:
                    log.warning(
                        "Could not release the claim %s (it expires within %.0f s): %s",
                        self.uri,
                        remaining,
                        exc,
                    )
        if self._thread is not threading.current_thread():
            self._thread.join()

    def _keep_alive(self) -> None:
        wait = self._ttl / 3
        while not self._stop.wait(wait):
            with self._lock:
                if self._stop.is_set():
                    return
                try:
                    renewed = self._renew()
                except Exception as exc:  # network trouble: retry until the deadline
                    log.warning("Could not renew the claim %s: %s", self.uri, exc)
                    renewed = None
                if renewed is False or time.monotonic() > self._deadline:
                    self._lost = True
                    log.warning(
                        "Lost the claim %s: its lease was not renewed within %.1f s or was replaced, so "
                        "another task instance may compute the same key",
                        self.uri,
                        self._ttl,
                    )
                    return
            wait = self._ttl / 3 if renewed else self._ttl / 10

    def _renew(self) -> bool:
        """Rewrite the lease with a new expiry if it still holds our token; ``False`` when it does not."""
        started = time.monotonic()
        if _token(self._store._get_small(self.key)) != self._token:
            return False
        self._renewals += 1
        self._store._put_small(self.key, _lease_bytes(self._token, self._ttl, self._renewals))
        if time.monotonic() > self._deadline:
            return False  # landed too late: a reader may have judged the lease expired meanwhile
        self._deadline = started + self._ttl
        return True


# A fork may copy the sightings' lock while another thread holds it.
os.register_at_fork(after_in_child=_sightings.__init__)

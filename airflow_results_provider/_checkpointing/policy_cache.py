"""Cache entries keyed by a cache policy (``cache_policy=``): lookup, single-flight, write, explanation.

Records of a task live in its bookkeeping store (``bookkeeping_store``) under ``_cache/<dag>.<task>/``:

- ``keys/<key>.json`` — the entry: the key's components, when it was written and expires, and where the value
  is (the task's checkpoint, by location and sha256, or ``keys/<key>.pkl`` when nothing was checkpointed);
- ``keys/<key>.claim`` — held while one task instance computes the key (single-flight);
- ``latest.json`` — the components of the newest entry, which a miss is explained against;
- ``runs/<run>/<map index>.json`` — what each execution decided and why (``airflow results explain``).

Every JSON record is signed and read only with a valid signature (``requires_signature``): an entry says where
a value is read from, so a forged one must not redirect a hit.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Mapping
from typing import Any

from airflow_results_provider import config
from airflow_results_provider._checkpointing.options import UNREADABLE, bookkeeping_store
from airflow_results_provider.cache_policies import CacheKey
from airflow_results_provider.core.signing import RECORD_CACHE
from airflow_results_provider.core.values import NOTHING
from airflow_results_provider.exceptions import CacheClaimTimeoutError, ResultError, ResultNotFoundError
from airflow_results_provider.results.base import Result
from airflow_results_provider.serializers.json_serializer import JSONSerializer
from airflow_results_provider.serializers.pickle_serializer import PickleSerializer
from airflow_results_provider.templating.filters import path_safe_unique

#: Seconds between looks at a key another task instance is computing: the first wait, growing to the most.
POLL_SECONDS = 0.5
MAX_POLL_SECONDS = 5.0


def task_cache_dir(dag_id: Any, task_id: Any) -> str:
    """The bookkeeping prefix of one task's policy cache."""
    return f"_cache/{path_safe_unique(f'{dag_id}.{task_id}')}"


def entry_location(directory: str, key: str) -> str:
    """The entry of ``key`` in a task's directory (:func:`task_cache_dir`)."""
    return f"{directory}/keys/{key}.json"


def value_location(directory: str, key: str) -> str:
    """The pickled value of ``key`` (written when nothing was checkpointed)."""
    return f"{directory}/keys/{key}.pkl"


def latest_location(directory: str) -> str:
    """The task's newest entry, which a miss is explained against."""
    return f"{directory}/latest.json"


def signed_records(store: Result) -> Result:
    """``store`` set up for the policy cache's JSON records: kind ``cache``, read only with a valid signature
    (an entry says where a hit is read from)."""
    store.record_kind = RECORD_CACHE
    store.requires_signature = True
    return store


def component_label(name: str) -> str:
    """A key component as reasons and explanations name it (``input:rows`` -> ``input 'rows'``)."""
    return f"input {name.split(':', 1)[1]!r}" if name.startswith("input:") else name.replace("_", " ")


def decision_location(dag_id: Any, task_id: Any, run_id: Any, map_index: Any) -> str:
    """Where the decision of one task instance is recorded."""
    index = "task" if map_index is None or map_index == -1 else str(map_index)
    return f"{task_cache_dir(dag_id, task_id)}/runs/{path_safe_unique(run_id)}/{index}.json"


def short(digest: Any) -> str:
    """A digest as people read it in logs: its first 8 characters and an ellipsis."""
    text = str(digest)
    return text[:8] + "…" if len(text) > 8 else text


def explain_change(previous: Mapping[str, str] | None, current: Mapping[str, str]) -> str:
    """Why ``current`` components miss an entry made of ``previous`` ones, in one line."""
    if previous is None:
        return "no earlier entry for this task"
    changes = []
    for name in sorted(set(previous) | set(current)):
        old, new = previous.get(name), current.get(name)
        if old == new:
            continue
        label = component_label(name)
        if old is None:
            changes.append(f"{label} added ({short(new)})")
        elif new is None:
            changes.append(f"{label} removed (was {short(old)})")
        else:
            changes.append(f"{label} changed: {short(old)} -> {short(new)}")
    return "; ".join(changes) or "same components as the newest entry, whose value is gone or expired"


class PolicyCache:
    """The policy cache of one task execution, for the key ``key``.

    :param result: the task's Result (a hit reads the checkpoint an entry names through it).
    :param variables: the execution's template variables (``dag_id``, ``task_id``, ``run_id``, ``map_index``).
    :param expiration: entries written now expire after this; ``None``: never.
    :param refresh: ``refresh_cache=True``: never a hit, always compute and overwrite.
    """

    def __init__(
        self,
        result: Result,
        variables: Mapping[str, Any],
        key: CacheKey,
        *,
        expiration: dt.timedelta | None = None,
        refresh: bool = False,
        log: logging.Logger | Any,
    ) -> None:
        self.result = result.copy()
        self.key = key
        self.expiration = expiration
        self.refresh = refresh
        self.log = log
        self.variables = variables
        self.records = signed_records(bookkeeping_store(result, JSONSerializer()))
        self.values = bookkeeping_store(result, PickleSerializer())
        self.values.record_kind = RECORD_CACHE
        base = task_cache_dir(variables.get("dag_id"), variables.get("task_id"))
        self.entry_location = entry_location(base, key.key)
        self.value_location = value_location(base, key.key)
        self.claim_location = f"{base}/keys/{key.key}.claim"
        self.latest_location = latest_location(base)
        self.decision_location = decision_location(
            variables.get("dag_id"),
            variables.get("task_id"),
            variables.get("run_id"),
            variables.get("map_index"),
        )
        self.claim: Any = None
        self.reason = ""
        self.hit_from: dict[str, Any] | None = None

    # ------------------------------------------------------------------ lookup

    def read(self) -> Any:
        """The cached value of this key, or :data:`NOTHING` (then :attr:`reason` says why)."""
        if self.refresh:
            self.reason = "refresh_cache=True"
            return NOTHING
        entry = self._record(self.entry_location, "cache entry")
        if entry is None:
            self.reason = explain_change(self._previous_components(), self.key.components)
            return NOTHING
        expires = _parse_time(entry.get("expires_at"))
        if expires is not None and expires <= dt.datetime.now(dt.timezone.utc):
            self.reason = f"the entry of {short(self.key.key)} expired at {expires.isoformat()}"
            return NOTHING
        value = self._entry_value(entry)
        if value is NOTHING:
            return NOTHING
        self.hit_from = entry
        self.reason = f"hit: written by run {entry.get('run_id')} at {entry.get('written_at')}"
        return value

    def _entry_value(self, entry: Mapping[str, Any]) -> Any:
        stored = entry.get("value") or {}
        try:
            if stored.get("checkpoint"):
                return self.result.read(str(stored["checkpoint"]), sha256=str(stored["sha256"])).value
            return self.values.read(self.value_location).value
        except (ResultNotFoundError, *UNREADABLE, KeyError, TypeError, AttributeError) as exc:
            self.log.warning(
                "The value of cache entry %s is gone or unreadable; computing it: %s", self._uri(), exc
            )
            self.reason = f"the value of the entry of {short(self.key.key)} is gone or unreadable"
            return NOTHING

    def _record(self, location: str, what: str) -> dict[str, Any] | None:
        try:
            if not self.records.exists(location):
                return None
            record = self.records.read(location).value
        except (ResultNotFoundError, *UNREADABLE) as exc:
            self.log.warning("Ignoring the %s at %s: %s", what, self._uri(location), exc)
            return None
        return record if isinstance(record, dict) else None

    def _previous_components(self) -> dict[str, str] | None:
        latest = self._record(self.latest_location, "newest cache entry")
        components = (latest or {}).get("components")
        return dict(components) if isinstance(components, dict) else None

    def _uri(self, location: str | None = None) -> str:
        try:
            return self.records.uri(location or self.entry_location)
        except ResultError:
            return location or self.entry_location

    # ------------------------------------------------------------------ single-flight

    def claim_or_wait(self) -> Any:
        """Take the claim on the key, or wait while another live task instance computes it.

        :returns: the value another instance computed (a hit), or :data:`NOTHING` when this one holds the claim
            (or the store cannot do claims) and must compute.
        :raises CacheClaimTimeoutError: waited ``[results] cache_wait_timeout`` seconds.
        """
        try_claim = getattr(self.values, "try_claim", None)
        if try_claim is None:
            return NOTHING
        ttl = float(config.cache_claim_ttl())
        timeout = config.cache_wait_timeout()
        deadline = time.monotonic() + timeout
        waited = False
        delay = POLL_SECONDS
        while True:
            self.claim = try_claim(self.claim_location, ttl=ttl)
            if self.claim is not None:
                # A holder may have written the value and released between our lookup and this claim.
                if self.records.exists(self.entry_location):
                    value = self.read()
                    if value is not NOTHING:
                        self.release()
                        return value
                return NOTHING
            if not waited:
                self.log.info(
                    "Another task instance is computing cache key %s; waiting for it (at most %s s)",
                    short(self.key.key),
                    timeout,
                )
                waited = True
            if time.monotonic() > deadline:
                raise CacheClaimTimeoutError(
                    f"Waited {timeout} s for another task instance computing cache key {self.key.key} "
                    f"({self._uri(self.claim_location)}); raise [results] cache_wait_timeout or invalidate the key"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, MAX_POLL_SECONDS)
            if self.records.exists(self.entry_location):  # one request per look while the holder computes
                value = self.read()
                if value is not NOTHING:
                    return value

    def release(self) -> None:
        """Give up the claim (idempotent)."""
        claim, self.claim = self.claim, None
        if claim is not None:
            try:
                claim.release()
            except ResultError as exc:
                self.log.warning("Could not release the claim on cache key %s: %s", short(self.key.key), exc)

    # ------------------------------------------------------------------ write

    def write(self, value: Any, written: Result | None) -> None:
        """Record ``value`` under the key: by reference to the checkpoint ``written`` when there is one."""
        now = dt.datetime.now(dt.timezone.utc)
        v = self.variables
        if written is not None and written.metadata.get("sha256") and written.location:
            stored: dict[str, Any] = {
                "checkpoint": str(written.location),
                "sha256": written.metadata["sha256"],
            }
        else:
            store = self.values.copy()
            store.location = self.value_location
            store.write(value, **self._shared())
            stored = {"pickle": self.value_location}
        entry = {
            "key": self.key.key,
            "policy": self.key.policy,
            "components": dict(self.key.components),
            "written_at": now.isoformat(),
            "expires_at": (now + self.expiration).isoformat() if self.expiration is not None else None,
            "dag_id": v.get("dag_id"),
            "task_id": v.get("task_id"),
            "run_id": v.get("run_id"),
            "map_index": v.get("map_index"),
            "value": stored,
        }
        self._write_record(self.entry_location, entry)
        self._write_record(self.latest_location, entry)

    def record_decision(self, hit: bool) -> dict[str, Any]:
        """Record (for ``airflow results explain`` and the Result tab) and log what this execution decided."""
        decision = {
            "outcome": "hit" if hit else "miss",
            "key": self.key.key,
            "policy": self.key.policy,
            "components": dict(self.key.components),
            "reason": self.reason,
            "decided_at": dt.datetime.now(dt.timezone.utc).isoformat(),
            "run_id": self.variables.get("run_id"),
            "map_index": self.variables.get("map_index"),
        }
        if hit and self.hit_from:
            decision["from_run_id"] = self.hit_from.get("run_id")
        self.log.info(
            "Cache %s (key %s, %s): %s",
            decision["outcome"],
            short(self.key.key),
            self.key.policy,
            self.reason,
        )
        try:
            self._write_record(self.decision_location, decision)
        except ResultError as exc:  # the explanation is a convenience: never fail the task over it
            self.log.warning(
                "Could not record the cache decision at %s: %s", self._uri(self.decision_location), exc
            )
        return decision

    def _write_record(self, location: str, record: Mapping[str, Any]) -> None:
        store = self.records.copy()
        store.location = location
        store.write(dict(record), **self._shared())

    def _shared(self) -> dict[str, Any]:
        """The write variables of records every map index (and loop iteration) of the task shares: entries and
        values per key, ``latest.json``. Without the map index, writing one that another map index of the same
        run wrote is an overwrite, not a location collision."""
        return {k: self.variables.get(k) for k in ("dag_id", "task_id", "run_id")}


def _parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return dt.datetime.min.replace(tzinfo=dt.timezone.utc)  # unreadable expiry: treat as expired
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)

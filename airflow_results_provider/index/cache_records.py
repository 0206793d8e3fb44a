"""Policy cache records (``cache_policy=``) as ``airflow results explain/invalidate`` and the Result tab read them.

A task's records are in its bookkeeping store under ``_cache/<dag>.<task>/``
(:mod:`airflow_results_provider._checkpointing.policy_cache`): ``keys/<key>.json`` entries, ``keys/<key>.pkl``
values, ``latest.json`` and ``runs/<run>/<map index>.json`` decisions. Every JSON record is read only with a
valid ``cache`` signature, as the task reads it; even then its fields are untrusted text (a task holds the
signing key): callers print them escaped.

Which stores: those named explicitly (``--store``), else the stores of the task instance's verified XCom rows
(URL specs only: a row never gets a ``module:attribute`` imported) and the configured ones
(``default_result``, ``xcom_result``, ``trusted_stores``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_results_provider._checkpointing.policy_cache import (
    component_label,
    decision_location,
    entry_location,
    latest_location,
    short,
    signed_records,
    task_cache_dir,
    value_location,
)
from airflow_results_provider.core.keys import is_url_spec
from airflow_results_provider.exceptions import ResultError
from airflow_results_provider.index.stores import configured_stores
from airflow_results_provider.templating.filters import path_safe

log = logging.getLogger(__name__)

#: ``_cache/<task dir>/keys/<sha256 hex>.json``: an entry (nothing else under ``_cache/`` is one).
_ENTRY = re.compile(r"^_cache/(?P<dir>[^/]+)/keys/(?P<key>[0-9a-f]{64})\.json$")


def records_store(spec: str) -> Any | None:
    """The store ``spec`` set up to read cache records (JSON, kind ``cache``, signature required), or ``None``
    when it cannot be opened or keeps no records."""
    from airflow_results_provider.results.registry import result_from_spec
    from airflow_results_provider.results.storage import StorageResult
    from airflow_results_provider.serializers.json_serializer import JSONSerializer

    try:
        store = result_from_spec(spec)
    except Exception as exc:
        log.warning("Cannot open the store %r: %s", spec, exc)
        return None
    if not isinstance(store, StorageResult):
        return None
    store.serializer = JSONSerializer()
    return signed_records(store)


def open_stores(stores: Iterable[str]) -> Iterator[tuple[str, Any]]:
    """``(spec, records store)`` of each store that opens, each store once however it is spelled (the
    ``file://`` URL a row names and ``local_dir`` are one store)."""
    seen: set[str] = set()
    for spec in stores:
        store = records_store(spec)
        if store is None:
            continue
        identity = _uri(store, "_cache")
        if identity in seen:
            continue
        seen.add(identity)
        yield spec, store


def read_record(store: Any, location: str) -> dict[str, Any] | None:
    """The signed JSON record at ``location``; ``None`` when there is none or it does not verify (logged)."""
    try:
        if store.stat(location) is None:
            return None
        value = store.read(location).value
    except Exception as exc:  # unsigned, corrupt or unreachable: never a page error, never trusted
        log.warning("Ignoring the cache record %s: %s", _uri(store, location), exc)
        return None
    return value if isinstance(value, dict) else None


def _uri(store: Any, location: str) -> str:
    try:
        return str(store.uri(location))
    except ResultError:
        return location


def stores_named_by(records: Iterable[Any]) -> list[str]:
    """The URL stores that verified index ``records`` name (never a ``module:attribute`` a row could get
    imported), in order, then the configured stores."""
    specs: list[str] = []
    for record in records:
        if record.verified and record.store and is_url_spec(record.store) and record.store not in specs:
            specs.append(record.store)
    return specs + [s for s in configured_stores() if s not in specs]


def task_instance_stores(session: Any, dag_id: str, run_id: str, task_id: str, map_index: int) -> list[str]:
    """Where the records of a task instance may be: its verified rows' URL stores, then the configured ones."""
    from airflow_results_provider.index.queries import get_records

    return stores_named_by(get_records(session, dag_id, run_id, task_id, map_index))


@dataclass
class Component:
    """One component of a decided key, beside the newest entry's digest for it."""

    name: str
    digest: str | None
    newest: str | None
    #: Differs from the newest entry for the task now (``latest.json``).
    differs: bool
    #: The decision's reason names it as changed (against the newest entry when the decision was made).
    changed_when_decided: bool

    @property
    def label(self) -> str:
        """How the reason names it: ``input 'rows'``, ``task source``, ``params``."""
        return component_label(self.name)

    @property
    def change(self) -> str:
        """What the explanation marks it with (``""``: unchanged)."""
        if self.differs:
            if self.digest and self.newest:
                return "differs from newest"
            return "not in newest" if self.digest else "only in newest"
        return "changed (when decided)" if self.changed_when_decided else ""


@dataclass
class Decision:
    """What one task instance decided (``runs/<run>/<map index>.json``), where it was found, and the task's
    newest entry (``latest.json``) it is compared with."""

    store: str
    uri: str
    record: dict[str, Any]
    latest: dict[str, Any] | None

    @property
    def outcome(self) -> str:
        """``hit`` or ``miss`` (anything else recorded: ``unknown``)."""
        outcome = self.record.get("outcome")
        return outcome if outcome in ("hit", "miss") else "unknown"

    def text(self, name: str) -> str:
        """A recorded field as text (``""`` when absent)."""
        value = self.record.get(name)
        return "" if value is None else str(value)

    @property
    def newest_is_this_key(self) -> bool:
        """The task's newest entry has this decision's key (a later run would hit it)."""
        return self.latest is not None and self.latest.get("key") == self.record.get("key")

    def components(self) -> list[Component]:
        """Every component of the decided key and of the newest entry, by name."""
        mine = _components(self.record)
        newest = _components(self.latest) if self.latest is not None else {}
        reason = self.text("reason")
        out = []
        for name in sorted(set(mine) | set(newest)):
            digest, other = mine.get(name), newest.get(name)
            label = component_label(name)
            out.append(
                Component(
                    name=name,
                    digest=digest,
                    newest=other,
                    differs=self.latest is not None and digest != other,
                    changed_when_decided=self.outcome == "miss"
                    and any(f"{label} {verb}" in reason for verb in ("changed", "added", "removed")),
                )
            )
        return out

    def as_dict(self) -> dict[str, Any]:
        """JSON output of ``explain``: the recorded decision, where it is, and the components compared."""
        return {
            "outcome": self.outcome,
            "key": self.text("key"),
            "policy": self.text("policy"),
            "reason": self.text("reason"),
            "decided_at": self.text("decided_at"),
            "from_run_id": self.record.get("from_run_id"),
            "decision": self.uri,
            "newest_entry": {
                "key": (self.latest or {}).get("key"),
                "run_id": (self.latest or {}).get("run_id"),
                "written_at": (self.latest or {}).get("written_at"),
            }
            if self.latest is not None
            else None,
            "components": [
                {
                    "name": c.name,
                    "digest": c.digest,
                    "newest": c.newest,
                    "differs_from_newest": c.differs,
                    "changed_when_decided": c.changed_when_decided,
                }
                for c in self.components()
            ],
        }


def _components(record: Mapping[str, Any] | None) -> dict[str, str]:
    components = (record or {}).get("components")
    if not isinstance(components, dict):
        return {}
    return {str(k): str(v) for k, v in components.items()}


def find_decision(
    dag_id: str, run_id: str, task_id: str, map_index: int | None, stores: Iterable[str]
) -> Decision | None:
    """The decision of a task instance in the first of ``stores`` that has one (signed), with the task's
    newest entry from the same store; ``None`` when none has (no cache policy, or it did not run)."""
    location = decision_location(dag_id, task_id, run_id, map_index)
    newest = latest_location(task_cache_dir(dag_id, task_id))
    for spec, store in open_stores(stores):
        record = read_record(store, location)
        if record is None:
            continue
        return Decision(spec, _uri(store, location), record, read_record(store, newest))
    return None


@dataclass
class Entry:
    """A cache entry found for ``invalidate``: its files in ``store`` and what it records."""

    store: str
    key: str
    task_id: str
    directory: str
    record: dict[str, Any]

    @property
    def entry_location(self) -> str:
        """The entry record's location in :attr:`store`."""
        return entry_location(self.directory, self.key)

    @property
    def value_location(self) -> str:
        """The location of the entry's pickled value (present when nothing was checkpointed)."""
        return value_location(self.directory, self.key)


@dataclass
class EntryListing:
    """The entries of a DAG (or task) in some stores, and what was passed over."""

    entries: list[Entry] = field(default_factory=list)
    #: Entries under the DAG's task directories that do not verify: never a hit, and never deleted here.
    unverified: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def list_entries(
    dag_id: str, stores: Iterable[str], *, task_id: str | None = None, key: str | None = None
) -> EntryListing:
    """The signed policy cache entries of ``dag_id`` (of ``task_id``; keys starting with ``key``) in ``stores``.

    An entry counts only when its signed record names this DAG (and task) and lies in that task's directory:
    ``_cache/<dag>.<task>`` of two DAGs can coincide (``a.b``/``c`` and ``a``/``b.c``), their records cannot."""
    listing = EntryListing()
    prefix = f"{task_cache_dir(dag_id, task_id)}/keys/" if task_id is not None else "_cache/"
    for spec, store in open_stores(stores):
        try:
            for obj in store.list_payloads(prefix):  # streamed: memory is the entries found
                entry = _entry_of(store, spec, obj.location, dag_id, task_id, key, listing)
                if entry is not None:
                    listing.entries.append(entry)
        except Exception as exc:
            listing.errors.append(f"{spec or 'local_dir'}: {exc}")
    return listing


def _entry_of(
    store: Any,
    spec: str,
    location: str,
    dag_id: str,
    task_id: str | None,
    key: str | None,
    listing: EntryListing,
) -> Entry | None:
    """The entry at ``location`` when it is one of ``dag_id``'s (``task_id``'s, ``key``'s) and verifies."""
    match = _ENTRY.match(location)
    if match is None or (key and not match["key"].startswith(key)):
        return None
    if not _dir_of_dag(match["dir"], dag_id, task_id):
        return None  # another DAG's (no record read)
    record = read_record(store, location)
    if record is None:
        listing.unverified.append(_uri(store, location))
        return None
    owner_task = record.get("task_id")
    if (
        record.get("dag_id") != dag_id
        or not isinstance(owner_task, str)
        or (task_id is not None and owner_task != task_id)
        or f"_cache/{match['dir']}" != task_cache_dir(dag_id, owner_task)
        or record.get("key") != match["key"]
    ):
        return None
    return Entry(spec, match["key"], owner_task, f"_cache/{match['dir']}", record)


def _dir_of_dag(directory: str, dag_id: str, task_id: str | None) -> bool:
    """Whether ``_cache/<directory>`` may hold records of ``dag_id`` (of ``task_id``): path-safing maps
    ``<dag>.<task>`` run by run of unsafe characters, so it starts with the path-safe DAG id and a dot."""
    if task_id is not None:
        return f"_cache/{directory}" == task_cache_dir(dag_id, task_id)
    return directory.startswith(f"{path_safe(dag_id)}.")


@dataclass
class Invalidation:
    """What ``invalidate`` removed (or, in a dry run, would remove): URIs of entries, values, newest records."""

    removed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def invalidate(entries: Iterable[Entry], *, dry_run: bool = True) -> Invalidation:
    """Remove ``entries``: each entry record, its pickled value (never a checkpoint it points at) and the task's
    ``latest.json`` when it names a removed key (so the next miss is not explained against a removed entry).
    The entry goes first: once it is gone the key misses, whatever else fails."""
    done = Invalidation()
    opened: dict[str, Any] = {}  # each store opened once (a cloud store builds its hook and client)
    by_directory: dict[tuple[str, str], set[str]] = {}
    for entry in entries:
        if entry.store not in opened:
            opened[entry.store] = records_store(entry.store)
        store = opened[entry.store]
        if store is None:
            done.errors.append(f"{entry.store or 'local_dir'}: cannot open the store")
            continue
        by_directory.setdefault((entry.store, entry.directory), set()).add(entry.key)
        for location in (entry.entry_location, entry.value_location):
            _remove(store, location, done, dry_run)
    for (spec, directory), keys in by_directory.items():
        store = opened[spec]
        newest = latest_location(directory)
        latest = read_record(store, newest)
        if latest is not None and latest.get("key") in keys:
            _remove(store, newest, done, dry_run)
    return done


def _remove(store: Any, location: str, done: Invalidation, dry_run: bool) -> None:
    try:
        if store.stat(location) is None:
            return
        if not dry_run:
            store.delete(location)
    except Exception as exc:
        done.errors.append(f"{_uri(store, location)}: {exc}")
        return
    done.removed.append(_uri(store, location))


__all__ = [
    "Component",
    "Decision",
    "Entry",
    "EntryListing",
    "Invalidation",
    "component_label",
    "find_decision",
    "invalidate",
    "list_entries",
    "open_stores",
    "read_record",
    "records_store",
    "short",
    "stores_named_by",
    "task_instance_stores",
]

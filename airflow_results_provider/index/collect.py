"""Garbage collection of stored results: expire indexed results, delete orphaned payloads.

Orphans are found by listing every store in scope through the storage protocol
(:meth:`~airflow_results_provider.results.storage.StorageResult.list_payloads`): built-in stores, an
``ObjectStorageResult`` and any store registered with :func:`~airflow_results_provider.results.registry.register_store`
alike.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from airflow_results_provider import config
from airflow_results_provider.core.rows import OWNER_XCOM
from airflow_results_provider.core.signing import RECORD_RESULT, signed_digests
from airflow_results_provider.index._airflow_xcom import stores_per_attempt
from airflow_results_provider.index.queries import Filters, iter_records
from airflow_results_provider.index.records import Record
from airflow_results_provider.index.stores import KeyReferences, deletable, delete_record, store_aliases


@dataclass
class GcPlan:
    """What gc found, and (when not a dry run) deleted."""

    records: int = 0
    record_bytes: int = 0
    orphans: int = 0
    orphan_bytes: int = 0
    scanned: int = 0
    kept_checkpoints: int = 0
    #: Unreferenced payloads gc kept because the XCom backend did not write them (checkpoints, caches, loop
    #: state, payloads written before 0.2 recorded their owner).
    kept_unowned: int = 0
    errors: list[str] = field(default_factory=list)


def gc(
    session: Any,
    *,
    stores: Iterable[str],
    older_than: dt.datetime | None = None,
    keep_last: int | None = None,
    orphans: bool = True,
    include_checkpoints: bool = False,
    dry_run: bool = True,
    progress: Callable[[str, int], None] | None = None,
    on_delete: Callable[[str, int], None] | None = None,
    grace: dt.timedelta | None = None,
) -> GcPlan:
    """Expire indexed results (``older_than``, ``keep_last`` runs per DAG/task/key) and delete orphans — both
    only in ``stores``.

    An orphan is a payload the XCom backend wrote (its sidecar says ``owner: xcom``) that no row refers to and
    that is older than ``grace`` (default ``[results] gc_grace``): checkpoints, targets, cache entries and loop
    state are never orphans, nor is a payload written a moment before its row. Memory: the set of referenced
    keys, never the listing."""
    stores = list(stores)
    plan = GcPlan()
    cutoff = dt.datetime.now(dt.timezone.utc) - (config.gc_grace() if grace is None else grace)
    doomed, references = _expired_records(
        session, stores, older_than, keep_last, include_checkpoints=include_checkpoints, plan=plan
    )
    for record in doomed:
        plan.records += 1
        plan.record_bytes += record.size or 0
        if not dry_run:
            try:
                delete_record(session, record, keep_payload=references.refers_to(record))
            except Exception as exc:
                plan.errors.append(f"{record.location}: {exc}")
        if on_delete:
            on_delete(record.location or record.id, record.size or 0)
    if orphans:
        for spec in stores:
            _collect_orphans(
                spec, references, plan, cutoff=cutoff, dry_run=dry_run, progress=progress, on_delete=on_delete
            )
    return plan


def _expired_records(
    session: Any,
    stores: list[str],
    older_than: dt.datetime | None,
    keep_last: int | None,
    *,
    include_checkpoints: bool,
    plan: GcPlan,
) -> tuple[list[Record], KeyReferences]:
    """The records to expire (newest rows first, counted per DAG/task/map index/key), and what the others
    still refer to."""
    in_scope: set[str] = set().union(*(store_aliases(spec, from_row=False) for spec in stores))
    references = KeyReferences()
    counts: dict[tuple[Any, ...], int] = {}
    doomed: list[Record] = []
    for record in iter_records(session, Filters(), order_newest=True):
        expired = False
        expiring = older_than is not None or keep_last is not None
        if expiring and record.verified and store_aliases(record.store or "") & in_scope:
            group = (record.dag_id, record.task_id, record.map_index, record.xcom_key)
            counts[group] = counts.get(group, 0) + 1
            if _expires(record, counts[group], older_than, keep_last):
                if deletable(record, include_checkpoints=include_checkpoints):
                    expired = True
                    doomed.append(record)
                else:
                    plan.kept_checkpoints += 1
        if not expired and record.key:
            references.add(record)
    if stores_per_attempt():  # Airflow >= 3.4: a cleared task's earlier attempts keep their rows
        doomed_ids = {record.id for record in doomed}
        for record in iter_records(session, Filters(), all_attempts=True):
            if record.key and record.id not in doomed_ids:
                references.add(record)
    return doomed, references


def _expires(record: Record, rank: int, older_than: dt.datetime | None, keep_last: int | None) -> bool:
    """Both given: older than the cutoff and not among the last ``keep_last``."""
    conditions = []
    if older_than is not None:
        written = _written(record)
        conditions.append(written is not None and written < older_than)
    if keep_last is not None:
        conditions.append(rank > keep_last)
    return all(conditions)


def _collect_orphans(
    spec: str,
    references: KeyReferences,
    plan: GcPlan,
    *,
    cutoff: dt.datetime,
    dry_run: bool,
    progress: Callable[[str, int], None] | None,
    on_delete: Callable[[str, int], None] | None,
) -> None:
    """Delete the orphans of store ``spec`` (listed through the storage protocol; see :func:`gc`)."""
    from airflow_results_provider.results.registry import result_from_spec
    from airflow_results_provider.results.storage import StorageResult

    try:
        result = result_from_spec(spec)
        if not isinstance(result, StorageResult):
            raise TypeError(f"{type(result).__name__} keeps no payloads to list")
        keys, prefixes = references.referenced(store_aliases(result.store_spec() or spec, from_row=False))
        for obj in result.list_payloads():
            plan.scanned += 1
            if progress and plan.scanned % 1000 == 0:
                progress(spec, plan.scanned)
            if obj.location in keys or (prefixes and obj.location.startswith(prefixes)):
                continue
            if not _is_orphan(result, obj, cutoff, plan):
                continue
            plan.orphans += 1
            plan.orphan_bytes += obj.size
            if not dry_run:
                result.delete(obj.location)
            if on_delete:
                on_delete(result.uri(obj.location), obj.size)
    except Exception as exc:
        plan.errors.append(f"{spec or 'local_dir'}: {exc}")
    if progress:
        progress(spec, plan.scanned)


def _is_orphan(result: Any, obj: Any, cutoff: dt.datetime, plan: GcPlan) -> bool:
    """An unreferenced payload is an orphan only when it is old enough and the XCom backend wrote it."""
    if obj.modified is None or _utc(obj.modified) >= cutoff:  # no age known: never provably old enough
        return False
    try:
        metadata = result.read_metadata(obj.location) or {}
    except Exception as exc:  # a corrupt sidecar: not provably ours to delete
        plan.errors.append(f"{result.uri(obj.location)}: {exc}")
        return False
    if metadata.get("owner") != OWNER_XCOM or not _owner_signed(result, obj.location, metadata):
        plan.kept_unowned += 1
        return False
    return True


def _owner_signed(result: Any, location: str, metadata: dict[str, Any]) -> bool:
    """Whether a key holder signed this sidecar (and with it its ``owner``): a store writer relabelling a
    checkpoint ``owner: xcom`` must not get it collected. Without a key nothing is signed (the owner is taken
    as written); unsigned sidecars of earlier versions are kept until ``airflow results sign``."""
    key = config.envelope_signing_key()
    if not key:
        return True
    serializer = metadata.get("serializer")
    uri = result.uri(location)
    return bool(signed_digests(metadata, kind=RECORD_RESULT, uri=uri, serializer=serializer, signing_key=key))


def _written(record: Record) -> dt.datetime | None:
    """When the record's payload was written (UTC), or ``None`` when unknown."""
    if not record.written_at:
        return None
    try:
        return _utc(dt.datetime.fromisoformat(record.written_at))
    except ValueError:
        return None


def _utc(stamp: dt.datetime) -> dt.datetime:
    """``stamp``, read as UTC when it carries no time zone."""
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.timezone.utc)


def parse_age(text: str) -> dt.timedelta:
    """``30d``, ``12h``, ``45m``, ``90s`` or ``2w`` -> a timedelta.

    :raises ValueError: not a number and a unit (e.g. 30d)."""
    return config.parse_age("An age", text)

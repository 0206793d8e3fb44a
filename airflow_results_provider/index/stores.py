"""Index store operations: what the index does to the stores its records name, through the public storage
protocol only (:class:`~airflow_results_provider.results.storage.StorageResult`): stat, read the sidecar,
read a small JSON payload for a preview, delete. Only verified records with a URL store and a clean key are
ever resolved; nothing here unpickles.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from airflow_results_provider import config
from airflow_results_provider.core.keys import is_relative_key, is_url_spec
from airflow_results_provider.core.masking import mask_sensitive
from airflow_results_provider.core.rows import OWNER_XCOM, chunk_key
from airflow_results_provider.core.sidecar import final_metadata
from airflow_results_provider.index.records import Record

log = logging.getLogger(__name__)


def result_for(record: Record) -> Any | None:
    """The StorageResult that reads ``record``'s store, only for verified records with a URL store and a clean
    key; ``None`` otherwise (or when the store cannot be opened)."""
    from airflow_results_provider.results.registry import result_from_spec
    from airflow_results_provider.results.storage import StorageResult

    if not record.verified or not record.store or not is_relative_key(record.key):
        return None
    if not is_url_spec(record.store):
        return None  # a module:attribute is never imported from a row
    try:
        result = result_from_spec(record.store)
    except Exception as exc:
        log.warning("Cannot open the store %s of %s: %s", record.store, record.id, exc)
        return None
    return result if isinstance(result, StorageResult) else None


@dataclass
class KeyReferences:
    """The keys rows still refer to, per store spelling (memory: the referenced keys, never a listing)."""

    keys: dict[str, set[str]] = field(default_factory=dict)
    sequence_prefixes: dict[str, list[str]] = field(default_factory=dict)

    def add(self, record: Record) -> None:
        """Note that ``record``'s row refers to its key (and, for a verified chunked list, everything under it:
        a forged row cannot shield a whole prefix from gc; unsigned chunks are never orphans anyway)."""
        for alias in store_aliases(record.store or ""):
            self.keys.setdefault(alias, set()).add(record.key or "")
            if record.kind == "sequence" and record.verified:
                self.sequence_prefixes.setdefault(alias, []).append(f"{record.key}/")

    def refers_to(self, record: Record) -> bool:
        """Whether a row added here refers to ``record``'s payload (same store, same key or chunk prefix)."""
        keys, prefixes = self.referenced(store_aliases(record.store or ""))
        key = record.key or ""
        return key in keys or bool(prefixes and f"{key}/".startswith(prefixes))

    def referenced(self, aliases: Iterable[str]) -> tuple[set[str], tuple[str, ...]]:
        """The keys and chunk prefixes referred to in the store spelled by ``aliases``."""
        aliases = list(aliases)
        keys: set[str] = set().union(*(self.keys.get(a, set()) for a in aliases))
        return keys, tuple(p for a in aliases for p in self.sequence_prefixes.get(a, ()))


def check_exists(records: Iterable[Record]) -> None:
    """Set ``exists`` (one stat/HEAD per record; ``None`` when unknown) on a bounded list of records."""
    for record in records:
        result = result_for(record)
        if result is None:
            continue
        try:
            if record.kind == "sequence":
                record.exists = result.read_metadata(record.key) is not None or bool(
                    result.stat(chunk_key(record.key, 0, _ext(record)))
                )
            else:
                record.exists = result.stat(record.key) is not None
        except Exception as exc:  # unreachable store: unknown, not missing
            log.warning("Cannot check %s: %s", record.location, exc)


def _ext(record: Record) -> str:
    from airflow_results_provider.serializers._labels import serializer_from_label

    try:
        return serializer_from_label(str(record.serializer)).extension or ""
    except Exception:
        return ""


def read_metadata(record: Record) -> dict[str, Any] | None:
    """The metadata sidecar of ``record`` (small JSON: never the payload), for verified records only."""
    result = result_for(record)
    if result is None:
        return None
    try:
        return final_metadata(result.read_metadata(record.key))
    except Exception as exc:
        log.warning("Cannot read the metadata of %s: %s", record.location, exc)
        return None


def load_json_preview(record: Record, max_bytes: int) -> Any:
    """The JSON payload of ``record``, parsed and masked, when it is JSON and at most ``max_bytes``; else
    ``None``. The digest is checked before parsing; nothing else is ever loaded."""
    if (
        record.serializer != "json"
        or record.kind == "sequence"
        or record.size is None
        or record.size > max_bytes
    ):
        return None
    result = result_for(record)
    if result is None:
        return None
    try:
        with result.open_reader(record.key) as handle:
            data = handle.read(max_bytes + 1)
    except Exception as exc:
        log.warning("Cannot read %s: %s", record.location, exc)
        return None
    if len(data) > max_bytes or (record.sha256 and hashlib.sha256(data).hexdigest() != record.sha256):
        return None
    return mask_sensitive(json.loads(data))


def deletable(record: Record, *, include_checkpoints: bool) -> bool:
    """Whether rm/gc may delete ``record``: verified, and the XCom backend's own (or checkpoints included)."""
    return record.verified and (record.owner == OWNER_XCOM or include_checkpoints)


def delete_records(session: Any, records: list[Record]) -> int:
    """Delete ``records`` (rows, then payloads) for ``airflow results rm``; returns the bytes freed. A payload
    that another row, not deleted here, still refers to (run 2's target hit is run 1's checkpoint) stays."""
    from airflow_results_provider.index.queries import Filters, iter_records

    doomed = {record.id for record in records}
    others = KeyReferences()
    for record in iter_records(session, Filters(), all_attempts=True):
        if record.key and record.id not in doomed:
            others.add(record)
    return sum(delete_record(session, r, keep_payload=others.refers_to(r)) for r in records)


def delete_record(session: Any, record: Record, *, keep_payload: bool = False) -> int:
    """Delete ``record``'s XCom row (of every attempt of its task instance), then its payload (chunks, metadata) unless ``keep_payload`` (another row
    still refers to it); returns the bytes freed.

    The row goes first: a payload whose deletion then fails is an orphan gc collects later, never a row
    pointing at deleted data."""
    from airflow_results_provider.index._airflow_xcom import delete_rows

    delete_rows(
        session,
        dag_id=record.dag_id,
        run_id=record.run_id,
        task_id=record.task_id,
        map_index=record.map_index,
        key=record.xcom_key,
    )
    session.flush()
    result = None if keep_payload else result_for(record)
    if result is None:
        return 0
    locations = [record.key or ""]
    if record.kind == "sequence":
        locations = [chunk_key(record.key or "", i, _ext(record)) for i in range(record.chunks or 0)]
    try:
        for location in locations:
            result.delete(location)
    except Exception as exc:  # left for gc: the row is gone, the payload is an orphan now
        log.warning("Could not delete %s (an orphan now; gc collects it): %s", record.location, exc)
        return 0
    return record.size or 0


def configured_stores() -> list[str]:
    """The store specs of this deployment (``default_result``, ``xcom_result``, ``trusted_stores``)."""
    specs = [config.default_result(), config.xcom_result(), *config.trusted_stores()]
    out: list[str] = []
    for spec in specs:
        if spec and spec not in out:
            out.append(spec)
    if "" in specs or not out:
        out.insert(0, "")
    return out


def store_aliases(spec: str, *, from_row: bool = True) -> set[str]:
    """The spellings of one store. ``spec`` from a row (untrusted) is resolved only when it is a URL: a
    ``module:attribute`` is imported only when the operator names it (``gc --store``)."""
    from airflow_results_provider.results.registry import result_from_spec

    aliases = {spec, spec.rstrip("/")}
    if from_row and not is_url_spec(spec):
        return aliases  # a forged row's store "os:abort" would otherwise be imported and called here
    try:
        spelled = result_from_spec(spec).store_spec()
    except Exception:
        return aliases
    if spelled:
        aliases |= {spelled, spelled.rstrip("/")}
    return aliases

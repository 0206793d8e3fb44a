"""Finding, showing and deleting stored results: the one query/delete module behind the Results UI plugin and
``airflow results list/show/rm/gc``.

The index is the metadata DB, never a store listing: XCom rows holding envelopes (values the XCom backend
offloaded, or checkpoints it referenced) and the ``_link_ResultLink`` row of every mixin task, whose URL carries a
signed reference to the checkpoint or target hit (:mod:`airflow_results_provider.index.references`). Rows are
untrusted: a record whose signature does not verify is listed as unverified and its store is never touched.
Nothing here unpickles; a payload is read only for the JSON preview (:func:`load_json_preview`).

Airflow is imported inside functions only (the ``xcom`` table, sessions).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from airflow_results_provider.index import references as _result_ref
from airflow_results_provider.xcom._envelope import MARKER, is_envelope, is_relative_key, is_url_spec

log = logging.getLogger(__name__)

LINK_KEY = "_link_ResultLink"
OWNER_XCOM = "xcom"
OWNERS = (OWNER_XCOM, _result_ref.OWNER_CHECKPOINT, _result_ref.OWNER_TARGET)
SORT_FIELDS = ("written_at", "dag_id", "run_id", "task_id", "map_index", "size", "result", "owner")
#: The list view sorts at most this many matching rows (newest XCom rows first); narrow the filters for more.
MAX_SCAN = 5000
MAX_PAGE = 200


@dataclass
class Record:
    """One stored result, as the index knows it (no store access)."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    xcom_key: str
    owner: str
    store: str | None
    key: str | None
    result: str | None = None
    location: str | None = None
    serializer: str | None = None
    size: int | None = None
    sha256: str | None = None
    python_type: str | None = None
    preview: str | None = None
    written_at: str | None = None
    try_number: int | None = None
    url: str | None = None
    verified: bool = False
    kind: str | None = None
    chunks: int | None = None
    exists: bool | None = None
    row_timestamp: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def id(self) -> str:
        """``dag/run/task/map_index/xcom_key``, URL-quoted parts (what ``show`` and the detail page take)."""
        from urllib.parse import quote

        parts = (self.dag_id, self.run_id, self.task_id, str(self.map_index), self.xcom_key)
        return "/".join(quote(p, safe="") for p in parts)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("extra")
        data["id"] = self.id
        return data


def parse_id(record_id: str) -> tuple[str, str, str, int, str]:
    from urllib.parse import unquote

    parts = record_id.split("/")
    if len(parts) != 5:
        raise ValueError(f"A result id is dag/run/task/map_index/xcom_key, got {record_id!r}")
    dag_id, run_id, task_id, index, key = (unquote(p) for p in parts)
    return dag_id, run_id, task_id, int(index), key


# ---------------------------------------------------------------------------------------------- rows -> records


def _decode(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def record_from_row(
    dag_id: str,
    run_id: str,
    task_id: str,
    map_index: int,
    key: str,
    value: Any,
    timestamp: Any = None,
    *,
    signing_key: bytes = b"",
) -> Record | None:
    """The record an XCom row describes, or ``None`` when it describes no stored result."""
    value = _decode(value)
    identity = {"dag_id": dag_id, "task_id": task_id, "run_id": run_id, "map_index": map_index}
    stamp = timestamp.isoformat() if hasattr(timestamp, "isoformat") else timestamp
    common = {"dag_id": dag_id, "run_id": run_id, "task_id": task_id, "map_index": map_index, "xcom_key": key}
    if key == LINK_KEY:
        url, ref = _result_ref.detach(value)
        if ref is None:
            return None
        verified = _result_ref.verify_reference(ref, identity, signing_key)
        store, rkey = ref.get("store"), ref.get("key")
        return Record(
            **common,
            owner=str(ref.get("owner") or _result_ref.OWNER_CHECKPOINT),
            store=store if isinstance(store, str) else None,
            key=rkey if isinstance(rkey, str) else None,
            location=_uri(store, rkey),
            **_payload_fields(ref),
            url=url if url.startswith("https://") else None,  # a console link (else the Result tab)
            verified=verified,
            row_timestamp=stamp,
        )
    if not is_envelope(value):
        return None
    verified = _envelope_verified(value, {**identity, "xcom_key": key}, signing_key)
    return Record(
        **common,
        owner=str(value.get("owner") or OWNER_XCOM),
        store=_str(value.get("store")),
        key=_str(value.get("key")),
        location=_str(value.get("location")),
        **_payload_fields(value),
        preview=_str(value.get("preview")),
        url=_str(value.get("url")),
        verified=verified,
        kind=_str(value.get("kind")),
        chunks=len(value["chunks"]) if isinstance(value.get("chunks"), list) else None,
        row_timestamp=stamp,
    )


def _envelope_verified(envelope: Mapping[str, Any], expected: Mapping[str, Any], signing_key: bytes) -> bool:
    from airflow_results_provider.exceptions import UntrustedEnvelopeError
    from airflow_results_provider.xcom._envelope import _check_identity, verify

    if not signing_key:
        return False
    try:
        verify(envelope, signing_key)
        _check_identity(envelope, expected)
    except UntrustedEnvelopeError:
        return False
    return True


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _uri(store: Any, key: Any) -> str | None:
    if not isinstance(store, str) or not isinstance(key, str):
        return None
    return f"{store.rstrip('/')}/{key}"


# ---------------------------------------------------------------------------------------------- the query


@dataclass
class Filters:
    dag_ids: Iterable[str] | None = None  # None: every DAG (the caller has filtered to readable DAGs)
    dag_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None
    map_index: int | None = None
    owner: str | None = None
    older_than: dt.datetime | None = None
    search: str | None = None


def _select(filters: Filters) -> Any:
    from airflow.models.xcom import XComModel
    from sqlalchemy import Text, cast, or_, select

    query = select(
        XComModel.dag_id,
        XComModel.run_id,
        XComModel.task_id,
        XComModel.map_index,
        XComModel.key,
        XComModel.value,
        XComModel.timestamp,
    ).where(or_(XComModel.key == LINK_KEY, cast(XComModel.value, Text).like(f"%{MARKER}%")))
    if filters.dag_ids is not None:
        query = query.where(XComModel.dag_id.in_(list(filters.dag_ids)))
    for name in ("dag_id", "run_id", "task_id", "map_index"):
        value = getattr(filters, name)
        if value is not None:
            query = query.where(getattr(XComModel, name) == value)
    if filters.older_than is not None:
        query = query.where(XComModel.timestamp < filters.older_than)
    return query


def iter_records(
    session: Any,
    filters: Filters,
    *,
    signing_key: bytes | None = None,
    order_newest: bool = False,
    limit: int | None = None,
) -> Iterator[Record]:
    """Every record matching ``filters``, streamed from the DB (bounded memory), checkpoint envelopes that
    only repeat a link's reference left out."""
    from airflow.models.xcom import XComModel

    if signing_key is None:
        from airflow_results_provider import config

        signing_key = config.envelope_signing_key()
    query = _select(filters)
    if order_newest:
        query = query.order_by(XComModel.timestamp.desc())
    else:
        query = query.order_by(XComModel.dag_id, XComModel.run_id, XComModel.task_id, XComModel.map_index)
    if limit is not None:
        query = query.limit(limit)
    rows = session.execute(query.execution_options(yield_per=1000))
    seen_links: set[tuple[Any, ...]] = set()
    pending: list[Record] = []
    for row in rows:
        record = record_from_row(*row, signing_key=signing_key)
        if record is None or not _matches(record, filters):
            continue
        if record.xcom_key == LINK_KEY:
            seen_links.add((record.dag_id, record.run_id, record.task_id, record.map_index, record.location))
            yield record
        elif record.owner != OWNER_XCOM:
            pending.append(record)  # a checkpoint the XCom backend referenced: listed once, by its link
        else:
            yield record
    for record in pending:
        if (
            record.dag_id,
            record.run_id,
            record.task_id,
            record.map_index,
            record.location,
        ) not in seen_links:
            yield record


def _matches(record: Record, filters: Filters) -> bool:
    if filters.owner and record.owner != filters.owner:
        return False
    if filters.search:
        needle = filters.search.lower()
        hay = " ".join(
            str(v)
            for v in (record.dag_id, record.run_id, record.task_id, record.location, record.python_type)
        )
        if needle not in hay.lower():
            return False
    return True


@dataclass
class Page:
    records: list[Record]
    total: int
    truncated: bool


def list_page(
    session: Any,
    filters: Filters,
    *,
    sort: str = "written_at",
    descending: bool = True,
    offset: int = 0,
    limit: int = 50,
) -> Page:
    """One sorted page of at most ``limit`` records out of the newest :data:`MAX_SCAN` matching rows."""
    if sort not in SORT_FIELDS:
        raise ValueError(f"sort must be one of {', '.join(SORT_FIELDS)}, got {sort!r}")
    limit = max(1, min(limit, MAX_PAGE))
    records = list(iter_records(session, filters, order_newest=True, limit=MAX_SCAN + 1))
    truncated = len(records) > MAX_SCAN
    records = records[:MAX_SCAN]

    def sort_key(record: Record) -> tuple[bool, Any]:
        value = getattr(record, sort)
        return (value is None, value if value is not None else 0)

    records.sort(key=sort_key, reverse=descending)
    return Page(records[offset : offset + limit], len(records), truncated)


def get_records(
    session: Any, dag_id: str, run_id: str, task_id: str | None = None, map_index: int | None = None
) -> list[Record]:
    return list(
        iter_records(session, Filters(dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index))
    )


def get_record(session: Any, record_id: str) -> Record | None:
    dag_id, run_id, task_id, map_index, key = parse_id(record_id)
    for record in get_records(session, dag_id, run_id, task_id, map_index):
        if record.xcom_key == key:
            return record
    return None


# ---------------------------------------------------------------------------------------------- the stores


def _result_for(record: Record) -> Any | None:
    """The Result that reads ``record``'s store, only for verified records with a URL store and a clean key."""
    if not record.verified or not record.store or not is_relative_key(record.key):
        return None
    if not is_url_spec(record.store):
        return None  # a module:attribute is never imported from a row
    from airflow_results_provider.results._store_spec import result_from_spec

    try:
        return result_from_spec(record.store)
    except Exception as exc:
        log.warning("Cannot open the store %s of %s: %s", record.store, record.id, exc)
        return None


def check_exists(records: Iterable[Record]) -> None:
    """Set ``exists`` (one stat/HEAD per record; ``None`` when unknown) on a bounded list of records."""
    for record in records:
        result = _result_for(record)
        if result is None:
            continue
        try:
            if record.kind == "sequence":
                record.exists = result._read_metadata(record.key) is not None or bool(
                    result._stat(f"{record.key}/part-00000{_ext(record)}")
                )
            else:
                record.exists = result._stat(record.key) is not None
        except Exception as exc:  # unreachable store: unknown, not missing
            log.warning("Cannot check %s: %s", record.location, exc)


def _ext(record: Record) -> str:
    from airflow_results_provider.serializers._labels import serializer_from_label

    try:
        extension = serializer_from_label(str(record.serializer)).extension
    except Exception:
        return ""
    return f".{extension}" if extension else ""


def read_metadata(record: Record) -> dict[str, Any] | None:
    """The metadata sidecar of ``record`` (small JSON: never the payload), for verified records only."""
    result = _result_for(record)
    if result is None:
        return None
    try:
        from airflow_results_provider.core.sidecar import final_metadata

        return final_metadata(result._read_metadata(record.key))
    except Exception as exc:
        log.warning("Cannot read the metadata of %s: %s", record.location, exc)
        return None


def load_json_preview(record: Record, max_bytes: int) -> Any:
    """The JSON payload of ``record``, parsed and masked, when it is JSON and at most ``max_bytes``; else
    ``None``. The digest is checked before parsing; nothing else is ever loaded."""
    import hashlib

    from airflow_results_provider.core.masking import mask_sensitive

    if (
        record.serializer != "json"
        or record.kind == "sequence"
        or record.size is None
        or record.size > max_bytes
    ):
        return None
    result = _result_for(record)
    if result is None:
        return None
    try:
        with result._open_reader(record.key) as handle:
            data = handle.read(max_bytes + 1)
    except Exception as exc:
        log.warning("Cannot read %s: %s", record.location, exc)
        return None
    if len(data) > max_bytes or (record.sha256 and hashlib.sha256(data).hexdigest() != record.sha256):
        return None
    return mask_sensitive(json.loads(data))


# ---------------------------------------------------------------------------------------------- deleting


def deletable(record: Record, *, include_checkpoints: bool) -> bool:
    return record.verified and (record.owner == OWNER_XCOM or include_checkpoints)


def delete_record(session: Any, record: Record) -> int:
    """Delete ``record``'s payload (and chunks, metadata) and its XCom row; returns the bytes freed."""
    from airflow.models.xcom import XComModel
    from sqlalchemy import delete

    result = _result_for(record)
    freed = 0
    if result is not None:
        if record.kind == "sequence":
            for index in range(record.chunks or 0):
                from airflow_results_provider.xcom._sequence import chunk_key

                location = chunk_key(record.key or "", index, _ext(record).lstrip("."))
                result._delete(location)
            result._delete(record.key)  # the sequence's own metadata, if any
        else:
            result._delete(record.key)
        freed = record.size or 0
    session.execute(
        delete(XComModel).where(
            XComModel.dag_id == record.dag_id,
            XComModel.run_id == record.run_id,
            XComModel.task_id == record.task_id,
            XComModel.map_index == record.map_index,
            XComModel.key == record.xcom_key,
        )
    )
    return freed


# ---------------------------------------------------------------------------------------------- listing stores (gc)


@dataclass
class StoredObject:
    key: str  # relative to the store
    size: int
    modified: dt.datetime | None


def iter_store(result: Any) -> Iterator[StoredObject]:
    """Every payload of a store that has a metadata sidecar (what Results write), streamed; ``size`` counts the
    payload and its sidecar. Memory: the sizes of the last :data:`_RECENT` other objects listed (listings are
    sorted, so a payload comes just before its sidecar); a local payload not among them is stat'ed."""
    from collections import OrderedDict

    from airflow_results_provider.core.sidecar import METADATA_SUFFIX

    recent: OrderedDict[str, int] = OrderedDict()
    local = type(result).__name__ == "LocalResult"
    for obj in _list_objects(result):
        if not obj.key.endswith(METADATA_SUFFIX):
            recent[obj.key] = obj.size
            if len(recent) > _RECENT:
                recent.popitem(last=False)
            continue
        key = obj.key[: -len(METADATA_SUFFIX)]
        payload = recent.pop(key, None)
        if payload is None and local:
            import os

            try:
                payload = os.stat(result.path(key)).st_size
            except OSError:
                payload = 0
        yield StoredObject(key, obj.size + (payload or 0), obj.modified)


_RECENT = 10_000


def _list_objects(result: Any) -> Iterator[StoredObject]:
    import os

    kind = type(result).__name__
    if kind == "LocalResult":
        base = result.base_dir
        stack = [base]
        while stack:
            directory = stack.pop()
            try:
                entries = os.scandir(directory)
            except FileNotFoundError:
                continue
            with entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        try:
                            st = entry.stat()
                        except FileNotFoundError:  # deleted meanwhile (gc deletes while it scans)
                            continue
                        key = os.path.relpath(entry.path, base).replace(os.sep, "/")
                        yield StoredObject(
                            key, st.st_size, dt.datetime.fromtimestamp(st.st_mtime, dt.timezone.utc)
                        )
        return
    prefix = f"{result.prefix}/" if getattr(result, "prefix", "") else ""
    if kind == "S3Result":
        paginator = result.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=result.bucket, Prefix=prefix):
            for item in page.get("Contents", ()):
                yield StoredObject(item["Key"][len(prefix) :], item.get("Size", 0), item.get("LastModified"))
        return
    if kind == "GCSResult":
        for blob in result.client.bucket(result.bucket).list_blobs(prefix=prefix):
            yield StoredObject(blob.name[len(prefix) :], blob.size or 0, blob.updated)
        return
    if kind == "AzureResult":
        container = result.client.get_container_client(result.container)
        for blob in container.list_blobs(name_starts_with=prefix):
            yield StoredObject(blob.name[len(prefix) :], blob.size or 0, blob.last_modified)
        return
    raise NotImplementedError(f"Listing a {kind} store is not supported (gc of orphans needs a listing)")


def configured_stores() -> list[str]:
    from airflow_results_provider import config

    specs = [config.default_result(), config.xcom_result(), *config.trusted_stores()]
    out: list[str] = []
    for spec in specs:
        if spec and spec not in out:
            out.append(spec)
    if "" in specs or not out:
        out.insert(0, "")
    return out


@dataclass
class GcPlan:
    """What gc found, and (when not a dry run) deleted."""

    records: int = 0
    record_bytes: int = 0
    orphans: int = 0
    orphan_bytes: int = 0
    scanned: int = 0
    kept_checkpoints: int = 0
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
) -> GcPlan:
    """Expire indexed results (``older_than``, ``keep_last`` runs per DAG/task/key) and delete orphans: stored
    payloads with a sidecar that no row refers to — both only in ``stores``. Memory: the set of referenced keys,
    never the listing."""
    stores = list(stores)
    in_scope: set[str] = (
        set().union(*(_store_aliases(spec, from_row=False) for spec in stores)) if stores else set()
    )
    plan = GcPlan()
    referenced: dict[str, set[str]] = {}
    sequence_prefixes: dict[str, list[str]] = {}
    expire = older_than is not None or keep_last is not None
    counts: dict[tuple[Any, ...], int] = {}
    doomed: list[Record] = []
    for record in iter_records(session, Filters(), order_newest=True):
        spec = record.store or ""
        expired = False
        if expire and record.verified and _store_aliases(spec) & in_scope:
            group = (record.dag_id, record.task_id, record.map_index, record.xcom_key)
            counts[group] = counts.get(group, 0) + 1
            written = _written(record)
            conditions = []  # both given: older than the cutoff and not among the last N
            if older_than is not None:
                conditions.append(written is not None and written < older_than)
            if keep_last is not None:
                conditions.append(counts[group] > keep_last)
            if all(conditions):
                if deletable(record, include_checkpoints=include_checkpoints):
                    expired = True
                    doomed.append(record)
                else:
                    plan.kept_checkpoints += 1
        if not expired and record.key:
            for alias in _store_aliases(spec):
                referenced.setdefault(alias, set()).add(record.key)
                if record.kind == "sequence":
                    sequence_prefixes.setdefault(alias, []).append(record.key + "/")
    for record in doomed:
        plan.records += 1
        plan.record_bytes += record.size or 0
        if not dry_run:
            try:
                delete_record(session, record)
            except Exception as exc:
                plan.errors.append(f"{record.location}: {exc}")
        if on_delete:
            on_delete(record.location or record.id, record.size or 0)
    if not orphans:
        return plan
    from airflow_results_provider.results._store_spec import result_from_spec

    for spec in stores:
        result = result_from_spec(spec)
        aliases = _store_aliases(result.store_spec() or spec, from_row=False)
        keys: set[str] = set().union(*(referenced.get(a, set()) for a in aliases))
        prefixes = tuple(p for a in aliases for p in sequence_prefixes.get(a, ()))
        try:
            for obj in iter_store(result):
                plan.scanned += 1
                if progress and plan.scanned % 1000 == 0:
                    progress(spec, plan.scanned)
                if obj.key in keys or (prefixes and obj.key.startswith(prefixes)):
                    continue
                plan.orphans += 1
                plan.orphan_bytes += obj.size
                if not dry_run:
                    result._delete(obj.key)
                if on_delete:
                    on_delete(result.uri(obj.key), obj.size)
        except Exception as exc:
            plan.errors.append(f"{spec or 'local_dir'}: {exc}")
        if progress:
            progress(spec, plan.scanned)
    return plan


def _payload_fields(source: Mapping[str, Any]) -> dict[str, Any]:
    """What a reference and an envelope both say about the payload, typed (rows are untrusted)."""
    return {
        "result": _str(source.get("result")),
        "serializer": _str(source.get("serializer")),
        "size": _int(source.get("size")),
        "sha256": _str(source.get("sha256")),
        "python_type": _str(source.get("python_type")),
        "written_at": _str(source.get("written_at")),
        "try_number": _int(source.get("try_number")),
    }


def _store_aliases(spec: str, *, from_row: bool = True) -> set[str]:
    """The spellings of one store. ``spec`` from a row (untrusted) is resolved only when it is a URL: a
    ``module:attribute`` is imported only when the operator names it (``gc --store``)."""
    from airflow_results_provider.results._store_spec import result_from_spec

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


def _written(record: Record) -> dt.datetime | None:
    if not record.written_at:
        return None
    try:
        stamp = dt.datetime.fromisoformat(record.written_at)
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.timezone.utc)


def parse_age(text: str) -> dt.timedelta:
    """``30d``, ``12h``, ``45m``, ``90s`` or ``2w`` -> a timedelta."""
    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    text = text.strip().lower()
    if len(text) < 2 or text[-1] not in units or not text[:-1].isdigit():
        raise ValueError(f"An age is a number and a unit (s, m, h, d, w), e.g. 30d; got {text!r}")
    return dt.timedelta(**{units[text[-1]]: int(text[:-1])})

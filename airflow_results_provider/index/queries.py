"""Index queries: the XCom rows that describe stored results, filtered, streamed and paged.

Rows are read through Airflow's ``XComModel`` (:mod:`._airflow_xcom`; imported inside functions: this module
stays import-light). On Airflow >= 3.4 only the current attempt of each task instance is listed, unless
``all_attempts`` (what gc and rm check before deleting a payload an earlier attempt's row still names).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from airflow_results_provider.core.rows import ENVELOPE_MARKER as MARKER
from airflow_results_provider.core.rows import LINK_KEY, OWNER_XCOM
from airflow_results_provider.index._airflow_xcom import ALL_ATTEMPTS, xcom_model
from airflow_results_provider.index.records import Record, parse_id, record_from_row

SORT_FIELDS = ("written_at", "dag_id", "run_id", "task_id", "map_index", "size", "result", "owner")
#: The list view sorts at most this many matching rows (newest XCom rows first); narrow the filters for more.
MAX_SCAN = 5000
MAX_PAGE = 200


@dataclass
class Filters:
    """Which records to list; ``None`` fields do not filter."""

    dag_ids: Iterable[str] | None = None  # None: every DAG (the caller has filtered to readable DAGs)
    dag_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None
    map_index: int | None = None
    owner: str | None = None
    older_than: dt.datetime | None = None
    search: str | None = None


def _select(filters: Filters) -> Any:
    from sqlalchemy import Text, cast, or_, select

    XComModel = xcom_model()

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
    all_attempts: bool = False,
) -> Iterator[Record]:
    """Every record matching ``filters``, streamed from the DB (bounded memory), checkpoint envelopes that
    only repeat a link's reference left out; with ``all_attempts``, archived task attempts' rows too (Airflow
    >= 3.4 keeps them when a task is cleared)."""
    XComModel = xcom_model()

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
    options: dict[str, Any] = {"yield_per": 1000, **(ALL_ATTEMPTS if all_attempts else {})}
    rows = session.execute(query.execution_options(**options))
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
    """One page of sorted records, the number of records matched, and whether the scan stopped at
    :data:`MAX_SCAN`."""

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
    """Every record of a DAG run (of one task, one map index)."""
    return list(
        iter_records(session, Filters(dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index))
    )


def get_record(session: Any, record_id: str) -> Record | None:
    """The record of :attr:`Record.id` ``record_id``, or ``None``."""
    dag_id, run_id, task_id, map_index, key = parse_id(record_id)
    for record in get_records(session, dag_id, run_id, task_id, map_index):
        if record.xcom_key == key:
            return record
    return None

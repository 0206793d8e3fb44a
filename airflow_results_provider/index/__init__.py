"""The Results index: finding, showing and deleting stored results, behind the Results UI plugin and
``airflow results list/show/rm/gc``.

- :mod:`.references` — the signed reference a "Result" link row carries to a checkpoint or target hit
- :mod:`.records` — one XCom row decoded into a :class:`Record` (rows are untrusted: signatures verified)
- :mod:`.queries` — filtering, streaming and paging the rows through Airflow's ``XComModel``
- :mod:`.stores` — stat, sidecar, JSON preview and delete, through the public storage protocol only
- :mod:`.collect` — gc: expiry and orphans, over every store that lists its payloads

Airflow is imported inside functions only: importing the index is cheap.
"""

from __future__ import annotations

from airflow_results_provider.core.rows import LINK_KEY, OWNER_XCOM, OWNERS
from airflow_results_provider.index.collect import GcPlan, gc, parse_age
from airflow_results_provider.index.queries import (
    MAX_PAGE,
    MAX_SCAN,
    SORT_FIELDS,
    Filters,
    Page,
    get_record,
    get_records,
    iter_records,
    list_page,
)
from airflow_results_provider.index.records import Record, parse_id, record_from_row
from airflow_results_provider.index.stores import (
    KeyReferences,
    check_exists,
    configured_stores,
    deletable,
    delete_record,
    delete_records,
    load_json_preview,
    read_metadata,
    result_for,
    store_aliases,
)

__all__ = [
    "LINK_KEY",
    "MAX_PAGE",
    "MAX_SCAN",
    "OWNERS",
    "OWNER_XCOM",
    "SORT_FIELDS",
    "Filters",
    "GcPlan",
    "KeyReferences",
    "Page",
    "Record",
    "check_exists",
    "configured_stores",
    "deletable",
    "delete_record",
    "delete_records",
    "gc",
    "get_record",
    "get_records",
    "iter_records",
    "list_page",
    "load_json_preview",
    "parse_age",
    "parse_id",
    "read_metadata",
    "record_from_row",
    "result_for",
    "store_aliases",
]

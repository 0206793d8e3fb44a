"""The mixin → XCom backend hand-off: lets the backend reference a value the mixin just checkpointed
instead of writing it a second time. Entries live from the end of ``execute`` until the XCom push."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_results_provider import config
from airflow_results_provider._identity import task_instance_key
from airflow_results_provider.results.base import Result

#: (dag_id, task_id, run_id, map_index) -> (returned value, Result holding it)
_RECENT_CHECKPOINTS: dict[tuple[Any, ...], tuple[Any, Result]] = {}


def remember_checkpoint(variables: Mapping[str, Any], value: Any, result: Result | None) -> None:
    """Record that ``value`` (this object) is stored by ``result`` for the task instance of ``variables``."""
    key = task_instance_key(
        variables.get("dag_id"), variables.get("task_id"), variables.get("run_id"), variables.get("map_index")
    )
    if (
        result is None
        or value is None
        or not config.uses_result_xcom_backend()  # nobody would consume the entry: do not hold the value
        or result.store_spec() is None
    ):
        _RECENT_CHECKPOINTS.pop(key, None)
        return
    _RECENT_CHECKPOINTS[key] = (value, result)


def take_checkpoint(dag_id: Any, task_id: Any, run_id: Any, map_index: Any, value: Any) -> Result | None:
    """The Result the mixin stored ``value`` in (same object), consumed; ``None`` when there is none."""
    key = task_instance_key(dag_id, task_id, run_id, map_index)
    entry = _RECENT_CHECKPOINTS.get(key)
    if entry is None or entry[0] is not value:
        return None
    del _RECENT_CHECKPOINTS[key]
    return entry[1]

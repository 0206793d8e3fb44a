"""Which task instance a value belongs to: map-index normalisation, labels and the collision rule.

Pure core (no Airflow imports). Airflow writes ``-1`` for "not mapped", the template context and metadata say
``None``; :func:`map_index_or_none` is the one place that translates.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_results_provider.exceptions import LocationCollisionError


def map_index_or_none(value: Any) -> int | None:
    """A mapped task instance's index, or ``None`` for an unmapped one (``-1``, ``None``, not an int)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def task_instance_key(dag_id: Any, task_id: Any, run_id: Any, map_index: Any) -> tuple[Any, Any, Any, int]:
    """``(dag_id, task_id, run_id, map_index)`` with Airflow's ``-1`` for unmapped tasks."""
    index = map_index_or_none(map_index)
    return (dag_id, task_id, run_id, -1 if index is None else index)


def task_label(variables: Mapping[str, Any]) -> str:
    """``dag.task[index]`` for messages (``<no task>`` outside a task)."""
    name = variables.get("task_full_name") or variables.get("task_name") or variables.get("task_id")
    if name is None:
        return "<no task>"
    dag_id = variables.get("dag_id")
    return f"{dag_id}.{name}" if dag_id else str(name)


def check_no_collision(metadata: Mapping[str, Any] | None, variables: Mapping[str, Any], uri: str) -> None:
    """Refuse a location that another map index, or another iteration of a native Task Loop, of the same task
    wrote in the same run.

    :raises LocationCollisionError: names both map indexes (or iterations) and how to make the location distinct.
    """
    if not metadata:
        return
    same_run = all(metadata.get(k) == variables.get(k) for k in ("dag_id", "run_id", "task_id"))
    mine, theirs = map_index_or_none(variables.get("map_index")), map_index_or_none(metadata.get("map_index"))
    if same_run and theirs != mine:
        raise LocationCollisionError(
            f"Location {uri} was written by map index {theirs} of "
            f"{variables.get('dag_id')}.{variables.get('task_id')} in run {variables.get('run_id')}, and map "
            f"index {mine} renders the same location. Make the location or target distinct per map index, "
            "e.g. add {map_index} (or {{ map_index }}) or an input that differs per index."
        )
    mine, theirs = (
        map_index_or_none(variables.get("loop_index")),
        map_index_or_none(metadata.get("loop_index")),
    )
    if same_run and theirs != mine:
        raise LocationCollisionError(
            f"Location {uri} was written by loop iteration {theirs} of "
            f"{variables.get('dag_id')}.{variables.get('task_id')} in run {variables.get('run_id')}, and "
            f"iteration {mine} renders the same location. Make the location or target distinct per iteration "
            "of the Task Loop, e.g. add {loop_index} (or {{ loop_index }})."
        )

"""Template filters and the default location."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid
from collections.abc import Mapping
from typing import Any

from airflow_results_provider.core.identity import map_index_or_none

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def path_safe(value: Any) -> str:
    """Make ``value`` safe as one path segment / object-key part.

    Every run of characters other than letters, digits, ``.``, ``_`` and ``-`` becomes ``_`` (so a run id
    ``manual__2024-01-01T00:00:00+00:00`` becomes ``manual__2024-01-01T00_00_00_00_00``); ``.``/``..`` and
    empty values become ``_``.
    """
    text = _UNSAFE.sub("_", str(value))
    if text in {"", ".", ".."}:
        return "_"
    return text


def path_safe_unique(value: Any) -> str:
    """:func:`path_safe`, plus a short hash of the raw value whenever path-safing changed it, so distinct values
    never share a segment (``a:b`` and ``a_b`` stay apart: ``a_b-1b6c7e2f`` vs ``a_b``)."""
    text = str(value)
    safe = path_safe(text)
    if safe == text:
        return safe
    return f"{safe}-{hashlib.sha256(text.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"


def has_task_identity(context: Mapping[str, Any]) -> bool:
    """Whether ``context`` names a task instance (``dag_id``, ``run_id`` and ``task_id`` all set)."""
    return all(context.get(k) is not None for k in ("dag_id", "run_id", "task_id"))


def default_location(context: Mapping[str, Any], extension: str = "") -> str:
    """The location used when a Result has none.

    In a task: ``<dag_id>/<run_id>/<task_id>[/<map_index>][/iteration-<loop_index>][/loop-<n>]/<xcom key>``
    (``iteration-<i>`` in iteration ``i`` of a native Task Loop, ``loop-<n>`` for ``raise Loop``), each part
    path-safe and suffixed with a short hash of its raw value when path-safing changed it, so the location is
    deterministic and distinct per task instance and key (``manual__2024-01-01T00:00:00+00:00`` and
    ``manual__2024-01-01T00_00_00_00_00`` never share one). Without a task context: ``YYYY/M/D/<uuid4>``,
    unique per call.
    """
    suffix = f".{extension}" if extension else ""
    if not has_task_identity(context):
        now = dt.datetime.now(dt.timezone.utc)
        return f"{now.year}/{now.month}/{now.day}/{uuid.uuid4()}{suffix}"
    parts = [path_safe_unique(context[key]) for key in ("dag_id", "run_id", "task_id")]
    map_index = map_index_or_none(context.get("map_index"))
    if map_index is not None:
        parts.append(str(map_index))
    loop_index = map_index_or_none(context.get("loop_index"))  # the same rule: a non-negative int or nothing
    if loop_index is not None:
        parts.append(f"iteration-{loop_index}")
    if context.get("task_loop_active"):
        parts.append(f"loop-{context.get('task_loop_count', 1)}")
    parts.append(path_safe_unique(context.get("xcom_key") or "return_value") + suffix)
    return "/".join(parts)

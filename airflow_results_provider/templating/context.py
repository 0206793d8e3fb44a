"""Build the variables a location template sees: Airflow context + Prefect aliases + params + inputs."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from airflow_results_provider.core.identity import map_index_or_none, task_instance_key

_TASK_RUN_NAMESPACE = uuid.UUID("5b3f6a0e-8c1e-4d5f-9a43-7f1c2f0d9b11")


def task_run_id(dag_id: str, run_id: str, task_id: str, map_index: int | None) -> str:
    """A UUID unique per task instance and stable across retries and clears (unlike ``ti.id``)."""
    index = task_instance_key(dag_id, task_id, run_id, map_index)[3]
    key = f"{dag_id}\x1f{run_id}\x1f{task_id}\x1f{index}"
    return str(uuid.uuid5(_TASK_RUN_NAMESPACE, key))


def _params_dict(params: Any) -> dict[str, Any]:
    """DAG params as a plain dict of their values."""
    if not params:
        return {}
    try:
        return {key: params[key] for key in params}  # ParamsDict resolves Param objects on __getitem__
    except Exception:
        return dict(params)


def _day_strings(prefix: str, day: dt.date, out: dict[str, Any]) -> None:
    """Set ``out[prefix]`` to ``day`` as ``YYYY-MM-DD`` and ``out[prefix_nodash]`` as ``YYYYMMDD``."""
    out[prefix] = day.strftime("%Y-%m-%d")
    out[f"{prefix}_nodash"] = day.strftime("%Y%m%d")


def build_location_context(
    context: Mapping[str, Any] | None = None,
    inputs: Mapping[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Flatten ``context`` into template variables.

    Precedence (later wins): DAG params (flattened) < the context (Airflow's, plus Prefect aliases derived
    from it when it does not carry them) < ``inputs`` (task arguments by name) < ``extra``.
    Works on a real Airflow context (``ti``, ``dag_run``, ...) and on plain keyword dicts alike.
    """
    context = dict(context or {})
    params = _params_dict(context.get("params") or context.get("parameters"))
    out: dict[str, Any] = dict(params)
    out.update(context)

    ti = context.get("ti") or context.get("task_instance")
    task = context.get("task") or getattr(ti, "task", None)
    dag = context.get("dag") or getattr(task, "dag", None)
    dag_run = context.get("dag_run")

    _derive_identity(out, ti, task, dag, dag_run)
    _derive_prefect_names(out, task, dag)
    _derive_dates(out, context, dag_run)
    _derive_loop_index(out, context)
    _derive_partition_key(out, dag_run)
    out["parameters"] = params

    if inputs:
        out.update(inputs)
    out.update(extra)
    return out


def _derive(out: dict[str, Any], key: str, value: Any) -> None:
    """Set ``out[key]`` to ``value`` unless ``out`` has the key already or ``value`` is None."""
    if key not in out and value is not None:
        out[key] = value


def _derive_identity(out: dict[str, Any], ti: Any, task: Any, dag: Any, dag_run: Any) -> None:
    """Airflow's task instance identity (``dag_id``, ``task_id``, ``run_id``, ``map_index``, ``try_number``)
    from the context's objects, where ``out`` lacks it."""
    _derive(out, "dag_id", getattr(ti, "dag_id", None) or getattr(dag, "dag_id", None))
    _derive(out, "task_id", getattr(ti, "task_id", None) or getattr(task, "task_id", None))
    _derive(out, "run_id", getattr(ti, "run_id", None) or getattr(dag_run, "run_id", None))
    if "map_index" not in out:
        out["map_index"] = map_index_or_none(getattr(ti, "map_index", None))
    _derive(out, "try_number", getattr(ti, "try_number", None))


def _derive_prefect_names(out: dict[str, Any], task: Any, dag: Any) -> None:
    """Prefect's names (``flow_name``, ``task_full_name``, ``task_run_id``, ``task_loop_count`` ...) from
    Airflow's identity in ``out``, where ``out`` lacks them."""
    _derive(out, "flow_name", out.get("dag_id"))
    _derive(out, "flow_run_id", out.get("run_id"))
    _derive(out, "flow_run_name", out.get("run_id"))
    _derive(out, "task_name", out.get("task_id"))
    if "task_full_name" not in out and out.get("task_name") is not None:
        name, index = out["task_name"], out.get("map_index")
        out["task_full_name"] = f"{name}[{index}]" if index is not None else name
    _derive(out, "task_tags", sorted(getattr(task, "tags", None) or getattr(dag, "tags", None) or []))
    _derive(out, "task_run_count", out.get("try_number"))
    if "task_run_id" not in out and all(out.get(k) is not None for k in ("dag_id", "run_id", "task_id")):
        out["task_run_id"] = task_run_id(out["dag_id"], out["run_id"], out["task_id"], out.get("map_index"))
    out.setdefault("task_loop_count", 1)
    out.setdefault("task_loop_result", None)


def _derive_dates(out: dict[str, Any], context: Mapping[str, Any], dag_run: Any) -> None:
    """``date``, ``scheduled_start_time`` and Prefect's ``today`` / ``yesterday`` / ``tomorrow`` (and their
    ``_nodash`` forms), where ``out`` lacks them."""
    if "date" not in out:
        out["date"] = (
            context.get("logical_date")
            or getattr(dag_run, "logical_date", None)
            or getattr(dag_run, "run_after", None)
            or dt.datetime.now(dt.timezone.utc)
        )
    _derive(out, "scheduled_start_time", getattr(dag_run, "run_after", None) or out["date"])
    now = dt.datetime.now(dt.timezone.utc).date()
    for prefix, day in (
        ("today", now),
        ("yesterday", now - dt.timedelta(days=1)),
        ("tomorrow", now + dt.timedelta(days=1)),
    ):
        if prefix not in out:
            _day_strings(prefix, day, out)


def _derive_partition_key(out: dict[str, Any], dag_run: Any) -> None:
    """``partition_key``: the run's partition (Airflow >= 3.2 partitioned runs; the context key on 3.3+, the
    DAG run's attribute on 3.2), ``None`` when the run has none, so a template can always name it
    (``{{ partition_key or "all" }}``)."""
    if out.get("partition_key") is None:
        out["partition_key"] = getattr(dag_run, "partition_key", None)


def _derive_loop_index(out: dict[str, Any], context: Mapping[str, Any]) -> None:
    """``loop_index``: the iteration of the native Task Loop (Airflow >= 3.4) the task instance runs in, 0 first,
    as Airflow's ``loop.index``; ``None`` outside a loop and on older Airflow, so a template can always name it
    (``{{ loop_index if loop_index is not none else "once" }}``). A mapped task inside a loop has both its
    ``map_index`` and the ``loop_index``."""
    if out.get("loop_index") is None:
        index = getattr(context.get("loop"), "index", None)
        out["loop_index"] = index if isinstance(index, int) and not isinstance(index, bool) else None

"""The mixin → XCom backend hand-off: lets the backend reference a value the mixin just checkpointed instead of
writing it a second time.

One slot per process, filled at the end of a mixin task's ``execute`` only when the task will push its return
value through this backend, and emptied by that push (or replaced by the next task's): nothing is held past the
task, and never a value no push will consume (``do_xcom_push=False``, another XCom backend).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping
from typing import Any

from airflow_results_provider import config
from airflow_results_provider.core.identity import task_instance_key
from airflow_results_provider.results.base import Result

#: ((dag_id, task_id, run_id, map_index), returned value, Result holding it), or None.
_slot: list[tuple[tuple[Any, ...], Any, Result]] = []

_OUR_BACKEND = "airflow_results_provider.xcom.ResultXComBackend"


@functools.cache
def uses_result_xcom_backend() -> bool:
    """Whether ``[core] xcom_backend`` is :class:`~airflow_results_provider.xcom.ResultXComBackend` or a
    subclass of it (whatever its name)."""
    path = config.core_option("xcom_backend").strip()
    if path in ("", "airflow.sdk.bases.xcom.BaseXCom", "airflow.models.xcom.BaseXCom"):
        return False
    if path == _OUR_BACKEND:
        return True
    module, _, name = path.rpartition(".")
    try:
        backend = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        return False
    ours = _OUR_BACKEND.replace(".xcom.", ".xcom.backend.")  # where the class is defined
    return isinstance(backend, type) and any(
        f"{c.__module__}.{c.__qualname__}" == ours for c in backend.__mro__
    )


def remember_checkpoint(
    variables: Mapping[str, Any], value: Any, result: Result | None, *, will_push: bool = True
) -> None:
    """Record that ``value`` (this object) is stored by ``result`` for the task instance of ``variables``.

    ``will_push``: whether the task pushes its return value as an XCom (``do_xcom_push``); when it does not,
    or no Result-backed XCom backend would consume the entry, nothing is held."""
    _slot.clear()
    if (
        not will_push
        or result is None
        or value is None
        or not uses_result_xcom_backend()
        or result.store_spec() is None
    ):
        return
    key = task_instance_key(
        variables.get("dag_id"), variables.get("task_id"), variables.get("run_id"), variables.get("map_index")
    )
    _slot.append((key, value, result))


def take_checkpoint(dag_id: Any, task_id: Any, run_id: Any, map_index: Any, value: Any) -> Result | None:
    """The Result the mixin stored ``value`` in (same object), consumed; ``None`` when there is none."""
    if not _slot:
        return None
    key, held, result = _slot[0]
    if key != task_instance_key(dag_id, task_id, run_id, map_index) or held is not value:
        return None
    _slot.clear()
    return result


def forget() -> None:
    """Drop whatever is held (the slot and the backend check; :func:`config.clear_cache` calls it)."""
    _slot.clear()
    uses_result_xcom_backend.cache_clear()


config.on_clear(forget)

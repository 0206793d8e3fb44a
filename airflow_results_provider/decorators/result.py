"""``@task.result``: the TaskFlow form of :class:`~airflow_results_provider.operators.ResultMixin`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow.providers.standard.decorators.python import _PythonDecoratedOperator
from airflow.sdk.bases.decorator import task_decorator_factory

from airflow_results_provider.operators.mixin import ResultMixin

#: Built-in types no Asset can be an instance of.
_PLAIN_TYPES = frozenset({int, float, str, bool, type(None), dict, list, tuple, bytes})


class _ResultDecoratedOperator(ResultMixin, _PythonDecoratedOperator):
    custom_operator_name = "@task.result"

    def _handle_output(self, return_value: Any) -> Any:
        # Airflow adds every Asset in a returned list to the outlets, with an ABC isinstance per item (seconds
        # for 10 M items); a list of plain built-in values holds none, which one pass in C over types shows.
        if type(return_value) is list and set(map(type, return_value)) <= _PLAIN_TYPES:
            return return_value
        return super()._handle_output(return_value)


def result_task(
    python_callable: Callable | None = None,
    multiple_outputs: bool | None = None,
    **kwargs: Any,
):
    """``@task.result(result=..., target=..., checkpoint=..., cache_for=...)``; also ``.expand()`` and
    ``multiple_outputs`` like ``@task``.
    """
    return task_decorator_factory(
        python_callable=python_callable,
        multiple_outputs=multiple_outputs,
        decorated_operator_class=_ResultDecoratedOperator,
        **kwargs,
    )

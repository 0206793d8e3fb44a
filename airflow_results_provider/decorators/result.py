"""``@task.result``: the TaskFlow form of :class:`~airflow_results_provider.operators.ResultMixin`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow.providers.standard.decorators.python import _PythonDecoratedOperator
from airflow.sdk.bases.decorator import task_decorator_factory

from airflow_results_provider.operators.mixin import ResultMixin


class _ResultDecoratedOperator(ResultMixin, _PythonDecoratedOperator):
    custom_operator_name = "@task.result"


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

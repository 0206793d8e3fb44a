"""``@task.result``: the TaskFlow form of :class:`~airflow_results_provider.operators.ResultMixin`."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from airflow.providers.standard.decorators.python import _PythonDecoratedOperator
from airflow.sdk.bases.decorator import _TaskDecorator, task_decorator_factory

from airflow_results_provider.operators.assets import check_asset_option, declare_result_asset
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


class _ResultTaskDecorator(_TaskDecorator):
    """Airflow's TaskFlow decorator object, whose ``.expand()`` also puts the task's result asset (``asset=``) in
    the outlets of the mapped task: its operator's ``__init__`` only runs when a map index runs, and the
    dag-processor must see the asset when it parses the DAG."""

    def _expand(self, expand_input: Any, *, strict: bool) -> Any:
        output = super()._expand(expand_input, strict=strict)
        asset = self.kwargs.get("asset")
        check_asset_option(asset, self.kwargs.get("result"), output.operator.task_id)
        declare_result_asset(output.operator, asset)
        return output


def _with_result_assets(decorator: Any) -> Any:
    # task_decorator_factory builds a plain _TaskDecorator (its kwargs, its validation); ours only adds _expand.
    if type(decorator) is _TaskDecorator:
        decorator.__class__ = _ResultTaskDecorator
    return decorator


def result_task(
    python_callable: Callable | None = None,
    multiple_outputs: bool | None = None,
    **kwargs: Any,
):
    """``@task.result(result=..., target=..., checkpoint=..., cache_for=..., asset=...)``; also ``.expand()``
    and ``multiple_outputs`` like ``@task``.
    """
    made = task_decorator_factory(
        python_callable=python_callable,
        multiple_outputs=multiple_outputs,
        decorated_operator_class=_ResultDecoratedOperator,
        **kwargs,
    )
    if python_callable is not None:
        return _with_result_assets(made)

    @functools.wraps(made)
    def decorator_factory(function: Callable) -> Any:
        return _with_result_assets(made(function))

    return decorator_factory

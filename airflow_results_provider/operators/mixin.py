"""ResultMixin: checkpoints, targets, caching and looping for any Airflow operator.

A thin adapter: it turns the operator's kwargs and the Airflow context into a
:class:`~airflow_results_provider._checkpointing.TaskCheckpointer` and lets it run ``execute``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from airflow_results_provider._checkpointing import (
    NOTHING,
    OPTION_NAMES,
    CheckpointOptions,
    TaskCheckpointer,
)
from airflow_results_provider.core.preview import abridge
from airflow_results_provider.core.rows import OWNER_CHECKPOINT, OWNER_TARGET
from airflow_results_provider.exceptions import ResultNotFoundError
from airflow_results_provider.looping import Loop
from airflow_results_provider.operators._cache_decision import (
    Decision,
    bind_inputs,
    compute_key,
    decide_before_render,
    is_pruned,
    options_of,
    take_decision,
)
from airflow_results_provider.operators._rendered_fields import (
    RENDERED,
    abridge_template_fields_for_display,
    display_limit,
)
from airflow_results_provider.operators.assets import (
    check_asset_option,
    declare_partial_result_asset,
    declare_result_asset,
    emit_result_asset_event,
)
from airflow_results_provider.templating.context import build_location_context
from airflow_results_provider.xcom.handoff import remember_checkpoint

_ACTIVE = "_results_active"
#: Every keyword the generated ``__init__`` takes for itself.
_INIT_KWARGS = (*OPTION_NAMES, "result_handler", "asset")


class ResultMixin:
    """Add Prefect 1.x style Results to any operator: ``class ResultBashOperator(ResultMixin, BashOperator): pass``.

    Keyword arguments (also accepted in ``default_args`` and ``.partial()``):

    :param result: where the return value is checkpointed (default: ``[results] default_result``).
    :param checkpoint: ``False`` turns checkpointing off for this task.
    :param target: a location template or callable; when a result exists there, ``execute`` is skipped and
        that value is returned.
    :param cache_for: a ``timedelta``: reuse the value computed by an earlier run while it is fresh.
    :param cache_validator: a validator from :mod:`airflow_results_provider.cache_validators`.
    :param cache_key: share a cache between tasks (default: ``<dag_id>.<task_id>``).
    :param cache_policy: what the cache key is made of (:mod:`airflow_results_provider.cache_policies`, e.g.
        ``INPUTS + TASK_SOURCE``; default ``[results] cache_policy``): the same key reuses the stored value.
    :param cache_expiration: a ``timedelta`` after which an entry of ``cache_policy`` is not used.
    :param refresh_cache: ``True``: compute and overwrite the entry, never reuse it.
    :param cache_key_fn: ``fn(context, inputs) -> str``: your own cache key (added to ``cache_policy``).
    :param prune: ``True``: the task does no work when every downstream Result task already has its value.
    :param result_handler: deprecated Prefect 0.x result handler, converted to a Result (with a warning).
    :param asset: ``True``: the task's results are the Airflow asset ``airflow-results://<dag_id>/<task_id>``
        and each checkpoint write emits an event for it (default: ``[results] assets``; see
        :mod:`airflow_results_provider.operators.assets`).

    The body of a Python callable may raise :class:`~airflow_results_provider.looping.Loop` to loop; it
    receives ``task_loop_count`` and ``task_loop_result`` from the context.
    """

    #: Marks operators whose target/cache a pruning upstream task may check (see ``_cache_decision``).
    _results_decision_capable = True
    result: Any = None
    checkpoint: bool | None = None
    target: Any = None
    cache_for: Any = None
    cache_validator: Any = None
    cache_key: str | None = None
    cache_policy: Any = None
    cache_expiration: Any = None
    refresh_cache: bool | None = None
    cache_key_fn: Any = None
    prune: bool | None = None
    asset: bool | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # BaseOperatorMeta wraps each class's own __init__ (default_args, .partial() validation): a mixin
        # __init__ would be wrapped once and break, so every subclass gets its own keyword-only __init__.
        cls.__init__ = _make_init(cls)  # type: ignore[misc]
        if "execute" in cls.__dict__:
            cls.execute = _wrap_execute(cls.__dict__["execute"])  # type: ignore[attr-defined]
        _add_result_link(cls)
        abridge_template_fields_for_display(cls)

    def _do_render_template_fields(
        self, parent: Any, template_fields: Any, context: Any, jinja_env: Any, seen_oids: Any
    ) -> None:
        """Airflow's rendering (which pulls the task's upstream values), after the target and cache decision
        that needs none of them: on a hit, fields holding ``XComArg``s are not rendered, so nothing is pulled."""
        if parent is self:
            skipped = decide_before_render(self, context)
            if skipped:
                template_fields = [name for name in template_fields if name not in skipped]
        super()._do_render_template_fields(parent, template_fields, context, jinja_env, seen_oids)  # type: ignore[misc]

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        """Render the templates as the operator does, then have Airflow's displays show large fields abridged."""
        super().render_template_fields(context, jinja_env)  # type: ignore[misc]
        # From now on Airflow's display serializers see large fields abridged to this many characters.
        self.__dict__[RENDERED] = display_limit()

    @classmethod
    def partial(cls, **kwargs: Any) -> Any:
        """``Operator.partial(...)``, with the task's result asset in the outlets of the mapped task (``asset=``)."""
        partial = super().partial(**kwargs)  # type: ignore[misc]
        declare_partial_result_asset(partial.kwargs)
        return partial

    def execute(self, context: Any) -> Any:
        """Run the operator's ``execute`` through checkpointing: target and cache lookup, the run, the checkpoint."""
        return _execute_with_results(self, context, lambda: super(ResultMixin, self).execute(context))  # type: ignore[misc]

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Any) -> Any:
        """Resume a deferred task through checkpointing (the target was checked before it deferred)."""
        resume = super().resume_execution  # type: ignore[misc]
        return _execute_with_results(
            self, context, lambda: resume(next_method, next_kwargs, context), check_target=False
        )


def _make_init(cls: type) -> Callable[..., None]:
    own = cls.__dict__.get("__init__")

    def __init__(
        self: Any,
        *args: Any,
        result: Any = None,
        checkpoint: bool | None = None,
        target: Any = None,
        cache_for: Any = None,
        cache_validator: Any = None,
        cache_key: str | None = None,
        cache_policy: Any = None,
        cache_expiration: Any = None,
        refresh_cache: bool | None = None,
        cache_key_fn: Any = None,
        prune: bool | None = None,
        result_handler: Any = None,
        asset: bool | None = None,
        **kwargs: Any,
    ) -> None:
        if result_handler is not None:
            result = _convert_handler(result, result_handler, target, kwargs.get("task_id"))
        options = CheckpointOptions(
            result,
            checkpoint,
            target,
            cache_for,
            cache_validator,
            cache_key,
            cache_policy,
            cache_expiration,
            refresh_cache,
            cache_key_fn,
            prune,
        )
        check_asset_option(asset, result, kwargs.get("task_id"))
        if own is not None:
            own(self, *args, **kwargs)
        else:
            super(cls, self).__init__(*args, **kwargs)
        for name in OPTION_NAMES:
            setattr(self, name, getattr(options, name))
        self.asset = asset
        declare_result_asset(self, asset)

    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    __init__.__module__ = cls.__module__
    if own is not None:
        # Keep the class's own parameters visible to default_args and .partial() validation.
        ours = [p for p in inspect.signature(__init__).parameters.values() if p.name in _INIT_KWARGS]
        theirs = list(inspect.signature(own).parameters.values())
        var_kw = [p for p in theirs if p.kind is p.VAR_KEYWORD]
        rest = [p for p in theirs if p.kind is not p.VAR_KEYWORD and p.name not in _INIT_KWARGS]
        __init__.__signature__ = inspect.Signature([*rest, *ours, *var_kw])  # type: ignore[attr-defined]
    return __init__


def _convert_handler(result: Any, handler: Any, target: Any, task_id: Any) -> Any:
    """``result_handler=`` (deprecated) -> the Result replacing it; both given, or a target on a wrapped
    handler, is an error."""
    from airflow_results_provider.result_handlers import convert_result_handler
    from airflow_results_provider.results.handler_result import ResultHandlerResult

    if result is not None:
        raise TypeError(
            f"Task {task_id!r}: give result= or the deprecated result_handler=, not both "
            f"(got result={result!r} and result_handler={handler!r})"
        )
    converted = convert_result_handler(handler, stacklevel=4)
    if target is not None and isinstance(converted, ResultHandlerResult):
        raise ValueError(
            f"Task {task_id!r}: target= needs a Result that can tell whether a value exists; "
            f"{type(handler).__name__} is a custom result handler (no exists()). Use a Result, e.g. LocalResult."
        )
    return converted


def _wrap_execute(execute: Callable[..., Any]) -> Callable[..., Any]:
    if getattr(execute, "_results_wrapped", False):
        return execute

    @functools.wraps(execute)
    def wrapper(self: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
        return _execute_with_results(self, context, lambda: execute(self, context, *args, **kwargs))

    wrapper._results_wrapped = True  # type: ignore[attr-defined]
    return wrapper


def _add_result_link(cls: type) -> None:
    from airflow_results_provider.links.result_link import ResultLink

    links = cls.__dict__.get("operator_extra_links", getattr(cls, "operator_extra_links", ()))
    if not isinstance(links, (list, tuple)):
        return  # a property computing links per instance: leave it alone
    if not any(isinstance(link, ResultLink) for link in links):
        cls.operator_extra_links = (*links, ResultLink())  # type: ignore[attr-defined]


def task_inputs(operator: Any) -> dict[str, Any]:
    """The task's inputs by name: a Python callable's bound arguments, else ``op_kwargs``."""
    return bind_inputs(
        getattr(operator, "python_callable", None),
        getattr(operator, "op_args", None),
        getattr(operator, "op_kwargs", None),
    )


def _execute_with_results(
    operator: Any, context: Any, call: Callable[[], Any], *, check_target: bool = True
) -> Any:
    if getattr(operator, _ACTIVE, False):
        return call()  # a super().execute() inside an already checkpointed execute
    decision = take_decision(operator, context)
    if decision is not None and decision.pruned:
        return decision.value
    if decision is not None and decision.hit and decision.checkpointer is not None:
        return _reuse(operator, context, decision.checkpointer, decision.value)
    inputs = task_inputs(operator)
    pruned = [name for name, value in inputs.items() if is_pruned(value)]
    if pruned:
        raise ResultNotFoundError(
            f"Task {getattr(operator, 'task_id', '?')!r} needs its input(s) {pruned}, but their upstream task was "
            "pruned (prune=True) because this task had its value when it ran; it does not any more (target or "
            "cache entry removed since): clear the upstream tasks to compute them"
        )
    if decision is not None and decision.checkpointer is not None:
        checkpointer = decision.checkpointer  # missed before rendering; holds the cache key's claim
        checkpointer.variables.update({k: v for k, v in inputs.items() if k not in checkpointer.variables})
    else:
        checkpointer = _late_checkpointer(operator, context, inputs, decision, check_target)
        if check_target:
            value = checkpointer.decide()
            if value is not NOTHING:
                return _reuse(operator, context, checkpointer, value)
    try:
        return _run(operator, context, call, checkpointer)
    finally:
        checkpointer.release()


def _late_checkpointer(
    operator: Any, context: Any, inputs: dict[str, Any], decision: Decision | None, check_target: bool
) -> TaskCheckpointer:
    """The checkpointer of an execution whose decision needs the task's real inputs (or a resumed deferral)."""
    options = options_of(operator)
    variables = build_location_context(context, inputs=inputs)
    key = decision.key if decision is not None else None
    policy = options.policy
    if key is None and policy is not None and check_target:
        key = compute_key(policy, operator, context, inputs)
    return TaskCheckpointer(
        options,
        variables,
        inputs=inputs,
        parameters=variables["parameters"],  # the DAG params, resolved once by build_location_context
        logger=operator.log,
        cache_key=key,
    )


def _reuse(operator: Any, context: Any, checkpointer: TaskCheckpointer, value: Any) -> Any:
    """Return the value found at the target or in a cache, without running the task."""
    _remember(operator, checkpointer.variables, value, checkpointer.found, OWNER_TARGET)
    emit_result_asset_event(operator, context, checkpointer.variables, None)
    return value


def _run(operator: Any, context: Any, call: Callable[[], Any], checkpointer: TaskCheckpointer) -> Any:
    """Run the task's body (looping if it asks) and checkpoint its value."""

    saved_op_kwargs = (
        dict(operator.op_kwargs) if isinstance(getattr(operator, "op_kwargs", None), dict) else None
    )

    def body(count: int, loop_result: Any) -> Any:
        context["task_loop_count"] = count
        context["task_loop_result"] = loop_result
        if saved_op_kwargs is not None:
            # PythonOperator.execute merges op_kwargs into the context: stale loop values must not win.
            operator.op_kwargs = {
                k: v for k, v in saved_op_kwargs.items() if k not in ("task_loop_count", "task_loop_result")
            }
        return call()

    object.__setattr__(operator, _ACTIVE, True)
    try:
        with _return_value_logged_abridged(operator):
            value = checkpointer.run(body, Loop)
    finally:
        object.__setattr__(operator, _ACTIVE, False)
    _remember(operator, checkpointer.variables, value, checkpointer.written)
    emit_result_asset_event(operator, context, checkpointer.variables, checkpointer.written)
    return value


@contextmanager
def _return_value_logged_abridged(operator: Any) -> Iterator[None]:
    """PythonOperator logs ``str()`` of the whole return value (and the secrets masker scans that text): for a
    large value, log an abridged one instead and let PythonOperator say it did not show it."""
    callable_ = getattr(operator, "execute_callable", None)
    if getattr(operator, "show_return_value_in_logs", None) is not True or callable_ is None:
        yield
        return

    def execute_callable() -> Any:
        value = callable_()
        shown = abridge(value, operator.__dict__.get(RENDERED) or display_limit())
        # Decided per call: a looping task may return a large value, then a small one.
        operator.__dict__["show_return_value_in_logs"] = shown is value
        if shown is not value:
            operator.log.info("Done. Returned value was (abridged): %s", shown)
        return value

    operator.__dict__["execute_callable"] = execute_callable
    try:
        yield
    finally:
        operator.__dict__.pop("execute_callable", None)
        operator.__dict__["show_return_value_in_logs"] = True


def _remember(operator: Any, variables: Any, value: Any, result: Any, owner: str = OWNER_CHECKPOINT) -> None:
    """Where ``value`` is stored: for the "Result" link (which indexes it) and for the XCom backend (no second
    write). ``owner``: ``"checkpoint"`` (written) or ``"target"`` (found at the target or in the cache)."""
    from airflow_results_provider.links.result_link import ResultLink

    ResultLink.remember(operator, result, owner)
    remember_checkpoint(variables, value, result, will_push=bool(getattr(operator, "do_xcom_push", True)))

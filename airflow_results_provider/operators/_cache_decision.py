"""Target and cache decisions made before a task pulls its upstream values (issue: "decided before the work").

Airflow resolves a task's ``XComArg`` arguments while it renders the task's template fields, before
``execute``. A ``ResultMixin`` task decides there, first, whether it has a value already:

- its cache key (``cache_policy=``), with each upstream value that is stored (a Result, an offloaded XCom value)
  stood in for by its recorded digest (:func:`~airflow_results_provider.core.stored_digest.digests_only`), so no
  payload is read to compute it;
- its target, when the location template does not name the task's inputs;
- on a hit, the fields that hold ``XComArg`` references are not rendered at all: nothing upstream is pulled;
- on a miss, the task takes the key's claim (single-flight) or waits for the instance holding it.

What cannot be decided here is decided in ``execute`` with the real values, as before: a target naming inputs,
Prefect 1's ``cache_for``/``cache_validator`` (their validators compare values), a ``cache_key_fn`` and
``TASK_SOURCE`` of a classic operator (its rendered template fields).
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_results_provider._checkpointing import NOTHING, OPTION_NAMES, CheckpointOptions, TaskCheckpointer
from airflow_results_provider.cache_policies import CacheKey, CachePolicy, KeyContext
from airflow_results_provider.core.stored_digest import digests_only
from airflow_results_provider.exceptions import LocationTemplateError
from airflow_results_provider.templating.context import build_location_context

#: Where an operator keeps the decision of its current execution between rendering and ``execute``.
DECISION = "_results_decision"
#: What a pruned task returns (and pushes) instead of a value: a downstream task that misses after all and
#: would pull it fails with a clear error instead of computing from nothing.
PRUNED: dict[str, str] = {
    "airflow_results_pruned": "this task was pruned: its downstream tasks had their values"
}


@dataclasses.dataclass
class Decision:
    """What rendering decided for one task instance (``identity``), handed to ``execute``."""

    identity: tuple[Any, ...]
    key: CacheKey | None
    checkpointer: TaskCheckpointer | None = None
    value: Any = NOTHING
    pruned: bool = False

    @property
    def hit(self) -> bool:
        """A value was found: ``execute`` returns it without running the task."""
        return self.value is not NOTHING


def options_of(operator: Any) -> CheckpointOptions:
    """The checkpoint options set on ``operator``."""
    return CheckpointOptions(*(getattr(operator, name, None) for name in OPTION_NAMES))


def identity_of(context: Mapping[str, Any]) -> tuple[Any, ...]:
    """The task instance (and try) a decision belongs to."""
    ti = context.get("ti") or context.get("task_instance")
    return tuple(
        getattr(ti, name, None) for name in ("dag_id", "task_id", "run_id", "map_index", "try_number")
    )


def bind_inputs(python_callable: Any, op_args: Any, op_kwargs: Any) -> dict[str, Any]:
    """The task's inputs by name: ``python_callable``'s bound arguments, else ``op_kwargs``."""
    op_args = tuple(op_args or ())
    op_kwargs = dict(op_kwargs or {})
    if python_callable is None:
        return op_kwargs
    try:
        signature = inspect.signature(python_callable)
        bound = signature.bind_partial(*op_args, **op_kwargs)
    except (TypeError, ValueError):
        return op_kwargs
    inputs: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        kind = signature.parameters[name].kind
        if kind is inspect.Parameter.VAR_KEYWORD:
            inputs.update(value)
        elif kind is not inspect.Parameter.VAR_POSITIONAL:
            inputs[name] = value
    return inputs


def compute_key(
    policy: CachePolicy, operator: Any, context: Mapping[str, Any], inputs: Mapping[str, Any]
) -> CacheKey | None:
    """The cache key of this execution under ``policy``."""
    variables = build_location_context(context)
    return policy.compute_key(
        KeyContext(
            inputs={name: _materialized(value) for name, value in inputs.items()},
            task=operator,
            params=variables.get("parameters") or {},
            run_id=variables.get("run_id"),
            context=variables,
        )
    )


def decide_before_render(operator: Any, context: Any) -> list[str]:
    """Decide what can be decided before the task's upstream values are pulled; keep the decision on the
    operator for ``execute``. Returns the template fields not to render (those holding ``XComArg``s) on a hit."""
    operator.__dict__.pop(DECISION, None)
    options = options_of(operator)
    if options.prune:
        have = downstream_values(operator, context)
        if have is not None:
            operator.log.info(
                "Pruned: every downstream Result task already has its value (%s); not running, writing nothing",
                ", ".join(f"{task_id}: {how}" for task_id, how in have.items()),
            )
            operator.__dict__[DECISION] = Decision(identity_of(context), None, value=PRUNED, pruned=True)
            return _xcom_fields(operator)
    policy = options.policy
    early_key = policy is not None and policy.decided_before_pull(operator)
    if options.caching or not (early_key or options.target is not None):
        return []
    key = None
    if early_key:
        assert policy is not None
        inputs: dict[str, Any] = {}
        if policy.uses_inputs:
            with digests_only():
                inputs = bind_inputs(
                    getattr(operator, "python_callable", None),
                    operator.render_template(getattr(operator, "op_args", None) or (), context),
                    operator.render_template(getattr(operator, "op_kwargs", None) or {}, context),
                )
        key = compute_key(policy, operator, context, inputs)
    decision = Decision(identity_of(context), key)
    operator.__dict__[DECISION] = decision
    if policy is not None and key is None and not early_key:
        return []  # the key needs real values: everything is decided in execute
    if target_names_inputs(operator, options.target):
        return []  # decided in execute, with the key computed here
    variables = build_location_context(context)
    checkpointer = TaskCheckpointer(
        options, variables, parameters=variables["parameters"], logger=operator.log, cache_key=key
    )
    decision.checkpointer = checkpointer
    decision.value = checkpointer.decide()
    return _xcom_fields(operator) if decision.hit else []


def _xcom_fields(operator: Any) -> list[str]:
    return [name for name in operator.template_fields if _holds_xcom_args(getattr(operator, name, None))]


def is_pruned(value: Any) -> bool:
    """Whether ``value`` is what a pruned upstream task returned instead of its value."""
    return isinstance(value, dict) and value.keys() == PRUNED.keys() and value == PRUNED


def downstream_values(operator: Any, context: Any, depth: int = 0) -> dict[str, str] | None:
    """For ``prune=True``: how each downstream task of ``operator`` has its value without pulling ``operator``'s
    (``{task_id: "target" | "cache" | "pruned"}``), or ``None`` when one of them would pull it.

    A downstream task has its value when it is a (not mapped) Result task whose target exists or whose cache key,
    computed without its inputs, hits; or when it is itself ``prune=True`` and all of its downstream tasks have
    theirs. Any other downstream task (a plain operator, a mapped task, a key on inputs) needs the value."""
    downstream = list(getattr(operator, "downstream_list", None) or ())
    if not downstream or depth > 50:
        return None
    found: dict[str, str] = {}
    for task in downstream:
        how = _has_value(task, context, depth)
        if how is None:
            return None
        found[task.task_id] = how
    return found


def _has_value(task: Any, context: Any, depth: int) -> str | None:
    if not hasattr(task, "_results_decision_capable"):
        return None  # not a Result task, or a mapped one (its operator class is only built per map index)
    options = options_of(task)
    policy = options.policy
    if options.caching or (
        policy is not None and (policy.uses_inputs or not policy.decided_before_pull(task))
    ):
        how = None
    else:
        how = _lookup_without_inputs(task, options, policy, context)
    if how is None and options.prune and downstream_values(task, context, depth + 1) is not None:
        how = "pruned"
    return how


def _lookup_without_inputs(task: Any, options: CheckpointOptions, policy: Any, context: Any) -> str | None:
    ti = context.get("ti")
    task_context = {k: v for k, v in context.items() if k not in ("ti", "task_instance", "task")}
    task_context.update(
        task=task,
        dag_id=getattr(ti, "dag_id", None),
        task_id=task.task_id,
        run_id=getattr(ti, "run_id", None),
        map_index=None,
    )
    key = compute_key(policy, task, task_context, {}) if policy is not None else None
    if options.target is None and key is None:
        return None
    if target_names_inputs(task, options.target):
        return None
    variables = build_location_context(task_context)
    try:
        checkpointer = TaskCheckpointer(options, variables, logger=task.log, cache_key=key)
    except LocationTemplateError:
        return None  # a variable the downstream task only has when it runs
    if options.target is not None and checkpointer._read_target() is not NOTHING:
        return "target"
    if checkpointer.policy_cache and checkpointer.policy_cache.read() is not NOTHING:
        return "cache"
    return None


def take_decision(operator: Any, context: Any) -> Decision | None:
    """The decision rendering made for this task instance (removed from the operator), if any."""
    decision = operator.__dict__.pop(DECISION, None)
    if decision is None or decision.identity != identity_of(context):
        return None
    return decision


def target_names_inputs(operator: Any, target: Any) -> bool:
    """Whether the location of ``target`` may depend on the task's inputs (then it is rendered only once they
    are pulled): a callable target always may; a template when it names one of the task's argument names
    (a word match, so ``{rows}``, ``{{ rows | path_safe }}`` and ``{rows[0]}`` all count)."""
    if target is None:
        return False
    if callable(target):
        return True
    names = set(dict(getattr(operator, "op_kwargs", None) or {}))
    python_callable = getattr(operator, "python_callable", None)
    if python_callable is not None:
        try:
            parameters = inspect.signature(python_callable).parameters.values()
        except (TypeError, ValueError):
            return True
        names.update(p.name for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))
    text = str(target)
    return any(re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", text) for name in names)


def _materialized(value: Any) -> Any:
    """A lazy sequence (Airflow's ``LazyXComSequence``: the values of a mapped upstream task) as a list of its
    items, each pulled as any XCom is (inside ``digests_only``, a stored item is its digest)."""
    if isinstance(value, Sequence) and not isinstance(
        value, (str, bytes, bytearray, memoryview, list, tuple)
    ):
        return list(value)
    return value


def _holds_xcom_args(value: Any) -> bool:
    from airflow.sdk.definitions.xcom_arg import XComArg

    try:
        return next(iter(XComArg.iter_xcom_references(value)), None) is not None
    except Exception:  # a value Airflow's walker does not know: render it
        return False

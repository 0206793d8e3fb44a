"""Cache policies: what a task's cache key is made of, composable like Prefect 3's.

``cache_policy=INPUTS + TASK_SOURCE`` on ``@task.result(...)`` or a ``ResultMixin`` operator (also in
``default_args`` and ``[results] cache_policy``) keys the task's cache on a digest of each input and of the
task's code: the same inputs and code reuse the stored value, a changed input or an edited function body
computes again. Policies combine with ``+`` and inputs are left out with ``-``::

    from airflow_results_provider import cache_policies
    from airflow_results_provider.cache_policies import INPUTS, PARAMS, TASK_SOURCE

    @task.result(cache_policy=INPUTS - "session" + TASK_SOURCE, cache_expiration=timedelta(days=7))
    def transform(rows, session): ...

- :data:`INPUTS` — a digest per argument (:mod:`airflow_results_provider.core.stable_hash`); an upstream value
  stored as a Result or an offloaded XCom value is keyed by its recorded sha256, without reading it.
- :data:`TASK_SOURCE` — TaskFlow: the callable's code; classic operators: the operator's class and its rendered
  template fields (:func:`task_source_digest` says what changes it).
- :data:`PARAMS` — the DAG run's params.
- :data:`RUN_ID` — the run id (a cache that only lives within a run: retries and clears reuse).
- :data:`NONE` — no cache.
- :class:`CacheKeyFunction` (or ``cache_key_fn=``) — your own ``fn(context, inputs) -> str``.

The key of an execution is the sha256 of its named components (:class:`CacheKey`), which every cache entry
records, so ``airflow results explain`` can say which component changed.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import inspect
import json
import textwrap
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from airflow_results_provider.core.stable_hash import digest_value
from airflow_results_provider.exceptions import ResultConfigError

#: Bumped when the way keys are derived from components changes (every earlier entry then misses).
KEY_VERSION = "1"


@dataclasses.dataclass(frozen=True)
class KeyContext:
    """What a policy may key on, for one task execution.

    :param inputs: the task's arguments by name (an upstream stored value as a ``StoredDigest``).
    :param task: the operator (for :data:`TASK_SOURCE`).
    :param params: the DAG run's params (resolved values).
    :param run_id: the DAG run's id.
    :param context: the Airflow context / template variables (for a custom ``cache_key_fn``).
    """

    inputs: Mapping[str, Any]
    task: Any = None
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    run_id: str | None = None
    context: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class CacheKey:
    """A computed key: ``key`` (hex sha256) of ``components`` (component name -> digest) under ``policy``."""

    key: str
    components: Mapping[str, str]
    policy: str

    @classmethod
    def of(cls, components: Mapping[str, str], policy: str) -> CacheKey:
        """The key of ``components`` (order-independent)."""
        canonical = json.dumps(
            {"v": KEY_VERSION, "c": dict(components)}, sort_keys=True, separators=(",", ":")
        )
        return cls(hashlib.sha256(canonical.encode()).hexdigest(), dict(components), policy)


class CachePolicy:
    """A rule for the components of a cache key. Combine with ``+``; leave out inputs with ``- "name"``."""

    #: The policy needs the task's rendered template fields or its real input values (not digests of stored
    #: values): the key is computed after the inputs are pulled, so no hit is decided before the work.
    needs_values: bool = False

    def components(self, ctx: KeyContext) -> dict[str, str] | None:
        """This policy's part of the key (name -> digest); ``None``: do not cache."""
        raise NotImplementedError

    def compute_key(self, ctx: KeyContext) -> CacheKey | None:
        """The cache key of ``ctx``, or ``None`` when the policy does not cache."""
        components = self.components(ctx)
        return None if components is None else CacheKey.of(components, str(self))

    @property
    def uses_inputs(self) -> bool:
        """Whether the key depends on the task's inputs."""
        return False

    def __add__(self, other: CachePolicy) -> CachePolicy:
        if not isinstance(other, CachePolicy):
            return NotImplemented
        return CompoundPolicy((*_members(self), *_members(other)))

    def __sub__(self, argument: str) -> CachePolicy:
        if not isinstance(argument, str):
            return NotImplemented
        return self.excluding((argument,))

    def excluding(self, arguments: Iterable[str]) -> CachePolicy:
        """This policy with ``arguments`` left out of its inputs (no effect on policies without inputs)."""
        return self

    @property
    def uses_task_source(self) -> bool:
        """Whether the key depends on the task's code (for a classic operator: its rendered template fields)."""
        return self is TASK_SOURCE

    def decided_before_pull(self, task: Any) -> bool:
        """Whether the key of ``task`` can be computed before it pulls its upstream values (upstream stored
        values as their recorded digests): not for a ``cache_key_fn`` (it gets real values), nor for
        :data:`TASK_SOURCE` of a classic operator (its rendered template fields)."""
        if self.needs_values:
            return False
        return not (self.uses_task_source and getattr(task, "python_callable", None) is None)


class Inputs(CachePolicy):
    """A digest per task argument, except the ``exclude`` ones."""

    def __init__(self, exclude: Iterable[str] = ()) -> None:
        self.exclude = frozenset(exclude)

    def components(self, ctx: KeyContext) -> dict[str, str]:
        return {
            f"input:{name}": digest_value(value, argument=name)
            for name, value in sorted(ctx.inputs.items())
            if name not in self.exclude
        }

    @property
    def uses_inputs(self) -> bool:
        return True

    def excluding(self, arguments: Iterable[str]) -> CachePolicy:
        return Inputs(self.exclude | frozenset(arguments))

    def __str__(self) -> str:
        return "INPUTS" + "".join(f" - {name!r}" for name in sorted(self.exclude))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Inputs) and other.exclude == self.exclude

    def __hash__(self) -> int:
        return hash(("INPUTS", self.exclude))


class _Named(CachePolicy):
    def __init__(
        self, name: str, compute: Callable[[KeyContext], dict[str, str] | None], values: bool = False
    ):
        self.name = name
        self._compute = compute
        self.needs_values = values

    def components(self, ctx: KeyContext) -> dict[str, str] | None:
        return self._compute(ctx)

    def __str__(self) -> str:
        return self.name

    def __reduce__(self) -> str:
        return self.name  # pickled (in a serialized DAG's default_args) as the module constant


class CacheKeyFunction(CachePolicy):
    """``fn(context, inputs) -> str``: your own key (Prefect's ``cache_key_fn``); ``None`` from ``fn``: do not
    cache this execution. ``context`` is the Airflow context with the template variables; ``inputs`` the task's
    real argument values (so the key is decided after they are pulled)."""

    needs_values = True

    def __init__(self, fn: Callable[[Mapping[str, Any], Mapping[str, Any]], str | None]) -> None:
        if not callable(fn):
            raise TypeError(
                f"cache_key_fn must be a callable (context, inputs) -> str, got {type(fn).__name__}"
            )
        self.fn = fn

    def components(self, ctx: KeyContext) -> dict[str, str] | None:
        key = self.fn(ctx.context, ctx.inputs)
        if key is None:
            return None
        if not isinstance(key, str):
            raise TypeError(f"cache_key_fn {self} returned {type(key).__name__}, not a str")
        return {"cache_key_fn": hashlib.sha256(key.encode()).hexdigest()}

    @property
    def uses_inputs(self) -> bool:
        return True

    def __str__(self) -> str:
        return f"cache_key_fn={getattr(self.fn, '__qualname__', repr(self.fn))}"


class CompoundPolicy(CachePolicy):
    """The union of its policies' components; ``NONE`` members add nothing (``NONE`` alone does not cache)."""

    def __init__(self, policies: Iterable[CachePolicy]) -> None:
        self.policies = tuple(p for p in policies if p is not NONE)

    def components(self, ctx: KeyContext) -> dict[str, str] | None:
        if not self.policies:
            return None
        merged: dict[str, str] = {}
        for policy in self.policies:
            part = policy.components(ctx)
            if part is None:
                return None
            merged.update(part)
        return merged

    @property
    def needs_values(self) -> bool:  # type: ignore[override]
        return any(p.needs_values for p in self.policies)

    @property
    def uses_inputs(self) -> bool:
        return any(p.uses_inputs for p in self.policies)

    @property
    def uses_task_source(self) -> bool:
        return any(p.uses_task_source for p in self.policies)

    def excluding(self, arguments: Iterable[str]) -> CachePolicy:
        arguments = tuple(arguments)
        return CompoundPolicy(p.excluding(arguments) for p in self.policies)

    def __str__(self) -> str:
        return " + ".join(str(p) for p in self.policies) or "NONE"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CompoundPolicy) and other.policies == self.policies

    def __hash__(self) -> int:
        return hash(self.policies)


def _members(policy: CachePolicy) -> tuple[CachePolicy, ...]:
    return policy.policies if isinstance(policy, CompoundPolicy) else (policy,)


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _task_source(ctx: KeyContext) -> dict[str, str]:
    return {"task_source": task_source_digest(ctx.task)}


def _params(ctx: KeyContext) -> dict[str, str]:
    return {"params": digest_value(dict(ctx.params), argument="params")}


def _run_id(ctx: KeyContext) -> dict[str, str]:
    return {"run_id": _sha256_text(str(ctx.run_id))}


INPUTS: CachePolicy = Inputs()
TASK_SOURCE: CachePolicy = _Named("TASK_SOURCE", _task_source)
PARAMS: CachePolicy = _Named("PARAMS", _params)
RUN_ID: CachePolicy = _Named("RUN_ID", _run_id)
NONE: CachePolicy = _Named("NONE", lambda ctx: None)

_BY_NAME = {"INPUTS": INPUTS, "TASK_SOURCE": TASK_SOURCE, "PARAMS": PARAMS, "RUN_ID": RUN_ID, "NONE": NONE}


def parse_policy(text: str, *, option: str = "[results] cache_policy") -> CachePolicy | None:
    """A policy from its text form (``INPUTS + TASK_SOURCE``, ``INPUTS - 'session'``); ``None`` for ``""``.

    :raises ResultConfigError: an unknown name, naming ``option``.
    """
    text = text.strip()
    if not text:
        return None
    policy: CachePolicy | None = None
    for term in text.split("+"):
        name, *excluded = (part.strip() for part in term.split("-"))
        if name.upper() not in _BY_NAME:
            raise ResultConfigError(
                f"{option}: unknown cache policy {name!r} in {text!r} (known: {', '.join(_BY_NAME)})"
            )
        member = _BY_NAME[name.upper()].excluding(e.strip("'\" ") for e in excluded)
        policy = member if policy is None else policy + member
    return policy


def as_policy(value: Any, *, option: str = "cache_policy") -> CachePolicy | None:
    """``cache_policy=`` as given (a policy, its text form, or a ``fn(context, inputs)``), as a policy."""
    if value is None or isinstance(value, CachePolicy):
        return value
    if isinstance(value, str):
        return parse_policy(value, option=f"{option}=")
    if callable(value):
        return CacheKeyFunction(value)
    raise ResultConfigError(
        f"{option}= must be a cache policy (cache_policies.INPUTS + ...), its text form or a callable "
        f"(context, inputs) -> str; got {type(value).__name__}"
    )


def task_source_digest(task: Any) -> str:
    """The digest :data:`TASK_SOURCE` keys on.

    - A TaskFlow task (an operator with ``python_callable``): the callable's code, parsed (its syntax tree).
      Changing a statement, an expression, a name, a default argument or the docstring changes it; comments,
      blank lines, formatting (line breaks, indentation, ``'a'`` for ``"a"``), the decorator line and the
      function's position in the file do not. Functions the callable calls are not part of it (add them to
      the key with ``cache_key_fn`` or a version in ``params``).
    - A classic operator: the source of its class (and of its bases up to Airflow's ``BaseOperator``, skipping
      this package's mixin), parsed the same way, plus the digest of each rendered template field; a new
      provider version that changes the operator's code changes the key.
    """
    python_callable = getattr(task, "python_callable", None)
    if python_callable is not None:
        return _sha256_text("callable:" + _code_digest(python_callable, getattr(task, "task_id", "?")))
    parts = []
    for cls in type(task).__mro__:
        module = cls.__module__
        if cls.__name__ in {"BaseOperator", "object"} or module.startswith("airflow_results_provider."):
            if cls.__name__ == "BaseOperator":
                break
            continue
        parts.append(f"{module}.{cls.__qualname__}:{_code_digest(cls, getattr(task, 'task_id', '?'))}")
    for name in sorted(getattr(task, "template_fields", ()) or ()):
        parts.append(f"field:{name}:{digest_value(getattr(task, name, None), argument=name)}")
    return _sha256_text("operator:" + "\n".join(parts))


def _code_digest(obj: Any, task_id: str) -> str:
    target = inspect.unwrap(obj) if callable(obj) and not isinstance(obj, type) else obj
    try:
        source = textwrap.dedent(inspect.getsource(target))
    except (OSError, TypeError) as exc:
        raise ResultConfigError(
            f"Task {task_id!r}: cache_policy TASK_SOURCE cannot read the source of {obj!r} ({exc}); use a "
            "cache_key_fn or put a code version in params"
        ) from exc
    try:
        tree = ast.parse(source)
    except SyntaxError:  # a lambda cut out of a longer line, for one
        return _sha256_text("text:" + source)
    hasher = hashlib.sha256()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            node.decorator_list = []
        _feed(hasher, node)
    return hasher.hexdigest()


def _feed(hasher: Any, node: Any) -> None:
    """Hash an AST node by its type and non-empty fields (not ``ast.dump``, whose text differs by version)."""
    if isinstance(node, ast.AST):
        hasher.update(f"({type(node).__name__}".encode())
        for field in node._fields:
            value = getattr(node, field, None)
            if value is None or value == []:
                continue
            hasher.update(f"|{field}=".encode())
            _feed(hasher, value)
        hasher.update(b")")
    elif isinstance(node, list):
        hasher.update(b"[")
        for item in node:
            _feed(hasher, item)
            hasher.update(b",")
        hasher.update(b"]")
    else:
        hasher.update(f"{type(node).__name__}:{node!r}".encode())

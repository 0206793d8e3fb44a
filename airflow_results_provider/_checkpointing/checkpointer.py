"""Checkpointing decisions for one task execution, free of the Airflow runtime.

The operator mixin builds a :class:`TaskCheckpointer` from the task's options and the template variables of
the running task instance, asks it for a target or cache hit before ``execute``, and hands it the return value
afterwards. Everything here works on plain dicts, so it is tested without Airflow.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Mapping
from typing import Any

from airflow_results_provider import config
from airflow_results_provider.cache_validators import CacheEntry, CacheValidator, duration_only
from airflow_results_provider.exceptions import (
    LocationCollisionError,
    ResultError,
    ResultNotFoundError,
)
from airflow_results_provider.results.base import Location, Result
from airflow_results_provider.results.registry import default_result
from airflow_results_provider.serializers.json_serializer import JSONSerializer
from airflow_results_provider.serializers.pickle_serializer import PickleSerializer
from airflow_results_provider.templating.filters import default_location, path_safe

log = logging.getLogger(__name__)

#: Returned by lookups that found nothing usable (``None`` is a legitimate cached value).
MISS: Any = type("Miss", (), {"__repr__": lambda self: "MISS", "__bool__": lambda self: False})()

OPTION_NAMES = ("result", "checkpoint", "target", "cache_for", "cache_validator", "cache_key")


@dataclasses.dataclass
class CheckpointOptions:
    """What a task asked for (``result=``, ``checkpoint=``, ``target=``, ``cache_*=``)."""

    result: Result | None = None
    checkpoint: bool | None = None
    target: Location | None = None
    cache_for: dt.timedelta | None = None
    cache_validator: CacheValidator | None = None
    cache_key: str | None = None

    def __post_init__(self) -> None:
        if self.result is not None and not isinstance(self.result, Result):
            raise TypeError(f"result= must be a Result, got {type(self.result).__name__}")
        if self.target is not None and not (isinstance(self.target, str) or callable(self.target)):
            raise TypeError(
                f"target= must be a template string or a callable, got {type(self.target).__name__}"
            )
        if self.cache_for is not None and not isinstance(self.cache_for, dt.timedelta):
            raise TypeError(f"cache_for= must be a datetime.timedelta, got {type(self.cache_for).__name__}")
        if self.cache_validator is not None and not callable(self.cache_validator):
            raise TypeError("cache_validator= must be a callable (state, inputs, parameters) -> bool")


def is_persistent(result: Result) -> bool:
    """Whether ``result`` stores values somewhere a later process can find them by location."""
    from airflow_results_provider.results.constant_result import ConstantResult
    from airflow_results_provider.results.handler_result import ResultHandlerResult
    from airflow_results_provider.results.inline_result import InlineResult
    from airflow_results_provider.results.secret_result import SecretResult

    return not isinstance(result, (InlineResult, ConstantResult, SecretResult, ResultHandlerResult))


def checkpointing_enabled(task_checkpoint: bool | None) -> bool:
    """Global switch on and the task (or its DAG's default_args) did not say ``checkpoint=False``."""
    return config.checkpointing() and task_checkpoint is not False


class TaskCheckpointer:
    """Target/cache lookups before ``execute`` and checkpoint writes after it, for one task execution.

    The Result is copied here, so executions never share rendered state. Constructing it renders the
    location, so a template error fails the task before ``execute`` runs.
    """

    def __init__(
        self,
        options: CheckpointOptions,
        variables: Mapping[str, Any],
        *,
        inputs: Mapping[str, Any] | None = None,
        parameters: Mapping[str, Any] | None = None,
        logger: logging.Logger | Any = None,
    ) -> None:
        self.options = options
        self.log = logger or log
        self.variables = dict(variables)
        self.inputs = dict(inputs or {})
        self.parameters = dict(parameters or {})
        self.result: Result = (options.result or default_result()).copy()
        if options.target is not None:
            self.result.location = options.target
        self.enabled = checkpointing_enabled(options.checkpoint)
        self.written: Result | None = None
        self.found: Result | None = None
        self.location = self._render(self.variables)
        if options.target is not None and not self.enabled:
            self.log.warning(
                "Task has target %s but checkpointing is off (checkpoint=False or [results] checkpointing = "
                "False): the target is read but nothing will be written",
                self.location,
            )

    # ------------------------------------------------------------------ identity

    @property
    def caching(self) -> bool:
        """The task asked for a cache (``cache_for`` or ``cache_validator``)."""
        return self.options.cache_for is not None or self.options.cache_validator is not None

    @property
    def loops_are_checkpointed(self) -> bool:
        """Loop iterations (and the resume position) are stored only when checkpoints persist somewhere."""
        return self.enabled and is_persistent(self.result)

    def uri(self, location: str | None = None) -> str:
        location = location or self.location
        try:
            return self.result.uri(location)
        except ResultError:
            return location

    def _render(self, variables: Mapping[str, Any]) -> str:
        return self.result._format(variables).location

    # ------------------------------------------------------------------ before execute

    def lookup(self) -> Any:
        """The value to use instead of running the task (target hit, then valid cache), or :data:`MISS`."""
        if self.options.target is not None:
            value = self._read_target()
            if value is not MISS:
                return value
        if self.caching:
            return self._read_cache()
        return MISS

    def _read_target(self) -> Any:
        location = self.location
        try:
            if not self.result.exists(location):
                return MISS
            found = self.result.read(location)
        except ResultNotFoundError:
            return MISS
        except ResultError as exc:
            self.log.warning(
                "Result at task target %s is unreadable; running the task and overwriting it: %s",
                self.uri(location),
                exc,
            )
            return MISS
        self._check_collision(found.metadata, location)
        self.log.info("Result found at task target %s", self.uri(location))
        self.found = found
        return found.value

    # ------------------------------------------------------------------ after execute

    def write(self, value: Any) -> Result | None:
        """Checkpoint ``value`` of a successful execution (when the rules say so) and update the cache."""
        if self.enabled and value is not None:
            self._check_collision(self.result._safe_previous_metadata(self.location), self.location)
            self.written = self.result.write(value, **self.variables)
            self.log.info("Checkpointed the return value to %s", self.uri(self.written.location))
        if self.caching:
            self._write_cache(value)
        return self.written

    def _check_collision(self, metadata: Mapping[str, Any] | None, location: str) -> None:
        if not metadata:
            return
        v = self.variables
        same_run = all(metadata.get(k) == v.get(k) for k in ("dag_id", "run_id", "task_id"))
        if same_run and metadata.get("map_index") != v.get("map_index"):
            raise LocationCollisionError(
                f"Location {self.uri(location)} was written by map index {metadata.get('map_index')} of "
                f"{v.get('dag_id')}.{v.get('task_id')} in run {v.get('run_id')}, and map index "
                f"{v.get('map_index')} renders the same location. Make the location or target distinct per "
                "map index, e.g. add {map_index} (or {{ map_index }}) or an input that differs per index."
            )

    # ------------------------------------------------------------------ cache

    def _store(self, serializer: Any) -> Result:
        base = self.result if is_persistent(self.result) else default_result()
        store = base.copy()
        store.serializer = serializer
        return store

    def cache_location(self) -> str:
        key = self.options.cache_key or f"{self.variables.get('dag_id')}.{self.variables.get('task_id')}"
        index = self.variables.get("map_index")
        return f"_cache/{path_safe(key)}/{'task' if index is None else index}.pkl"

    def _read_cache(self) -> Any:
        store, location = self._store(PickleSerializer()), self.cache_location()
        try:
            if not store.exists(location):
                return MISS
            entry = store.read(location).value
        except ResultError as exc:
            self.log.warning("Cache entry %s is unreadable; running the task: %s", store.uri(location), exc)
            return MISS
        if not isinstance(entry, CacheEntry):
            self.log.warning("Cache entry %s is not a cache entry; ignoring it", store.uri(location))
            return MISS
        validator = self.options.cache_validator or duration_only
        try:
            valid = bool(validator(entry, self.inputs, self.parameters))
        except Exception as exc:
            self.log.warning("Cache validator %r failed (%s); treating the cache as invalid", validator, exc)
            valid = False
        name = getattr(validator, "__name__", repr(validator))
        if not valid:
            self.log.info("Cache entry %s is invalid under %s; running the task", store.uri(location), name)
            return MISS
        self.log.info(
            "Task is cached: using the value cached at %s (written %s by run %s, valid under %s)",
            store.uri(location),
            entry.written_at.isoformat(),
            entry.run_id,
            name,
        )
        return entry.value

    def _write_cache(self, value: Any) -> None:
        now = dt.datetime.now(dt.timezone.utc)
        expiration = now + self.options.cache_for if self.options.cache_for is not None else None
        v = self.variables
        entry = CacheEntry(
            value=value,
            cached_result_expiration=expiration,
            cached_inputs=self.inputs,
            cached_parameters=self.parameters,
            written_at=now,
            dag_id=v.get("dag_id"),
            run_id=v.get("run_id"),
            task_id=v.get("task_id"),
        )
        store = self._store(PickleSerializer())
        store.location = self.cache_location()
        try:
            store.write(entry, **v)
        except ResultError as exc:
            if "could not serialize" not in str(exc):
                raise
            self.log.warning("Task inputs cannot be pickled; caching the value without them: %s", exc)
            entry.cached_inputs = None
            store.write(entry, **v)

    # ------------------------------------------------------------------ looping

    def loop_variables(self, count: int, loop_result: Any) -> dict[str, Any]:
        return {**self.variables, "task_loop_count": count, "task_loop_result": loop_result}

    def _loop_state_store(self) -> tuple[Result, str]:
        store = self._store(JSONSerializer())
        location = default_location({**self.variables, "xcom_key": "loop-state"}, extension="json")
        return store, location

    def iteration_location(self, count: int, loop_result: Any) -> str:
        variables = self.loop_variables(count, loop_result)
        rendered = self._render(variables)
        if rendered == self.location:
            # The task's location does not vary per iteration: keep iterations apart from the final value.
            rendered = default_location(
                {**variables, "task_loop_active": True}, self.result.serializer.extension
            )
        return rendered

    def resume_loop(self) -> tuple[int, Any]:
        """``(task_loop_count, task_loop_result)`` to start from: the last checkpointed iteration, or (1, None)."""
        if not self.loops_are_checkpointed:
            return 1, None
        store, location = self._loop_state_store()
        try:
            if not store.exists(location):
                return 1, None
            state = store.read(location).value
            value = self.result.read(state["location"]).value
        except (ResultError, KeyError, TypeError) as exc:
            self.log.warning(
                "Loop state at %s is unusable; starting the loop over: %s", store.uri(location), exc
            )
            return 1, None
        self.log.info(
            "Resuming the loop at iteration %s from the checkpoint at %s", state["next_count"], state["uri"]
        )
        return int(state["next_count"]), value

    def save_iteration(self, count: int, loop_result_in: Any, loop_result_out: Any) -> None:
        """Checkpoint the result of iteration ``count`` and record that the next one is ``count + 1``."""
        if not self.loops_are_checkpointed:
            return
        location = self.iteration_location(count, loop_result_in)
        iteration = self.result.copy()
        iteration.location = location
        written = iteration.write(loop_result_out, **self.loop_variables(count, loop_result_in))
        store, state_location = self._loop_state_store()
        store.location = state_location
        store.write(
            {"next_count": count + 1, "location": written.location, "uri": self.uri(written.location)},
            **self.variables,
        )
        self.log.info("Loop iteration %s checkpointed to %s", count, self.uri(written.location))

    def finish_loop(self) -> None:
        """Forget the loop position after the task succeeded (a clear then starts the loop over)."""
        if not self.loops_are_checkpointed:
            return
        store, location = self._loop_state_store()
        try:
            store.delete(location)
        except ResultError as exc:
            self.log.warning("Could not delete the loop state at %s: %s", store.uri(location), exc)


#: (dag_id, task_id, run_id, map_index) -> (returned value, Result holding it): lets the XCom backend reference
#: a value the mixin just checkpointed instead of writing it again. Entries live until the XCom push.
_RECENT_CHECKPOINTS: dict[tuple[Any, ...], tuple[Any, Result]] = {}


def remember_checkpoint(variables: Mapping[str, Any], value: Any, result: Result | None) -> None:
    """Record that ``value`` (this object) is stored by ``result`` for the task instance of ``variables``."""
    index = variables.get("map_index")
    key = (
        variables.get("dag_id"),
        variables.get("task_id"),
        variables.get("run_id"),
        -1 if index is None else index,
    )
    if (
        result is None
        or value is None
        or not config.uses_result_xcom_backend()  # nobody would consume the entry: do not hold the value
        or not is_persistent(result)
        or result.store_spec() is None
    ):
        _RECENT_CHECKPOINTS.pop(key, None)
        return
    _RECENT_CHECKPOINTS[key] = (value, result)


def take_checkpoint(dag_id: Any, task_id: Any, run_id: Any, map_index: Any, value: Any) -> Result | None:
    """The Result the mixin stored ``value`` in (same object), consumed; ``None`` when there is none."""
    key = (dag_id, task_id, run_id, -1 if map_index is None else map_index)
    entry = _RECENT_CHECKPOINTS.get(key)
    if entry is None or entry[0] is not value:
        return None
    del _RECENT_CHECKPOINTS[key]
    return entry[1]


def run_with_checkpoints(
    checkpointer: TaskCheckpointer,
    body: Callable[[int, Any], Any],
    loop_signal: type[BaseException],
) -> Any:
    """Run ``body(task_loop_count, task_loop_result)`` until it stops raising ``loop_signal``, then checkpoint."""
    count, loop_result = checkpointer.resume_loop()
    looped = count > 1
    while True:
        try:
            value = body(count, loop_result)
            break
        except loop_signal as signal:
            looped = True
            checkpointer.save_iteration(count, loop_result, signal.result)  # type: ignore[attr-defined]
            message = getattr(signal, "message", None)
            checkpointer.log.info("Loop iteration %s done%s", count, f": {message}" if message else "")
            count, loop_result = count + 1, signal.result  # type: ignore[attr-defined]
    if looped:
        checkpointer.variables = checkpointer.loop_variables(count, loop_result)
        checkpointer.location = checkpointer._render(checkpointer.variables)
    checkpointer.write(value)
    if looped:
        checkpointer.finish_loop()
    return value

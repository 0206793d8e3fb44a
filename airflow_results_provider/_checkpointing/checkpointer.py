"""One task execution's checkpoint decisions, free of the Airflow runtime.

The operator mixin builds a :class:`TaskCheckpointer` from the task's options and the template variables of the
running task instance, asks it for a target or cache hit before ``execute`` (:meth:`~TaskCheckpointer.lookup`),
and lets it run the body (looping if asked) and checkpoint the value (:meth:`~TaskCheckpointer.run`).
Everything here works on plain dicts and the public Result API, so it is tested without Airflow.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from airflow_results_provider._checkpointing.cache import TaskCache
from airflow_results_provider._checkpointing.loops import LoopCheckpoints, loop_variables, run_loop
from airflow_results_provider._checkpointing.options import (
    UNREADABLE,
    CheckpointOptions,
    bookkeeping_store,
)
from airflow_results_provider._checkpointing.policy_cache import PolicyCache
from airflow_results_provider.cache_policies import CacheKey
from airflow_results_provider.core.identity import check_no_collision
from airflow_results_provider.core.values import NOTHING
from airflow_results_provider.exceptions import ResultError, ResultNotFoundError
from airflow_results_provider.results.base import Result
from airflow_results_provider.results.registry import default_result
from airflow_results_provider.serializers.json_serializer import JSONSerializer
from airflow_results_provider.serializers.pickle_serializer import PickleSerializer
from airflow_results_provider.templating.render import render_location

log = logging.getLogger(__name__)


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
        cache_key: CacheKey | None = None,
    ) -> None:
        self.options = options
        self.log = logger or log
        self.variables = dict(variables)
        if cache_key is not None:
            self.variables["cache_key"] = cache_key.key  # {cache_key} / {{ cache_key }} in locations
        self.result: Result = (options.result or default_result()).copy()
        if options.target is not None:
            self.result.location = _target_location(options.target)
        self.enabled = options.checkpointing
        self.found: Result | None = None
        self.written: Result | None = None
        self.location = self.result.format(**self.variables).location
        self.cache = (
            TaskCache(
                bookkeeping_store(self.result, PickleSerializer()),
                self.variables,
                cache_for=options.cache_for,
                validator=options.cache_validator,
                cache_key=options.cache_key,
                inputs=inputs or {},
                parameters=parameters or {},
                log=self.log,
            )
            if options.caching
            else None
        )
        self.policy_cache = (
            PolicyCache(
                self.result,
                self.variables,
                cache_key,
                expiration=options.cache_expiration,
                refresh=bool(options.refresh_cache),
                log=self.log,
            )
            if cache_key is not None
            else None
        )
        if options.target is not None and not self.enabled:
            self.log.warning(
                "Task has target %s but checkpointing is off (checkpoint=False or [results] checkpointing = "
                "False): the target is read but nothing will be written",
                self.location,
            )

    def uri(self, location: str | None = None) -> str:
        """The full URL of ``location`` (default: the task's rendered location) in the task's store, for log lines."""
        location = location or self.location
        try:
            return self.result.uri(location)
        except ResultError:
            return location

    def lookup(self) -> Any:
        """The value to use instead of running the task (target hit, then valid cache), or :data:`NOTHING`."""
        if self.options.target is not None and not (self.policy_cache and self.policy_cache.refresh):
            value = self._read_target()
            if value is not NOTHING:
                if self.policy_cache:
                    self.policy_cache.reason = f"hit: found at the target {self.uri()}"
                return value
        if self.policy_cache:
            value = self.policy_cache.read()
            if value is not NOTHING:
                return value
        return self.cache.read() if self.cache else NOTHING

    def decide(self) -> Any:
        """:meth:`lookup`; after a miss, the cache key's claim (this execution computes, holding it until
        :meth:`release`: :data:`NOTHING`) or the value another task instance computed while this one waited. The
        decision is recorded and logged for ``airflow results explain``."""
        value = self.lookup()
        if self.policy_cache:
            if value is NOTHING:
                value = self.policy_cache.claim_or_wait()
            self.policy_cache.record_decision(hit=value is not NOTHING)
        return value

    def release(self) -> None:
        """Give up the claim on the cache key, if held."""
        if self.policy_cache:
            self.policy_cache.release()

    def _read_target(self) -> Any:
        location = self.location
        try:
            if not self.result.exists(location):
                return NOTHING
            found = self.result.read(location)
        except ResultNotFoundError:
            return NOTHING
        except UNREADABLE as exc:  # corrupt or undecodable: a miss; an unreachable store is an error
            self.log.warning(
                "Result at task target %s is unreadable; running the task and overwriting it: %s",
                self.uri(location),
                exc,
            )
            return NOTHING
        check_no_collision(found.metadata, self.variables, self.uri(location))
        self.log.info("Result found at task target %s", self.uri(location))
        self.found = found
        return found.value

    def run(self, body: Callable[[int, Any], Any], loop_signal: type[BaseException]) -> Any:
        """Run ``body(task_loop_count, task_loop_result)`` (looping while it raises ``loop_signal``), then
        checkpoint and cache its value."""
        loops = self._loop_checkpoints()
        value, count, loop_result = run_loop(body, loop_signal, loops, self.log)
        looped = count > 1
        self.write(value, loop=(count, loop_result) if looped else None)
        if looped and loops:
            loops.finish()
        return value

    def write(self, value: Any, *, loop: tuple[int, Any] | None = None) -> Result | None:
        """Checkpoint ``value`` of a successful execution (when the rules say so) and update the cache.

        :param loop: ``(task_loop_count, task_loop_result)`` of the last iteration when the task looped.
        """
        if self.enabled and value is not None:
            variables = self.variables if loop is None else loop_variables(self.variables, *loop)
            self.written = self.result.write(value, **variables)
            self.log.info("Checkpointed the return value to %s", self.uri(self.written.location))
        if self.cache:
            self.cache.write(value)
        if self.policy_cache:
            self.policy_cache.write(value, self.written)
        return self.written

    def _loop_checkpoints(self) -> LoopCheckpoints | None:
        # Iterations (and the resume position) are stored only when checkpoints persist somewhere.
        if not (self.enabled and self.result.persistent):
            return None
        state_store = bookkeeping_store(self.result, JSONSerializer())
        # Airflow's task state (>= 3.3) decides whether the loop state is still live; see LoopCheckpoints.
        task_state = self.variables.get("task_state_store")
        return LoopCheckpoints(
            self.result, state_store, self.variables, self.location, self.log, task_state=task_state
        )


def _target_location(target: Any) -> Any:
    """The location of a ``target=``: a template as it is; a callable's output rendered with the same variables
    (Prefect formats what a callable target returns, so ``lambda **kw: "{task_name}"`` works)."""
    if not callable(target):
        return target

    def location(**variables: Any) -> str:
        rendered = str(target(**variables))
        return render_location(rendered, variables) if "{" in rendered else rendered

    return location

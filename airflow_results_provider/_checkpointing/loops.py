"""Looping tasks (``raise Loop(result=...)``): a checkpoint per iteration and the position to resume from."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from airflow_results_provider._checkpointing.options import UNREADABLE
from airflow_results_provider.core.signing import RECORD_LOOP_STATE
from airflow_results_provider.exceptions import ResultError, ResultNotFoundError
from airflow_results_provider.results.base import Result
from airflow_results_provider.templating.filters import default_location

#: The key, in Airflow's task state store (Airflow >= 3.3), of the generation of this task instance's loop state.
TASK_STATE_KEY = "airflow_results.loop_state"


class TaskState(Protocol):
    """What the loop needs of Airflow's ``context["task_state_store"]`` (Airflow >= 3.3)."""

    def get(self, key: str, default: Any = None) -> Any:
        """The value stored under ``key``, or ``default``."""
        ...

    def set(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key``."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key``."""
        ...


def loop_variables(variables: Mapping[str, Any], count: int, loop_result: Any) -> dict[str, Any]:
    """The template variables of iteration ``count``."""
    return {**variables, "task_loop_count": count, "task_loop_result": loop_result}


class LoopCheckpoints:
    """Iteration checkpoints of one task execution, and the loop state (next iteration, last location).

    The loop state lives as long as Airflow's task state of the task instance, where Airflow has one (>= 3.3):
    the record carries a random generation that is also written to ``task_state``; a record whose generation
    ``task_state`` no longer holds was discarded by Airflow (a clear discards task state on Airflow >= 3.4,
    unless the clear keeps it), so the loop starts over at iteration 1. Without ``task_state`` (Airflow 3.2,
    or a task run outside Airflow) the record alone says where to resume.

    :param result: the task's Result (iterations are written through it).
    :param state_store: a JSON Result for the loop state (see ``bookkeeping_store``).
    :param location: the task's rendered location (iterations are kept apart from it).
    :param task_state: Airflow's ``context["task_state_store"]``, or ``None`` where there is none.
    """

    def __init__(
        self,
        result: Result,
        state_store: Result,
        variables: Mapping[str, Any],
        location: str,
        log: logging.Logger | Any,
        task_state: TaskState | None = None,
    ) -> None:
        self.result = result
        self.state_store = state_store.copy()
        self.state_store.record_kind = RECORD_LOOP_STATE
        self.state_store.requires_signature = True  # it says which checkpoint to resume from
        self.state_store.location = default_location(
            {**variables, "xcom_key": "loop-state"}, extension="json"
        )
        self.variables = variables
        self.location = location
        self.log = log
        self.task_state = task_state
        self.generation: str | None = None  # of the loop state this execution resumed from or writes

    def _uri(self, result: Result, location: str) -> str:
        try:
            return result.uri(location)
        except ResultError:
            return location

    def iteration_location(self, count: int, loop_result: Any) -> str:
        """The location of iteration ``count``'s checkpoint (the loop variables rendered into the task's location)."""
        variables = loop_variables(self.variables, count, loop_result)
        rendered = self.result.format(**variables).location
        if rendered == self.location:
            # The task's location does not vary per iteration: keep iterations apart from the final value.
            rendered = default_location(
                {**variables, "task_loop_active": True}, self.result.serializer.extension
            )
        return rendered

    def resume(self) -> tuple[int, Any]:
        """``(task_loop_count, task_loop_result)`` to start from: the last checkpointed iteration, or (1, None)."""
        store, location = self.state_store, self.state_store.location
        try:
            if not store.exists(location):
                return 1, None
            state = store.read(location).value
            if self._discarded_by_airflow(state):
                return 1, None
            found = self.result.read(state["location"])
            value = (
                found.value if isinstance(found, Result) else found
            )  # a Prefect-style read may return the value
        except (*UNREADABLE, ResultNotFoundError, KeyError, TypeError) as exc:
            self.log.warning(
                "Loop state at %s is unusable; starting the loop over: %s", self._uri(store, location), exc
            )
            return 1, None
        self.log.info(
            "Resuming the loop at iteration %s from the checkpoint at %s", state["next_count"], state["uri"]
        )
        self.generation = state.get("generation")
        return int(state["next_count"]), value

    def _discarded_by_airflow(self, state: Any) -> bool:
        """Whether Airflow discarded the task state that kept ``state`` alive (then the record is deleted)."""
        if self.task_state is None:
            return False
        marker = self.task_state.get(TASK_STATE_KEY)
        if isinstance(state, Mapping) and marker == state.get("generation"):
            return False
        self.log.info(
            "Airflow discarded this task's state (a clear does on Airflow >= 3.4): the loop state at %s is "
            "stale; starting the loop over at iteration 1",
            self._uri(self.state_store, self.state_store.location),
        )
        self._delete_record()
        return True

    def save(self, count: int, loop_result_in: Any, loop_result_out: Any) -> None:
        """Checkpoint the result of iteration ``count`` and record that the next one is ``count + 1``."""
        iteration = self.result.copy()
        iteration.location = self.iteration_location(count, loop_result_in)
        written = iteration.write(loop_result_out, **loop_variables(self.variables, count, loop_result_in))
        uri = self._uri(self.result, written.location)
        if self.generation is None:
            # Marked in Airflow's task state first: a record is only ever live while its marker is there.
            self.generation = uuid.uuid4().hex
            if self.task_state is not None:
                self.task_state.set(TASK_STATE_KEY, self.generation)
        self.state_store.write(
            {
                "next_count": count + 1,
                "location": written.location,
                "uri": uri,
                "generation": self.generation,
            },
            **self.variables,
        )
        self.log.info("Loop iteration %s checkpointed to %s", count, uri)

    def finish(self) -> None:
        """Forget the loop position after the task succeeded (a clear then starts the loop over)."""
        self._delete_record()
        if self.task_state is not None and self.generation is not None:
            self.task_state.delete(TASK_STATE_KEY)

    def _delete_record(self) -> None:
        try:
            self.state_store.delete(self.state_store.location)
        except ResultError as exc:
            uri = self._uri(self.state_store, self.state_store.location)
            self.log.warning("Could not delete the loop state at %s: %s", uri, exc)


def run_loop(
    body: Callable[[int, Any], Any],
    loop_signal: type[BaseException],
    checkpoints: LoopCheckpoints | None,
    log: logging.Logger | Any,
) -> tuple[Any, int, Any]:
    """Run ``body(task_loop_count, task_loop_result)`` until it stops raising ``loop_signal``.

    :return: ``(value, task_loop_count, task_loop_result)`` of the final iteration.
    """
    count, loop_result = checkpoints.resume() if checkpoints else (1, None)
    while True:
        try:
            return body(count, loop_result), count, loop_result
        except loop_signal as signal:
            result = signal.result  # type: ignore[attr-defined]
            if checkpoints:
                checkpoints.save(count, loop_result, result)
            message = getattr(signal, "message", None)
            log.info("Loop iteration %s done%s", count, f": {message}" if message else "")
            count, loop_result = count + 1, result

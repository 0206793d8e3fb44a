"""Looping tasks (``raise Loop(result=...)``): a checkpoint per iteration and the position to resume from."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from airflow_results_provider._checkpointing.options import UNREADABLE
from airflow_results_provider.core.signing import RECORD_LOOP_STATE
from airflow_results_provider.exceptions import ResultError, ResultNotFoundError
from airflow_results_provider.results.base import Result
from airflow_results_provider.templating.filters import default_location


def loop_variables(variables: Mapping[str, Any], count: int, loop_result: Any) -> dict[str, Any]:
    """The template variables of iteration ``count``."""
    return {**variables, "task_loop_count": count, "task_loop_result": loop_result}


class LoopCheckpoints:
    """Iteration checkpoints of one task execution, and the loop state (next iteration, last location).

    :param result: the task's Result (iterations are written through it).
    :param state_store: a JSON Result for the loop state (see ``bookkeeping_store``).
    :param location: the task's rendered location (iterations are kept apart from it).
    """

    def __init__(
        self,
        result: Result,
        state_store: Result,
        variables: Mapping[str, Any],
        location: str,
        log: logging.Logger | Any,
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
        return int(state["next_count"]), value

    def save(self, count: int, loop_result_in: Any, loop_result_out: Any) -> None:
        """Checkpoint the result of iteration ``count`` and record that the next one is ``count + 1``."""
        iteration = self.result.copy()
        iteration.location = self.iteration_location(count, loop_result_in)
        written = iteration.write(loop_result_out, **loop_variables(self.variables, count, loop_result_in))
        uri = self._uri(self.result, written.location)
        self.state_store.write(
            {"next_count": count + 1, "location": written.location, "uri": uri}, **self.variables
        )
        self.log.info("Loop iteration %s checkpointed to %s", count, uri)

    def finish(self) -> None:
        """Forget the loop position after the task succeeded (a clear then starts the loop over)."""
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

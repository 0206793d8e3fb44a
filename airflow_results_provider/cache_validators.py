"""Cache validators with Prefect 1.x's names and signature: ``validator(state, inputs, parameters) -> bool``.

``state`` is a :class:`CacheEntry` (it has Prefect's ``cached_inputs``, ``cached_parameters`` and
``cached_result_expiration`` attributes); ``inputs`` are the task's inputs by name and ``parameters`` the DAG
params of the current run. A validator returns True when the cached value may be used.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from airflow_results_provider.core.values import values_equal

CacheValidator = Callable[["CacheEntry", Mapping[str, Any], Mapping[str, Any]], bool]


@dataclasses.dataclass
class CacheEntry:
    """A cached task value with what it was computed from."""

    value: Any
    cached_result_expiration: dt.datetime | None
    cached_inputs: dict[str, Any] | None
    cached_parameters: dict[str, Any] | None
    written_at: dt.datetime
    dag_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None

    def is_expired(self, now: dt.datetime | None = None) -> bool:
        """Whether ``cached_result_expiration`` has passed at ``now`` (the current time by default)."""
        if self.cached_result_expiration is None:
            return False
        return (now or dt.datetime.now(dt.timezone.utc)) >= self.cached_result_expiration


def never_use(state: CacheEntry, inputs: Mapping[str, Any], parameters: Mapping[str, Any]) -> bool:
    """Never use a cached value."""
    return False


def duration_only(state: CacheEntry, inputs: Mapping[str, Any], parameters: Mapping[str, Any]) -> bool:
    """Use the cached value until ``cache_for`` has passed (the default validator)."""
    return not state.is_expired()


def _same(cached: Mapping[str, Any] | None, current: Mapping[str, Any], keys: Iterable[str] | None) -> bool:
    if cached is None:
        return False
    current = current or {}  # Prefect: inputs/parameters of None compare as empty
    if keys is None:
        return values_equal(dict(cached), dict(current))
    return all(k in cached and k in current and values_equal(cached[k], current[k]) for k in keys)


def all_inputs(state: CacheEntry, inputs: Mapping[str, Any], parameters: Mapping[str, Any]) -> bool:
    """Use the cached value while it is fresh and every input equals the cached inputs."""
    return duration_only(state, inputs, parameters) and _same(state.cached_inputs, inputs, None)


def all_parameters(state: CacheEntry, inputs: Mapping[str, Any], parameters: Mapping[str, Any]) -> bool:
    """Use the cached value while it is fresh and every DAG param equals the cached params."""
    return duration_only(state, inputs, parameters) and _same(state.cached_parameters, parameters, None)


def _partial(name: str, compare_inputs: bool, validate_on: Iterable[str] | None) -> CacheValidator:
    keys = None if validate_on is None else list(validate_on)

    def validator(state: CacheEntry, inputs: Mapping[str, Any], parameters: Mapping[str, Any]) -> bool:
        if compare_inputs:
            cached, current = state.cached_inputs, inputs
        else:
            cached, current = state.cached_parameters, parameters
        if keys is None:  # Prefect: nothing to validate on, so only the expiry counts
            return duration_only(state, inputs, parameters)
        return duration_only(state, inputs, parameters) and _same(cached, current, keys)

    validator.__name__ = f"{name}({keys})"
    return validator


def partial_inputs_only(validate_on: Iterable[str] | None = None) -> CacheValidator:
    """A validator comparing only the inputs named in ``validate_on`` (only the expiry when None, like Prefect)."""
    return _partial("partial_inputs_only", True, validate_on)


def partial_parameters_only(validate_on: Iterable[str] | None = None) -> CacheValidator:
    """A validator comparing only the DAG params named in ``validate_on`` (only the expiry when None)."""
    return _partial("partial_parameters_only", False, validate_on)


__all__ = [
    "CacheEntry",
    "all_inputs",
    "all_parameters",
    "duration_only",
    "never_use",
    "partial_inputs_only",
    "partial_parameters_only",
]

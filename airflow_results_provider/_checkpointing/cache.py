"""Time- and input-based caching of a task's value (``cache_for=``, ``cache_validator=``, ``cache_key=``)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from airflow_results_provider._checkpointing.options import UNREADABLE
from airflow_results_provider.cache_validators import CacheEntry, CacheValidator, duration_only
from airflow_results_provider.core.signing import RECORD_CACHE
from airflow_results_provider.core.values import NOTHING
from airflow_results_provider.exceptions import SerializationError
from airflow_results_provider.results.base import Result
from airflow_results_provider.templating.filters import path_safe_unique


class TaskCache:
    """The cache entry of one task (or of everyone sharing its ``cache_key``), per map index.

    :param store: where entries live (a pickling Result; see ``bookkeeping_store``).
    """

    def __init__(
        self,
        store: Result,
        variables: Mapping[str, Any],
        *,
        cache_for: dt.timedelta | None,
        validator: CacheValidator | None,
        cache_key: str | None,
        inputs: Mapping[str, Any],
        parameters: Mapping[str, Any],
        log: logging.Logger | Any,
    ) -> None:
        self.store = store.copy()
        self.store.record_kind = RECORD_CACHE
        self.variables = variables
        self.cache_for = cache_for
        self.validator = validator or duration_only
        self.inputs = dict(inputs)
        self.parameters = dict(parameters)
        self.log = log
        key = cache_key or f"{variables.get('dag_id')}.{variables.get('task_id')}"
        index = variables.get("map_index")
        self.location = f"_cache/{path_safe_unique(key)}/{'task' if index is None else index}.pkl"

    def read(self) -> Any:
        """The cached value when an entry exists and the validator accepts it, else :data:`NOTHING`."""
        store, location = self.store, self.location
        try:
            if not store.exists(location):
                return NOTHING
            entry = store.read(location).value
        except UNREADABLE as exc:
            self.log.warning("Cache entry %s is unreadable; running the task: %s", store.uri(location), exc)
            return NOTHING
        if not isinstance(entry, CacheEntry):
            self.log.warning("Cache entry %s is not a cache entry; ignoring it", store.uri(location))
            return NOTHING
        try:
            valid = bool(self.validator(entry, self.inputs, self.parameters))
        except Exception as exc:
            self.log.warning(
                "Cache validator %r failed (%s); treating the cache as invalid", self.validator, exc
            )
            valid = False
        name = getattr(self.validator, "__name__", repr(self.validator))
        if not valid:
            self.log.info("Cache entry %s is invalid under %s; running the task", store.uri(location), name)
            return NOTHING
        self.log.info(
            "Task is cached: using the value cached at %s (written %s by run %s, valid under %s)",
            store.uri(location),
            entry.written_at.isoformat(),
            entry.run_id,
            name,
        )
        return entry.value

    def write(self, value: Any) -> None:
        """Cache ``value`` with the inputs and params it was computed from."""
        now = dt.datetime.now(dt.timezone.utc)
        v = self.variables
        entry = CacheEntry(
            value=value,
            cached_result_expiration=now + self.cache_for if self.cache_for is not None else None,
            cached_inputs=self.inputs,
            cached_parameters=self.parameters,
            written_at=now,
            dag_id=v.get("dag_id"),
            run_id=v.get("run_id"),
            task_id=v.get("task_id"),
        )
        store = self.store.copy()
        store.location = self.location
        try:
            store.write(entry, **v)
        except SerializationError as exc:
            self.log.warning("Task inputs cannot be pickled; caching the value without them: %s", exc)
            entry.cached_inputs = None
            store.write(entry, **v)

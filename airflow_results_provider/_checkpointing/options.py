"""What a task asked for (``result=``, ``checkpoint=``, ``target=``, ``cache_*=``), validated, and where its
bookkeeping (cache entries, loop state) is kept."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

from airflow_results_provider import config
from airflow_results_provider.cache_policies import (
    NONE,
    CacheKeyFunction,
    CachePolicy,
    as_policy,
    parse_policy,
)
from airflow_results_provider.cache_validators import CacheValidator
from airflow_results_provider.exceptions import ResultConfigError, ResultIntegrityError, SerializationError
from airflow_results_provider.results.base import Location, Result
from airflow_results_provider.results.registry import default_result
from airflow_results_provider.serializers.base import Serializer

#: Read errors that make a stored value unusable (a cache miss with a warning). Every other ResultError (store
#: unreachable, permission denied, bad location) fails the task: rerunning would not fix it.
UNREADABLE: tuple[type[Exception], ...] = (ResultIntegrityError, SerializationError)

OPTION_NAMES = (
    "result",
    "checkpoint",
    "target",
    "cache_for",
    "cache_validator",
    "cache_key",
    "cache_policy",
    "cache_expiration",
    "refresh_cache",
    "cache_key_fn",
    "prune",
)


@dataclasses.dataclass
class CheckpointOptions:
    """What a task asked for (``result=``, ``checkpoint=``, ``target=``, ``cache_*=``)."""

    result: Result | None = None
    checkpoint: bool | None = None
    target: Location | None = None
    cache_for: dt.timedelta | None = None
    cache_validator: CacheValidator | None = None
    cache_key: str | None = None
    cache_policy: Any = None
    cache_expiration: dt.timedelta | None = None
    refresh_cache: bool | None = None
    cache_key_fn: Callable[..., str | None] | None = None
    prune: bool | None = None

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
        if self.cache_expiration is not None and not isinstance(self.cache_expiration, dt.timedelta):
            raise ResultConfigError(
                f"cache_expiration= must be a datetime.timedelta, got {type(self.cache_expiration).__name__}"
            )
        if self.cache_key_fn is not None and not callable(self.cache_key_fn):
            raise ResultConfigError("cache_key_fn= must be a callable (context, inputs) -> str")
        as_policy(self.cache_policy)  # a bad policy fails when the DAG is parsed

    @property
    def policy(self) -> CachePolicy | None:
        """The task's cache policy: ``cache_policy=`` (plus ``cache_key_fn=``), else ``[results] cache_policy``
        for a task that uses none of Prefect 1's ``cache_for``/``cache_validator``."""
        policy = as_policy(self.cache_policy)
        if self.cache_key_fn is not None:
            policy = (
                CacheKeyFunction(self.cache_key_fn)
                if policy is None
                else policy + CacheKeyFunction(self.cache_key_fn)
            )
        if policy is None and self.cache_policy is None and not self.caching:
            policy = parse_policy(config.cache_policy())
        if policy is None or policy is NONE:
            return None
        return policy

    @property
    def caching(self) -> bool:
        """The task asked for a cache (``cache_for`` or ``cache_validator``)."""
        return self.cache_for is not None or self.cache_validator is not None

    @property
    def checkpointing(self) -> bool:
        """The global switch is on and the task (or its DAG's default_args) did not say ``checkpoint=False``."""
        return config.checkpointing() and self.checkpoint is not False


def bookkeeping_store(result: Result, serializer: Serializer) -> Result:
    """A Result for a task's cache entries and loop state: the task's own store when it is one of ours and
    persists values, else the default store. Bookkeeping never goes through a user's Result subclass (it may
    implement only ``read``/``write``, Prefect style, and would receive values that are not the task's)."""
    own = result.persistent and type(result).__module__.startswith("airflow_results_provider.")
    store = (result if own else default_result()).copy()
    store.serializer = serializer
    return store

"""Convert legacy result handlers to Results, with a DeprecationWarning naming the Result to use."""

from __future__ import annotations

import warnings
from typing import Any


def _overrides_io(handler: Any, base: type) -> bool:
    """A subclass that replaced read/write behaves differently from its base: wrap it, do not convert it."""
    cls = type(handler)
    return cls is not base and any(
        getattr(cls, name) is not getattr(base, name) for name in ("read", "write")
    )


def convert_result_handler(handler: Any, *, stacklevel: int = 2) -> Any:
    """The Result that replaces ``handler``, with a ``DeprecationWarning`` naming it.

    Built-in handlers become the matching Result with their attributes carried over (each built-in handler
    class names it in its ``_as_result``); anything else, including a subclass of a built-in handler that overrides
    ``read`` or ``write``, is wrapped in :class:`ResultHandlerResult`.
    """
    from airflow_results_provider.results.handler_result import ResultHandlerResult

    owner = next((cls for cls in type(handler).__mro__ if "_as_result" in cls.__dict__), None)
    if owner is not None and not _overrides_io(handler, owner):
        result, spelled = handler._as_result()
    else:
        result, spelled = ResultHandlerResult(handler), "a Result subclass"
    warnings.warn(
        f"result_handler= is deprecated: {type(handler).__name__} was converted to {type(result).__name__}; "
        f"pass result={spelled} instead",
        DeprecationWarning,
        stacklevel=stacklevel + 1,
    )
    return result

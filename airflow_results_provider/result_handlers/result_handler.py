"""ResultHandler: Prefect 0.x's ``write(value) -> reference`` / ``read(reference) -> value`` interface."""

from __future__ import annotations

from typing import Any


class ResultHandler:
    """Base of legacy result handlers (deprecated: use a Result).

    ``write`` stores a value and returns a JSON-compatible reference; ``read`` turns a reference back into the
    value. Subclass it for custom storage; passing a handler to a task converts it to a Result.
    """

    def write(self, result: Any) -> Any:
        """Store ``result`` and return its reference; the base class stores nothing and returns ``None``."""
        return None

    def read(self, loc: Any) -> Any:
        """The value of reference ``loc``; the base class returns ``None`` (Prefect's pass-through)."""
        return None

    def to_result(self) -> Any:
        """The Result that replaces this handler (a ``DeprecationWarning`` names it)."""
        from airflow_results_provider.result_handlers.conversion import convert_result_handler

        return convert_result_handler(self, stacklevel=3)

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash(type(self))

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

"""ConstantResult: a fixed value that is never stored."""

from __future__ import annotations

from typing import Any

from airflow_results_provider.exceptions import ResultNotWritableError
from airflow_results_provider.results.base import Result


class ConstantResult(Result):
    """Holds a constant: :meth:`read` returns it, :meth:`write` raises.

    .. code-block:: python

        assert ConstantResult(42).read("anything").value == 42
    """

    persistent = False

    def __init__(self, value: Any = None, **kwargs: Any) -> None:
        if "serializer" in kwargs:
            raise ValueError("Can't pass a serializer to a ConstantResult: a constant is never serialized.")
        super().__init__(value=value, **kwargs)

    def format(self, **context: Any) -> Result:
        return self.copy()

    def read(self, location: str | None = None, *, sha256: str | None = None) -> Result:
        new = self.copy()
        new.location = location
        return new

    def write(self, value_: Any, **context: Any) -> Result:
        raise ResultNotWritableError(
            "Cannot write values to ConstantResult types: a constant is never stored."
        )

    def exists(self, location: Any = None, **context: Any) -> bool:
        return True

    def delete(self, location: str) -> bool:
        return False

    def uri(self, location: str) -> str:
        return f"constant:{location}" if location else "constant:"

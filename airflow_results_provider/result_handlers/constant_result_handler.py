"""ConstantResultHandler: always reads back one value."""

from __future__ import annotations

from typing import Any

from airflow_results_provider.result_handlers.result_handler import ResultHandler


class ConstantResultHandler(ResultHandler):
    """``read`` returns ``value`` whatever the reference; ``write`` returns its repr (nothing is stored)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def write(self, result: Any) -> str:
        return repr(self.value)

    def read(self, loc: Any) -> Any:
        return self.value

    def _as_result(self) -> tuple[Any, str]:
        """The Result that replaces this handler, and how to spell it (for the deprecation warning)."""
        from airflow_results_provider.results.constant_result import ConstantResult

        return ConstantResult(value=self.value), "ConstantResult(value=...)"

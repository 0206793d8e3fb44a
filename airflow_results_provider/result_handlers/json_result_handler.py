"""JSONResultHandler: the reference is the JSON text of the value (Prefect 0.x format)."""

from __future__ import annotations

import json
from typing import Any

from airflow_results_provider.result_handlers.result_handler import ResultHandler


class JSONResultHandler(ResultHandler):
    """``write`` returns ``json.dumps(value)``; ``read`` returns ``json.loads(reference)``."""

    def write(self, result: Any) -> str:
        return json.dumps(result)

    def read(self, jblob: str) -> Any:
        return json.loads(jblob)

    def _as_result(self) -> tuple[Any, str]:
        """The Result that replaces this handler, and how to spell it (for the deprecation warning)."""
        from airflow_results_provider.results.inline_result import PrefectResult

        return PrefectResult(), "PrefectResult()"

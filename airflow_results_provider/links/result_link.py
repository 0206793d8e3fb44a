"""The "Result" extra link of mixin operators: where the task's value was written or found."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperatorLink


class ResultLink(BaseOperatorLink):
    """Points at the location the task's return value went to (console URL for cloud stores, else the URL)."""

    name = "Result"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        # Called in the worker after the task ran (the link is stored as an XCom); empty when nothing was written.
        return getattr(operator, "_results_url", "") or ""

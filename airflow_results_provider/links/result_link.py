"""The "Result" extra link of mixin operators: where the task's value was written or found."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperatorLink


class ResultLink(BaseOperatorLink):
    """Points at the location the task's return value went to (console URL for cloud stores, else the URL)."""

    name = "Result"
    #: Operator attribute holding the URL between ``execute`` and the link's XCom push.
    _ATTRIBUTE = "_results_url"

    @classmethod
    def remember(cls, operator: Any, result: Any) -> None:
        """Record where ``result`` (written or found by ``operator``) is, for :meth:`get_link`."""
        metadata = getattr(result, "metadata", None) or {}
        url = metadata.get("url") or metadata.get("location")
        if url:
            object.__setattr__(operator, cls._ATTRIBUTE, url)

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        # Called in the worker after the task ran (the link is stored as an XCom); empty when nothing was written.
        return getattr(operator, self._ATTRIBUTE, "") or ""

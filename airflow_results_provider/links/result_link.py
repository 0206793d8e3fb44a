"""The "Result" extra link of mixin operators: where the task's value was written or found."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperatorLink

from airflow_results_provider import config
from airflow_results_provider.core.rows import OWNER_CHECKPOINT
from airflow_results_provider.index import references as _result_ref


class ResultLink(BaseOperatorLink):
    """Opens the task's value: the cloud console for cloud stores, else the Results tab of the task instance.

    The UI shows only same-origin, ``http(s):`` and ``mailto:`` links (never ``file://`` or ``s3://``). The
    link's URL also carries the signed reference that indexes the value (see
    :mod:`airflow_results_provider.index.references`): the link's one XCom row per task is the index row.
    """

    name = "Result"
    #: Operator attributes holding the console URL and the reference between ``execute`` and the link's push.
    _ATTRIBUTE = "_results_url"
    _REF_ATTRIBUTE = "_results_ref"

    @classmethod
    def remember(cls, operator: Any, result: Any, owner: str = OWNER_CHECKPOINT) -> None:
        """Record where ``result`` (written, or found as a target when ``owner`` is ``"target"``) is."""
        metadata = getattr(result, "metadata", None) or {}
        url = metadata.get("url")
        object.__setattr__(
            operator, cls._ATTRIBUTE, url if isinstance(url, str) and url.startswith("https://") else ""
        )
        ref = _result_ref.build_reference(result, owner) if result is not None else None
        object.__setattr__(operator, cls._REF_ATTRIBUTE, ref)

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        # Called in the worker after the task ran (the link is stored as an XCom); empty when nothing was written.
        ref = getattr(operator, self._REF_ATTRIBUTE, None)
        url = getattr(operator, self._ATTRIBUTE, "") or ""
        if ref is None:
            return url
        identity = {
            "dag_id": ti_key.dag_id,
            "task_id": ti_key.task_id,
            "run_id": ti_key.run_id,
            "map_index": ti_key.map_index,
        }
        if not url:
            url = _result_ref.ti_tab_url(config.api_base_path(), **identity)
        return _result_ref.attach(
            url, _result_ref.sign_reference(ref, identity, config.envelope_signing_key())
        )

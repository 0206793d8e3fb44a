"""The Result-backed XCom backend: ``xcom_backend = airflow_results_provider.xcom.ResultXComBackend``.

Import-light: every Airflow component imports this package. ``ResultXComBackend`` loads on first access, so
the pure modules beside it (``_envelope``, ``_jsonable``, ``_sequence``) import without the Airflow runtime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_results_provider.core.lazy import lazy_getattr

__all__ = ["ResultXComBackend"]
__getattr__ = lazy_getattr(
    __name__, {"ResultXComBackend": "airflow_results_provider.xcom.backend"}, globals()
)


if TYPE_CHECKING:
    from airflow_results_provider.xcom.backend import ResultXComBackend

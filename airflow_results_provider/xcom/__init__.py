"""The Result-backed XCom backend: ``xcom_backend = airflow_results_provider.xcom.ResultXComBackend``.

Import-light: every Airflow component imports this package. ``ResultXComBackend`` loads on first access, so
the pure modules beside it (``_envelope``, ``_jsonable``, ``_sequence``) import without the Airflow runtime.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["ResultXComBackend"]


def __getattr__(name: str) -> Any:
    if name != "ResultXComBackend":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = importlib.import_module("airflow_results_provider.xcom.backend").ResultXComBackend
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from airflow_results_provider.xcom.backend import ResultXComBackend

"""The Result-backed XCom backend: ``xcom_backend = airflow_results_provider.xcom.ResultXComBackend``.

Kept import-light: every Airflow component imports this module.
"""

from __future__ import annotations

from airflow_results_provider.xcom.backend import ResultXComBackend

__all__ = ["ResultXComBackend"]

"""Legacy Prefect 0.x result handlers, kept so migrated pipelines and their stored payloads keep working.

Deprecated: every handler given to a task is converted to a Result (see :func:`convert_result_handler`).
"""

from __future__ import annotations

from airflow_results_provider.result_handlers.azure_result_handler import AzureResultHandler
from airflow_results_provider.result_handlers.constant_result_handler import ConstantResultHandler
from airflow_results_provider.result_handlers.conversion import convert_result_handler
from airflow_results_provider.result_handlers.gcs_result_handler import GCSResultHandler
from airflow_results_provider.result_handlers.json_result_handler import JSONResultHandler
from airflow_results_provider.result_handlers.local_result_handler import LocalResultHandler
from airflow_results_provider.result_handlers.result_handler import ResultHandler
from airflow_results_provider.result_handlers.s3_result_handler import S3ResultHandler
from airflow_results_provider.result_handlers.secret_result_handler import SecretResultHandler

__all__ = [
    "AzureResultHandler",
    "ConstantResultHandler",
    "GCSResultHandler",
    "JSONResultHandler",
    "LocalResultHandler",
    "ResultHandler",
    "S3ResultHandler",
    "SecretResultHandler",
    "convert_result_handler",
]

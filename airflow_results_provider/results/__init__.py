"""Result classes: where a task's value is stored and how it is found again."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_results_provider.core.lazy import lazy_getattr
from airflow_results_provider.results.base import Result
from airflow_results_provider.results.constant_result import ConstantResult
from airflow_results_provider.results.inline_result import InlineResult, PrefectResult
from airflow_results_provider.results.local_result import LocalResult
from airflow_results_provider.results.secret_result import SecretResult

#: Results over provider hooks, imported on first use (PEP 562) so ``import ...results`` stays light.
_LAZY = {
    "S3Result": "airflow_results_provider.results.s3_result",
    "GCSResult": "airflow_results_provider.results.gcs_result",
    "AzureResult": "airflow_results_provider.results.azure_result",
    "ObjectStorageResult": "airflow_results_provider.results.object_storage_result",
}

__all__ = [
    "AzureResult",
    "ConstantResult",
    "GCSResult",
    "InlineResult",
    "LocalResult",
    "ObjectStorageResult",
    "PrefectResult",
    "Result",
    "S3Result",
    "SecretResult",
]


__getattr__ = lazy_getattr(__name__, _LAZY, globals())


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from airflow_results_provider.results.azure_result import AzureResult
    from airflow_results_provider.results.gcs_result import GCSResult
    from airflow_results_provider.results.object_storage_result import ObjectStorageResult
    from airflow_results_provider.results.s3_result import S3Result

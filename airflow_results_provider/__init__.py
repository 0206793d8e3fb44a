"""airflow-results-provider: Prefect 1.x style Results for Apache Airflow 3.

Public names are importable from here and load lazily, so ``import airflow_results_provider`` stays cheap
(no Airflow hooks, pandas, boto3 or google libraries).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_results_provider.core.lazy import lazy_getattr
from airflow_results_provider.version import __version__

_LAZY: dict[str, str] = {
    # results
    "Result": "airflow_results_provider.results.base",
    "LocalResult": "airflow_results_provider.results.local_result",
    "InlineResult": "airflow_results_provider.results.inline_result",
    "PrefectResult": "airflow_results_provider.results.inline_result",
    "ConstantResult": "airflow_results_provider.results.constant_result",
    "SecretResult": "airflow_results_provider.results.secret_result",
    "S3Result": "airflow_results_provider.results.s3_result",
    "GCSResult": "airflow_results_provider.results.gcs_result",
    "AzureResult": "airflow_results_provider.results.azure_result",
    "ObjectStorageResult": "airflow_results_provider.results.object_storage_result",
    # serializers
    "Serializer": "airflow_results_provider.serializers.base",
    "PickleSerializer": "airflow_results_provider.serializers.pickle_serializer",
    "JSONSerializer": "airflow_results_provider.serializers.json_serializer",
    "DateTimeSerializer": "airflow_results_provider.serializers.datetime_serializer",
    "PandasSerializer": "airflow_results_provider.serializers.pandas_serializer",
    "CompressedSerializer": "airflow_results_provider.serializers.compressed_serializer",
    # checkpointing
    "ResultMixin": "airflow_results_provider.operators.mixin",
    "Loop": "airflow_results_provider.looping",
    "LOOP": "airflow_results_provider.looping",
    # results as assets
    "result_asset": "airflow_results_provider.operators.assets",
    "load_result": "airflow_results_provider.operators.assets",
    "triggering_result": "airflow_results_provider.operators.assets",
    # errors
    "ResultError": "airflow_results_provider.exceptions",
    "ResultNotImplementedError": "airflow_results_provider.exceptions",
    "ResultNotFoundError": "airflow_results_provider.exceptions",
    "ResultIntegrityError": "airflow_results_provider.exceptions",
    "LocationTemplateError": "airflow_results_provider.exceptions",
    "LocationCollisionError": "airflow_results_provider.exceptions",
    "SerializationError": "airflow_results_provider.exceptions",
    "InvalidLocationError": "airflow_results_provider.exceptions",
    # templating
    "path_safe": "airflow_results_provider.templating.filters",
    "render_location": "airflow_results_provider.templating.render",
}

__all__ = ["__version__", *_LAZY]


__getattr__ = lazy_getattr(__name__, _LAZY, globals())


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from airflow_results_provider.exceptions import (
        InvalidLocationError,
        LocationCollisionError,
        LocationTemplateError,
        ResultError,
        ResultIntegrityError,
        ResultNotFoundError,
        ResultNotImplementedError,
        SerializationError,
    )
    from airflow_results_provider.looping import LOOP, Loop
    from airflow_results_provider.operators import ResultMixin
    from airflow_results_provider.operators.assets import load_result, result_asset, triggering_result
    from airflow_results_provider.results import (
        ConstantResult,
        InlineResult,
        LocalResult,
        PrefectResult,
        Result,
        SecretResult,
    )
    from airflow_results_provider.results.azure_result import AzureResult
    from airflow_results_provider.results.gcs_result import GCSResult
    from airflow_results_provider.results.object_storage_result import ObjectStorageResult
    from airflow_results_provider.results.s3_result import S3Result
    from airflow_results_provider.serializers import (
        CompressedSerializer,
        DateTimeSerializer,
        JSONSerializer,
        PandasSerializer,
        PickleSerializer,
        Serializer,
    )
    from airflow_results_provider.templating import path_safe, render_location

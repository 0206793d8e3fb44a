"""Convert legacy result handlers to Results, with a DeprecationWarning naming the Result to use."""

from __future__ import annotations

import warnings
from typing import Any

from airflow_results_provider.result_handlers.azure_result_handler import AzureResultHandler
from airflow_results_provider.result_handlers.constant_result_handler import ConstantResultHandler
from airflow_results_provider.result_handlers.gcs_result_handler import GCSResultHandler
from airflow_results_provider.result_handlers.json_result_handler import JSONResultHandler
from airflow_results_provider.result_handlers.local_result_handler import LocalResultHandler
from airflow_results_provider.result_handlers.s3_result_handler import S3ResultHandler
from airflow_results_provider.result_handlers.secret_result_handler import SecretResultHandler


def _constant(h: ConstantResultHandler) -> tuple[Any, str]:
    from airflow_results_provider.results.constant_result import ConstantResult

    return ConstantResult(value=h.value), "ConstantResult(value=...)"


def _gcs(h: GCSResultHandler) -> tuple[Any, str]:
    from airflow_results_provider.results.gcs_result import GCSResult

    return GCSResult(h.bucket, gcp_conn_id=h.gcp_conn_id), f"GCSResult(bucket={h.bucket!r})"


def _json(h: JSONResultHandler) -> tuple[Any, str]:
    from airflow_results_provider.results.inline_result import PrefectResult

    return PrefectResult(), "PrefectResult()"


def _local(h: LocalResultHandler) -> tuple[Any, str]:
    from airflow_results_provider.results.local_result import LocalResult

    given = h.__dict__.get("dir")  # unset stays unset: resolved from [results] local_dir where it runs
    return LocalResult(dir=given), f"LocalResult(dir={given!r})"


def _s3(h: S3ResultHandler) -> tuple[Any, str]:
    from airflow_results_provider.results.s3_result import S3Result

    kwargs = f", boto3_kwargs={h.boto3_kwargs!r}" if h.boto3_kwargs else ""
    result = S3Result(h.bucket, aws_conn_id=h.aws_conn_id, boto3_kwargs=h.boto3_kwargs)
    return result, f"S3Result(bucket={h.bucket!r}{kwargs})"


def _azure(h: AzureResultHandler) -> tuple[Any, str]:
    from airflow_results_provider.results.azure_result import AzureResult

    return AzureResult(h.container, wasb_conn_id=h.wasb_conn_id), f"AzureResult(container={h.container!r})"


def _secret(h: SecretResultHandler) -> tuple[Any, str]:
    from airflow_results_provider.results.secret_result import SecretResult

    return SecretResult(**{h.kind: h.name}), f"SecretResult({h.kind}={h.name!r})"


#: Prefect's order: the first isinstance match wins.
CONVERSIONS: tuple[tuple[type, Any], ...] = (
    (ConstantResultHandler, _constant),
    (GCSResultHandler, _gcs),
    (JSONResultHandler, _json),
    (LocalResultHandler, _local),
    (S3ResultHandler, _s3),
    (AzureResultHandler, _azure),
    (SecretResultHandler, _secret),
)


def _overrides_io(handler: Any, base: type) -> bool:
    """A subclass that replaced read/write behaves differently from its base: wrap it, do not convert it."""
    cls = type(handler)
    return cls is not base and any(
        getattr(cls, name) is not getattr(base, name) for name in ("read", "write")
    )


def convert_result_handler(handler: Any, *, stacklevel: int = 2) -> Any:
    """The Result that replaces ``handler``, with a ``DeprecationWarning`` naming it.

    Built-in handlers become the matching Result with their attributes carried over (first ``isinstance``
    match, in Prefect's order); anything else, including a subclass of a built-in handler that overrides
    ``read`` or ``write``, is wrapped in :class:`ResultHandlerResult`.
    """
    from airflow_results_provider.results.handler_result import ResultHandlerResult

    for handler_type, convert in CONVERSIONS:
        if isinstance(handler, handler_type) and not _overrides_io(handler, handler_type):
            result, spelled = convert(handler)
            break
    else:
        result, spelled = ResultHandlerResult(handler), "a Result subclass"
    warnings.warn(
        f"result_handler= is deprecated: {type(handler).__name__} was converted to {type(result).__name__}; "
        f"pass result={spelled} instead",
        DeprecationWarning,
        stacklevel=stacklevel + 1,
    )
    return result

"""Turn a configured store (``[results] default_result`` / ``xcom_result``) into a Result object.

Accepted forms: ``file:///abs/dir``, ``s3://bucket/prefix``, ``gs://bucket/prefix``, ``abfs://container/prefix``
(``conn_id@bucket`` picks a non-default connection) and ``module:attribute`` naming a Result object (or a
zero-argument factory returning one). Empty means a :class:`LocalResult` under ``[results] local_dir``.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any
from urllib.parse import unquote, urlsplit

from airflow_results_provider.exceptions import ResultError

#: URL scheme -> (module, class, extra that provides it, constructor keyword of the bucket/container)
_SCHEMES: dict[str, tuple[str, str, str | None, str | None]] = {
    "file": ("airflow_results_provider.results.local_result", "LocalResult", None, None),
    "s3": ("airflow_results_provider.results.s3_result", "S3Result", "amazon", "bucket"),
    "gs": ("airflow_results_provider.results.gcs_result", "GCSResult", "google", "bucket"),
    "gcs": ("airflow_results_provider.results.gcs_result", "GCSResult", "google", "bucket"),
    "abfs": ("airflow_results_provider.results.azure_result", "AzureResult", "azure", "container"),
    "wasb": ("airflow_results_provider.results.azure_result", "AzureResult", "azure", "container"),
}
_CONN_KWARG = {"S3Result": "aws_conn_id", "GCSResult": "gcp_conn_id", "AzureResult": "wasb_conn_id"}


def _import_class(module: str, name: str, extra: str | None, spec: str) -> type:
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError as exc:
        hint = f": pip install 'airflow-results-provider[{extra}]'" if extra else ""
        raise ResultError(
            f"Result store {spec!r} needs {name}, which cannot be imported ({exc}){hint}"
        ) from exc


def result_from_spec(spec: str) -> Any:
    """A fresh Result object for the store ``spec`` (see the module docstring)."""
    return _cached_result(spec.strip()).copy()


@functools.lru_cache(maxsize=64)
def _cached_result(spec: str) -> Any:
    from airflow_results_provider.results.base import Result

    if not spec:
        from airflow_results_provider.results.local_result import LocalResult

        return LocalResult()
    if spec.startswith("objectstorage+"):
        from airflow_results_provider.results.object_storage_result import ObjectStorageResult

        return ObjectStorageResult(base=spec.removeprefix("objectstorage+"))
    if "://" in spec:
        parts = urlsplit(spec)
        if parts.scheme not in _SCHEMES:
            raise ResultError(
                f"Result store {spec!r}: unknown scheme {parts.scheme!r}; use one of "
                f"{', '.join(s + '://' for s in sorted(_SCHEMES))} or module:attribute"
            )
        module, name, extra, bucket_kwarg = _SCHEMES[parts.scheme]
        cls = _import_class(module, name, extra, spec)
        if bucket_kwarg is None:
            if parts.netloc not in ("", "localhost"):
                raise ResultError(f"Result store {spec!r}: file URLs need an absolute path (file:///dir)")
            return cls(dir=unquote(parts.path))
        conn_id, _, bucket = parts.netloc.rpartition("@")
        kwargs: dict[str, Any] = {bucket_kwarg: bucket, "prefix": parts.path.strip("/")}
        if conn_id:
            kwargs[_CONN_KWARG[name]] = conn_id
        return cls(**kwargs)
    module, sep, attribute = spec.partition(":")
    if not sep or not module or not attribute:
        raise ResultError(
            f"Result store {spec!r} is neither a URL (file:///dir, s3://bucket/prefix, ...) nor module:attribute"
        )
    try:
        obj = importlib.import_module(module)
        for part in attribute.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ResultError(f"Result store {spec!r} cannot be imported: {exc}") from exc
    if isinstance(obj, type) or (callable(obj) and not isinstance(obj, Result)):
        try:
            obj = obj()
        except TypeError as exc:
            raise ResultError(
                f"Result store {spec!r} names a callable that cannot be called without arguments: {exc}"
            ) from exc
    if isinstance(obj, Result):
        return obj
    from airflow_results_provider.result_handlers import convert_if_handler

    converted = convert_if_handler(obj)
    if converted is not None:
        return converted
    raise ResultError(f"Result store {spec!r} names a {type(obj).__name__}, not a Result")


def default_result() -> Any:
    """The Result of ``[results] default_result`` (a new copy each call)."""
    from airflow_results_provider import config

    return result_from_spec(config.default_result())

"""Store specs: the one-line names of a place Results live, as written in ``[results] default_result`` /
``xcom_result`` and in XCom envelopes, and the Result object each one means.

A store spec is one of:

- ``""`` (empty): a :class:`LocalResult` under ``[results] local_dir``;
- ``file:///abs/dir``: a :class:`LocalResult` under that directory;
- ``s3://bucket/prefix`` (:class:`S3Result`), ``gs://`` or ``gcs://bucket/prefix`` (:class:`GCSResult`),
  ``abfs://`` or ``wasb://container/prefix`` (:class:`AzureResult`); ``conn_id@bucket`` picks a non-default
  Airflow connection;
- ``objectstorage+<URL>``: an :class:`ObjectStorageResult` over any ``ObjectStoragePath`` URL;
- ``module:attribute``: a Result object, a zero-argument factory returning one, or a legacy result handler
  (anything with a ``to_result()`` method, converted with a deprecation warning).

:meth:`Result.store_spec` is the inverse: the spec that reads a Result's locations in another process.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any
from urllib.parse import unquote, urlsplit

from airflow_results_provider import config
from airflow_results_provider.exceptions import ResultError, missing_extra_error

#: URL scheme -> (module, class, extra that provides it). Bucket/container and connection keywords come from
#: the class itself (``container_attr``, ``conn_attr``).
_SCHEMES: dict[str, tuple[str, str, str | None]] = {
    "file": ("airflow_results_provider.results.local_result", "LocalResult", None),
    "s3": ("airflow_results_provider.results.s3_result", "S3Result", "amazon"),
    "gs": ("airflow_results_provider.results.gcs_result", "GCSResult", "google"),
    "gcs": ("airflow_results_provider.results.gcs_result", "GCSResult", "google"),
    "abfs": ("airflow_results_provider.results.azure_result", "AzureResult", "azure"),
    "wasb": ("airflow_results_provider.results.azure_result", "AzureResult", "azure"),
}


def _import_class(module: str, name: str, extra: str | None, spec: str) -> type:
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError as exc:
        if extra:
            raise missing_extra_error(f"Result store {spec!r} ({name})", extra, exc) from exc
        raise ResultError(f"Result store {spec!r} needs {name}, which cannot be imported ({exc})") from exc


def result_from_spec(spec: str) -> Any:
    """A fresh Result object for the store ``spec`` (see the module docstring)."""
    return _cached_result(spec.strip()).copy()


@functools.lru_cache(maxsize=64)
def _cached_result(spec: str) -> Any:
    if not spec:
        from airflow_results_provider.results.local_result import LocalResult

        return LocalResult()
    if spec.startswith("objectstorage+"):
        from airflow_results_provider.results.object_storage_result import ObjectStorageResult

        return ObjectStorageResult(base=spec.removeprefix("objectstorage+"))
    if "://" in spec:
        return _result_from_url(spec)
    return _result_from_attribute(spec)


def _result_from_url(spec: str) -> Any:
    parts = urlsplit(spec)
    if parts.scheme not in _SCHEMES:
        raise ResultError(
            f"Result store {spec!r}: unknown scheme {parts.scheme!r}; use one of "
            f"{', '.join(s + '://' for s in sorted(_SCHEMES))} or module:attribute"
        )
    cls: Any = _import_class(*_SCHEMES[parts.scheme], spec)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ResultError(f"Result store {spec!r}: file URLs need an absolute path (file:///dir)")
        return cls(dir=unquote(parts.path))
    conn_id, _, bucket = parts.netloc.rpartition("@")
    kwargs: dict[str, Any] = {cls.container_attr: bucket, "prefix": parts.path.strip("/")}
    if conn_id:
        kwargs[cls.conn_attr] = conn_id
    return cls(**kwargs)


def _result_from_attribute(spec: str) -> Any:
    from airflow_results_provider.results.base import Result

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
    to_result = getattr(obj, "to_result", None)
    if callable(to_result):  # a legacy result handler
        return to_result()
    raise ResultError(f"Result store {spec!r} names a {type(obj).__name__}, not a Result")


config.on_clear(_cached_result.cache_clear)


def default_result() -> Any:
    """The Result of ``[results] default_result`` (a new copy each call)."""
    return result_from_spec(config.default_result())

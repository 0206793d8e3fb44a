"""Store specs: the one-line names of a place Results live, as written in ``[results] default_result`` /
``xcom_result`` and in XCom envelopes, the Result object each one means, and the registry of stores.

A store spec is one of:

- ``""`` (empty): a :class:`LocalResult` under ``[results] local_dir``;
- ``file:///abs/dir``: a :class:`LocalResult` under that directory;
- ``s3://bucket/prefix`` (:class:`S3Result`), ``gs://`` or ``gcs://bucket/prefix`` (:class:`GCSResult`),
  ``abfs://`` or ``wasb://container/prefix`` (:class:`AzureResult`); ``conn_id@bucket`` picks a non-default
  Airflow connection;
- ``objectstorage+<URL>``: an :class:`ObjectStorageResult` over any ``ObjectStoragePath`` URL;
- ``<scheme>://...`` of a store registered with :func:`register_store` or through the
  ``airflow_results_provider.stores`` entry point group (name: the scheme, value: ``module:factory``);
- ``module:attribute``: a Result object, a zero-argument factory returning one, or a legacy result handler
  (anything with a ``to_result()`` method, converted with a deprecation warning).

:meth:`Result.store_spec` is the inverse: the spec that reads a Result's locations in another process.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from airflow_results_provider import config
from airflow_results_provider.exceptions import ResultConfigError, ResultError, missing_extra_error

#: The entry point group a package names its stores in (``scheme = "module:factory"``).
ENTRY_POINT_GROUP = "airflow_results_provider.stores"

#: Built-in URL schemes -> (module, class, extra that provides it). Bucket/container and connection keywords
#: come from the class itself (``container_attr``, ``conn_attr``).
_SCHEMES: dict[str, tuple[str, str, str | None]] = {
    "file": ("airflow_results_provider.results.local_result", "LocalResult", None),
    "s3": ("airflow_results_provider.results.s3_result", "S3Result", "amazon"),
    "gs": ("airflow_results_provider.results.gcs_result", "GCSResult", "google"),
    "gcs": ("airflow_results_provider.results.gcs_result", "GCSResult", "google"),
    "abfs": ("airflow_results_provider.results.azure_result", "AzureResult", "azure"),
    "wasb": ("airflow_results_provider.results.azure_result", "AzureResult", "azure"),
}

#: Stores registered at runtime or through entry points: scheme -> factory(spec) returning a StorageResult.
_REGISTERED: dict[str, Callable[[str], Any]] = {}


def register_store(scheme: str, factory: Callable[[str], Any]) -> None:
    """Make ``<scheme>://...`` specs resolve to ``factory(spec)``, a
    :class:`~airflow_results_provider.results.storage.StorageResult` whose ``store_spec()`` gives that spec back.

    The store's payloads are then read from XCom envelopes, listed by the Results index and collected by
    ``airflow results gc`` like a built-in store's. A package can register its store without code with the
    ``airflow_results_provider.stores`` entry point group (``my = "my_package.store:MyResult.from_spec"``).

    :raises ResultError: ``scheme`` is not a URL scheme, or is a built-in one.
    """
    scheme = scheme.lower()
    if not scheme or not scheme.replace("+", "").replace("-", "").replace(".", "").isalnum():
        raise ResultError(f"register_store: {scheme!r} is not a URL scheme")
    if scheme in _SCHEMES or scheme == "objectstorage":
        raise ResultError(f"register_store: the scheme {scheme!r} is built in")
    if not callable(factory):
        raise ResultError(f"register_store: the factory of {scheme!r} is not callable")
    _REGISTERED[scheme] = factory
    _cached_result.cache_clear()


def unregister_store(scheme: str) -> None:
    """Forget a store registered with :func:`register_store` (specs of that scheme no longer resolve)."""
    _REGISTERED.pop(scheme.lower(), None)
    _cached_result.cache_clear()


def registered_schemes() -> list[str]:
    """Every URL scheme a spec may use: the built-in ones and the registered ones."""
    return sorted({*_SCHEMES, *_REGISTERED, *(ep.name for ep in _entry_points())})


def _entry_points() -> list[Any]:
    from importlib.metadata import entry_points

    return list(entry_points(group=ENTRY_POINT_GROUP))


def _registered_factory(scheme: str) -> Callable[[str], Any] | None:
    if scheme not in _REGISTERED:
        for entry_point in _entry_points():
            if entry_point.name == scheme:
                _REGISTERED[scheme] = entry_point.load()
                break
    return _REGISTERED.get(scheme)


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
        factory = _registered_factory(parts.scheme)
        if factory is not None:
            return _from_factory(factory, spec)
        raise ResultError(
            f"Result store {spec!r}: unknown scheme {parts.scheme!r}; use one of "
            f"{', '.join(s + '://' for s in registered_schemes())}, objectstorage+URL or module:attribute"
        )
    cls: Any = _import_class(*_SCHEMES[parts.scheme], spec)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ResultError(f"Result store {spec!r}: file URLs need an absolute path (file:///dir)")
        return cls(dir=unquote(parts.path))
    conn_id, _, bucket = parts.netloc.rpartition("@")
    if not bucket:
        raise ResultError(
            f"Result store {spec!r} names no {cls.container_attr} ({parts.scheme}://{cls.container_attr}/prefix)"
        )
    kwargs: dict[str, Any] = {cls.container_attr: bucket, "prefix": parts.path.strip("/")}
    if conn_id:
        kwargs[cls.conn_attr] = conn_id
    try:
        return cls(**kwargs)
    except ValueError as exc:
        raise ResultError(f"Result store {spec!r}: {exc}") from exc


def _from_factory(factory: Callable[[str], Any], spec: str) -> Any:
    from airflow_results_provider.results.storage import StorageResult

    result = factory(spec)
    if not isinstance(result, StorageResult):
        raise ResultError(
            f"Result store {spec!r}: its registered factory returned a {type(result).__name__}, not a StorageResult"
        )
    return result


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


def configured_result(option: str) -> Any:
    """The Result of the store spec in ``[results] <option>`` (a new copy each call).

    :raises ResultConfigError: the spec names no store that can be opened (names the option and the spec).
    """
    spec = getattr(config, option)()
    try:
        return result_from_spec(spec)
    except ResultConfigError:
        raise
    except ResultError as exc:
        raise ResultConfigError(f"[{config.SECTION}] {option} = {spec!r}: {exc}") from exc


def default_result() -> Any:
    """The Result of ``[results] default_result`` (a new copy each call)."""
    return configured_result("default_result")

"""Results as Airflow assets (pure): the asset a task's results stand for and the signed ``extra`` of the asset
event a checkpoint write emits.

A task's asset is ``airflow-results://<dag_id>/<task_id>`` (name and URI alike), whatever its location template
renders per run or map index, so a DAG can be scheduled on it. Each write's event says where that value is and
what it is (store, key, sha256, size, serializer, Python type, run, map index, ``partition_key``), never the
value, its preview or a key. The producer signs the ``extra`` (HMAC, the deployment's signing key, a domain of
its own): an event's ``extra`` is untrusted (anyone allowed to create asset events posts them through the REST
API), and :func:`check_event_extra` refuses one no producer signed for this asset before anything touches
storage. Reading the value it describes is :func:`airflow_results_provider.operators.assets.load_result`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from airflow_results_provider.core import signing
from airflow_results_provider.core.identity import map_index_or_none
from airflow_results_provider.exceptions import UntrustedAssetEventError

#: The URI scheme of result assets (Airflow reserves ``airflow``; a scheme with no registered normalizer is
#: kept as written, so no provider ``asset-uris`` entry is needed).
ASSET_SCHEME = "airflow-results"
#: Marks an event ``extra`` written by this package, and its format version.
EVENT_MARKER = "airflow_results_event"
EVENT_VERSION = 1
#: Signature domain: an asset event's signature never verifies as an envelope, link reference or record.
DOMAIN_ASSET_EVENT = "airflow-results-provider asset event v1"
#: The fields of an event's ``extra``, in the order they are shown (``hmac`` last).
EVENT_FIELDS = (
    EVENT_MARKER,
    "asset",
    "location",
    "store",
    "key",
    "sha256",
    "size",
    "serializer",
    "python_type",
    "dag_id",
    "task_id",
    "run_id",
    "map_index",
    "try_number",
    "partition_key",
    "written_at",
)


def result_asset_uri(dag_id: str, task_id: str) -> str:
    """``airflow-results://<dag_id>/<task_id>``: the URI (and name) of the asset a task's results stand for."""
    if not dag_id or not task_id:
        raise ValueError(f"A result asset needs a DAG id and a task id, got {dag_id!r} and {task_id!r}")
    return f"{ASSET_SCHEME}://{quote(dag_id, safe='')}/{quote(task_id, safe='')}"


def producer_of(uri: Any) -> tuple[str, str] | None:
    """``(dag_id, task_id)`` of a result asset's URI; ``None`` for any other URI."""
    if not isinstance(uri, str):
        return None
    parts = urlsplit(uri)
    task = parts.path[1:]
    if parts.scheme != ASSET_SCHEME or not parts.netloc or not task or "/" in task or parts.query:
        return None
    return unquote(parts.netloc), unquote(task)


def build_event_extra(
    *,
    asset_uri: str,
    metadata: Mapping[str, Any],
    store: str,
    key: str,
    variables: Mapping[str, Any],
    signing_key: bytes,
) -> dict[str, Any]:
    """The ``extra`` of the asset event for the value a task just wrote (``metadata``: its record), signed.

    :param store: the store spec (a URL) a reader opens; ``key``: the value's location in that store.
    :param variables: the running task's template variables (DAG, task, run, map index, ``partition_key``).
    """
    extra: dict[str, Any] = {
        EVENT_MARKER: EVENT_VERSION,
        "asset": asset_uri,
        "location": metadata.get("location"),
        "store": store,
        "key": key,
        "sha256": metadata.get("sha256"),
        "size": metadata.get("size"),
        "serializer": metadata.get("serializer"),
        "python_type": metadata.get("python_type"),
        "dag_id": variables.get("dag_id"),
        "task_id": variables.get("task_id"),
        "run_id": variables.get("run_id"),
        "map_index": map_index_or_none(variables.get("map_index")),
        "try_number": metadata.get("try_number"),
        "partition_key": variables.get("partition_key"),
        "written_at": metadata.get("written_at"),
    }
    if signing_key:
        extra["hmac"] = signing.sign(extra, signing_key, DOMAIN_ASSET_EVENT)
    return extra


def describe_event(extra: Mapping[str, Any]) -> str:
    """``dag.task[map] in run R at LOCATION`` for error messages."""
    index = extra.get("map_index")
    task = f"{extra.get('dag_id')}.{extra.get('task_id')}" + (f"[{index}]" if index is not None else "")
    return f"task {task}, run {extra.get('run_id')}, location {extra.get('location')}"


def check_event_extra(extra: Any, *, asset_uri: Any, signing_key: bytes) -> tuple[str, str]:
    """Check an asset event's ``extra`` before anything touches storage; returns the producer ``(dag_id,
    task_id)``.

    Accepted only when ``asset_uri`` is a result asset, ``extra`` was written by this package, carries a valid
    signature of ``signing_key`` (an event posted through the REST API never does: Airflow adds
    ``from_rest_api`` to its ``extra``), names that asset and was written by the asset's producing task.

    :raises UntrustedAssetEventError: a check failed.
    """
    producer = producer_of(asset_uri)
    if producer is None:
        raise UntrustedAssetEventError(
            f"Asset {asset_uri!r} is not a result asset ({ASSET_SCHEME}://<dag_id>/<task_id>): load_result "
            "reads the events of assets that tasks with asset=True produce"
        )
    if not isinstance(extra, Mapping) or extra.get(EVENT_MARKER) != EVENT_VERSION:
        raise UntrustedAssetEventError(
            f"The event of {asset_uri} does not describe a stored result (no {EVENT_MARKER!r} in its extra): "
            "it was not emitted by a checkpoint write of its producer"
        )
    if not signing_key:
        raise UntrustedAssetEventError(
            f"Cannot verify the event of {asset_uri} ({describe_event(extra)}): this deployment has no signing "
            "key ([results] signing_key, or [api] secret_key to derive one from)"
        )
    if not signing.signature_matches(extra, signing_key, DOMAIN_ASSET_EVENT):
        posted = " It was posted through the REST API (from_rest_api)." if extra.get("from_rest_api") else ""
        raise UntrustedAssetEventError(
            f"The event of {asset_uri} ({describe_event(extra)}) is not signed by a producer holding this "
            f"deployment's key (missing or wrong HMAC over its extra): refusing to read what it points at.{posted}"
        )
    if extra.get("asset") != asset_uri:
        raise UntrustedAssetEventError(
            f"The event of {asset_uri} carries the signed extra of another asset ({extra.get('asset')!r}): an "
            "extra copied from another asset's event is refused"
        )
    if (extra.get("dag_id"), extra.get("task_id")) != producer:
        raise UntrustedAssetEventError(
            f"The event of {asset_uri} was written by {describe_event(extra)}, not by the asset's producer "
            f"{producer[0]}.{producer[1]}: refused"
        )
    return producer

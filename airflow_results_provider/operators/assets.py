"""Results as Airflow assets: the asset a task's results stand for, the event a checkpoint write emits, and the
verified value of such an event in a consumer DAG.

With ``asset=True`` (or ``[results] assets = True``) a task's outlets hold :func:`result_asset` from the moment
its DAG is parsed (one asset per task: every run and map index writes to the same asset), and each execution
that *writes* a checkpoint fills the event Airflow emits for it on success with the signed description of the
stored value (:func:`~airflow_results_provider.core.asset_events.build_event_extra`). An execution that writes
nothing (a target or cache hit, ``None``, checkpointing off) takes the asset out of its outlets, so no event.

A consumer DAG is scheduled on the asset and reads the value with :func:`load_result` (an event) or
:func:`triggering_result` (an argument resolved when the task runs).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from airflow_results_provider import config
from airflow_results_provider.core.asset_events import (
    build_event_extra,
    check_event_extra,
    describe_event,
    producer_of,
    result_asset_uri,
)
from airflow_results_provider.core.keys import is_relative_key, is_url_spec
from airflow_results_provider.core.signing import RECORD_RESULT, signed_digests
from airflow_results_provider.exceptions import (
    ResultConfigError,
    ResultIntegrityError,
    ResultNotFoundError,
    SerializationError,
    UnsignedRecordError,
    UntrustedAssetEventError,
)

if TYPE_CHECKING:
    from airflow.sdk import Asset

    from airflow_results_provider.results.base import Result

log = logging.getLogger(__name__)

__all__ = ["load_result", "result_asset", "triggering_result"]


def result_asset(dag_id: str, task_id: str) -> Asset:
    """The asset the results of task ``task_id`` of DAG ``dag_id`` stand for: schedule a DAG on it.

    Its name and URI are both ``airflow-results://<dag_id>/<task_id>``, so ``Asset("airflow-results://…")``
    and ``Asset.ref(name=…)`` name it too.

    .. code-block:: python

        @dag(schedule=[result_asset("producer", "make_table")])
        def consumer(): ...
    """
    from airflow.sdk import Asset

    uri = result_asset_uri(dag_id, task_id)
    return Asset(name=uri, uri=uri)


# ---------------------------------------------------------------------------------------------- producers


def check_asset_option(asset: Any, result: Any, task_id: Any) -> None:
    """Validate ``asset=`` (eagerly, at DAG parse time).

    :raises TypeError: ``asset`` is not a bool or ``None``.
    :raises ResultConfigError: ``asset=True`` with a Result that stores no payload (its location would be the
        value itself, or a secret's name).
    """
    if asset is not None and not isinstance(asset, bool):
        raise TypeError(f"Task {task_id!r}: asset= must be True, False or None, got {type(asset).__name__}")
    if asset and result is not None and result.store_spec() is None:
        raise ResultConfigError(
            f"Task {task_id!r}: asset=True needs a Result that stores its values (LocalResult, S3Result, ...); "
            f"{type(result).__name__} keeps none a consumer could read"
        )


def wants_asset(asset: bool | None, default_args: Mapping[str, Any] | None = None) -> bool:
    """Whether a task's results are an asset: its ``asset=``, else its DAG's ``default_args``, else
    ``[results] assets``."""
    if asset is None and default_args:
        asset = default_args.get("asset")
    return config.assets() if asset is None else bool(asset)


def declare_result_asset(task: Any, asset: bool | None) -> None:
    """Put the task's result asset in its outlets when asked for (an operator or a mapped operator, in its DAG).

    Runs while the DAG file is parsed, so the dag-processor registers the asset and the DAG can be scheduled on it.

    :raises ResultConfigError: ``asset=True`` on a task created outside a DAG (its asset could not be named).
    """
    partial_kwargs = getattr(task, "partial_kwargs", None)  # a mapped operator keeps its options there
    options = partial_kwargs if partial_kwargs is not None else vars(task)
    declared = _asset_to_declare(task.get_dag(), task.task_id, asset, options.get("checkpoint"))
    if declared is not None and declared not in (task.outlets or ()):
        task.outlets = [*(task.outlets or ()), declared]


def declare_partial_result_asset(partial_kwargs: MutableMapping[str, Any]) -> None:
    """:func:`declare_result_asset` for ``Operator.partial(...)``'s keyword arguments (mapped classic operators)."""
    declared = _asset_to_declare(
        partial_kwargs.get("dag"),
        partial_kwargs["task_id"],
        partial_kwargs.get("asset"),
        partial_kwargs.get("checkpoint"),
    )
    outlets = list(partial_kwargs.get("outlets") or ())
    if declared is not None and declared not in outlets:
        partial_kwargs["outlets"] = [*outlets, declared]


def _asset_to_declare(dag: Any, task_id: str, asset: bool | None, checkpoint: Any) -> Asset | None:
    """The result asset task ``task_id`` of ``dag`` declares, or ``None``: its ``asset=`` decides, else (unless
    it says ``checkpoint=False``: it never writes) its DAG's ``default_args`` or ``[results] assets``."""
    if asset is None and checkpoint is False:
        return None
    if not wants_asset(asset, getattr(dag, "default_args", None)):
        return None
    if dag is None:
        if asset:
            raise ResultConfigError(
                f"Task {task_id!r}: asset=True names the asset after the DAG, and this task has none yet: create "
                "it inside `with DAG(...)` / a @dag function, or pass dag="
            )
        return None  # [results] assets = True: a task without a DAG has no asset to name
    return result_asset(dag.dag_id, task_id)


def own_result_asset(operator: Any) -> Asset | None:
    """The task's result asset when it is among the outlets of this execution, else ``None``."""
    if not operator.outlets:
        return None
    try:
        declared = result_asset(operator.dag_id, operator.task_id)
    except ValueError:
        return None
    return declared if declared in operator.outlets else None


def emit_result_asset_event(operator: Any, context: Any, variables: Mapping[str, Any], written: Any) -> None:
    """Describe the value this execution wrote in the event Airflow emits for the task's result asset on
    success; when it wrote none (a target or cache hit, ``None``, checkpointing off, a Result without a store),
    take the asset out of this execution's outlets so Airflow emits no event."""
    declared = own_result_asset(operator)
    if declared is None:
        return
    store = written.store_spec() if written is not None else None
    if store is None or not written.metadata:
        # This execution's copy of the operator: the DAG's task keeps its outlets.
        operator.outlets = [o for o in operator.outlets if o != declared]
        log.info("No result was written: no asset event for %s", declared.uri)
        return
    store, key = _store_and_key(store, written.location)
    extra = build_event_extra(
        asset_uri=declared.uri,
        metadata=written.metadata,
        store=store,
        key=key,
        variables={**variables, "partition_key": context.get("partition_key")},
        signing_key=config.envelope_signing_key(),
    )
    accessor = context["outlet_events"][declared]
    accessor.extra.clear()
    accessor.extra.update(extra)
    log.info("Asset event for %s: %s", declared.uri, describe_event(extra))


def _store_and_key(store: str, location: str) -> tuple[str, str]:
    """The store spec and relative key a reader opens: an absolute local location is a key of ``file:///``."""
    if store.startswith("file:") and location.startswith("/"):
        return "file:///", location.lstrip("/")
    return store, location


# ---------------------------------------------------------------------------------------------- consumers


def load_result(event: Any) -> Any:
    """The value an event of a result asset describes, read and verified.

    ``event``: an asset event as Airflow hands it to tasks (``triggering_asset_events[asset][i]``,
    ``inlet_events[asset][i]``), a metadata DB ``AssetEvent`` row, or a mapping with ``uri`` and ``extra`` (the
    REST API's form). Its ``extra`` is untrusted: before anything touches storage the producer's signature over
    it, the asset it names and its producing task are checked (see
    :func:`~airflow_results_provider.core.asset_events.check_event_extra`); then the stored record must be
    signed for that value and belong to that task, and the payload is read verified against the event's sha256.

    .. code-block:: python

        @task
        def report(*, triggering_asset_events):
            table = load_result(max(triggering_asset_events[asset], key=lambda event: event.timestamp))

    :raises UntrustedAssetEventError: the event fails a check; nothing was read.
    :raises ResultIntegrityError: the location holds another value now (overwritten since the event) or a
        corrupt one; :class:`UnsignedRecordError` when its record is not signed for it.
    :raises ResultNotFoundError: the value was deleted since the event.
    """
    asset_uri, extra, source = _event_parts(event)
    producer = check_event_extra(extra, asset_uri=asset_uri, signing_key=config.envelope_signing_key())
    if any(got is not None and got != want for got, want in zip(source, producer)):
        raise UntrustedAssetEventError(
            f"The event of {asset_uri} was emitted by {source[0]}.{source[1]}, not by the asset's producer "
            f"{producer[0]}.{producer[1]}: refused"
        )
    result, key = _open_store(extra)
    uri = result.uri(key)
    if uri != extra.get("location"):
        raise UntrustedAssetEventError(
            f"The event of {asset_uri} names the store {extra['store']!r} and key {key!r} ({uri}), which is not "
            f"its location {extra.get('location')!r}: refused"
        )
    _check_record(result, key, uri, extra, producer)
    return result.read(key, sha256=extra["sha256"]).value


def _event_parts(event: Any) -> tuple[Any, Any, tuple[Any, Any]]:
    """``(asset URI, extra, (source DAG id, source task id))`` of an event object or mapping."""
    if isinstance(event, Mapping):
        asset = event.get("asset")
        uri = event.get("uri") or (
            asset.get("uri") if isinstance(asset, Mapping) else getattr(asset, "uri", None)
        )
        return uri, event.get("extra"), (event.get("source_dag_id"), event.get("source_task_id"))
    asset = getattr(event, "asset", None)
    uri = getattr(asset, "uri", None) or getattr(event, "uri", None)
    if uri is None:
        raise TypeError(
            f"load_result needs an asset event (triggering_asset_events[asset][i], inlet_events[asset][i]), got "
            f"{type(event).__name__}"
        )
    source = (getattr(event, "source_dag_id", None), getattr(event, "source_task_id", None))
    return uri, getattr(event, "extra", None), source


def _open_store(extra: Mapping[str, Any]) -> tuple[Result, str]:
    """The Result reading the event's store with its serializer, and the key: URL stores, relative keys and
    built-in serializers only (nothing named by an event is imported).

    :raises UntrustedAssetEventError: the store, key, serializer or sha256 is not acceptable."""
    store, key, label, sha256 = (extra.get(k) for k in ("store", "key", "serializer", "sha256"))
    where = describe_event(extra)
    if not isinstance(store, str) or not is_url_spec(store):
        raise UntrustedAssetEventError(
            f"Asset event of {where} names the store {store!r}: a URL store is needed"
        )
    if not is_relative_key(key):
        raise UntrustedAssetEventError(f"Asset event of {where} names the key {key!r}: not a relative key")
    if not isinstance(sha256, str) or len(sha256) != 64:
        raise UntrustedAssetEventError(f"Asset event of {where} carries no sha256 of the value")
    from airflow_results_provider.results.registry import result_from_spec
    from airflow_results_provider.serializers._labels import serializer_from_label

    try:
        serializer = serializer_from_label(str(label))
    except SerializationError as exc:
        raise UntrustedAssetEventError(f"Asset event of {where}: {exc}") from exc
    result = result_from_spec(store)
    result.serializer = serializer
    return result, str(key)


def _check_record(
    result: Result, key: str, uri: str, extra: Mapping[str, Any], producer: tuple[str, str]
) -> None:
    """The record stored at ``key`` is signed for the event's value, as a checkpoint of ``producer``.

    :raises ResultNotFoundError: no record there any more.
    :raises ResultIntegrityError: the location holds another value now (it was overwritten since the event).
    :raises UnsignedRecordError: the record is not signed for this value at this location.
    :raises UntrustedAssetEventError: the record was written by another task.
    """
    sha256, label = extra["sha256"], extra["serializer"]
    metadata = result.read_metadata(key)  # type: ignore[attr-defined]
    if metadata is None:
        raise ResultNotFoundError(
            f"The value of the asset event of {describe_event(extra)} is gone: {uri} has no record (deleted?)"
        )
    signed = signed_digests(
        metadata, kind=RECORD_RESULT, uri=uri, serializer=label, signing_key=config.envelope_signing_key()
    )
    if sha256 not in signed:
        if metadata.get("sha256") != sha256:
            raise ResultIntegrityError(
                f"{uri} no longer holds the value of the asset event of {describe_event(extra)}: it now holds "
                f"sha256 {metadata.get('sha256')} (run {metadata.get('run_id')}). Give the producer a location "
                "per run (e.g. {run_id} in its template) so each event's value stays readable"
            )
        raise UnsignedRecordError(
            f"The record at {uri} is not signed for the value of the asset event of {describe_event(extra)} "
            "with this deployment's key: refusing to load it" + config.per_process_key_hint()
        )
    if (metadata.get("dag_id"), metadata.get("task_id")) != producer:
        raise UntrustedAssetEventError(
            f"The record at {uri} was written by {metadata.get('dag_id')}.{metadata.get('task_id')}, not by the "
            f"asset's producer {producer[0]}.{producer[1]}: refused"
        )


class _TriggeringResult:
    """An operator argument that resolves, when the task runs, to the verified value of the events of
    ``asset`` that triggered the run (see :func:`triggering_result`)."""

    def __init__(self, asset: Any, all_events: bool) -> None:
        producer = producer_of(getattr(asset, "uri", asset))
        if producer is None:
            raise ValueError(
                f"triggering_result() needs a result asset (result_asset(dag_id, task_id)), got {asset!r}"
            )
        self.asset = result_asset(*producer) if isinstance(asset, str) else asset
        self.all_events = all_events

    def iter_references(self) -> tuple[()]:
        """No XCom references: Airflow's DAG parser finds no upstream task in it."""
        return ()

    def resolve(self, context: Mapping[str, Any]) -> Any:
        """Called by Airflow while it renders the task's arguments.

        :raises ResultNotFoundError: the run was not triggered by an event of the asset."""
        try:
            events = list(context["triggering_asset_events"][self.asset])
        except KeyError:
            events = []
        # Airflow hands them over in no particular order: oldest first.
        events.sort(key=lambda event: event.timestamp)
        if not events:
            raise ResultNotFoundError(
                f"This run was not triggered by an event of {self.asset.uri} (triggered by hand or by another "
                "asset?): no result to load"
            )
        if self.all_events:
            return [load_result(event) for event in events]
        return load_result(events[-1])

    def __repr__(self) -> str:
        return f"triggering_result({self.asset.uri!r}{', all_events=True' if self.all_events else ''})"


def triggering_result(asset: Asset | str, *, all_events: bool = False) -> Any:
    """A task argument that becomes the value of the result asset event that triggered this run, verified as
    :func:`load_result` does, when the task runs.

    :param asset: a :func:`result_asset` (or its URI) the DAG is scheduled on.
    :param all_events: a list of the values of every triggering event of the asset, oldest first (e.g. one per
        map index of a mapped producer), instead of the latest one's.

    .. code-block:: python

        @dag(schedule=[table])
        def consumer():
            report(triggering_result(table))
    """
    return _TriggeringResult(asset, all_events)

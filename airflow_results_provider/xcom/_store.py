"""Writing an XCom row for :class:`~airflow_results_provider.xcom.backend.ResultXComBackend`: a plain JSON row
when the value is small, else the envelope of a checkpoint handed off by the task's Result or of a value
offloaded to ``[results] xcom_result`` (a list feeding mapped tasks in chunks). Import-light like the backend.
"""

from __future__ import annotations

import contextvars
from typing import Any, NamedTuple

from airflow.sdk.bases.xcom import BaseXCom

from airflow_results_provider import config
from airflow_results_provider.core.identity import map_index_or_none
from airflow_results_provider.core.values import NOTHING
from airflow_results_provider.serializers._labels import is_builtin_label
from airflow_results_provider.xcom._envelope import (
    OWNER_CHECKPOINT,
    OWNER_XCOM,
    build_envelope,
    looks_like_envelope,
)

#: Types that are never inline JSON and that pickle streams well: offloaded without trying JSON first.
_BINARY_MODULES = ("numpy", "pandas", "pyarrow", "polars")
#: Set while pushing a list that mapped tasks will expand over (Airflow passes its length to ``set``).
_FEEDS_MAPPED_TASKS: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "results_feeds_mapped", default=False
)
#: Airflow >= 3.4: the task instance pushing its own XCom (the return value is pushed after its context ends).
_PUSHING_TI: contextvars.ContextVar[Any] = contextvars.ContextVar("results_xcom_pushing_ti", default=None)


class _Instance(NamedTuple):
    """Where in its task a stored value belongs beyond DAG, run, task, map index and key."""

    #: The native Task Loop iteration (Airflow >= 3.4), ``None`` outside a loop or when not known.
    loop_index: int | None = None
    #: A path part making the location the task instance's own (``ti-<id>``) or the write's (``write-<uuid>``).
    part: str | None = None


def _instance_of(coordinate: Any) -> _Instance:
    """The :class:`_Instance` of an ``XComCoordinate``: the running task instance's loop iteration when the
    coordinate is its own, else a part unique to the task instance or, without one, to this write."""
    ti_id = getattr(coordinate, "ti_id", None)
    if ti_id is None:  # one task writing another's XCom: only the server knows which instance that is
        import uuid

        return _Instance(part=f"write-{uuid.uuid4().hex}")
    ti = _PUSHING_TI.get()
    if ti is None:
        try:
            from airflow.sdk import get_current_context

            ti = get_current_context().get("ti")
        except Exception:  # e.g. a trigger writing for its deferred task instance: no task context
            ti = None
    if ti is not None and str(getattr(ti, "id", "")) == str(ti_id):
        try:
            index = getattr(ti.get_template_context().get("loop"), "index", None)
        except Exception:  # a task instance without a template context (a trigger's)
            return _Instance(part=f"ti-{ti_id}")
        return _Instance(loop_index=map_index_or_none(index))
    return _Instance(part=f"ti-{ti_id}")


def _row_for(value: Any, ident: dict[str, Any], instance: _Instance) -> Any:
    """The row for ``value`` written for ``ident`` (see :meth:`ResultXComBackend.serialize_value`)."""
    if value is None:
        return BaseXCom.serialize_value(value)
    extra = {"loop_index": instance.loop_index} if instance.loop_index is not None else None
    if ident["xcom_key"] == BaseXCom.XCOM_RETURN_KEY:
        from airflow_results_provider.xcom.handoff import take_checkpoint

        checkpoint = take_checkpoint(
            ident["dag_id"], ident["task_id"], ident["run_id"], ident["map_index"], value
        )
        if checkpoint is not None and is_builtin_label(checkpoint.serializer.label):
            return _envelope(
                checkpoint.metadata or {},
                checkpoint.store_spec(),
                checkpoint.location,
                OWNER_CHECKPOINT,
                ident,
                extra,
            )
    inline = _inline_json(value)
    if inline is not NOTHING:
        return inline
    return _offload(value, ident, instance)


def _xcom_location(context: dict[str, Any], extension: str, instance: _Instance) -> str:
    """``xcom/<default location>``, with the instance's part before the key's file name when it has one."""
    from airflow_results_provider.templating.filters import default_location

    location = "xcom/" + default_location(context, extension)
    if instance.part is None:
        return location
    head, name = location.rsplit("/", 1)
    return f"{head}/{instance.part}/{name}"


def _inline_json(value: Any) -> Any:
    """The plain JSON row Airflow's default backend would store, or ``NOTHING``."""
    module = type(value).__module__.split(".", 1)[0]
    if isinstance(value, (bytes, bytearray, memoryview)) or module in _BINARY_MODULES:
        return NOTHING
    if looks_like_envelope(value):
        return NOTHING  # a row holding it would read back as an envelope: store it, so it reads back as data
    from airflow_results_provider.xcom._jsonable import json_size_at_most

    threshold = config.xcom_inline_threshold()
    if threshold >= 0:
        small = json_size_at_most(value, threshold)
        if small is False:
            return NOTHING
        if small is True:
            return BaseXCom.serialize_value(value)
    try:
        serialized = BaseXCom.serialize_value(value)
    except Exception:  # not serializable by Airflow's serde: offload with a Result serializer
        return NOTHING
    if threshold < 0:
        return serialized
    return serialized if json_size_at_most(serialized, threshold) else NOTHING


def _offload(value: Any, ident: dict[str, Any], instance: _Instance) -> dict[str, Any]:
    from airflow_results_provider.results.registry import configured_result

    result = configured_result("xcom_result")
    result.serializer = _serializer_for(value)
    context = {**ident, "map_index": map_index_or_none(ident["map_index"]), "owner": OWNER_XCOM}
    if instance.loop_index is not None:
        context["loop_index"] = instance.loop_index
    position = {"loop_index": instance.loop_index} if instance.loop_index is not None else {}
    if _FEEDS_MAPPED_TASKS.get() and type(value) is list and value:
        from airflow_results_provider.core.metadata import build_metadata
        from airflow_results_provider.results.lineage import reported_once
        from airflow_results_provider.xcom._sequence import write_chunks

        key = _xcom_location(context, "", instance)
        with reported_once("output", result, key):  # lineage names the list, not its chunks
            fields = write_chunks(result, key, value, context)
        metadata = build_metadata(
            result_type=type(result).__name__,
            uri=result.uri(key),
            serializer=result.serializer.label,
            value=value,
            context=context,
            **fields,
        )
        extra = {k: fields[k] for k in ("kind", "length", "chunk_len", "chunks")}
        return _envelope(metadata, result.store_spec(), key, OWNER_XCOM, ident, {**extra, **position})
    result.location = _xcom_location(context, result.serializer.extension, instance)
    written = result.write(value, **context)
    # Every integer of an orjson payload fits in 64 bits: the reader may skip its scan for longer ones.
    extra = {"json_codec": "orjson"} if getattr(written.serializer, "orjson_written", False) else {}
    extra.update(position)
    return _envelope(written.metadata or {}, written.store_spec(), written.location, OWNER_XCOM, ident, extra)


def _serializer_for(value: Any) -> Any:
    from airflow_results_provider.serializers import JSONSerializer, PickleSerializer

    choice = config.xcom_serializer()
    if choice == "json":
        return JSONSerializer()
    if choice == "pickle":
        return PickleSerializer()
    from airflow_results_provider.core import json_codec as _json
    from airflow_results_provider.serializers.json_serializer import EncodedJSONSerializer

    # One orjson pass (it refuses non-str keys, subclasses, datetimes at once) and a type check in C iterators
    # for what it would convert silently (tuples, NaN, enums, UUIDs); the bytes are the payload written.
    data = _json.encode(value, _json.STRICT_TYPES)
    return EncodedJSONSerializer(value, data) if data is not None else PickleSerializer()


def _envelope(
    metadata: dict[str, Any],
    store: str | None,
    key: str,
    owner: str,
    ident: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return build_envelope(
        metadata=metadata,
        store=store,
        key=key,
        owner=owner,
        dag_id=ident["dag_id"],
        task_id=ident["task_id"],
        run_id=ident["run_id"],
        map_index=ident["map_index"],
        xcom_key=ident["xcom_key"],
        extra=extra,
        signing_key=config.envelope_signing_key(),
    )

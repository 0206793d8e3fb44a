"""ResultXComBackend: small values stay plain JSON rows; others go through a Result and the row holds a JSON
envelope (what the UI shows). A thin adapter over the Results and this package's internal modules:
:mod:`._envelope` (the row's JSON), :mod:`._jsonable` (inline or not) and :mod:`._sequence` (chunked lists).

Import-light on purpose: only ``BaseXCom`` is imported at module level; Results, serializers and hooks load when
a value is actually offloaded or read.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator
from typing import Any, NamedTuple

from airflow.sdk.bases.xcom import BaseXCom

from airflow_results_provider import config
from airflow_results_provider.core.identity import map_index_or_none
from airflow_results_provider.core.values import NOTHING
from airflow_results_provider.exceptions import UntrustedEnvelopeError
from airflow_results_provider.serializers._labels import is_builtin_label
from airflow_results_provider.xcom._envelope import (
    OWNER_CHECKPOINT,
    OWNER_XCOM,
    build_envelope,
    describe,
    is_envelope,
    looks_like_envelope,
    missing_value_hint,
)

log = logging.getLogger(__name__)

#: Types that are never inline JSON and that pickle streams well: offloaded without trying JSON first.
_BINARY_MODULES = ("numpy", "pandas", "pyarrow", "polars")
#: Set while pushing a list that mapped tasks will expand over (Airflow passes its length to ``set``).
_FEEDS_MAPPED_TASKS: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "results_feeds_mapped", default=False
)
#: The identity of the XCom row being pulled or deleted (DAG, task, run, map index, key): what an envelope
#: must have been signed for. Set by get_one/get_all/delete, which know it; deserialize_value does not.
_ROW: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("results_xcom_row", default=None)
#: Airflow >= 3.4: the task instance pushing its own XCom (the return value is pushed after its context ends).
_PUSHING_TI: contextvars.ContextVar[Any] = contextvars.ContextVar("results_xcom_pushing_ti", default=None)
#: Airflow >= 3.4: the map index of the row being stored (``_store`` is given it, ``store_value`` is not).
_STORING_MAP_INDEX: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "results_xcom_storing_map_index", default=None
)


@contextlib.contextmanager
def _pushing(ti: Any, mapped_length: int | None) -> Iterator[None]:
    pushing, feeds = _PUSHING_TI.set(ti), _FEEDS_MAPPED_TASKS.set(mapped_length is not None)
    try:
        yield
    finally:
        _FEEDS_MAPPED_TASKS.reset(feeds)
        _PUSHING_TI.reset(pushing)


@contextlib.contextmanager
def _pulling(**identity: Any) -> Iterator[None]:
    token = _ROW.set(identity)
    try:
        yield
    finally:
        _ROW.reset(token)


class ResultXComBackend(BaseXCom):
    """XCom backend storing values through Result classes (``[results] xcom_*`` options)."""

    @classmethod
    def set(cls, key: str, value: Any, *, _mapped_length: int | None = None, **kwargs: Any) -> None:
        """Push ``value`` as Airflow does, its row holding a plain value or an envelope (:meth:`serialize_value`)."""
        token = _FEEDS_MAPPED_TASKS.set(_mapped_length is not None)
        if _mapped_length is not None:  # Airflow < 3.4 only: 3.4's set has none (its pushes use _push)
            kwargs["_mapped_length"] = _mapped_length
        try:
            super().set(key, value, **kwargs)
        finally:
            _FEEDS_MAPPED_TASKS.reset(token)

    @classmethod
    def _push(cls, ti: Any, key: str, value: Any, **kwargs: Any) -> None:
        """Airflow >= 3.4 pushes a task's own XCom here, with ``mapped_length`` for a list mapped tasks expand
        over: that list is stored in chunks, as :meth:`set` does on 3.2/3.3 (docs/compatibility.md). The task
        instance is kept for :meth:`store_value` (its loop iteration: the return value is pushed after the task's
        context ended)."""
        with _pushing(ti, kwargs.get("mapped_length")):
            super()._push(ti, key, value, **kwargs)  # type: ignore[misc]

    @classmethod
    async def _apush(cls, ti: Any, key: str, value: Any, **kwargs: Any) -> None:
        """The async :meth:`_push` (the value is stored in a thread that copies this context)."""
        with _pushing(ti, kwargs.get("mapped_length")):
            await super()._apush(ti, key, value, **kwargs)  # type: ignore[misc]

    @classmethod
    def get_one(cls, *, key: str, dag_id: str, task_id: str, run_id: str, **kwargs: Any) -> Any:
        """Pull one value; an envelope's payload is checked (signature, identity, store, key) before it is read."""
        run = None if kwargs.get("include_prior_dates") else run_id
        with _pulling(
            dag_id=dag_id, task_id=task_id, run_id=run, map_index=kwargs.get("map_index"), xcom_key=key
        ):
            return super().get_one(key=key, dag_id=dag_id, task_id=task_id, run_id=run_id, **kwargs)

    @classmethod
    async def aget_one(cls, *, key: str, dag_id: str, task_id: str, run_id: str, **kwargs: Any) -> Any:
        """The async :meth:`get_one`."""
        run = None if kwargs.get("include_prior_dates") else run_id
        with _pulling(
            dag_id=dag_id, task_id=task_id, run_id=run, map_index=kwargs.get("map_index"), xcom_key=key
        ):
            return await super().aget_one(key=key, dag_id=dag_id, task_id=task_id, run_id=run_id, **kwargs)

    @classmethod
    def get_all(cls, *, key: str, dag_id: str, task_id: str, run_id: str, **kwargs: Any) -> Any:
        """Pull the values of every map index, each read as :meth:`get_one` reads one."""
        run = None if kwargs.get("include_prior_dates") else run_id
        with _pulling(dag_id=dag_id, task_id=task_id, run_id=run, xcom_key=key):
            return super().get_all(key=key, dag_id=dag_id, task_id=task_id, run_id=run_id, **kwargs)

    @classmethod
    async def aget_all(cls, *, key: str, dag_id: str, task_id: str, run_id: str, **kwargs: Any) -> Any:
        """The async :meth:`get_all`."""
        run = None if kwargs.get("include_prior_dates") else run_id
        with _pulling(dag_id=dag_id, task_id=task_id, run_id=run, xcom_key=key):
            return await super().aget_all(key=key, dag_id=dag_id, task_id=task_id, run_id=run_id, **kwargs)

    @classmethod
    def delete(cls, key: str, task_id: str, dag_id: str, run_id: str, map_index: int | None = None) -> None:
        """Delete XCom rows as Airflow does (payloads go with :meth:`purge` or ``airflow results rm/gc``)."""
        with _pulling(dag_id=dag_id, task_id=task_id, run_id=run_id, map_index=map_index, xcom_key=key):
            super().delete(key, task_id, dag_id, run_id, map_index)

    @staticmethod
    def serialize_value(
        value: Any,
        *,
        key: str | None = None,
        task_id: str | None = None,
        dag_id: str | None = None,
        run_id: str | None = None,
        map_index: int | None = None,
    ) -> Any:
        """The row for ``value`` (Airflow < 3.4; 3.4 calls :meth:`store_value`): small JSON stays plain, a value
        the mixin just checkpointed becomes a reference to it, anything else is written to ``[results]
        xcom_result`` behind a (signed) envelope."""
        ident = {
            "dag_id": dag_id,
            "task_id": task_id,
            "run_id": run_id,
            "map_index": map_index,
            "xcom_key": key,
        }
        return _row_for(value, ident, _Instance())

    @classmethod
    def _store(cls, coordinate: Any, map_index: int, *args: Any, **kwargs: Any) -> Any:
        """Airflow >= 3.4 stores every XCom through here: keep the row's map index for :meth:`store_value`."""
        token = _STORING_MAP_INDEX.set(map_index)
        try:
            return super()._store(coordinate, map_index, *args, **kwargs)  # type: ignore[misc]
        finally:
            _STORING_MAP_INDEX.reset(token)

    @classmethod
    def store_value(cls, coordinate: Any, key: str, value: Any) -> Any:
        """Airflow >= 3.4: the row for ``value`` written for ``coordinate`` (an ``XComCoordinate``), as
        :meth:`serialize_value` makes it, at a location of that task instance's own: ``.../iteration-<i>/...``
        in iteration ``i`` of a native Task Loop (the same location as a task outside any loop otherwise),
        ``.../ti-<id>/...`` for a task instance whose iteration is not known here (a trigger writing for it),
        ``.../write-<uuid>/...`` when one task writes another's XCom (``coordinate.ti_id`` is None), unique
        per write. Airflow 3.2/3.3 never call it."""
        ident = {
            "dag_id": coordinate.dag_id,
            "task_id": coordinate.task_id,
            "run_id": coordinate.run_id,
            "map_index": _STORING_MAP_INDEX.get(),
            "xcom_key": key,
        }
        return _row_for(value, ident, _instance_of(coordinate))

    @classmethod
    def load_value(cls, stored: Any) -> Any:
        """Airflow >= 3.4: the value of a pulled row, read exactly as :meth:`deserialize_value` reads it (the
        row's identity comes from the pull, as there)."""
        from types import SimpleNamespace

        return cls.deserialize_value(SimpleNamespace(value=stored))

    @staticmethod
    def deserialize_value(result: Any) -> Any:
        """The value of a pulled row: plain values as they are, an envelope's payload once every check passed."""
        value = result.value
        if looks_like_envelope(value):
            return _read_envelope(value, _expected_identity(result))
        if isinstance(value, str) and "://" in value and _is_common_io_reference(value):
            return _read_common_io(result)
        return BaseXCom.deserialize_value(result)

    @classmethod
    def purge(cls, xcom: Any, *args: Any) -> None:
        """On ``[results] purge = on_clear``, delete the payload this backend wrote for ``xcom`` (never a
        mixin checkpoint, never a value another backend wrote, never anything an envelope that fails the
        reader's checks points at)."""
        value = getattr(xcom, "value", None)
        if config.purge() != "on_clear" or not is_envelope(value) or value.get("owner") != OWNER_XCOM:
            return
        try:
            result, location, signed = _open(value, _expected_identity(xcom))
        except UntrustedEnvelopeError as exc:
            log.warning("Not purging the payload of an XCom row that fails its checks: %s", exc)
            return
        if not signed and config.envelope_signing_key():
            # Deleting is a write: with a key available, only what a key holder wrote for this row goes.
            log.warning("Not purging the payload of an unsigned XCom envelope for %s", describe(value))
            return
        if value.get("kind") == "sequence":
            from airflow_results_provider.xcom._sequence import chunk_key

            for index in range(len(value.get("chunks", []))):
                result.delete(chunk_key(location, index, result.serializer.extension))
            log.info(
                "Purged XCom payload %s (%s chunks)", value.get("location"), len(value.get("chunks", []))
            )
        elif result.delete(location):
            log.info("Purged XCom payload %s", value.get("location"))


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


def _expected_identity(row: Any) -> dict[str, Any]:
    """What the envelope in ``row`` must have been signed for: the row being pulled (known to get_one/get_all/
    delete), else the running task's DAG and run and one of its upstream tasks (a lazy sequence of an upstream
    mapped task, read by a task of the same run)."""
    expected = dict(_ROW.get() or {})
    if not expected:
        try:
            from airflow.sdk import get_current_context

            context = get_current_context()
            expected = {"dag_id": context["dag"].dag_id, "run_id": context["run_id"]}
            # A lazy sequence is an XComArg of an upstream task: the envelope must be one of theirs.
            upstream = getattr(context.get("task"), "upstream_task_ids", None)
            if upstream:
                expected["task_ids"] = frozenset(upstream)
        except Exception:  # outside a task (e.g. tests calling the backend directly): nothing to compare
            expected = {}
    if getattr(row, "key", None) is not None:
        expected.setdefault("xcom_key", row.key)
    return expected


def _open(envelope: dict[str, Any], expected: dict[str, Any]) -> tuple[Any, str, bool]:
    from airflow_results_provider.xcom._envelope import open_envelope, trusted_store_specs

    opened = open_envelope(
        envelope,
        expected=expected,
        signing_key=config.envelope_signing_key(),
        trusted_stores=trusted_store_specs(
            (config.xcom_result(), config.default_result(), *config.trusted_stores())
        ),
        allow_unsigned_pickle=config.allow_unsigned_pickle(),
        allow_unsigned=config.allow_unsigned_envelopes(),
    )
    return opened.result, opened.key, opened.signed


def _read_envelope(envelope: dict[str, Any], expected: dict[str, Any]) -> Any:
    from airflow_results_provider.exceptions import ResultNotFoundError
    from airflow_results_provider.serializers.json_serializer import JSONSerializer

    result, location, _ = _open(envelope, expected)
    if envelope.get("json_codec") == "orjson" and type(result.serializer) is JSONSerializer:
        result.serializer.orjson_written = True  # at worst (a forged row) a long integer reads as a float
    if envelope.get("kind") == "sequence":
        from airflow_results_provider.xcom._sequence import ResultSequence, resolving_for_expansion

        sequence = ResultSequence(envelope, result, location)
        return sequence if resolving_for_expansion() else sequence.materialize()
    try:
        # The envelope's sha256 is verified before a byte is deserialized, on the bytes that get loaded.
        return result.read(location, sha256=envelope.get("sha256")).value
    except ResultNotFoundError as exc:
        raise ResultNotFoundError(
            f"XCom value of {describe(envelope)} is missing: {exc}{missing_value_hint(envelope)}"
        ) from exc


def _is_common_io_reference(value: str) -> bool:
    """A path string written by common-io's XComObjectStorageBackend under its configured base path."""
    base = config.common_io_xcom_path()
    return bool(base) and value.startswith(base.rstrip("/") + "/")


def _read_common_io(result: Any) -> Any:
    from airflow.providers.common.io.xcom.backend import XComObjectStorageBackend

    return XComObjectStorageBackend.deserialize_value(result)

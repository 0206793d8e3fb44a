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
from typing import Any

from airflow.sdk.bases.xcom import BaseXCom

from airflow_results_provider import config
from airflow_results_provider.core.stored_digest import StoredDigest, wants_digests
from airflow_results_provider.exceptions import UntrustedEnvelopeError
from airflow_results_provider.xcom._envelope import (
    OWNER_XCOM,
    describe,
    is_envelope,
    looks_like_envelope,
    missing_value_hint,
)
from airflow_results_provider.xcom._store import (
    _FEEDS_MAPPED_TASKS,
    _PUSHING_TI,
    _Instance,
    _instance_of,
    _row_for,
)

log = logging.getLogger(__name__)

#: The identity of the XCom row being pulled or deleted (DAG, task, run, map index, key): what an envelope
#: must have been signed for. Set by get_one/get_all/delete, which know it; deserialize_value does not.
_ROW: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("results_xcom_row", default=None)
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
    if wants_digests():
        return _stored_digest(envelope)
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


def _stored_digest(envelope: dict[str, Any]) -> StoredDigest:
    """What a cache key sees of an envelope's value (its checks passed): the recorded digests, nothing read."""
    serializer = str(envelope.get("serializer", ""))
    if envelope.get("kind") == "sequence":
        chunks = envelope.get("chunks") or []
        parts = tuple(str(c) for c in chunks)  # each chunk's sha256, signed with the envelope
        return StoredDigest("sha256", "", serializer, parts)
    return StoredDigest("sha256", str(envelope.get("sha256", "")), serializer)


def _is_common_io_reference(value: str) -> bool:
    """A path string written by common-io's XComObjectStorageBackend under its configured base path."""
    base = config.common_io_xcom_path()
    return bool(base) and value.startswith(base.rstrip("/") + "/")


def _read_common_io(result: Any) -> Any:
    from airflow.providers.common.io.xcom.backend import XComObjectStorageBackend

    return XComObjectStorageBackend.deserialize_value(result)

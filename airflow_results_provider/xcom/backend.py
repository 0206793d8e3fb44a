"""ResultXComBackend: small values stay plain JSON rows; others go through a Result and the row holds a JSON
envelope (what the UI shows). A thin adapter over the Results and this package's internal modules:
:mod:`._envelope` (the row's JSON), :mod:`._jsonable` (inline or not) and :mod:`._sequence` (chunked lists).

Import-light on purpose: only ``BaseXCom`` is imported at module level; Results, serializers and hooks load when
a value is actually offloaded or read.
"""

from __future__ import annotations

import contextvars
import logging
from typing import Any

from airflow.sdk.bases.xcom import BaseXCom

from airflow_results_provider import config
from airflow_results_provider._identity import map_index_or_none
from airflow_results_provider.xcom._envelope import (
    OWNER_CHECKPOINT,
    OWNER_XCOM,
    build_envelope,
    describe,
    is_envelope,
    verify,
)

log = logging.getLogger(__name__)

#: Types that are never inline JSON and that pickle streams well: offloaded without trying JSON first.
_BINARY_MODULES = ("numpy", "pandas", "pyarrow", "polars")
#: Set while pushing a list that mapped tasks will expand over (Airflow passes its length to ``set``).
_FEEDS_MAPPED_TASKS: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "results_feeds_mapped", default=False
)


class ResultXComBackend(BaseXCom):
    """XCom backend storing values through Result classes (``[results] xcom_*`` options)."""

    @classmethod
    def set(cls, key: str, value: Any, *, _mapped_length: int | None = None, **kwargs: Any) -> None:
        token = _FEEDS_MAPPED_TASKS.set(_mapped_length is not None)
        try:
            super().set(key, value, _mapped_length=_mapped_length, **kwargs)
        finally:
            _FEEDS_MAPPED_TASKS.reset(token)

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
        ident = {
            "dag_id": dag_id,
            "task_id": task_id,
            "run_id": run_id,
            "map_index": map_index,
            "xcom_key": key,
        }
        if value is None:
            return BaseXCom.serialize_value(value)
        if key == BaseXCom.XCOM_RETURN_KEY:
            from airflow_results_provider._checkpointing import take_checkpoint

            checkpoint = take_checkpoint(dag_id, task_id, run_id, map_index, value)
            if checkpoint is not None:
                return _envelope(
                    checkpoint.metadata or {},
                    checkpoint.store_spec(),
                    checkpoint.location,
                    OWNER_CHECKPOINT,
                    ident,
                )
        inline = _inline_json(value)
        if inline is not _OFFLOAD:
            return inline
        return _offload(value, ident)

    @staticmethod
    def deserialize_value(result: Any) -> Any:
        value = result.value
        if is_envelope(value):
            return _read_envelope(value)
        if isinstance(value, str) and "://" in value and _is_common_io_reference(value):
            return _read_common_io(result)
        return BaseXCom.deserialize_value(result)

    @classmethod
    def purge(cls, xcom: Any, *args: Any) -> None:
        """On ``[results] purge = on_clear``, delete the payload this backend wrote for ``xcom`` (never a
        mixin checkpoint, never a value another backend wrote)."""
        value = getattr(xcom, "value", None)
        if config.purge() != "on_clear" or not is_envelope(value) or value.get("owner") != OWNER_XCOM:
            return
        if signing_key := config.signing_key():
            verify(value, signing_key)
        from airflow_results_provider.xcom._envelope import result_for_envelope

        result, location = result_for_envelope(value)
        if value.get("kind") == "sequence":
            from airflow_results_provider.xcom._sequence import chunk_key

            for index in range(len(value.get("chunks", []))):
                result.delete(chunk_key(location, index, result.serializer.extension))
            log.info(
                "Purged XCom payload %s (%s chunks)", value.get("location"), len(value.get("chunks", []))
            )
        elif result.delete(location):
            log.info("Purged XCom payload %s", value.get("location"))


class _Offload:
    pass


_OFFLOAD: Any = _Offload()


def _inline_json(value: Any) -> Any:
    """The plain JSON row Airflow's default backend would store, or ``_OFFLOAD``."""
    module = type(value).__module__.split(".", 1)[0]
    if isinstance(value, (bytes, bytearray, memoryview)) or module in _BINARY_MODULES:
        return _OFFLOAD
    from airflow_results_provider.xcom._jsonable import json_size_at_most

    threshold = config.xcom_inline_threshold()
    if threshold >= 0:
        small = json_size_at_most(value, threshold)
        if small is False:
            return _OFFLOAD
        if small is True:
            return BaseXCom.serialize_value(value)
    try:
        serialized = BaseXCom.serialize_value(value)
    except Exception:  # not serializable by Airflow's serde: offload with a Result serializer
        return _OFFLOAD
    if threshold < 0:
        return serialized
    return serialized if json_size_at_most(serialized, threshold) else _OFFLOAD


def _offload(value: Any, ident: dict[str, Any]) -> dict[str, Any]:
    from airflow_results_provider.results._store_spec import result_from_spec
    from airflow_results_provider.templating.filters import default_location

    spec = config.xcom_result()
    result = result_from_spec(spec)
    result.serializer = _serializer_for(value)
    context = {**ident, "map_index": map_index_or_none(ident["map_index"])}
    if _FEEDS_MAPPED_TASKS.get() and type(value) is list and value:
        from airflow_results_provider._metadata import build_metadata
        from airflow_results_provider.xcom._sequence import write_chunks

        key = "xcom/" + default_location(context, "")
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
        return _envelope(metadata, result.store_spec(), key, OWNER_XCOM, ident, extra)
    result.location = "xcom/" + default_location(context, result.serializer.extension)
    written = result.write(value, **context)
    return _envelope(written.metadata or {}, written.store_spec(), written.location, OWNER_XCOM, ident)


def _serializer_for(value: Any) -> Any:
    from airflow_results_provider.serializers import JSONSerializer, PickleSerializer

    choice = config.xcom_serializer()
    if choice == "json":
        return JSONSerializer()
    if choice == "pickle":
        return PickleSerializer()
    from airflow_results_provider.xcom._jsonable import is_strict_json

    return JSONSerializer() if is_strict_json(value) else PickleSerializer()


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
        signing_key=config.signing_key(),
    )


def _read_envelope(envelope: dict[str, Any]) -> Any:
    from airflow_results_provider.exceptions import ResultIntegrityError, ResultNotFoundError
    from airflow_results_provider.xcom._envelope import result_for_envelope

    signing_key = config.signing_key()
    if signing_key:
        verify(envelope, signing_key)
    result, location = result_for_envelope(envelope)
    if envelope.get("kind") == "sequence":
        from airflow_results_provider.xcom._sequence import ResultSequence, resolving_for_expansion

        sequence = ResultSequence(envelope, result, location)
        return sequence if resolving_for_expansion() else sequence.materialize()
    expected = envelope.get("sha256")
    try:
        if signing_key and expected and "pickle" in result.serializer.label:
            # Signed envelope: the payload must match it before anything is unpickled.
            digest = result.checksum(location)
            if digest != expected:
                raise ResultIntegrityError(
                    f"XCom payload of {describe(envelope)} has sha256 {digest}, the signed envelope says "
                    f"{expected}: refusing to unpickle it"
                )
        read = result.read(location)
    except ResultNotFoundError as exc:
        raise ResultNotFoundError(f"XCom value of {describe(envelope)} is missing: {exc}") from exc
    actual = (read.metadata or {}).get("sha256")
    if expected and actual and actual != expected:
        raise ResultIntegrityError(
            f"XCom payload of {describe(envelope)} has sha256 {actual}, the envelope says {expected}"
        )
    return read.value


def _is_common_io_reference(value: str) -> bool:
    """A path string written by common-io's XComObjectStorageBackend under its configured base path."""
    base = config.common_io_xcom_path()
    return bool(base) and value.startswith(base.rstrip("/") + "/")


def _read_common_io(result: Any) -> Any:
    from airflow.providers.common.io.xcom.backend import XComObjectStorageBackend

    return XComObjectStorageBackend.deserialize_value(result)

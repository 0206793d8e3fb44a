"""XCom envelopes: the JSON a Result-backed XCom row holds instead of the value, and how to read one back.

Pure (no Airflow imports): building, signing (HMAC-SHA256 over the canonical JSON), verifying, and turning an
envelope back into the Result that can read its payload. Shared by the XCom backend, and by anything that
inspects XCom rows.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import posixpath
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from airflow_results_provider._identity import map_index_or_none
from airflow_results_provider.exceptions import SerializationError, UntrustedEnvelopeError

log = logging.getLogger(__name__)

MARKER = "__airflow_result__"
VERSION = 1
#: Who wrote the payload: the XCom backend (its to delete on purge) or a mixin checkpoint (never deleted).
OWNER_XCOM = "xcom"
OWNER_CHECKPOINT = "checkpoint"


def is_envelope(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get(MARKER) == VERSION and "location" in value


def build_envelope(
    *,
    metadata: Mapping[str, Any],
    store: str | None,
    key: str,
    owner: str,
    dag_id: str | None,
    task_id: str | None,
    run_id: str | None,
    map_index: int | None,
    xcom_key: str | None,
    extra: Mapping[str, Any] | None = None,
    signing_key: str | bytes = b"",
) -> dict[str, Any]:
    """The envelope of a payload written (or referenced) for one XCom row."""
    envelope: dict[str, Any] = {
        MARKER: VERSION,
        "result": metadata.get("result"),
        "location": metadata.get("location"),
        "serializer": metadata.get("serializer"),
        "size": metadata.get("size"),
        "sha256": metadata.get("sha256"),
        "python_type": metadata.get("python_type"),
        "preview": metadata.get("preview"),
        "url": metadata.get("url"),
        "store": store,
        "key": key,
        "owner": owner,
        "dag_id": dag_id,
        "task_id": task_id,
        "run_id": run_id,
        "map_index": map_index_or_none(map_index),
        "try_number": metadata.get("try_number"),
        "xcom_key": xcom_key,
        "written_at": metadata.get("written_at"),
    }
    envelope.update(extra or {})
    envelope = {k: v for k, v in envelope.items() if v is not None}
    if signing_key:
        envelope["hmac"] = sign(envelope, signing_key)
    return envelope


def _canonical(envelope: Mapping[str, Any]) -> bytes:
    body = {k: v for k, v in envelope.items() if k != "hmac"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()


def _key_bytes(signing_key: str | bytes) -> bytes:
    return signing_key.encode() if isinstance(signing_key, str) else signing_key


def sign(envelope: Mapping[str, Any], signing_key: str | bytes) -> str:
    """HMAC-SHA256 of the envelope's canonical JSON: it covers the payload's store, key, serializer and sha256
    and the row's identity (DAG, task, run, map index, XCom key)."""
    return hmac.new(_key_bytes(signing_key), _canonical(envelope), hashlib.sha256).hexdigest()


def verify(envelope: Mapping[str, Any], signing_key: str | bytes) -> None:
    """Raise :class:`UntrustedEnvelopeError` unless the envelope carries a valid HMAC for ``signing_key``."""
    given = envelope.get("hmac")
    if not isinstance(given, str) or not hmac.compare_digest(given, sign(envelope, signing_key)):
        raise UntrustedEnvelopeError(
            f"XCom envelope for {describe(envelope)} is not signed with this deployment's key ([results] "
            "signing_key, or the one derived from [api] secret_key): missing or wrong HMAC, refusing to load "
            "its payload"
        )


def describe(envelope: Mapping[str, Any]) -> str:
    """``dag.task[map] in run R at LOCATION`` for error messages."""
    index = envelope.get("map_index")
    task = f"{envelope.get('dag_id')}.{envelope.get('task_id')}" + (f"[{index}]" if index is not None else "")
    return f"task {task}, run {envelope.get('run_id')}, location {envelope.get('location')}"


def missing_value_hint(envelope: Mapping[str, Any]) -> str:
    """Why a value written by another task is missing when workers do not share a disk, and the fix."""
    from airflow_results_provider import config

    executor = config.distributed_executor()
    if not executor or not str(envelope.get("store", "")).startswith("file:"):
        return ""
    return (
        f". It was written to the local disk of the worker that ran {envelope.get('task_id')}, and [core] "
        f"executor is {executor}: other workers cannot see it. Store results where every worker can read them: "
        "S3Result/GCSResult/AzureResult (e.g. [results] default_result = s3://bucket/prefix and xcom_result), "
        "or a file system mounted at the same path on every worker"
    )


def looks_like_envelope(value: Any) -> bool:
    """Any mapping carrying the envelope marker: what a reader must treat as an envelope (and never as data)."""
    return isinstance(value, Mapping) and MARKER in value


class OpenedEnvelope(NamedTuple):
    """An envelope that passed every check: the Result that reads its payload, the key, and whether a key
    holder signed it."""

    result: Any
    key: str
    signed: bool


def open_envelope(
    envelope: Mapping[str, Any],
    *,
    expected: Mapping[str, Any],
    signing_key: bytes,
    trusted_stores: Iterable[str],
    allow_unsigned_pickle: bool = False,
) -> OpenedEnvelope:
    """Check an envelope read from an XCom row, before anything touches storage.

    XCom rows are untrusted input (the REST API writes them, and any task's return value may look like one).
    An envelope is accepted only when:

    - it is signed with ``signing_key`` (a valid HMAC), or it is unsigned and points into one of
      ``trusted_stores`` (the configured stores) and needs no unpickling (unless ``allow_unsigned_pickle``);
    - its identity (DAG, task, run, map index, XCom key) matches ``expected``, the row being pulled, so a valid
      envelope copied from another DAG's or an older run's row is refused;
    - its store is a URL (never a ``module:attr`` that would be imported), its key a relative normalized key
      inside that store, and its serializer one of the built-in serializers.

    :raises UntrustedEnvelopeError: a check failed; nothing was read, imported or unpickled.
    """
    if not is_envelope(envelope):
        raise UntrustedEnvelopeError(f"XCom row holds a malformed Result envelope: {_sample(envelope)}")
    signed = bool(signing_key) and "hmac" in envelope
    if signed:
        verify(envelope, signing_key)
    _check_identity(envelope, expected)
    trusted = set(trusted_stores)
    store = envelope.get("store")
    if not isinstance(store, str) or not store:
        raise UntrustedEnvelopeError(f"XCom envelope for {describe(envelope)} names no store to read from")
    if not is_url_spec(store) and store not in trusted:
        raise UntrustedEnvelopeError(
            f"XCom envelope for {describe(envelope)} names the store {store!r}: envelopes may name URL stores "
            "only (a module:attribute is never imported from an XCom row)"
        )
    if not signed and store not in trusted:
        raise UntrustedEnvelopeError(
            f"Unsigned XCom envelope for {describe(envelope)} points into {store!r}, which is not a configured "
            "store ([results] xcom_result, default_result or trusted_stores): refusing to read it"
        )
    key = envelope.get("key")
    if not is_relative_key(key):
        raise UntrustedEnvelopeError(
            f"XCom envelope for {describe(envelope)} has the key {key!r}: keys must be relative, normalized "
            "paths inside their store"
        )
    from airflow_results_provider.serializers._labels import serializer_from_label

    try:
        serializer = serializer_from_label(str(envelope.get("serializer")))
    except SerializationError as exc:
        raise UntrustedEnvelopeError(f"XCom envelope for {describe(envelope)}: {exc}") from exc
    if serializer.loads_code and not signed:
        if not allow_unsigned_pickle:
            raise UntrustedEnvelopeError(
                f"XCom envelope for {describe(envelope)} is not signed and its payload would be unpickled "
                f"({serializer.label}): refusing. Rows written before signing was enabled can be read with "
                "[results] allow_unsigned_pickle = True (unsafe: anyone who can write XCom rows could then "
                "make workers unpickle files of the configured stores)"
            )
        log.warning(
            "Unpickling the payload of an unsigned XCom envelope for %s ([results] allow_unsigned_pickle = True)",
            describe(envelope),
        )
    from airflow_results_provider.results._store_spec import result_from_spec

    result = result_from_spec(store)
    result.serializer = serializer
    return OpenedEnvelope(result, str(key), signed)


def trusted_store_specs(specs: Iterable[str]) -> set[str]:
    """The configured store specs as written and as their Results spell them (``store_spec()``)."""
    from airflow_results_provider.results._store_spec import result_from_spec

    trusted: set[str] = set()
    for spec in specs:
        trusted.add(spec)
        spelled = result_from_spec(spec).store_spec()
        if spelled:
            trusted.add(spelled)
    return trusted


def is_relative_key(key: Any) -> bool:
    """A non-empty, relative, normalized ``/``-separated key: no ``..``, ``.``, empty parts, backslash or NUL."""
    if not isinstance(key, str) or not key or key.startswith("/") or "\\" in key or "\x00" in key:
        return False
    return all(part not in ("", ".", "..") for part in key.split("/")) and posixpath.normpath(key) == key


def is_url_spec(store: str) -> bool:
    """``store`` is a URL (``scheme://...``), not a ``module:attribute`` that resolving would import and call."""
    return "://" in store and ":" not in store.split("://", 1)[0].replace("objectstorage+", "", 1)


def _check_identity(envelope: Mapping[str, Any], expected: Mapping[str, Any]) -> None:
    for field in ("dag_id", "task_id", "run_id", "xcom_key"):
        want = expected.get(field)
        if want is not None and envelope.get(field) != want:
            raise UntrustedEnvelopeError(
                f"XCom envelope for {describe(envelope)} was written for {field} {envelope.get(field)!r} but "
                f"the row pulled is {field} {want!r}: an envelope copied from another row is refused"
            )
    if "map_index" in expected and expected["map_index"] is not None:
        want, got = map_index_or_none(expected["map_index"]), map_index_or_none(envelope.get("map_index"))
        if want != got:
            raise UntrustedEnvelopeError(
                f"XCom envelope for {describe(envelope)} was written for map index {got} but the row pulled "
                f"is map index {want}: an envelope copied from another row is refused"
            )


def _sample(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."

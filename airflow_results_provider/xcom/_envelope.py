"""XCom envelopes: the JSON a Result-backed XCom row holds instead of the value, and how to read one back.

Pure (no Airflow imports): building, signing (HMAC-SHA256 over the canonical JSON), verifying, and turning an
envelope back into the Result that can read its payload. Shared by the XCom backend, and by anything that
inspects XCom rows.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from airflow_results_provider._identity import map_index_or_none
from airflow_results_provider.exceptions import ResultError, ResultIntegrityError

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
    signing_key: str = "",
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


def sign(envelope: Mapping[str, Any], signing_key: str) -> str:
    return hmac.new(signing_key.encode(), _canonical(envelope), hashlib.sha256).hexdigest()


def verify(envelope: Mapping[str, Any], signing_key: str) -> None:
    """Raise :class:`ResultIntegrityError` unless the envelope carries a valid HMAC for ``signing_key``."""
    given = envelope.get("hmac")
    if not isinstance(given, str) or not hmac.compare_digest(given, sign(envelope, signing_key)):
        raise ResultIntegrityError(
            f"XCom envelope for {describe(envelope)} is not signed with the configured [results] signing_key "
            "(missing or wrong HMAC): refusing to load its payload"
        )


def describe(envelope: Mapping[str, Any]) -> str:
    """``dag.task[map] in run R at LOCATION`` for error messages."""
    index = envelope.get("map_index")
    task = f"{envelope.get('dag_id')}.{envelope.get('task_id')}" + (f"[{index}]" if index is not None else "")
    return f"task {task}, run {envelope.get('run_id')}, location {envelope.get('location')}"


def result_for_envelope(envelope: Mapping[str, Any]) -> tuple[Any, str]:
    """``(result, location)`` that reads the payload of ``envelope``."""
    from airflow_results_provider.results._store_spec import result_from_spec

    store = envelope.get("store")
    if store is None:
        raise ResultError(f"XCom envelope for {describe(envelope)} names no store to read from")
    from airflow_results_provider.serializers._labels import serializer_from_label

    result = result_from_spec(store)
    result.serializer = serializer_from_label(str(envelope.get("serializer")))
    return result, str(envelope["key"])

"""XCom envelopes: the JSON a Result-backed XCom row holds instead of the value.

Pure: building, signing (HMAC-SHA256 over the canonical JSON, :mod:`.signing`), verifying a signature and the
row identity it was written for. Turning an envelope into the Result that reads its payload is
:func:`airflow_results_provider.xcom._envelope.open_envelope`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_results_provider.core import signing
from airflow_results_provider.core.identity import map_index_or_none
from airflow_results_provider.core.rows import ENVELOPE_MARKER as MARKER
from airflow_results_provider.core.rows import ENVELOPE_VERSION as VERSION
from airflow_results_provider.exceptions import UntrustedEnvelopeError

__all__ = [
    "MARKER",
    "VERSION",
    "build_envelope",
    "check_identity",
    "describe",
    "is_envelope",
    "looks_like_envelope",
    "sign",
    "verify",
]


def is_envelope(value: Any) -> bool:
    """A well-formed envelope of the current version."""
    return isinstance(value, Mapping) and value.get(MARKER) == VERSION and "location" in value


def looks_like_envelope(value: Any) -> bool:
    """Any mapping carrying the envelope marker: what a reader must treat as an envelope (and never as data)."""
    return isinstance(value, Mapping) and MARKER in value


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


def sign(envelope: Mapping[str, Any], signing_key: str | bytes) -> str:
    """HMAC-SHA256 of the envelope's canonical JSON, typed as an envelope: it covers the payload's store, key,
    serializer and sha256 and the row's identity (DAG, task, run, map index, XCom key)."""
    return signing.sign(envelope, signing_key, signing.DOMAIN_ENVELOPE)


def signed_by_earlier_version(envelope: Mapping[str, Any], signing_key: str | bytes) -> bool:
    """Whether ``envelope`` carries an untyped signature (earlier builds): valid then, treated as unsigned now."""
    return signing.signature_matches(envelope, signing_key, signing.DOMAIN_NONE)


def verify(envelope: Mapping[str, Any], signing_key: str | bytes) -> None:
    """Raise :class:`UntrustedEnvelopeError` unless the envelope carries a valid HMAC for ``signing_key``."""
    if not signing.signature_matches(envelope, signing_key, signing.DOMAIN_ENVELOPE):
        raise UntrustedEnvelopeError(
            f"XCom envelope for {describe(envelope)} is not signed with this deployment's key ([results] "
            "signing_key, or the one derived from [api] secret_key): missing or wrong HMAC, refusing to load "
            "its payload"
        )


def check_identity(envelope: Mapping[str, Any], expected: Mapping[str, Any]) -> None:
    """Raise :class:`UntrustedEnvelopeError` unless the envelope was written for the row ``expected`` names."""
    for field in ("dag_id", "task_id", "run_id", "xcom_key"):
        want = expected.get(field)
        if want is not None and envelope.get(field) != want:
            raise UntrustedEnvelopeError(
                f"XCom envelope for {describe(envelope)} was written for {field} {envelope.get(field)!r} but "
                f"the row pulled is {field} {want!r}: an envelope copied from another row is refused"
            )
    allowed = expected.get("task_ids")
    if allowed is not None and envelope.get("task_id") not in allowed:
        raise UntrustedEnvelopeError(
            f"XCom envelope for {describe(envelope)} was written for task {envelope.get('task_id')!r}, which is "
            f"not upstream of the task reading it ({', '.join(sorted(allowed))}): refused"
        )
    if "map_index" in expected and expected["map_index"] is not None:
        want, got = map_index_or_none(expected["map_index"]), map_index_or_none(envelope.get("map_index"))
        if want != got:
            raise UntrustedEnvelopeError(
                f"XCom envelope for {describe(envelope)} was written for map index {got} but the row pulled "
                f"is map index {want}: an envelope copied from another row is refused"
            )


def describe(envelope: Mapping[str, Any]) -> str:
    """``dag.task[map] in run R at LOCATION`` for error messages."""
    index = envelope.get("map_index")
    task = f"{envelope.get('dag_id')}.{envelope.get('task_id')}" + (f"[{index}]" if index is not None else "")
    return f"task {task}, run {envelope.get('run_id')}, location {envelope.get('location')}"

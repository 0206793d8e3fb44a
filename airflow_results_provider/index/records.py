"""Index records: what one XCom row says about a stored result, decoded and verified (rows are untrusted).

The index is the metadata DB, never a store listing: XCom rows holding envelopes (values the XCom backend
offloaded, or checkpoints it referenced) and the ``_link_ResultLink`` row of every mixin task, whose URL carries a
signed reference to the checkpoint or target hit (:mod:`.references`). A record whose signature does not verify
is listed as unverified and its store is never touched.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from airflow_results_provider.core.envelope import check_identity, is_envelope, verify
from airflow_results_provider.core.rows import LINK_KEY, OWNER_CHECKPOINT, OWNER_XCOM
from airflow_results_provider.exceptions import UntrustedEnvelopeError
from airflow_results_provider.index import references


@dataclass
class Record:
    """One stored result, as the index knows it (no store access)."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    xcom_key: str
    owner: str
    store: str | None
    key: str | None
    result: str | None = None
    location: str | None = None
    serializer: str | None = None
    size: int | None = None
    sha256: str | None = None
    python_type: str | None = None
    preview: str | None = None
    written_at: str | None = None
    try_number: int | None = None
    url: str | None = None
    verified: bool = False
    kind: str | None = None
    chunks: int | None = None
    exists: bool | None = None
    row_timestamp: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def id(self) -> str:
        """``dag/run/task/map_index/xcom_key``, URL-quoted parts (what ``show`` and the detail page take)."""
        from urllib.parse import quote

        parts = (self.dag_id, self.run_id, self.task_id, str(self.map_index), self.xcom_key)
        return "/".join(quote(p, safe="") for p in parts)

    def as_dict(self) -> dict[str, Any]:
        """The record as JSON-able fields, with its ``id``."""
        data = asdict(self)
        data.pop("extra")
        data["id"] = self.id
        return data


def parse_id(record_id: str) -> tuple[str, str, str, int, str]:
    """``(dag_id, run_id, task_id, map_index, xcom_key)`` of a :attr:`Record.id`.

    :raises ValueError: not five ``/``-separated parts."""
    from urllib.parse import unquote

    parts = record_id.split("/")
    if len(parts) != 5:
        raise ValueError(f"A result id is dag/run/task/map_index/xcom_key, got {record_id!r}")
    dag_id, run_id, task_id, index, key = (unquote(p) for p in parts)
    return dag_id, run_id, task_id, int(index), key


def _decode(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def record_from_row(
    dag_id: str,
    run_id: str,
    task_id: str,
    map_index: int,
    key: str,
    value: Any,
    timestamp: Any = None,
    *,
    signing_key: bytes = b"",
) -> Record | None:
    """The record an XCom row describes, or ``None`` when it describes no stored result."""
    value = _decode(value)
    identity = {"dag_id": dag_id, "task_id": task_id, "run_id": run_id, "map_index": map_index}
    stamp = timestamp.isoformat() if hasattr(timestamp, "isoformat") else timestamp
    common = {"dag_id": dag_id, "run_id": run_id, "task_id": task_id, "map_index": map_index, "xcom_key": key}
    if key == LINK_KEY:
        url, ref = references.detach(value)
        if ref is None:
            return None
        verified = references.verify_reference(ref, identity, signing_key)
        store, rkey = ref.get("store"), ref.get("key")
        return Record(
            **common,
            owner=str(ref.get("owner") or OWNER_CHECKPOINT),
            store=store if isinstance(store, str) else None,
            key=rkey if isinstance(rkey, str) else None,
            location=_uri(store, rkey),
            **_payload_fields(ref),
            url=_console_url(url, verified),  # a console link (else the Result tab)
            verified=verified,
            row_timestamp=stamp,
        )
    if not is_envelope(value):
        return None
    verified = _envelope_verified(value, {**identity, "xcom_key": key}, signing_key)
    return Record(
        **common,
        owner=str(value.get("owner") or OWNER_XCOM),
        store=_str(value.get("store")),
        key=_str(value.get("key")),
        location=_str(value.get("location")),
        **_payload_fields(value),
        preview=_str(value.get("preview")),
        url=_console_url(value.get("url"), verified),
        verified=verified,
        kind=_str(value.get("kind")),
        chunks=len(value["chunks"]) if isinstance(value.get("chunks"), list) else None,
        row_timestamp=stamp,
    )


def _envelope_verified(envelope: Mapping[str, Any], expected: Mapping[str, Any], signing_key: bytes) -> bool:
    if not signing_key:
        return False
    try:
        verify(envelope, signing_key)
        check_identity(envelope, expected)
    except UntrustedEnvelopeError:
        return False
    return True


def _console_url(value: Any, verified: bool) -> str | None:
    """A console link only from a verified row and only ``https://`` (never ``javascript:``, never a forged
    row's phishing link)."""
    return value if verified and isinstance(value, str) and value.startswith("https://") else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _uri(store: Any, key: Any) -> str | None:
    if not isinstance(store, str) or not isinstance(key, str):
        return None
    return f"{store.rstrip('/')}/{key}"


def _payload_fields(source: Mapping[str, Any]) -> dict[str, Any]:
    """What a reference and an envelope both say about the payload, typed (rows are untrusted)."""
    return {
        "result": _str(source.get("result")),
        "serializer": _str(source.get("serializer")),
        "size": _int(source.get("size")),
        "sha256": _str(source.get("sha256")),
        "python_type": _str(source.get("python_type")),
        "written_at": _str(source.get("written_at")),
        "try_number": _int(source.get("try_number")),
    }

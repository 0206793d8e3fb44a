"""The metadata sidecar (``<payload>.meta.json``): its codec and the digests the commit protocol records.

A write stores a "pending" sidecar naming what the location may still hold, then the payload, then the final
sidecar; a reader accepts a payload only when its sha256 is one the sidecar names (:func:`accepted_digests`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from airflow_results_provider.exceptions import ResultIntegrityError

#: Metadata is stored beside the payload, as ``<payload location>.meta.json``.
METADATA_SUFFIX = ".meta.json"

#: How many earlier digests a pending sidecar keeps (one more per consecutive killed write).
MAX_CANDIDATES = 64
_COMMIT_FIELDS = ("pending", "candidates", "previous_sha256", "signature")


def committed_digests(previous: Mapping[str, Any] | None) -> list[str]:
    """The digests the payload at a location may have, judging by its current sidecar ``previous``.

    A final sidecar describes its payload exactly; a pending one (its write may have died before the payload
    landed) means its own digest or any of its candidates.
    """
    if not previous or not previous.get("sha256"):
        return []
    digests = [previous["sha256"]]
    if previous.get("pending"):
        digests += [d for d in previous.get("candidates") or [] if isinstance(d, str) and d not in digests]
    return digests[:MAX_CANDIDATES]


def accepted_digests(metadata: Mapping[str, Any] | None) -> set[str]:
    """Digests a reader accepts for the payload described by ``metadata`` (empty: nothing to verify)."""
    if not metadata or not metadata.get("sha256"):
        return set()
    accepted = set(committed_digests(metadata))
    if isinstance(metadata.get("previous_sha256"), str):  # sidecars written by 0.1.0
        accepted.add(metadata["previous_sha256"])
    return accepted


def final_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``metadata`` without the commit protocol's bookkeeping fields."""
    if metadata is None:
        return None
    return {k: v for k, v in metadata.items() if k not in _COMMIT_FIELDS}


def encode_metadata(meta: Mapping[str, Any]) -> bytes:
    """The sidecar bytes of ``meta`` (sorted JSON)."""
    return json.dumps(meta, sort_keys=True, default=str).encode()


def decode_metadata(data: bytes, uri: str = "") -> dict[str, Any]:
    """Parse a metadata sidecar. :raises ResultIntegrityError: it is not a JSON object (names ``uri``)."""
    try:
        meta = json.loads(data)
    except ValueError as exc:
        raise ResultIntegrityError(f"Metadata of the result at {uri} is corrupt: {exc}") from exc
    if not isinstance(meta, dict):
        raise ResultIntegrityError(f"Metadata of the result at {uri} is corrupt: not a JSON object")
    return meta

"""HMAC-SHA256 over canonical JSON: how envelopes and result references are signed and checked."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

#: A signature is an HMAC-SHA256 in hex.
SIGNATURE_LENGTH = 64
_HEX = frozenset("0123456789abcdef")


def canonical(record: Mapping[str, Any]) -> bytes:
    """The bytes a signature covers: ``record`` without its ``hmac`` field, as sorted compact JSON."""
    body = {k: v for k, v in record.items() if k != "hmac"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()


def key_bytes(signing_key: str | bytes) -> bytes:
    """The signing key as bytes."""
    return signing_key.encode() if isinstance(signing_key, str) else signing_key


#: Signature domains: one key signs several types of records, and a signature of one type never verifies as
#: another (a mapped task's envelope is not its link reference).
DOMAIN_ENVELOPE = "airflow-results-provider xcom envelope v2"
DOMAIN_LINK_REFERENCE = "airflow-results-provider result link reference v2"
DOMAIN_STORED_RECORD = "airflow-results-provider stored record v1"
#: Envelopes and link references of earlier builds, signed with no domain: verified only to say so (never trusted).
DOMAIN_NONE = ""


def sign(record: Mapping[str, Any], signing_key: str | bytes, domain: str) -> str:
    """HMAC-SHA256 (hex) of ``domain`` and ``record``'s canonical JSON."""
    message = (domain.encode() + b"\n" if domain else b"") + canonical(record)
    return hmac.new(key_bytes(signing_key), message, hashlib.sha256).hexdigest()


def is_signature(value: Any) -> bool:
    """Whether ``value`` has the form of a signature: 64 lowercase hex characters (anything else, such as a
    non-ASCII or a 10 MB string from a forged row, is refused before any comparison)."""
    return isinstance(value, str) and len(value) == SIGNATURE_LENGTH and all(c in _HEX for c in value)


def signature_matches(record: Mapping[str, Any], signing_key: str | bytes, domain: str) -> bool:
    """Whether ``record`` carries a valid ``hmac`` of type ``domain`` for ``signing_key`` (constant-time
    comparison); a malformed ``hmac`` is simply not a match."""
    given = record.get("hmac")
    return (
        bool(signing_key)
        and is_signature(given)
        and hmac.compare_digest(given, sign(record, signing_key, domain))
    )


#: Kinds of stored records a signature binds (domain separation: a cache entry never verifies as a checkpoint).
RECORD_RESULT = "result"
RECORD_CACHE = "cache"
RECORD_LOOP_STATE = "loop-state"
RECORD_KINDS = (RECORD_RESULT, RECORD_CACHE, RECORD_LOOP_STATE)


def _record_body(kind: str, uri: str, serializer: str, owner: Any, digests: list[str]) -> dict[str, Any]:
    return {
        "kind": kind,
        "uri": uri,
        "serializer": serializer,
        "owner": owner,
        "sha256": sorted(digests),
    }


def sign_record(
    *, kind: str, uri: str, serializer: str, owner: Any, digests: list[str], signing_key: str | bytes
) -> dict[str, Any]:
    """The ``signature`` field of a sidecar: an HMAC binding the payload digests ``digests`` to the record kind,
    the payload's full URI, its serializer and the owner recorded beside it."""
    digests = sorted(set(digests))
    body = _record_body(kind, uri, serializer, owner, digests)
    return {"kind": kind, "sha256": digests, "hmac": sign(body, signing_key, DOMAIN_STORED_RECORD)}


def signed_digests(
    metadata: Mapping[str, Any] | None, *, kind: str, uri: str, serializer: str, signing_key: str | bytes
) -> frozenset[str]:
    """The payload digests ``metadata``'s signature vouches for, when a key holder signed it as a ``kind``
    record for ``uri`` and ``serializer``; empty when it is missing, malformed or signed for anything else."""
    if not metadata or not signing_key:
        return frozenset()
    signature = metadata.get("signature")
    if not isinstance(signature, Mapping):
        return frozenset()
    digests = signature.get("sha256")
    if not isinstance(digests, list) or not digests or not all(isinstance(d, str) for d in digests):
        return frozenset()
    body = _record_body(kind, uri, serializer, metadata.get("owner"), digests)
    given = signature.get("hmac")
    if is_signature(given) and hmac.compare_digest(given, sign(body, signing_key, DOMAIN_STORED_RECORD)):
        return frozenset(digests)
    return frozenset()

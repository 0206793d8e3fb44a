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


def sign(record: Mapping[str, Any], signing_key: str | bytes) -> str:
    """HMAC-SHA256 (hex) of ``record``'s canonical JSON."""
    return hmac.new(key_bytes(signing_key), canonical(record), hashlib.sha256).hexdigest()


def is_signature(value: Any) -> bool:
    """Whether ``value`` has the form of a signature: 64 lowercase hex characters (anything else, such as a
    non-ASCII or a 10 MB string from a forged row, is refused before any comparison)."""
    return isinstance(value, str) and len(value) == SIGNATURE_LENGTH and all(c in _HEX for c in value)


def signature_matches(record: Mapping[str, Any], signing_key: str | bytes) -> bool:
    """Whether ``record`` carries a valid ``hmac`` for ``signing_key`` (constant-time comparison); a malformed
    ``hmac`` is simply not a match."""
    given = record.get("hmac")
    return bool(signing_key) and is_signature(given) and hmac.compare_digest(given, sign(record, signing_key))

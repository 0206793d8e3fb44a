"""HMAC-SHA256 over canonical JSON: how envelopes and result references are signed and checked."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any


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


def signature_matches(record: Mapping[str, Any], signing_key: str | bytes) -> bool:
    """Whether ``record`` carries a valid ``hmac`` for ``signing_key`` (constant-time comparison)."""
    given = record.get("hmac")
    return (
        bool(signing_key) and isinstance(given, str) and hmac.compare_digest(given, sign(record, signing_key))
    )

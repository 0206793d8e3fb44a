"""Secret masking: which keys hold secrets, the mask, and Airflow's own masker when it is loaded.

One rule and one limit for every preview (metadata, the UI's JSON preview, structured previews): keys matching
:data:`SENSITIVE_KEY` are replaced by :data:`MASK`, at most :data:`MAX_ITEMS` items per container and
:data:`MAX_DEPTH` levels are walked.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from typing import Any

SENSITIVE_KEY = re.compile(
    r"(password|passwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credential|auth)", re.I
)
MASK = "***"
#: Items kept per container and levels walked by :func:`mask_sensitive` (the structured preview's bounds).
MAX_ITEMS = 20
MAX_DEPTH = 4


def is_sensitive(key: Any) -> bool:
    """Whether a mapping key names a secret (``password``, ``api_key``, ``token``...)."""
    return isinstance(key, str) and SENSITIVE_KEY.search(key) is not None


def mask_sensitive(value: Any, depth: int = 0) -> Any:
    """A bounded copy of ``value`` with the values of secret-looking keys replaced by :data:`MASK`; containers
    deeper than :data:`MAX_DEPTH` are cut to ``"…"`` (never shown unmasked)."""
    if depth > MAX_DEPTH:
        return "…" if isinstance(value, (Mapping, list, tuple)) else value
    if isinstance(value, Mapping):
        return {
            k: (MASK if is_sensitive(k) else mask_sensitive(v, depth + 1))
            for k, v in list(value.items())[:MAX_ITEMS]
        }
    if isinstance(value, (list, tuple)):
        return type(value)(mask_sensitive(v, depth + 1) for v in value[:MAX_ITEMS])
    return value


def airflow_redact(text: str) -> str:
    """Apply Airflow's secrets masker when the Airflow runtime is already loaded (never import it here)."""
    masker = sys.modules.get("airflow.sdk._shared.secrets_masker.secrets_masker")
    if masker is None:
        return text
    try:
        return masker.redact(text)
    except Exception:  # the masker is best effort; a preview must never fail a write
        return text

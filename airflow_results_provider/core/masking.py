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
#: Values a masked copy holds at most (containers and scalars, all levels): what a page renders stays small.
MAX_NODES = 1000
#: Characters of one string a masked copy keeps.
MAX_STRING = 4000


def is_sensitive(key: Any) -> bool:
    """Whether a mapping key names a secret (``password``, ``api_key``, ``token``...)."""
    return isinstance(key, str) and SENSITIVE_KEY.search(key) is not None


def mask_sensitive(value: Any, depth: int = 0) -> Any:
    """A bounded copy of ``value`` with the values of secret-looking keys replaced by :data:`MASK`: at most
    :data:`MAX_ITEMS` items per container, :data:`MAX_NODES` values in all and :data:`MAX_STRING` characters per
    string; containers deeper than :data:`MAX_DEPTH` or past the node budget are cut to ``"…"`` (never shown
    unmasked)."""
    return _masked(value, depth, [MAX_NODES])


def _masked(value: Any, depth: int, budget: list[int]) -> Any:
    budget[0] -= 1
    if isinstance(value, str) and len(value) > MAX_STRING:
        return f"{value[:MAX_STRING]}… ({len(value) - MAX_STRING:,} more characters)"
    if not isinstance(value, (Mapping, list, tuple)):
        return value
    if depth > MAX_DEPTH or budget[0] <= 0:
        return "…"
    if isinstance(value, Mapping):
        out = {}
        for k, v in list(value.items())[:MAX_ITEMS]:
            if budget[0] <= 0:
                break
            if is_sensitive(k):
                budget[0] -= 1
                out[k] = MASK
            else:
                out[k] = _masked(v, depth + 1, budget)
        return out
    items = []
    for v in value[:MAX_ITEMS]:
        if budget[0] <= 0:
            break
        items.append(_masked(v, depth + 1, budget))
    return type(value)(items)


def airflow_redact(text: str) -> str:
    """Apply Airflow's secrets masker when the Airflow runtime is already loaded (never import it here)."""
    masker = sys.modules.get("airflow.sdk._shared.secrets_masker.secrets_masker")
    if masker is None:
        return text
    try:
        return masker.redact(text)
    except Exception:  # the masker is best effort; a preview must never fail a write
        return text

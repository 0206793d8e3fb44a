"""Cheap JSON checks for deciding where an XCom value goes (no Airflow imports)."""

from __future__ import annotations

import json
from typing import Any


def json_size_at_most(value: Any, limit: int) -> bool | None:
    """Whether ``value``'s JSON text is at most ``limit`` bytes, encoding only up to ``limit`` + 1 bytes.

    ``None`` when ``value`` is not plain JSON (a datetime, a set, bytes, ...). Cost is bounded by ``limit``,
    not by the size of ``value``, so huge values are recognised as huge at once.
    """
    encoder = json.JSONEncoder(allow_nan=False, ensure_ascii=False, separators=(", ", ": "))
    size = 0
    try:
        for chunk in encoder.iterencode(value):
            size += len(chunk.encode()) if not chunk.isascii() else len(chunk)
            if size > limit:
                return False
    except (TypeError, ValueError):
        return None
    return True

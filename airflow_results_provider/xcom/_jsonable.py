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


def is_strict_json(value: Any) -> bool:
    """True when ``value`` survives a JSON round trip unchanged: dicts with str keys, lists, str, int, float
    (finite), bool and None only (tuples would come back as lists, so they are not strict JSON)."""
    stack = [value]
    push, pop = stack.append, stack.pop
    while stack:
        item = pop()
        kind = type(item)
        if kind is dict:
            for key, child in item.items():
                if type(key) is not str:
                    return False
                if type(child) in (str, int, bool) or child is None:
                    continue
                push(child)
        elif kind is list:
            for child in item:
                if type(child) in (str, int, bool) or child is None:
                    continue
                push(child)
        elif kind is float:
            if item != item or item in (float("inf"), float("-inf")):
                return False
        elif kind not in (str, int, bool) and item is not None:
            return False
    return True

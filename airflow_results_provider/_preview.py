"""Structured previews, computed on the worker when a value is written and kept in its metadata sidecar, so the
UI and the CLI can show a value without ever loading (or unpickling) its payload.

``{"kind": "json", "data": …}`` (a bounded, masked copy of JSON-able data), ``{"kind": "table", …}`` (a
DataFrame's shape, dtypes and first rows), ``{"kind": "text", …}`` or ``{"kind": "hex", …}``; ``None`` for other
types (the ``preview`` repr is all there is).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from airflow_results_provider._metadata import _MASK, _SENSITIVE_KEY, _airflow_redact

MAX_ITEMS = 20
MAX_DEPTH = 4
MAX_TEXT = 2000
MAX_STRING = 200
MAX_HEX_BYTES = 256
TABLE_ROWS = 10
TABLE_COLUMNS = 20


class _NotJson(Exception):
    pass


def _json_sample(value: Any, depth: int = 0) -> Any:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        text = _airflow_redact(value)
        return text if len(text) <= MAX_STRING else text[: MAX_STRING - 1] + "…"
    if depth >= MAX_DEPTH:
        return "…"
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for index, (k, v) in enumerate(value.items()):
            if not isinstance(k, str):
                raise _NotJson
            if index == MAX_ITEMS:
                out["…"] = f"{len(value) - MAX_ITEMS} more keys"
                break
            out[k] = _MASK if _SENSITIVE_KEY.search(k) else _json_sample(v, depth + 1)
        return out
    if type(value) in (list, tuple):
        items = [_json_sample(v, depth + 1) for v in value[:MAX_ITEMS]]
        if len(value) > MAX_ITEMS:
            items.append(f"… {len(value) - MAX_ITEMS} more items")
        return items
    raise _NotJson


def _table(frame: Any) -> dict[str, Any]:
    columns = [str(c) for c in list(frame.columns)[:TABLE_COLUMNS]]
    head = frame.iloc[:TABLE_ROWS, :TABLE_COLUMNS]
    rows = [[_airflow_redact(str(cell))[:MAX_STRING] for cell in row] for row in head.itertuples(index=False)]
    masked = {i for i, c in enumerate(columns) if _SENSITIVE_KEY.search(c)}
    rows = [[_MASK if i in masked else cell for i, cell in enumerate(row)] for row in rows]
    return {
        "kind": "table",
        "shape": list(frame.shape),
        "columns": columns,
        "dtypes": [str(t) for t in list(frame.dtypes)[:TABLE_COLUMNS]],
        "rows": rows,
    }


def structured_preview(value: Any) -> dict[str, Any] | None:
    """The structured preview of ``value`` (bounded, secrets masked); never raises."""
    try:
        if isinstance(value, str):
            text = _airflow_redact(value[:MAX_TEXT])
            return {"kind": "text", "text": text, "length": len(value)}
        if isinstance(value, (bytes, bytearray, memoryview)):
            return {"kind": "hex", "hex": bytes(value[:MAX_HEX_BYTES]).hex(), "size": len(value)}
        pandas = sys.modules.get("pandas")  # a DataFrame means pandas is loaded: never import it here
        if pandas is not None and isinstance(value, pandas.DataFrame):
            return _table(value)
        if value is None or isinstance(value, (bool, int, float, Mapping, list, tuple)):
            return {"kind": "json", "data": _json_sample(value)}
    except _NotJson:
        return None
    except Exception:  # a preview must never fail a write
        return None
    return None

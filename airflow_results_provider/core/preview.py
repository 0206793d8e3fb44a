"""Structured previews, computed on the worker when a value is written and kept in its metadata sidecar, so the
UI and the CLI can show a value without ever loading (or unpickling) its payload.

``{"kind": "json", "data": …}`` (a bounded, masked copy of JSON-able data), ``{"kind": "table", …}`` (a
DataFrame's shape, dtypes and first rows), ``{"kind": "text", …}`` or ``{"kind": "hex", …}``; ``None`` for other
types (the ``preview`` repr is all there is).
"""

from __future__ import annotations

import reprlib
import sys
from collections.abc import Mapping
from typing import Any

from airflow_results_provider.core.masking import MASK as _MASK
from airflow_results_provider.core.masking import (
    MAX_DEPTH,
    MAX_ITEMS,
    airflow_redact,
    is_sensitive,
    mask_sensitive,
)

MAX_TEXT = 2000
MAX_STRING = 200
MAX_HEX_BYTES = 256
TABLE_ROWS = 10
TABLE_COLUMNS = 20
#: The least display budget :func:`abridge` gives one argument.
MIN_SHARE = 256


PREVIEW_MAX_CHARS = 500

_preview_repr = reprlib.Repr()
_preview_repr.maxlevel = 3
_preview_repr.maxdict = 10
_preview_repr.maxlist = 10
_preview_repr.maxtuple = 10
_preview_repr.maxset = 10
_preview_repr.maxstring = 120
_preview_repr.maxother = 200
_preview_repr.maxlong = 60


def python_type_name(value: Any) -> str:
    """``module.QualName`` of the value's type, e.g. ``pandas.DataFrame`` or ``builtins.dict``."""
    cls = type(value)
    module = cls.__module__
    # pandas.core.frame.DataFrame is better known as pandas.DataFrame.
    top = module.split(".", 1)[0]
    if top in {"pandas", "numpy"}:
        module = top
    return f"{module}.{cls.__qualname__}"


def make_preview(value: Any, max_chars: int = PREVIEW_MAX_CHARS) -> str:
    """A bounded, secrets-masked ``repr`` of ``value`` for the UI and metadata."""
    try:
        if isinstance(value, (bytes, bytearray, memoryview)):
            # repr() of a large bytes object would be several times its size.
            head = bytes(value[:max_chars])
            text = f"{type(value).__name__}({len(value)} bytes): {head!r}"
        else:
            text = _preview_repr.repr(mask_sensitive(value))
    except Exception as exc:  # a broken __repr__ must not fail a write
        text = f"<unrepresentable {python_type_name(value)}: {type(exc).__name__}>"
    text = airflow_redact(text)
    if len(text) > max_chars:
        text = text[: max_chars - 3] + "..."
    return text


class _NotJson(Exception):
    pass


def _json_sample(value: Any, depth: int = 0) -> Any:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        text = airflow_redact(value)
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
            out[k] = _MASK if is_sensitive(k) else _json_sample(v, depth + 1)
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
    rows = [[airflow_redact(str(cell))[:MAX_STRING] for cell in row] for row in head.itertuples(index=False)]
    masked = {i for i, c in enumerate(columns) if is_sensitive(c)}
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
            text = airflow_redact(value[:MAX_TEXT])
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


def abridge(value: Any, limit: int, *, per_item: bool = False) -> Any:
    """``value`` itself when its display would take at most about ``limit`` characters, else a stand-in of
    about that size with the same shape: containers keep their first items and say how many more there are
    (``"… 13,999,180 more items"``), long strings and bytes keep their start. Cost is bounded by ``limit``,
    not by the size of ``value``; other objects are kept as they are (their ``str`` is their own business).

    ``per_item``: a top-level list, tuple or dict (a task's arguments) shares ``limit`` out among its items,
    so each one shows its start rather than the first one taking it all.
    """
    if per_item and isinstance(value, (list, tuple, Mapping)) and 0 < len(value) <= limit // MIN_SHARE:
        share = limit // len(value)
        items = value.items() if isinstance(value, Mapping) else enumerate(value)
        parts = {key: _abridge(item, share, 1) for key, item in items}
        if not any(cut for _, _, cut in parts.values()):
            return value
        if isinstance(value, Mapping):
            return {key: abridged for key, (abridged, _, _) in parts.items()}
        return [abridged for abridged, _, _ in parts.values()]
    abridged, _, cut = _abridge(value, limit, 0)
    return abridged if cut else value


#: A string this long is masked whole before it is cut; a longer one, its head and this margin (a registered
#: secret longer than the margin and straddling the cut would then stay unmasked in the shown head).
_REDACT_WHOLE = 1 << 20
_REDACT_MARGIN = 1 << 16


def _abridge(value: Any, budget: int, depth: int) -> tuple[Any, int, bool]:
    """(stand-in, its display size, whether anything was cut)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value, value.bit_length() * 3 // 10 + 2, False  # about its number of digits
    if value is None or isinstance(value, (bool, float)):
        return value, 8, False
    if isinstance(value, (str, bytes, bytearray)):
        # Inside a container a long string leaves room for its siblings.
        budget = max(budget, 0) if depth == 0 else min(max(budget, 0), max(MAX_STRING, budget // 4))
        masked = False
        if isinstance(value, str) and len(value) > budget:
            # Mask before cutting: a registered secret cut in half no longer matches Airflow's masker.
            head = value if len(value) <= _REDACT_WHOLE else value[: budget + _REDACT_MARGIN]
            redacted = airflow_redact(head)
            masked = redacted != head
            if masked:
                value = redacted
        if len(value) <= budget:
            return value, len(value) + 2, masked
        unit = "characters" if isinstance(value, str) else "bytes"
        head = value[:budget]
        head = head if isinstance(head, str) else repr(bytes(head))
        return f"{head}… ({len(value):,} {unit})", budget, True
    if depth >= MAX_DEPTH * 8:
        return "…", 1, True
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        cost, cut = 2, False
        for index, (key, item) in enumerate(value.items()):
            if cost >= budget:
                out["…"] = f"{len(value) - index:,} more keys"
                return out, cost, True
            out[key], size, item_cut = _abridge(item, budget - cost, depth + 1)
            cost += size + len(str(key)) + 4
            cut = cut or item_cut
        return out, cost, cut
    if isinstance(value, (list, tuple, set, frozenset)):
        items: list[Any] = []
        cost, cut = 2, False
        for index, item in enumerate(value):
            if cost >= budget:
                items.append(f"… {len(value) - index:,} more items")
                return items, cost, True
            abridged, size, item_cut = _abridge(item, budget - cost, depth + 1)
            items.append(abridged)
            cost += size + 2
            cut = cut or item_cut
        return (items if cut else value), cost, cut
    return value, 20, False

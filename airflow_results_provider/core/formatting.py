"""How sizes are shown to people (CLI tables, the Results pages)."""

from __future__ import annotations

from typing import Any


def format_size(value: Any) -> str:
    """``1.5 MiB``; an empty string when unknown."""
    if not isinstance(value, int) or isinstance(value, bool):
        return ""
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{value} B"  # pragma: no cover

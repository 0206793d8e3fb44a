"""Legacy Prefect 0.x result handlers and their conversion to Results (see the legacy-handlers issue)."""

from __future__ import annotations

from typing import Any


def convert_if_handler(obj: Any) -> Any | None:
    """The Result a legacy result handler converts to, or ``None`` when ``obj`` is not a handler."""
    return None

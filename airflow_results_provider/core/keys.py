"""Store keys and store specs: the one rule for a key inside a store, and what counts as a URL store."""

from __future__ import annotations

import posixpath
from typing import Any

#: The longest object key S3, GCS and Azure accept, in UTF-8 bytes.
MAX_KEY_BYTES = 1024


def is_relative_key(key: Any) -> bool:
    """A non-empty, relative, normalized ``/``-separated key: no ``..``, ``.``, empty parts, backslash or NUL.

    The one key rule: Results refuse such locations (:class:`InvalidLocationError`) and readers refuse such
    keys from rows (an envelope, a reference)."""
    if not isinstance(key, str) or not key or key.startswith("/") or "\\" in key or "\x00" in key:
        return False
    return all(part not in ("", ".", "..") for part in key.split("/")) and posixpath.normpath(key) == key


def is_url_spec(store: str) -> bool:
    """``store`` is a URL (``scheme://...``), not a ``module:attribute`` that resolving would import and call."""
    return "://" in store and ":" not in store.split("://", 1)[0].replace("objectstorage+", "", 1)


def join_key(prefix: str, location: str) -> str:
    """``prefix/location`` (just ``location`` without a prefix)."""
    return f"{prefix}/{location}" if prefix else location

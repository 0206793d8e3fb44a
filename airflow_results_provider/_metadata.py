"""Result metadata: what is known about a stored payload, kept beside it (never wrapping it)."""

from __future__ import annotations

import datetime as dt
import json
import platform
import re
import reprlib
import sys
from collections.abc import Mapping
from typing import Any

METADATA_FORMAT_VERSION = 1
#: Metadata is stored beside the payload, as ``<payload location>.meta.json``.
METADATA_SUFFIX = ".meta.json"
PREVIEW_MAX_CHARS = 500
_SENSITIVE_KEY = re.compile(
    r"(password|passwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credential|auth)", re.I
)
_MASK = "***"

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


def _mask_sensitive(value: Any, depth: int = 0) -> Any:
    if depth > 4:
        return value
    if isinstance(value, Mapping):
        return {
            k: (_MASK if isinstance(k, str) and _SENSITIVE_KEY.search(k) else _mask_sensitive(v, depth + 1))
            for k, v in list(value.items())[:50]
        }
    if isinstance(value, (list, tuple)):
        return type(value)(_mask_sensitive(v, depth + 1) for v in value[:50])
    return value


def _airflow_redact(text: str) -> str:
    """Apply Airflow's secrets masker when the Airflow runtime is already loaded (never import it here)."""
    masker = sys.modules.get("airflow.sdk._shared.secrets_masker.secrets_masker")
    if masker is None:
        return text
    try:
        return masker.redact(text)
    except Exception:  # the masker is best effort; a preview must never fail a write
        return text


def make_preview(value: Any, max_chars: int = PREVIEW_MAX_CHARS) -> str:
    """A bounded, secrets-masked ``repr`` of ``value`` for the UI and metadata."""
    try:
        if isinstance(value, (bytes, bytearray, memoryview)):
            # repr() of a large bytes object would be several times its size.
            head = bytes(value[:max_chars])
            text = f"{type(value).__name__}({len(value)} bytes): {head!r}"
        else:
            text = _preview_repr.repr(_mask_sensitive(value))
    except Exception as exc:  # a broken __repr__ must not fail a write
        text = f"<unrepresentable {python_type_name(value)}: {type(exc).__name__}>"
    text = _airflow_redact(text)
    if len(text) > max_chars:
        text = text[: max_chars - 3] + "..."
    return text


_CONTEXT_KEYS = ("dag_id", "run_id", "task_id", "map_index", "try_number")
_NO_VALUE: Any = object()


def build_metadata(
    *,
    result_type: str,
    uri: str,
    serializer: str | None = None,
    size: int | None = None,
    sha256: str | None = None,
    value: Any = _NO_VALUE,
    context: Mapping[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The metadata dict of a payload: every Result builds its metadata here.

    With ``value`` (a fresh write) it also records the value's type, a masked preview, when and by which task
    and Python it was written; without it (a payload read back with no sidecar) only what the bytes tell.
    ``None`` fields are left out; ``extra`` fields are added as they are.
    """
    meta: dict[str, Any] = {
        "result": result_type,
        "location": uri,
        "serializer": serializer,
        "size": size,
        "sha256": sha256,
    }
    if value is not _NO_VALUE:
        meta.update(
            format_version=METADATA_FORMAT_VERSION,
            python_type=python_type_name(value),
            preview=make_preview(value),
            preview_data=_structured_preview(value),
            written_at=dt.datetime.now(dt.timezone.utc).isoformat(),
            python_version=platform.python_version(),
            cloudpickle_version=_cloudpickle_version(),
        )
    context = context or {}
    for key in _CONTEXT_KEYS:
        meta[key] = context.get(key)
    if meta["try_number"] is None:
        meta["try_number"] = context.get("task_run_count")
    meta.update(extra)
    return {k: v for k, v in meta.items() if v is not None}


def _structured_preview(value: Any) -> dict[str, Any] | None:
    from airflow_results_provider._preview import structured_preview

    return structured_preview(value)


def _cloudpickle_version() -> str | None:
    try:
        import cloudpickle
    except ImportError:  # pragma: no cover - cloudpickle is a core dependency
        return None
    return cloudpickle.__version__


#: How many earlier digests a pending sidecar keeps (one more per consecutive killed write).
MAX_CANDIDATES = 64
_COMMIT_FIELDS = ("pending", "candidates", "previous_sha256")


def committed_digests(previous: Mapping[str, Any] | None) -> list[str]:
    """The digests the payload at a location may have, judging by its current sidecar ``previous``.

    A final sidecar describes its payload exactly; a pending one (its write may have died before the payload
    landed) means its own digest or any of its candidates.
    """
    if not previous or not previous.get("sha256"):
        return []
    digests = [previous["sha256"]]
    if previous.get("pending"):
        digests += [d for d in previous.get("candidates") or [] if isinstance(d, str) and d not in digests]
    return digests[:MAX_CANDIDATES]


def accepted_digests(metadata: Mapping[str, Any] | None) -> set[str]:
    """Digests a reader accepts for the payload described by ``metadata`` (empty: nothing to verify)."""
    if not metadata or not metadata.get("sha256"):
        return set()
    accepted = set(committed_digests(metadata))
    if isinstance(metadata.get("previous_sha256"), str):  # sidecars written by 0.1.0
        accepted.add(metadata["previous_sha256"])
    return accepted


def final_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``metadata`` without the commit protocol's bookkeeping fields."""
    if metadata is None:
        return None
    return {k: v for k, v in metadata.items() if k not in _COMMIT_FIELDS}


def encode_metadata(meta: Mapping[str, Any]) -> bytes:
    return json.dumps(meta, sort_keys=True, default=str).encode()


def decode_metadata(data: bytes, uri: str = "") -> dict[str, Any]:
    """Parse a metadata sidecar. :raises ResultIntegrityError: it is not a JSON object (names ``uri``)."""
    from airflow_results_provider.exceptions import ResultIntegrityError

    try:
        meta = json.loads(data)
    except ValueError as exc:
        raise ResultIntegrityError(f"Metadata of the result at {uri} is corrupt: {exc}") from exc
    if not isinstance(meta, dict):
        raise ResultIntegrityError(f"Metadata of the result at {uri} is corrupt: not a JSON object")
    return meta

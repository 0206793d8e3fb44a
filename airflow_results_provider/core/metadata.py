"""Result metadata: what is known about a stored payload, kept beside it (never wrapping it).

The sidecar that holds it and the commit protocol's digests are :mod:`.sidecar`."""

from __future__ import annotations

import datetime as dt
import platform
from collections.abc import Mapping
from typing import Any

from airflow_results_provider.core.preview import make_preview, python_type_name, structured_preview
from airflow_results_provider.core.values import NOTHING

METADATA_FORMAT_VERSION = 1


#: Context fields recorded in the metadata; ``owner`` says who wrote the payload (``xcom``: the XCom backend, the
#: only writer whose payloads can be orphans; see :mod:`airflow_results_provider.index.collect`); ``loop_index``
#: is the iteration of a native Task Loop (Airflow >= 3.4).
_CONTEXT_KEYS = ("dag_id", "run_id", "task_id", "map_index", "loop_index", "try_number", "owner")


def build_metadata(
    *,
    result_type: str,
    uri: str,
    serializer: str | None = None,
    size: int | None = None,
    sha256: str | None = None,
    value: Any = NOTHING,
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
    if value is not NOTHING:
        meta.update(
            format_version=METADATA_FORMAT_VERSION,
            python_type=python_type_name(value),
            preview=make_preview(value),
            preview_data=structured_preview(value),
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


def _cloudpickle_version() -> str | None:
    try:
        import cloudpickle
    except ImportError:  # pragma: no cover - cloudpickle is a core dependency
        return None
    return cloudpickle.__version__

"""Result references: the small signed record that makes a checkpoint or target hit findable in the metadata DB.

The "Result" extra link of a mixin task is already one XCom row per task (``_link_ResultLink``); its URL carries
the reference in its fragment (``…#result-ref=<base64url JSON>``), so indexing a checkpoint costs no extra row.
Browsers never send a fragment to the server the link opens. The reference is HMAC-signed like an XCom
envelope, over its fields and the task instance it was written for, so a row copied to another task instance,
or written through the REST API, does not verify. Pure: no Airflow imports.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from airflow_results_provider.core import signing
from airflow_results_provider.core.identity import map_index_or_none

FRAGMENT = "result-ref="
#: Metadata fields a reference keeps (the preview stays in the sidecar, to keep the row small).
_FIELDS = ("result", "serializer", "size", "sha256", "python_type", "written_at", "try_number")


def build_reference(result: Any, owner: str) -> dict[str, Any] | None:
    """The reference of a written (or found) Result, or ``None`` when it has no store another process can
    read (inline, constant and secret results)."""
    metadata = getattr(result, "metadata", None) or {}
    store = result.store_spec() if hasattr(result, "store_spec") else None
    location = getattr(result, "location", None)
    if not store or not isinstance(location, str):
        return None
    ref = {k: metadata.get(k) for k in _FIELDS if metadata.get(k) is not None}
    ref.update(store=store, key=location, owner=owner)
    return ref


def _signed_body(ref: Mapping[str, Any], identity: Mapping[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in ref.items() if k != "hmac"}
    for name in ("dag_id", "task_id", "run_id"):
        body[name] = identity.get(name)
    body["map_index"] = map_index_or_none(identity.get("map_index"))
    return body


def sign_reference(ref: Mapping[str, Any], identity: Mapping[str, Any], signing_key: bytes) -> dict[str, Any]:
    """``ref`` with an ``hmac`` over it and the task instance ``identity`` (unchanged without a key)."""
    signed = dict(ref)
    if signing_key:
        signed["hmac"] = signing.sign(_signed_body(ref, identity), signing_key, signing.DOMAIN_LINK_REFERENCE)
    return signed


def verify_reference(ref: Mapping[str, Any], identity: Mapping[str, Any], signing_key: bytes) -> bool:
    """Whether ``ref`` was signed with ``signing_key`` for the task instance ``identity``."""
    if not signing.is_signature(ref.get("hmac")):
        return False
    return signing.signature_matches(
        {**_signed_body(ref, identity), "hmac": ref["hmac"]}, signing_key, signing.DOMAIN_LINK_REFERENCE
    )


def attach(url: str, ref: Mapping[str, Any]) -> str:
    """``url`` with ``ref`` in its fragment."""
    raw = json.dumps(ref, sort_keys=True, separators=(",", ":"), default=str).encode()
    token = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return f"{url.split('#', 1)[0]}#{FRAGMENT}{token}"


def detach(url: Any) -> tuple[str, dict[str, Any] | None]:
    """``(url without the reference, reference or None)``; a malformed fragment gives ``None``."""
    if not isinstance(url, str) or f"#{FRAGMENT}" not in url:
        return (url if isinstance(url, str) else ""), None
    bare, _, token = url.partition(f"#{FRAGMENT}")
    try:
        ref = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except ValueError:
        return bare, None
    return bare, ref if isinstance(ref, dict) else None


#: ``url_route`` of the plugin's task-instance tab (see :mod:`airflow_results_provider.plugins.results_plugin`).
TI_TAB_ROUTE = "result"


def ti_tab_url(base_path: str, dag_id: str, run_id: str, task_id: str, map_index: Any) -> str:
    """The Airflow UI page of a task instance's "Result" tab (same origin, under ``[api] base_url``)."""
    from urllib.parse import quote

    parts = [base_path.rstrip("/"), "dags", quote(dag_id, safe=""), "runs", quote(run_id, safe="")]
    parts += ["tasks", quote(task_id, safe="")]
    index = map_index_or_none(map_index)
    if index is not None:
        parts += ["mapped", str(index)]
    return "/".join([*parts, "plugin", TI_TAB_ROUTE])

"""Signatures of stored records: what a write signs into its sidecars and what a code-loading read accepts.

Where a signing key exists (``[results] signing_key``, else derived from ``[api] secret_key``), each sidecar a
:class:`~airflow_results_provider.results.storage.StorageResult` writes carries a ``signature``: an HMAC over the
record kind (``result``, ``cache``, ``loop-state``), the payload's full URI, its serializer, the recorded owner
and the payload digests it vouches for. A serializer that can run code (pickle) loads only a payload whose
digest such a signature vouches for, so people who can write the store but do not hold the key cannot get a
pickle of theirs loaded, nor move a signed record to another place or kind.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from airflow_results_provider import config
from airflow_results_provider.core.signing import sign_record, signed_digests
from airflow_results_provider.exceptions import UnsignedRecordError

log = logging.getLogger(__name__)


def commit_signatures(
    kind: str,
    metadata: Mapping[str, Any],
    previous: Mapping[str, Any] | None,
    candidates: list[str],
    key: bytes,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The signatures of a write's pending and final sidecars.

    The pending sidecar vouches for the new payload and for those earlier digests the location may still hold
    that a key holder signed (a forged previous sidecar cannot get its digest signed by the next writer); the
    final one for the new payload only."""
    uri, serializer, owner = metadata["location"], metadata["serializer"], metadata.get("owner")
    vouched = signed_digests(previous, kind=kind, uri=uri, serializer=serializer, signing_key=key)
    carried = [metadata["sha256"], *(d for d in candidates if d in vouched)]
    common = {"kind": kind, "uri": uri, "serializer": serializer, "owner": owner, "signing_key": key}
    return sign_record(digests=carried, **common), sign_record(digests=[metadata["sha256"]], **common)


def loadable_digests(
    kind: str, uri: str, serializer: str, metadata: Mapping[str, Any] | None, accepted: set[str]
) -> set[str]:
    """The digests a code-loading ``serializer`` may load at ``uri``: those of ``accepted`` that a key holder
    signed for this kind of record, this URI and this serializer.

    :raises UnsignedRecordError: none (unless ``[results] allow_unsigned_pickle``, warned on every read)."""
    key = config.envelope_signing_key()
    signed = accepted & signed_digests(metadata, kind=kind, uri=uri, serializer=serializer, signing_key=key)
    if signed:
        return signed
    if config.allow_unsigned_pickle():
        log.warning(
            "Loading the unsigned %s record at %s with %s ([results] allow_unsigned_pickle = True: anyone who can "
            "write this store can get code run)",
            kind,
            uri,
            serializer,
        )
        return accepted
    raise UnsignedRecordError(
        f"The {kind} record at {uri} ({serializer}) is not signed for this location with this deployment's key, "
        "so it was not loaded (an unsigned pickle can run code, an unsigned loop state redirect a read). Records "
        "written by earlier versions or under another key: re-sign them with `airflow results sign` once you "
        "trust the store, or set [results] allow_unsigned_pickle = True (unsafe)."
        + config.per_process_key_hint()
    )

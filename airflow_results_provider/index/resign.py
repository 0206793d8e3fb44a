"""``airflow results sign``: the one-time signing of records written before records were signed (or under a
previous key), so targets, caches and loop state written by earlier versions hit again.

Signing vouches for whatever the store holds now: run it only on a store nobody without the key could write
since those records were written (it is the operator saying "these are ours"). Each payload is hashed
(streamed, never deserialized); a payload that does not match its sidecar's recorded sha256 is reported and
left unsigned.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

from airflow_results_provider import config
from airflow_results_provider.core.metadata import build_metadata
from airflow_results_provider.core.sidecar import METADATA_SUFFIX, final_metadata
from airflow_results_provider.core.signing import (
    RECORD_CACHE,
    RECORD_LOOP_STATE,
    RECORD_RESULT,
    sign_record,
    signed_digests,
)
from airflow_results_provider.exceptions import ResultConfigError


@dataclasses.dataclass
class SignPlan:
    """What ``airflow results sign`` did (or would do)."""

    scanned: int = 0
    signed: int = 0
    already_signed: int = 0
    errors: list[str] = dataclasses.field(default_factory=list)


def record_kind_of(location: str) -> str:
    """The kind of record a location holds, by where the package keeps its bookkeeping: cache entries under
    ``_cache/``, loop state under a ``loop-state`` name, everything else a task's value."""
    if location.startswith("_cache/"):
        return RECORD_CACHE
    if "loop-state" in location.rsplit("/", 1)[-1]:
        return RECORD_LOOP_STATE
    return RECORD_RESULT


def sign_stores(
    specs: Iterable[str],
    *,
    prefix: str = "",
    bare_serializer: str | None = None,
    dry_run: bool = True,
    on_sign: Callable[[str], None] | None = None,
) -> SignPlan:
    """Sign every unsigned record under ``prefix`` in the stores ``specs``.

    :param bare_serializer: also sign payloads that have no sidecar at all (e.g. written by a legacy result
        handler), recording this serializer label (``pickle``) for them; by default they are reported only.
    :raises ResultConfigError: no signing key is configured.
    """
    from airflow_results_provider.results.registry import result_from_spec
    from airflow_results_provider.results.storage import StorageResult

    key = config.envelope_signing_key()
    if not key:
        raise ResultConfigError("Nothing to sign with: set [results] signing_key or [api] secret_key")
    plan = SignPlan()
    for spec in specs:
        try:
            result = result_from_spec(spec)
            if not isinstance(result, StorageResult):
                raise TypeError(f"{type(result).__name__} keeps no payloads to list")
            for location in _payload_locations(result, prefix):
                plan.scanned += 1
                _sign_one(result, location, key, bare_serializer, dry_run, plan, on_sign)
        except Exception as exc:
            plan.errors.append(f"{spec or 'local_dir'}: {exc}")
    return plan


def _payload_locations(result: Any, prefix: str) -> Iterable[str]:
    """Every payload location under ``prefix``, with or without a sidecar (sidecars themselves left out)."""
    for obj in result.list_objects(prefix):
        if not obj.location.endswith(METADATA_SUFFIX) and ".tmp" not in obj.location.rsplit("/", 1)[-1]:
            yield obj.location


def _sign_one(
    result: Any,
    location: str,
    key: bytes,
    bare_serializer: str | None,
    dry_run: bool,
    plan: SignPlan,
    on_sign: Callable[[str], None] | None,
) -> None:
    uri = result.uri(location)
    kind = record_kind_of(location)
    try:
        metadata = result.read_metadata(location)
        if metadata is None and bare_serializer is None:
            plan.errors.append(f"{uri}: no sidecar (pass --bare-serializer pickle to sign it as a pickle)")
            return
        serializer = (metadata or {}).get("serializer") or bare_serializer
        if metadata and signed_digests(metadata, kind=kind, uri=uri, serializer=serializer, signing_key=key):
            plan.already_signed += 1
            return
        digest = result.checksum(location)
        if metadata and metadata.get("sha256") and metadata["sha256"] != digest:
            plan.errors.append(f"{uri}: the payload does not match its sidecar's sha256; left unsigned")
            return
        size = (result.stat(location) or {}).get("size")
        signed = dict(final_metadata(metadata) or {})
        signed.update(
            build_metadata(
                result_type=type(result).__name__, uri=uri, serializer=serializer, size=size, sha256=digest
            )
            if not metadata
            else {"location": uri, "sha256": digest, "serializer": serializer}
        )
        signed["signature"] = sign_record(
            kind=kind,
            uri=uri,
            serializer=serializer,
            owner=signed.get("owner"),
            digests=[digest],
            signing_key=key,
        )
        if not dry_run:
            with result.commit_lock(location):
                if result.checksum(location) != digest:  # rewritten meanwhile: its writer signed it
                    return
                result.write_metadata(location, signed)
        plan.signed += 1
        if on_sign:
            on_sign(uri)
    except Exception as exc:
        plan.errors.append(f"{uri}: {exc}")

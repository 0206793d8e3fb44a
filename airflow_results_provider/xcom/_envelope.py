"""Reading an XCom envelope back: every check before anything touches storage, then the Result that reads it.

The envelope format itself (build, sign, verify) is :mod:`airflow_results_provider.core.envelope`; its names
are re-exported here for the XCom backend's modules.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from airflow_results_provider import config
from airflow_results_provider.core.envelope import (
    MARKER,
    VERSION,
    build_envelope,
    check_identity,
    describe,
    is_envelope,
    looks_like_envelope,
    sign,
    signed_by_earlier_version,
    verify,
)
from airflow_results_provider.core.keys import is_relative_key, is_url_spec
from airflow_results_provider.core.rows import OWNER_CHECKPOINT, OWNER_XCOM
from airflow_results_provider.exceptions import SerializationError, UntrustedEnvelopeError

__all__ = [
    "MARKER",
    "OWNER_CHECKPOINT",
    "OWNER_XCOM",
    "VERSION",
    "OpenedEnvelope",
    "build_envelope",
    "check_identity",
    "describe",
    "is_envelope",
    "is_relative_key",
    "is_url_spec",
    "looks_like_envelope",
    "missing_value_hint",
    "open_envelope",
    "sign",
    "trusted_store_specs",
    "verify",
]

log = logging.getLogger(__name__)


def missing_value_hint(envelope: Mapping[str, Any]) -> str:
    """Why a value written by another task is missing when workers do not share a disk, and the fix."""
    from airflow_results_provider import config

    executor = config.distributed_executor()
    if not executor or not str(envelope.get("store", "")).startswith("file:"):
        return ""
    return (
        f". It was written to the local disk of the worker that ran {envelope.get('task_id')}, and [core] "
        f"executor is {executor}: other workers cannot see it. Store results where every worker can read them: "
        "S3Result/GCSResult/AzureResult (e.g. [results] default_result = s3://bucket/prefix and xcom_result), "
        "or a file system mounted at the same path on every worker"
    )


class OpenedEnvelope(NamedTuple):
    """An envelope that passed every check: the Result that reads its payload, the key, and whether a key
    holder signed it."""

    result: Any
    key: str
    signed: bool


def open_envelope(
    envelope: Mapping[str, Any],
    *,
    expected: Mapping[str, Any],
    signing_key: bytes,
    trusted_stores: Iterable[str],
    allow_unsigned_pickle: bool = False,
    allow_unsigned: bool = False,
) -> OpenedEnvelope:
    """Check an envelope read from an XCom row, before anything touches storage.

    XCom rows are untrusted input (the REST API writes them, and any task's return value may look like one).
    An envelope is accepted only when:

    - it is signed with ``signing_key`` (a valid HMAC), or it is unsigned, points into one of
      ``trusted_stores`` (the configured stores), needs no unpickling (unless ``allow_unsigned_pickle``) and
      either no ``signing_key`` exists or ``allow_unsigned`` says so (a migration switch for rows written before
      signing: with a key, a user who may write another DAG's XCom rows could otherwise make its worker read
      any payload of the shared stores);
    - its identity (DAG, task, run, map index, XCom key) matches ``expected``, the row being pulled, so a valid
      envelope copied from another DAG's or an older run's row is refused;
    - its store is a URL (never a ``module:attr`` that would be imported), its key a relative normalized key
      inside that store, and its serializer one of the built-in serializers.

    :raises UntrustedEnvelopeError: a check failed; nothing was read, imported or unpickled.
    """
    signed = _check_signature(envelope, signing_key)
    check_identity(envelope, expected)
    store = _check_store(envelope, signed, set(trusted_stores))
    key = _check_key(envelope)
    serializer = _check_serializer(envelope, signed, allow_unsigned_pickle)
    if not signed and signing_key:
        _check_unsigned_allowed(envelope, allow_unsigned)
    from airflow_results_provider.results.registry import result_from_spec

    result = result_from_spec(store)
    result.serializer = serializer
    return OpenedEnvelope(result, key, signed)


def _check_signature(envelope: Mapping[str, Any], signing_key: bytes) -> bool:
    """Whether the well-formed ``envelope`` counts as signed: it carries an HMAC and a ``signing_key`` is
    configured, and then the HMAC is verified.

    :raises UntrustedEnvelopeError: the envelope is malformed or its signature is not valid.
    """
    if not is_envelope(envelope):
        raise UntrustedEnvelopeError(f"XCom row holds a malformed Result envelope: {_sample(envelope)}")
    signed = bool(signing_key) and "hmac" in envelope
    if signed and signed_by_earlier_version(envelope, signing_key):
        # Development builds before typed signatures signed untyped: such a signature might be a link reference's.
        log.info(
            "XCom envelope for %s has an untyped signature (an earlier build): treated as unsigned",
            describe(envelope),
        )
        return False
    if signed:
        try:
            verify(envelope, signing_key)
        except UntrustedEnvelopeError as exc:
            hint = config.per_process_key_hint()
            if hint:
                raise UntrustedEnvelopeError(f"{exc}.{hint}") from exc
            raise
    return signed


def _check_store(envelope: Mapping[str, Any], signed: bool, trusted: set[str]) -> str:
    """The store ``envelope`` names: a URL (or a trusted spec), and a trusted one when unsigned.

    :raises UntrustedEnvelopeError: no store, a ``module:attr`` store, or an untrusted store of an unsigned
        envelope.
    """
    store = envelope.get("store")
    if not isinstance(store, str) or not store:
        raise UntrustedEnvelopeError(f"XCom envelope for {describe(envelope)} names no store to read from")
    if not is_url_spec(store) and store not in trusted:
        raise UntrustedEnvelopeError(
            f"XCom envelope for {describe(envelope)} names the store {store!r}: envelopes may name URL stores "
            "only (a module:attribute is never imported from an XCom row)"
        )
    if not signed and store not in trusted:
        raise UntrustedEnvelopeError(
            f"Unsigned XCom envelope for {describe(envelope)} points into {store!r}, which is not a configured "
            "store ([results] xcom_result, default_result or trusted_stores): refusing to read it"
        )
    return store


def _check_unsigned_allowed(envelope: Mapping[str, Any], allow_unsigned: bool) -> None:
    """An unsigned envelope where a signing key exists: refused unless the migration switch is on (warned).

    :raises UntrustedEnvelopeError: ``allow_unsigned`` is off.
    """
    if not allow_unsigned:
        raise UntrustedEnvelopeError(
            f"XCom envelope for {describe(envelope)} is not signed, and this deployment signs every envelope "
            "([results] signing_key, or the key derived from [api] secret_key): refusing to read it. Rows "
            "written before signing was enabled can be read with [results] allow_unsigned_envelopes = True "
            "(a migration switch: anyone who can write XCom rows could then point a worker at any payload of "
            "the configured stores)"
        )
    log.warning(
        "Reading the payload of an unsigned XCom envelope for %s ([results] allow_unsigned_envelopes = True)",
        describe(envelope),
    )


def _check_key(envelope: Mapping[str, Any]) -> str:
    """The key ``envelope`` names, a relative normalized key inside its store.

    :raises UntrustedEnvelopeError: the key is absolute, not normalized, or not a key at all.
    """
    key = envelope.get("key")
    if not is_relative_key(key):
        raise UntrustedEnvelopeError(
            f"XCom envelope for {describe(envelope)} has the key {key!r}: keys must be relative, normalized "
            "paths inside their store"
        )
    return str(key)


def _check_serializer(envelope: Mapping[str, Any], signed: bool, allow_unsigned_pickle: bool) -> Any:
    """The built-in serializer ``envelope`` names; one that unpickles only when signed or explicitly allowed.

    :raises UntrustedEnvelopeError: not a built-in serializer, or an unsigned payload that would be unpickled
        without ``allow_unsigned_pickle``.
    """
    from airflow_results_provider.serializers._labels import serializer_from_label

    try:
        serializer = serializer_from_label(str(envelope.get("serializer")))
    except SerializationError as exc:
        raise UntrustedEnvelopeError(f"XCom envelope for {describe(envelope)}: {exc}") from exc
    if serializer.loads_code and not signed:
        if not allow_unsigned_pickle:
            raise UntrustedEnvelopeError(
                f"XCom envelope for {describe(envelope)} is not signed and its payload would be unpickled "
                f"({serializer.label}): refusing. Rows written before signing was enabled can be read with "
                "[results] allow_unsigned_pickle = True (unsafe: anyone who can write XCom rows could then "
                "make workers unpickle files of the configured stores)"
            )
        log.warning(
            "Unpickling the payload of an unsigned XCom envelope for %s ([results] allow_unsigned_pickle = True)",
            describe(envelope),
        )
    return serializer


def trusted_store_specs(specs: Iterable[str]) -> set[str]:
    """The configured store specs as written and as their Results spell them (``store_spec()``)."""
    from airflow_results_provider.results.registry import result_from_spec

    trusted: set[str] = set()
    for spec in specs:
        trusted.add(spec)
        spelled = result_from_spec(spec).store_spec()
        if spelled:
            trusted.add(spelled)
    return trusted


def _sample(value: Any) -> str:
    """``repr(value)``, cut to 200 characters for an error message."""
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."

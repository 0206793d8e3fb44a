"""XCom envelopes: building (fields, None-stripping, map_index), signing and verifying, describe().

Signing is being reworked for security (open_envelope): these tests pin build/sign/verify/describe only, and
expect ResultIntegrityError (the base of UntrustedEnvelopeError).
"""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from airflow_results_provider.exceptions import ResultError, ResultIntegrityError
from airflow_results_provider.xcom._envelope import (
    MARKER,
    OWNER_CHECKPOINT,
    OWNER_XCOM,
    VERSION,
    build_envelope,
    describe,
    is_envelope,
    sign,
    verify,
)

METADATA = {
    "result": "S3Result",
    "location": "s3://bucket/xcom/etl/extract.pkl",
    "serializer": "pickle",
    "size": 123,
    "sha256": "ab" * 32,
    "python_type": "builtins.dict",
    "preview": "{'rows': 3}",
    "url": "https://console.example/bucket/xcom/etl/extract.pkl",
    "try_number": 2,
    "written_at": "2024-01-02T03:04:05+00:00",
    "python_version": "3.11.7",  # not an envelope field
}
KEY = "signing-key-for-tests"


def envelope(**overrides):
    kwargs = {
        "metadata": METADATA,
        "store": "s3://bucket/xcom",
        "key": "etl/extract.pkl",
        "owner": OWNER_XCOM,
        "dag_id": "etl",
        "task_id": "extract",
        "run_id": "manual__1",
        "map_index": 4,
        "xcom_key": "return_value",
    }
    kwargs.update(overrides)
    return build_envelope(**kwargs)


def test_build_envelope_fields():
    assert envelope() == {
        MARKER: VERSION,
        "result": "S3Result",
        "location": "s3://bucket/xcom/etl/extract.pkl",
        "serializer": "pickle",
        "size": 123,
        "sha256": "ab" * 32,
        "python_type": "builtins.dict",
        "preview": "{'rows': 3}",
        "url": "https://console.example/bucket/xcom/etl/extract.pkl",
        "store": "s3://bucket/xcom",
        "key": "etl/extract.pkl",
        "owner": "xcom",
        "dag_id": "etl",
        "task_id": "extract",
        "run_id": "manual__1",
        "map_index": 4,
        "try_number": 2,
        "xcom_key": "return_value",
        "written_at": "2024-01-02T03:04:05+00:00",
    }
    assert is_envelope(envelope())
    assert OWNER_CHECKPOINT != OWNER_XCOM
    json.dumps(envelope())  # an XCom row: JSON as it is


def test_build_envelope_strips_none_fields_and_adds_extra():
    built = envelope(
        metadata={"location": "file:///x", "sha256": None},
        store=None,
        xcom_key=None,
        extra={"checkpoint": True, "dropped": None},
    )
    assert built == {
        MARKER: VERSION,
        "location": "file:///x",
        "key": "etl/extract.pkl",
        "owner": "xcom",
        "dag_id": "etl",
        "task_id": "extract",
        "run_id": "manual__1",
        "map_index": 4,
        "checkpoint": True,
    }
    assert None not in built.values()


@pytest.mark.parametrize(
    ("given", "expected"),
    [(0, 0), (7, 7), (-1, None), (None, None), (True, None)],
    ids=["zero", "seven", "unmapped", "none", "bool"],
)
def test_build_envelope_normalises_map_index(given, expected):
    built = envelope(map_index=given)
    assert built.get("map_index") == expected
    assert ("map_index" in built) is (expected is not None)


def test_is_envelope():
    assert not is_envelope({MARKER: VERSION})  # no location
    assert not is_envelope({MARKER: VERSION + 1, "location": "x"})
    assert not is_envelope([MARKER, VERSION])
    assert not is_envelope('{"__airflow_result__": 1, "location": "x"}')
    assert is_envelope({MARKER: VERSION, "location": "x"})


def test_unsigned_envelope_has_no_hmac():
    assert "hmac" not in envelope()
    assert "hmac" not in envelope(signing_key="")


def test_signed_envelope_verifies():
    signed = envelope(signing_key=KEY)
    assert set(signed) == set(envelope()) | {"hmac"}
    body = {k: v for k, v in signed.items() if k != "hmac"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    typed = b"airflow-results-provider xcom envelope v2\n" + canonical  # the envelope domain, then the body
    assert signed["hmac"] == hmac.new(KEY.encode(), typed, hashlib.sha256).hexdigest()
    assert signed["hmac"] == sign(signed, KEY) == sign(body, KEY)  # the hmac field is not signed
    verify(signed, KEY)
    verify(dict(reversed(list(signed.items()))), KEY)  # key order does not matter
    verify(json.loads(json.dumps(signed)), KEY)  # survives the XCom row's JSON round trip


def test_verify_refuses_a_missing_hmac():
    with pytest.raises(ResultIntegrityError, match="missing or wrong HMAC") as info:
        verify(envelope(), KEY)
    assert describe(envelope()) in str(info.value)
    with pytest.raises(ResultIntegrityError):
        verify({**envelope(), "hmac": None}, KEY)
    with pytest.raises(ResultIntegrityError):
        verify({**envelope(), "hmac": 12345}, KEY)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("location", "s3://attacker/evil.pkl"),
        ("store", "s3://attacker"),
        ("key", "other.pkl"),
        ("serializer", "json"),
        ("sha256", "cd" * 32),
        ("map_index", 5),
        ("owner", OWNER_CHECKPOINT),
        ("added", "field"),
    ],
)
def test_verify_refuses_a_tampered_field(field, value):
    signed = envelope(signing_key=KEY)
    with pytest.raises(ResultIntegrityError, match="signing_key"):
        verify({**signed, field: value}, KEY)


def test_verify_refuses_a_removed_field():
    signed = envelope(signing_key=KEY)
    del signed["store"]
    with pytest.raises(ResultIntegrityError):
        verify(signed, KEY)


def test_verify_refuses_the_wrong_key():
    signed = envelope(signing_key=KEY)
    with pytest.raises(ResultIntegrityError):
        verify(signed, "another-key")
    with pytest.raises(ResultIntegrityError):
        verify(signed, KEY.upper())
    assert isinstance(ResultIntegrityError("x"), ResultError)


def test_describe():
    assert (
        describe(envelope())
        == "task etl.extract[4], run manual__1, location s3://bucket/xcom/etl/extract.pkl"
    )
    assert describe(envelope(map_index=-1)) == (
        "task etl.extract, run manual__1, location s3://bucket/xcom/etl/extract.pkl"
    )
    assert describe(envelope(map_index=0)).startswith("task etl.extract[0], ")
    assert describe({}) == "task None.None, run None, location None"


def test_a_lazy_sequence_item_must_come_from_an_upstream_task_of_the_same_run(monkeypatch):
    """A mapped task's lazy sequence knows no row identity: the running task's DAG, run and upstream tasks
    bind it, so a row of that upstream holding another task's signed envelope (same run) is refused."""
    import types

    import airflow.sdk

    from airflow_results_provider.core.envelope import check_identity
    from airflow_results_provider.exceptions import UntrustedEnvelopeError
    from airflow_results_provider.xcom.backend import _expected_identity

    task = types.SimpleNamespace(upstream_task_ids={"make_rows"})
    context = {"dag": types.SimpleNamespace(dag_id="d"), "run_id": "r", "task": task}
    monkeypatch.setattr(airflow.sdk, "get_current_context", lambda: context)
    expected = _expected_identity(types.SimpleNamespace(value=None))
    assert expected == {"dag_id": "d", "run_id": "r", "task_ids": frozenset({"make_rows"})}
    check_identity({"dag_id": "d", "run_id": "r", "task_id": "make_rows", "map_index": 3}, expected)
    with pytest.raises(UntrustedEnvelopeError, match="not upstream"):
        check_identity({"dag_id": "d", "run_id": "r", "task_id": "secrets_task"}, expected)
    with pytest.raises(UntrustedEnvelopeError, match="run_id"):
        check_identity({"dag_id": "d", "run_id": "older", "task_id": "make_rows"}, expected)

"""Issue 11 findings 1 and 2 at the core: an XCom envelope is checked before anything touches storage, and
a payload is verified before a byte of it is unpickled, on exactly the bytes that get loaded."""

from __future__ import annotations

import hashlib
import os
import threading

import pytest

from airflow_results_provider.exceptions import ResultIntegrityError, UntrustedEnvelopeError
from airflow_results_provider.results import LocalResult
from airflow_results_provider.serializers import JSONSerializer, PickleSerializer
from airflow_results_provider.xcom._envelope import build_envelope, open_envelope, sign, trusted_store_specs
from airflow_results_provider.xcom._sequence import ResultSequence, chunk_key, write_chunks
from tests.unit.security.evil import evil_pickle

KEY = b"k" * 32
ROW = {"dag_id": "d", "task_id": "t", "run_id": "r1", "map_index": None, "xcom_key": "return_value"}


def envelope_for(result, written, signing_key=KEY, **row):
    identity = {**ROW, **row}
    return build_envelope(
        metadata=written.metadata,
        store=result.store_spec(),
        key=written.location,
        owner="xcom",
        signing_key=signing_key,
        **identity,
    )


def check(
    envelope, *, trusted=(), signing_key=KEY, expected=None, allow_unsigned_pickle=False, allow_unsigned=False
):
    return open_envelope(
        envelope,
        expected=ROW if expected is None else expected,
        signing_key=signing_key,
        trusted_stores=trusted_store_specs(trusted),
        allow_unsigned_pickle=allow_unsigned_pickle,
        allow_unsigned=allow_unsigned,
    )


@pytest.fixture
def store(tmp_path):
    return LocalResult(dir=tmp_path / "store")


@pytest.fixture
def planted(tmp_path):
    """An evil pickle planted where an attacker could write; its marker must never appear."""
    marker = tmp_path / "PWNED"
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(evil_pickle(str(marker)))
    yield evil
    assert not marker.exists(), "an untrusted pickle was loaded"


def test_a_signed_envelope_opens_and_reads(store):
    written = store.write({"v": 1}, **ROW)
    opened = check(envelope_for(store, written))
    assert opened.signed and opened.result.read(opened.key, sha256=written.metadata["sha256"]).value == {
        "v": 1
    }


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"store": "file:///", "key": "tmp/evil.pkl"}, "signing"),  # tampered after signing
        ({"hmac": "0" * 64}, "signing"),
    ],
)
def test_tampered_signed_envelopes_are_refused(store, planted, change, match):
    written = store.write({"v": 1}, **ROW)
    with pytest.raises(UntrustedEnvelopeError, match=match):
        check({**envelope_for(store, written), **change})


def forged(planted, **fields):
    base = {
        "__airflow_result__": 1,
        "location": "file://" + str(planted),
        "store": "file:///",
        "key": str(planted).lstrip("/"),
        "serializer": "pickle",
        **ROW,
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({}, "not a configured store"),  # file:/// with a key of the attacker's choosing
        ({"key": "/tmp/evil.pkl"}, "relative"),
        ({"key": "a/../../evil.pkl"}, "relative"),
        ({"store": "os:abort"}, "URL stores only"),
        ({"store": "builtins:print"}, "URL stores only"),
        ({"serializer": "os:system"}, "not a built-in serializer"),
        ({"serializer": "evilmodule+json"}, "not a built-in serializer"),
    ],
)
def test_forged_unsigned_envelopes_are_refused(store, planted, fields, match):
    envelope = forged(planted, **fields)
    if fields and "store" not in fields:
        envelope["store"] = store.store_spec()  # refused even when it names the configured store
    with pytest.raises(UntrustedEnvelopeError, match=match):
        check(envelope, trusted=[store.store_spec()])


def test_unsigned_pickle_in_a_configured_store_is_refused_unless_allowed(store, tmp_path, caplog):
    marker = tmp_path / "PWNED"
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "evil.pkl").write_bytes(evil_pickle(str(marker)))
    envelope = forged(tmp_path / "x", store=store.store_spec(), key="evil.pkl")
    with pytest.raises(UntrustedEnvelopeError, match="would be unpickled"):
        check(envelope, trusted=[store.store_spec()])
    # an unsigned JSON envelope in a configured store is refused where a signing key exists (issue 21,
    # finding 6: a user who may write DAG B's rows must not make B's worker read DAG A's payload) ...
    json_store = LocalResult(dir=tmp_path / "store", location="data.json", serializer=JSONSerializer())
    json_store.write([1, 2])
    unsigned_json = dict(envelope, key="data.json", serializer="json")
    with pytest.raises(UntrustedEnvelopeError, match="allow_unsigned_envelopes"):
        check(unsigned_json, trusted=[store.store_spec()])
    # ... is read, warned, with the migration switch, and with no key at all (nothing could be signed)
    opened = check(unsigned_json, trusted=[store.store_spec()], allow_unsigned=True)
    assert not opened.signed and opened.result.read("data.json").value == [1, 2]
    assert "allow_unsigned_envelopes" in caplog.text
    assert not check(unsigned_json, trusted=[store.store_spec()], signing_key=b"").signed
    # the escape hatch for old pickled rows needs both switches, and logs a warning
    with pytest.raises(UntrustedEnvelopeError, match="allow_unsigned_envelopes"):
        check(envelope, trusted=[store.store_spec()], allow_unsigned_pickle=True)
    opened = check(envelope, trusted=[store.store_spec()], allow_unsigned_pickle=True, allow_unsigned=True)
    assert "allow_unsigned_pickle" in caplog.text and not marker.exists()


@pytest.mark.parametrize(
    "other_row",
    [
        {"run_id": "r0"},  # an older run of the same DAG
        {"dag_id": "other"},  # another DAG
        {"task_id": "other"},
        {"xcom_key": "other"},
        {"map_index": 3},
    ],
)
def test_a_valid_envelope_replayed_into_another_row_is_refused(store, other_row):
    written = store.write({"v": 1}, **ROW)
    envelope = envelope_for(store, written)  # genuinely signed, for ROW
    with pytest.raises(UntrustedEnvelopeError, match="copied from another row"):
        check(envelope, expected={**ROW, **other_row})


def test_the_signature_covers_the_identity(store):
    written = store.write({"v": 1}, **ROW)
    envelope = envelope_for(store, written)
    moved = dict(envelope, run_id="r2")
    with pytest.raises(UntrustedEnvelopeError, match="signing"):
        check(moved, expected={**ROW, "run_id": "r2"})
    assert sign(moved, KEY) != envelope["hmac"]


def test_a_payload_swapped_between_check_and_load_is_never_unpickled(tmp_path):
    store = LocalResult(dir=tmp_path / "store", serializer=PickleSerializer())
    written = store.write({"good": "x" * 100_000})
    path = store.path(written.location)
    with open(path, "rb") as handle:
        good = handle.read()
    marker = tmp_path / "PWNED"
    evil = evil_pickle(str(marker)) + b"\0" * (len(good) - 40)
    stop = threading.Event()

    def swapper() -> None:
        flip = False
        while not stop.is_set():
            temp = f"{path}.swap"
            with open(temp, "wb") as handle:
                handle.write(evil if flip else good)
            os.replace(temp, path)
            flip = not flip

    thread = threading.Thread(target=swapper)
    thread.start()
    outcomes = {"good": 0, "refused": 0}
    try:
        for _ in range(300):
            try:
                assert store.read(written.location, sha256=hashlib.sha256(good).hexdigest()).value == {
                    "good": "x" * 100_000
                }
                outcomes["good"] += 1
            except ResultIntegrityError:
                outcomes["refused"] += 1
    finally:
        stop.set()
        thread.join()
    assert not marker.exists(), "the swapped pickle ran"
    assert outcomes["good"] > 0 and outcomes["refused"] > 0, outcomes


def test_a_tampered_chunk_is_never_unpickled(tmp_path):
    store = LocalResult(dir=tmp_path / "store", serializer=PickleSerializer())
    fields = write_chunks(store, "xcom/list", list(range(1000)), dict(ROW))
    envelope = {**fields, "location": store.uri("xcom/list")}
    marker = tmp_path / "PWNED"
    tampered = chunk_key("xcom/list", 1, "pkl")
    with open(store.path(tampered), "wb") as handle:
        handle.write(evil_pickle(str(marker)))
    sequence = ResultSequence(envelope, store, "xcom/list")
    assert sequence[0] == 0  # chunk 0 is intact
    with pytest.raises(ResultIntegrityError, match="Chunk 1"):
        sequence[fields["chunk_len"]]  # the first item of chunk 1
    assert not marker.exists()


def test_purge_deletes_only_what_a_key_holder_wrote_for_the_row(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from airflow_results_provider import config
    from airflow_results_provider.xcom import ResultXComBackend

    store = LocalResult(dir=tmp_path / "store", serializer=JSONSerializer())
    victim = store.write({"other": "run"}, **{**ROW, "run_id": "other"})
    monkeypatch.setenv("AIRFLOW__RESULTS__PURGE", "on_clear")
    monkeypatch.setenv("AIRFLOW__RESULTS__XCOM_RESULT", store.store_spec())
    monkeypatch.setenv("AIRFLOW__RESULTS__SIGNING_KEY", KEY.decode())
    config.clear_cache()
    try:
        unsigned = envelope_for(store, victim, signing_key=b"")  # REST-API-written: no hmac
        ResultXComBackend.purge(SimpleNamespace(key="return_value", value=dict(unsigned, owner="xcom")))
        assert store.exists(victim.location), "an unsigned row deleted a payload"
        signed = envelope_for(store, victim)
        ResultXComBackend.purge(SimpleNamespace(key="return_value", value=dict(signed)))
        assert not store.exists(victim.location)
    finally:
        config.clear_cache()


def test_a_value_missing_from_a_local_store_under_celery_names_the_remedy(monkeypatch):
    from airflow_results_provider import config
    from airflow_results_provider.xcom._envelope import missing_value_hint

    envelope = {"store": "file:///data/results", "task_id": "extract"}
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "LocalExecutor")
    config.clear_cache()
    assert missing_value_hint(envelope) == ""
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    config.clear_cache()
    try:
        hint = missing_value_hint(envelope)
        assert "CeleryExecutor" in hint and "S3Result" in hint and "extract" in hint
        assert missing_value_hint({"store": "s3://bucket/prefix"}) == ""
    finally:
        config.clear_cache()

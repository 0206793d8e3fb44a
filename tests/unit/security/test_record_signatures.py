"""Signed records (issue 21, finding 1): what a store writer without the key can and cannot get loaded."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import pytest

from airflow_results_provider import config
from airflow_results_provider.core.sidecar import METADATA_SUFFIX
from airflow_results_provider.core.signing import RECORD_CACHE
from airflow_results_provider.exceptions import ResultIntegrityError, ResultWriteError, UnsignedRecordError
from airflow_results_provider.results import LocalResult
from airflow_results_provider.serializers import JSONSerializer


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


def test_every_sidecar_is_signed_and_a_record_of_one_kind_never_verifies_as_another(tmp_path):
    LocalResult(dir=tmp_path, location="x.pkl").write({"v": 1})
    sidecar = json.loads((tmp_path / ("x.pkl" + METADATA_SUFFIX)).read_text())
    assert sidecar["signature"]["kind"] == "result" and len(sidecar["signature"]["hmac"]) == 64
    assert LocalResult(dir=tmp_path).read("x.pkl").value == {"v": 1}
    as_cache = LocalResult(dir=tmp_path)
    as_cache.record_kind = RECORD_CACHE
    with pytest.raises(UnsignedRecordError, match="cache record"):
        as_cache.read("x.pkl")


def test_a_record_signed_under_another_key_is_refused(tmp_path, monkeypatch):
    LocalResult(dir=tmp_path, location="x.pkl").write({"v": 1})
    monkeypatch.setenv("AIRFLOW__RESULTS__SIGNING_KEY", "another-deployment-" + "k" * 32)
    config.clear_cache()
    try:
        with pytest.raises(UnsignedRecordError):
            LocalResult(dir=tmp_path).read("x.pkl")
    finally:
        monkeypatch.delenv("AIRFLOW__RESULTS__SIGNING_KEY")
        config.clear_cache()


def test_a_forged_sidecar_field_breaks_the_signature(tmp_path):
    # The owner is signed: a store writer cannot relabel a checkpoint as the XCom backend's (gc's orphans).
    LocalResult(dir=tmp_path, location="x.pkl").write({"v": 1})
    path = tmp_path / ("x.pkl" + METADATA_SUFFIX)
    sidecar = json.loads(path.read_text())
    sidecar["owner"] = "xcom"
    path.write_text(json.dumps(sidecar))
    with pytest.raises(UnsignedRecordError):
        LocalResult(dir=tmp_path).read("x.pkl")


def test_a_killed_write_never_gets_a_planted_pickle_signed(tmp_path, monkeypatch):
    # A store writer plants a pickle with an unsigned sidecar; a key holder's write then dies between its
    # pending sidecar and its payload commit. The pending sidecar names the planted digest as a candidate (the
    # location may still hold it) but does not sign it: the planted pickle is still never loaded.
    marker = tmp_path / "pwned"
    data = pickle.dumps(_Exploit(marker))
    (tmp_path / "x.pkl").write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    (tmp_path / ("x.pkl" + METADATA_SUFFIX)).write_text(
        json.dumps({"sha256": digest, "size": len(data), "serializer": "pickle"})
    )
    from airflow_results_provider.results import local_result

    monkeypatch.setattr(local_result._AtomicFileWriter, "commit", _dying_payload_commit())
    with pytest.raises((ResultWriteError, OSError), match="killed before"):
        LocalResult(dir=tmp_path, location="x.pkl").write({"legit": 1})
    monkeypatch.undo()
    pending = json.loads((tmp_path / ("x.pkl" + METADATA_SUFFIX)).read_text())
    assert pending.get("pending") and digest in pending["candidates"], pending
    assert digest not in pending["signature"]["sha256"]
    with pytest.raises(ResultIntegrityError):  # the payload's digest is not one the signature vouches for
        LocalResult(dir=tmp_path).read("x.pkl")
    assert not marker.exists()


def test_a_killed_write_keeps_the_previous_signed_value_readable(tmp_path, monkeypatch):
    LocalResult(dir=tmp_path, location="x.pkl").write({"v": 1})
    from airflow_results_provider.results import local_result

    monkeypatch.setattr(local_result._AtomicFileWriter, "commit", _dying_payload_commit())
    with pytest.raises((ResultWriteError, OSError)):
        LocalResult(dir=tmp_path, location="x.pkl").write({"v": 2})
    monkeypatch.undo()
    assert LocalResult(dir=tmp_path).read("x.pkl").value == {"v": 1}


def _dying_payload_commit():
    """An ``_AtomicFileWriter.commit`` that dies for payloads (a kill after the pending sidecar landed)."""
    from airflow_results_provider.results import local_result

    commit = local_result._AtomicFileWriter.commit

    def die(self):
        if self.final_path.endswith(METADATA_SUFFIX):
            return commit(self)
        raise OSError("killed before the payload landed")

    return die


def test_json_records_keep_working_unsigned(tmp_path):
    (tmp_path / "x.json").write_text('{"v": 1}')
    assert LocalResult(dir=tmp_path, serializer=JSONSerializer()).read("x.json").value == {"v": 1}


def test_a_key_airflow_made_up_for_one_process_is_named_in_the_error(tmp_path, monkeypatch):
    # No [results] signing_key and no configured [api] secret_key: Airflow makes one up per process, so
    # another process cannot verify what this one signed; the error says so and how to fix it.
    import airflow.configuration

    LocalResult(dir=tmp_path, location="x.pkl").write({"v": 1})
    monkeypatch.delenv("AIRFLOW__API__SECRET_KEY")
    get = airflow.configuration.conf.get

    def made_up(section, option, *args, **kwargs):
        if (section, option) == ("api", "secret_key"):
            return airflow.configuration.SECRET_KEY  # what Airflow falls back to when nothing is configured
        return get(section, option, *args, **kwargs)

    monkeypatch.setattr(airflow.configuration.conf, "get", made_up)
    config.clear_cache()
    try:
        assert config.signing_key_is_per_process()
        with pytest.raises(UnsignedRecordError, match="made one up for this process"):
            LocalResult(dir=tmp_path).read("x.pkl")
    finally:
        monkeypatch.undo()
        config.clear_cache()
    assert not config.signing_key_is_per_process()

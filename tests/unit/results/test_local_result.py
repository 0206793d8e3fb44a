from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from airflow_results_provider import config
from airflow_results_provider.exceptions import (
    InvalidLocationError,
    ResultError,
    ResultIntegrityError,
    UnsignedRecordError,
)
from airflow_results_provider.results import LocalResult
from airflow_results_provider.results.local_result import METADATA_SUFFIX
from airflow_results_provider.serializers import JSONSerializer
from tests.unit.results.contract import ResultContract


class TestLocalResult(ResultContract):
    @pytest.fixture
    def make_result(self, tmp_path):
        def factory(**kwargs):
            kwargs.setdefault("dir", tmp_path / "results")
            return LocalResult(**kwargs)

        return factory

    def raw_payload(self, result, location):
        return Path(result.path(location)).read_bytes()

    def corrupt_payload(self, result, location):
        path = Path(result.path(location))
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))

    # ----------------------------------------------------------------------------------- local specifics

    @pytest.mark.parametrize("location", ["../outside.pkl", "a/../../outside.pkl", "/abs/../etc/passwd"])
    def test_locations_escaping_dir_are_refused(self, make_result, location):
        result = make_result()
        with pytest.raises(InvalidLocationError, match="base directory"):
            result.write(1, task_name="x") if "{" in location else result.read(location)
        with pytest.raises(ResultError):
            make_result(location=location).write(1)

    def test_template_values_cannot_escape_dir(self, make_result):
        with pytest.raises(InvalidLocationError):
            make_result(location="{task_name}/x.pkl").write(1, task_name="../..")

    def test_absolute_locations_are_used_as_given(self, make_result, tmp_path):
        target = tmp_path / "elsewhere" / "abs.pkl"
        result = make_result(location=str(target))
        written = result.write("abs")
        assert written.location == str(target)
        assert target.exists()
        assert result.read(str(target)).value == "abs"

    def test_constructor_does_no_io(self, tmp_path):
        LocalResult(dir=tmp_path / "not-created-yet")
        assert not (tmp_path / "not-created-yet").exists()

    def test_dir_defaults_to_config_local_dir(self, monkeypatch, tmp_path):
        from airflow_results_provider import config

        monkeypatch.setenv("AIRFLOW__RESULTS__LOCAL_DIR", str(tmp_path / "configured"))
        config.clear_cache()
        written = LocalResult(location="x.pkl").write(1)
        assert (tmp_path / "configured" / "x.pkl").exists()
        assert written.metadata["location"] == (tmp_path / "configured" / "x.pkl").as_uri()

    def test_metadata_sidecar_is_json_beside_the_payload(self, make_result):
        result = make_result(location="side.pkl")
        written = result.write(3)
        sidecar = Path(result.path("side.pkl") + METADATA_SUFFIX)
        assert json.loads(sidecar.read_text())["sha256"] == written.metadata["sha256"]

    def test_a_pickle_without_metadata_is_refused_unless_unsigned_pickles_are_allowed(
        self, make_result, monkeypatch
    ):
        # e.g. written by a legacy result handler or another tool: nobody holding the key vouched for it
        result = make_result(location="legacy.pkl")
        path = Path(result.path("legacy.pkl"))
        path.parent.mkdir(parents=True)
        path.write_bytes(__import__("cloudpickle").dumps({"old": 1}))
        with pytest.raises(UnsignedRecordError, match="legacy.pkl"):
            result.read("legacy.pkl")
        monkeypatch.setenv("AIRFLOW__RESULTS__ALLOW_UNSIGNED_PICKLE", "True")
        config.clear_cache()
        try:
            assert result.read("legacy.pkl").value == {"old": 1}
        finally:
            monkeypatch.delenv("AIRFLOW__RESULTS__ALLOW_UNSIGNED_PICKLE")
            config.clear_cache()

    def test_json_without_metadata_is_read_unverified(self, make_result):
        result = make_result(location="legacy.json", serializer=JSONSerializer())
        path = Path(result.path("legacy.json"))
        path.parent.mkdir(parents=True)
        path.write_text('{"old": 1}')
        assert result.read("legacy.json").value == {"old": 1}

    def test_corrupt_metadata_is_an_integrity_error(self, make_result):
        result = make_result(location="m.pkl")
        result.write(1)
        Path(result.path("m.pkl") + METADATA_SUFFIX).write_text("{not json")
        with pytest.raises(ResultIntegrityError, match="Metadata"):
            result.read("m.pkl")

    def test_interrupted_between_metadata_and_payload_commit_still_reads_the_old_payload(self, make_result):
        result = make_result(location="pair.pkl")
        result.write("old")
        sidecar = Path(result.path("pair.pkl") + METADATA_SUFFIX)
        old_meta = json.loads(sidecar.read_text())
        # Simulate the crash window: the new metadata was committed, the new payload was not.
        new_meta = dict(old_meta, sha256="0" * 64, previous_sha256=old_meta["sha256"])
        sidecar.write_text(json.dumps(new_meta))
        assert result.read("pair.pkl").value == "old"

    def test_exists_is_a_single_stat(self, make_result, monkeypatch):
        result = make_result(location="s.pkl")
        result.write(1)
        calls = []
        real_stat = os.stat
        monkeypatch.setattr(os, "stat", lambda *a, **k: calls.append(a) or real_stat(*a, **k))
        assert result.exists("s.pkl")
        assert len(calls) == 1

    def test_a_failed_write_leaves_no_temp_file(self, make_result):
        result = make_result(location="t.pkl")
        result.write("ok")
        with pytest.raises(ResultError):
            result.write(x for x in [1])  # generators cannot be pickled
        directory = Path(result.path("t.pkl")).parent
        assert sorted(p.name for p in directory.iterdir()) == ["t.pkl", "t.pkl" + METADATA_SUFFIX]

    def test_written_files_have_the_umask_mode_not_0600(self, make_result):
        result = make_result(location="mode.pkl")
        result.write(1)
        umask = os.umask(0)
        os.umask(umask)
        assert os.stat(result.path("mode.pkl")).st_mode & 0o777 == 0o666 & ~umask


_KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    from airflow_results_provider.results import LocalResult
    from airflow_results_provider.serializers import Serializer

    class SlowBytes(Serializer):
        name = "slow"
        def dump(self, value, fileobj):
            for _ in range(400):  # 400 MiB, one MiB at a time
                fileobj.write(b"x" * (1 << 20))
                fileobj.flush()
                time.sleep(0.01)
        def load(self, fileobj):
            return fileobj.read()

    LocalResult(dir=sys.argv[1], location="big.bin", serializer=SlowBytes()).write(b"")
    """
)


def test_a_write_killed_mid_way_keeps_the_previous_value(tmp_path):
    result = LocalResult(dir=tmp_path, location="big.bin")
    result.write({"previous": "value"})
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(tmp_path)])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            temps = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
            if temps and temps[0].stat().st_size > 20 << 20:
                break
            assert proc.poll() is None, "writer exited before it could be killed"
            time.sleep(0.01)
        else:
            pytest.fail("the writer never started writing")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert result.read("big.bin").value == {"previous": "value"}
    visible = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("."))
    assert visible == ["big.bin", "big.bin" + METADATA_SUFFIX]


_MEMORY_PROBE = textwrap.dedent(
    """
    import json, os, resource, sys
    import numpy as np
    from airflow_results_provider.results import LocalResult

    def peak():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    size = int(sys.argv[2])
    # Warm up: the first write loads the configuration (the signing key), once per process.
    LocalResult(dir=sys.argv[1], location="warm-up").write(b"")
    value = os.urandom(size) if sys.argv[3] == "bytes" else np.frombuffer(os.urandom(size), np.uint8).copy()
    before_write = peak()
    written = LocalResult(dir=sys.argv[1], location=sys.argv[4]).write(value)
    after_write = peak()
    del value, written
    before_read = peak()
    value = LocalResult(dir=sys.argv[1]).read(sys.argv[4]).value
    after_read = peak()
    print(json.dumps({"write_extra": after_write - before_write, "read_extra": after_read - before_read,
                      "size": len(value)}))
    """
)


@pytest.mark.parametrize("kind", ["bytes", "numpy"])
def test_large_values_stream_without_extra_copies(tmp_path, kind):
    pytest.importorskip("numpy")
    size = 256 << 20
    out = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, str(tmp_path), str(size), kind, "big.pkl"],
        capture_output=True,
        text=True,
        check=True,
    )
    figures = json.loads(out.stdout)
    assert figures["size"] == size
    # Writing streams straight to the file: far less than one extra copy of the value.
    assert figures["write_extra"] < 0.25 * size, figures
    # Reading builds the value once (the peak already held the freed value's pages, so this is conservative).
    assert figures["read_extra"] < 1.25 * size, figures


def test_a_distributed_executor_gets_a_warning(tmp_path, monkeypatch, caplog):
    import logging

    from airflow_results_provider import config
    from airflow_results_provider.results import local_result

    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    config.clear_cache()
    local_result._warn_if_distributed.cache_clear()
    config.distributed_executor()  # imports Airflow, whose logging setup replaces the root handlers
    logger = logging.getLogger(local_result.__name__)
    logger.addHandler(caplog.handler)
    monkeypatch.setattr(logger, "propagate", False)
    with caplog.at_level(logging.WARNING):
        LocalResult(dir=tmp_path).write(1)
    assert "CeleryExecutor" in caplog.text and "workers on other machines" in caplog.text
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "LocalExecutor")
    config.clear_cache()
    local_result._warn_if_distributed.cache_clear()
    caplog.clear()
    LocalResult(dir=tmp_path).write(1)
    assert "workers on other machines" not in caplog.text
    local_result._warn_if_distributed.cache_clear()
    logger.removeHandler(caplog.handler)

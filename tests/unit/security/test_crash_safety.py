"""Issue 11 findings 4 and 6: one consistent value under concurrent writers and kill -9 at any point, stale
temp files swept, and storage failures reported as ResultWriteError with the previous value intact."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from airflow_results_provider.core.sidecar import METADATA_SUFFIX
from airflow_results_provider.exceptions import ResultWriteError
from airflow_results_provider.results import LocalResult
from airflow_results_provider.serializers import PickleSerializer

WRITERS, ROUNDS = 8, 20


def _writer(directory: str, index: int, barrier, rounds: int) -> None:
    result = LocalResult(dir=directory, location="shared.pkl", serializer=PickleSerializer())
    for round_ in range(rounds):
        barrier.wait()
        result.write({"writer": index, "round": round_, "pad": os.urandom(64 * 1024)})
        barrier.wait()  # the parent checks the location between rounds


def test_concurrent_writers_leave_one_writers_payload_with_its_metadata(tmp_path):
    context = multiprocessing.get_context("spawn")  # no fork of a process that may hold Airflow threads
    barrier = context.Barrier(WRITERS + 1, timeout=120)  # a writer that dies breaks it instead of hanging
    workers = [
        context.Process(target=_writer, args=(str(tmp_path), i, barrier, ROUNDS)) for i in range(WRITERS)
    ]
    for worker in workers:
        worker.start()
    reader = LocalResult(dir=tmp_path, serializer=PickleSerializer())
    try:
        for round_ in range(ROUNDS):
            barrier.wait()  # go
            barrier.wait()  # all written
            read = reader.read("shared.pkl")  # verified against the sidecar: raises if they disagree
            assert read.value["round"] == round_
            assert read.metadata["sha256"] == reader.checksum("shared.pkl")
            assert "pending" not in read.metadata
    finally:
        for worker in workers:
            worker.join(timeout=60)
            if worker.is_alive():
                worker.kill()
    assert [worker.exitcode for worker in workers] == [0] * WRITERS
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


_KILL_AT_PENDING_SIDECAR = textwrap.dedent(
    """
    import os, signal, sys
    from airflow_results_provider.results import LocalResult

    original = LocalResult.write_metadata

    def dying(self, location, metadata):
        original(self, location, metadata)
        if metadata.get("pending"):
            os.kill(os.getpid(), signal.SIGKILL)  # right after the sidecar commit, before the payload

    LocalResult.write_metadata = dying
    LocalResult(dir=sys.argv[1], location="v.pkl").write(sys.argv[2])
    """
)

_KILL_MID_PAYLOAD = textwrap.dedent(
    """
    import os, signal, sys
    from airflow_results_provider.results import LocalResult
    from airflow_results_provider.serializers import Serializer

    class DiesHalfway(Serializer):
        name = "dies"

        def dump(self, value, fileobj):
            fileobj.write(b"x" * (4 * 1024 * 1024))
            fileobj.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    LocalResult(dir=sys.argv[1], location="v.pkl", serializer=DiesHalfway()).write("never")
    """
)


def _run_and_get_killed(script: str, *args: str) -> None:
    proc = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]


def test_the_previous_value_survives_repeated_kills_at_the_sidecar_commit(tmp_path):
    result = LocalResult(dir=tmp_path, location="v.pkl")
    result.write("good")
    for attempt in range(3):
        _run_and_get_killed(_KILL_AT_PENDING_SIDECAR, str(tmp_path), f"lost-{attempt}")
        read = result.read("v.pkl")
        assert read.value == "good"  # the sidecar names a payload that never landed: the old one still reads
    # the next write commits normally and starts a fresh sidecar
    result.write("newer")
    assert result.read("v.pkl").value == "newer"
    assert "candidates" not in (tmp_path / ("v.pkl" + METADATA_SUFFIX)).read_text()


def test_temp_files_of_killed_writers_are_swept_by_the_next_write(tmp_path):
    result = LocalResult(dir=tmp_path, location="v.pkl")
    result.write("good")
    for _ in range(3):
        _run_and_get_killed(_KILL_MID_PAYLOAD, str(tmp_path))
    leftovers = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(leftovers) == 3 and all(p.stat().st_size >= 4 * 1024 * 1024 for p in leftovers)
    assert result.read("v.pkl").value == "good"
    result.write("next")
    assert [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    assert result.read("v.pkl").value == "next"


@pytest.fixture
def tmpfs(tmp_path):
    """A 5 MB tmpfs mounted for the test (needs root, as CI runs)."""
    mount = tmp_path / f"tmpfs-{uuid.uuid4().hex[:6]}"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=5m", "tmpfs", str(mount)], capture_output=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {proc.stderr.decode().strip()}")
    try:
        yield Path(mount)
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full_mid_payload_is_a_write_error_and_keeps_the_previous_value(tmpfs):
    result = LocalResult(dir=tmpfs, location="v.pkl")
    result.write(b"a" * 1024 * 1024)
    with pytest.raises(ResultWriteError, match=r"v\.pkl") as error:
        result.write(os.urandom(8 * 1024 * 1024))
    assert "could not serialize" not in str(error.value)
    assert result.read("v.pkl").value == b"a" * 1024 * 1024
    assert sorted(p.name for p in tmpfs.iterdir()) == ["v.pkl", "v.pkl" + METADATA_SUFFIX]


def test_disk_full_at_the_sidecar_is_a_write_error_and_keeps_the_previous_value(tmpfs):
    result = LocalResult(dir=tmpfs, location="v.pkl")
    result.write("small")
    # Fill the file system so a payload still fits but no further page does.
    filler = tmpfs / "filler"
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError:
            pass
    os.truncate(filler, filler.stat().st_size - 4096)  # one page free: enough for the payload only
    with pytest.raises(ResultWriteError, match=r"v\.pkl"):
        result.write("tiny")
    filler.unlink()
    assert result.read("v.pkl").value == "small"


def test_a_read_only_file_system_is_a_write_error_naming_the_location(tmpfs):
    result = LocalResult(dir=tmpfs, location="v.pkl")
    result.write("before")
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    try:
        with pytest.raises(ResultWriteError, match=r"v\.pkl.*Read-only"):
            result.write("after")
        assert result.read("v.pkl").value == "before"
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(tmpfs)], check=True)

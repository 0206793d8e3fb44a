"""Claims on a LocalResult (``flock``): exclusion across processes and threads, release, killed holders, lost
lock files; a store without exclusive creates grants every claim."""

from __future__ import annotations

import logging
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from airflow_results_provider.exceptions import InvalidLocationError, ResultConfigError
from airflow_results_provider.results import LocalResult
from airflow_results_provider.results.claims import Claim, FileClaim

CLAIM = "_cache/etl/policy/3f2a.claim"


@pytest.fixture
def store(tmp_path) -> LocalResult:
    return LocalResult(dir=tmp_path / "store")


def append_line(path: str, line: str) -> None:
    """One ``write`` with O_APPEND: lines of concurrent writers never interleave."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{line}\n".encode())
    finally:
        os.close(fd)


def hold_in_turn(
    store, location: str, log_path: str, holder: str, rounds: int, poll: float = 0.002, **claim_kwargs
) -> None:
    """Take the claim ``rounds`` times (trying every ``poll`` s or so); each time log ``start``, pause, log
    ``end``, release."""
    held = 0
    while held < rounds:
        claim = store.try_claim(location, **claim_kwargs)
        if claim is None:
            time.sleep(random.uniform(0, poll))
            continue
        with claim:
            append_line(log_path, f"start {holder}")
            time.sleep(random.uniform(0, 0.003))
            append_line(log_path, f"end {holder}")
        held += 1


def assert_one_holder_at_a_time(log_path: str, holds: int) -> None:
    """Every ``start X`` is followed by ``end X`` before any other line: no two holders overlapped."""
    lines = Path(log_path).read_text().splitlines()
    assert len(lines) == 2 * holds
    for start, end in zip(lines[::2], lines[1::2], strict=True):
        assert start.startswith("start ") and end == f"end {start[len('start ') :]}", (start, end, lines)


def _race_in_process(store_dir: str, log_path: str, holder: str, rounds: int) -> None:
    hold_in_turn(LocalResult(dir=store_dir), CLAIM, log_path, holder, rounds)


def test_the_checker_sees_overlapping_holders(tmp_path):
    log_path = str(tmp_path / "log")
    for line in ("start a", "start b", "end a", "end b"):
        append_line(log_path, line)
    with pytest.raises(AssertionError):
        assert_one_holder_at_a_time(log_path, 2)


def test_eight_processes_hold_the_claim_one_at_a_time(store, tmp_path):
    log_path, processes, rounds = str(tmp_path / "holders.log"), 8, 5
    spawn = multiprocessing.get_context("spawn")
    workers = [
        spawn.Process(target=_race_in_process, args=(store.base_dir, log_path, f"p{i}", rounds))
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    assert [worker.exitcode for worker in workers] == [0] * processes
    assert_one_holder_at_a_time(log_path, processes * rounds)


@pytest.mark.parametrize("shared_result", [True, False], ids=["one-result", "result-per-thread"])
def test_threads_of_one_process_hold_the_claim_one_at_a_time(store, tmp_path, shared_result):
    log_path, threads, rounds = str(tmp_path / "holders.log"), 8, 10
    errors: list[BaseException] = []

    def race(holder: str) -> None:
        try:
            own = store if shared_result else LocalResult(dir=store.base_dir)
            hold_in_turn(own, CLAIM, log_path, holder, rounds)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    workers = [threading.Thread(target=race, args=(f"t{i}",)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    assert errors == []
    assert_one_holder_at_a_time(log_path, threads * rounds)


def test_a_held_claim_excludes_every_other_claim_until_released(store):
    claim = store.try_claim(CLAIM)
    assert isinstance(claim, FileClaim)
    assert store.supports_claims
    assert store.try_claim(CLAIM) is None  # same Result, same thread: another open file description
    assert LocalResult(dir=store.base_dir).try_claim(CLAIM) is None
    assert store.try_claim("_cache/etl/policy/other.claim") is not None  # other keys are independent
    claim.release()
    claim.release()  # idempotent
    again = store.try_claim(CLAIM)
    assert again is not None
    with again:
        assert store.try_claim(CLAIM) is None
    assert not again.lost()
    assert store.try_claim(CLAIM) is not None
    assert Path(store.path(CLAIM)).is_file()  # the lock file stays (deleting it would race other lockers)


HOLDER = textwrap.dedent(
    """
    import sys, time
    from airflow_results_provider.results import LocalResult

    claim = LocalResult(dir=sys.argv[1]).try_claim(sys.argv[2])
    print("held" if claim is not None else "refused", flush=True)
    time.sleep(600)
    """
)


def test_a_killed_holders_claim_is_free_at_once(store):
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, store.base_dir, CLAIM], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "held"
        assert store.try_claim(CLAIM) is None
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL
    claim = store.try_claim(CLAIM)  # the kernel dropped the lock with the process: no ttl to wait for
    assert claim is not None
    claim.release()


def test_release_unlocks_for_forked_children_too(store):
    claim = store.try_claim(CLAIM)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child shares the locked open file description and outlives the release
        os.close(write_end)
        os.read(read_end, 1)
        os._exit(0)
    try:
        os.close(read_end)
        claim.release()
        assert store.try_claim(CLAIM) is not None
    finally:
        os.close(write_end)
        os.waitpid(pid, 0)


def test_a_deleted_or_replaced_lock_file_marks_the_holder_lost(store, tmp_path):
    claim = store.try_claim(CLAIM)
    os.unlink(store.path(CLAIM))
    assert claim.lost()
    newer = store.try_claim(CLAIM)  # the file now at the path is the lock
    assert newer is not None and not newer.lost()
    claim.release()  # only ever unlocks its own (deleted) file
    assert store.try_claim(CLAIM) is None
    replacement = tmp_path / "replacement"
    replacement.write_text("")
    os.replace(replacement, store.path(CLAIM))
    assert newer.lost()
    newer.release()
    assert newer.lost()  # stays true after release


def test_invalid_ttl_and_location_are_typed_errors(store):
    for ttl in (0, -1.0, float("nan"), float("inf"), "60", True):
        with pytest.raises(ResultConfigError, match="ttl"):
            store.try_claim(CLAIM, ttl=ttl)
    with pytest.raises(InvalidLocationError, match="escape|'\\.\\.'"):
        store.try_claim("../outside.claim")


def test_a_lock_file_that_cannot_be_created_is_a_write_error(store):
    from airflow_results_provider.exceptions import ResultWriteError

    os.makedirs(os.path.join(store.base_dir, "_cache"))
    Path(store.base_dir, "_cache", "etl").write_text("a file where the claim's directory would be")
    with pytest.raises(ResultWriteError, match="Cannot claim file://.*3f2a.claim"):
        store.try_claim(CLAIM)


def test_a_store_without_exclusive_creates_grants_every_claim_and_says_so_once(tmp_path, caplog):
    from airflow_results_provider.results import claims
    from airflow_results_provider.results.object_storage_result import ObjectStorageResult

    claims._unsupported_logged.discard("ObjectStorageResult")
    store = ObjectStorageResult(f"file://{tmp_path}/objects")
    assert not store.supports_claims
    with caplog.at_level(logging.WARNING, logger="airflow_results_provider.results.claims"):
        first, second = store.try_claim(CLAIM), store.try_claim(CLAIM)
    assert isinstance(first, Claim) and isinstance(second, Claim)
    with first:
        assert not first.lost()
    messages = [r.getMessage() for r in caplog.records if "single-flight is off" in r.getMessage()]
    assert len(messages) == 1 and "ObjectStorageResult" in messages[0]

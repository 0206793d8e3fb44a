"""Single-flight across Celery workers (issue 23): task instances computing one cache key at once compute it once.

The DAGs (dags/single_flight_dags.py) expand a ``cache_policy=INPUTS + RUN_ID`` task over identical inputs, so
every instance of a run has the same key, on the queue ``single_flight`` that both workers consume (10 processes
each, so all 20 instances run at once). Claims live in the stack's S3 store (moto): numbered lease objects created
with conditional puts and renewed by the holder, with ``[results] cache_claim_ttl`` at 10 s here.

No timed assertions: the test and the task bodies hand off through S3 keys and the task logs. The computing body
waits until the test has seen every other instance log that it is waiting for the key, so each instance provably
overlaps the computation.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.e2e_celery.conftest import CeleryStack

pytestmark = pytest.mark.airflow

BUCKET = "celery-single-flight"
QUEUE = "single_flight"
CLAIM_TTL = 10
WORKER_CONCURRENCY = 10
WAITING = "Another task instance is computing cache key"
HIT, MISS = "Cache hit (key ", "Cache miss (key "


class SingleFlightStack(CeleryStack):
    """The suite's Celery stack with ``WORKER_CONCURRENCY`` processes per worker (the suite's 3 would run only 6
    of the 20 instances at once)."""

    def _popen(
        self, name: str, cmd: list[str], env: dict[str, str] | None = None, **kwargs
    ) -> subprocess.Popen:
        if name in self.workers:
            at = cmd.index("--concurrency") + 1
            cmd = [*cmd[:at], str(WORKER_CONCURRENCY), *cmd[at + 1 :]]
        return super()._popen(name, cmd, env, **kwargs)


@pytest.fixture(scope="module")
def stack(s3_server):
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed: run bash scripts/bootstrap.sh")
    s3_server.create_bucket(Bucket=BUCKET)
    root = Path(tempfile.mkdtemp(prefix="results-single-flight-"))
    stack = SingleFlightStack(root, s3_server.endpoint)
    stack.env.update(
        {
            "AIRFLOW__RESULTS__DEFAULT_RESULT": f"s3://{BUCKET}/checkpoints",
            "AIRFLOW__RESULTS__XCOM_RESULT": f"s3://{BUCKET}",
            "AIRFLOW__RESULTS__CACHE_CLAIM_TTL": str(CLAIM_TTL),
            "AIRFLOW__CORE__PARALLELISM": "32",
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "32",
            "E2E_BUCKET": BUCKET,
        }
    )
    try:
        stack.start()
        deadline = time.monotonic() + 180
        for dag_id in ("single_flight", "single_flight_kill"):
            stack.wait_for(lambda d=dag_id: stack._dag_exists(d), deadline, f"DAG {dag_id} parsed")
        share_queue(stack, QUEUE)
        yield stack
    finally:
        stack.stop()
        if os.environ.get("E2E_CELERY_KEEP"):
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def share_queue(stack: CeleryStack, queue: str) -> None:
    """Make both workers consume ``queue``."""
    names = [w.celery_name for w in stack.workers.values()]
    stack.celery().control.add_consumer(queue, destination=names, reply=True, timeout=5)

    def shared() -> bool:
        active = stack.celery().control.inspect(timeout=1.0).active_queues() or {}
        return {name for name, queues in active.items() if any(q["name"] == queue for q in queues)} == set(
            names
        )

    stack.wait_for(shared, time.monotonic() + 30, f"{queue} consumed by both workers")


def work_log(s3, dag_id: str, run_id: str) -> list[dict]:
    """The entries the task bodies of ``run_id`` left (one per execution of a body), in no particular order."""
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"worklog/{dag_id}/{run_id}/").get("Contents", [])
    return [json.loads(s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()) for item in listed]


def task_logs(stack: CeleryStack, dag_id: str, run_id: str, task_id: str, count: int) -> dict[tuple, tuple]:
    """``(map index, try number)`` -> ``(worker, log text)`` of every try of map indexes ``0..count-1``, from
    whichever worker ran it."""
    out = {}
    for i in range(count):
        rel = f"logs/dag_id={dag_id}/run_id={run_id}/task_id={task_id}/map_index={i}"
        for worker in stack.workers.values():
            folder = worker.path(rel)
            for path in folder.glob("attempt=*.log") if folder.exists() else []:
                try_number = int(path.stem.split("=")[1])
                out[(i, try_number)] = (worker.name, path.read_text(errors="replace"))
    return out


def waiting_instances(stack: CeleryStack, dag_id: str, run_id: str, task_id: str, count: int) -> set[int]:
    """The map indexes (of ``0..count-1``) whose log says they wait for another instance computing the key."""
    logs = task_logs(stack, dag_id, run_id, task_id, count)
    return {i for (i, _), (_, log) in logs.items() if WAITING in log}


def logged_at(log: str, text: str) -> dt.datetime:
    """When the (JSON lines) task log ``log`` first logged an event containing ``text``."""
    for line in log.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and text in str(event.get("event", "")):
            return dt.datetime.fromisoformat(event["timestamp"])
    raise AssertionError(f"no {text!r} in the log:\n{log[-3000:]}")


def send(s3, dag_id: str, run_id: str, name: str) -> None:
    s3.put_object(Bucket=BUCKET, Key=f"signals/{dag_id}/{run_id}/{name}", Body=b"1")


def collected(s3, dag_id: str, run_id: str) -> list:
    return json.loads(s3.get_object(Bucket=BUCKET, Key=f"collected/{dag_id}/{run_id}.json")["Body"].read())


def trigger_until_one_computes(stack, s3_server, dag_id: str, task_id: str, count: int, timeout: float):
    """Trigger ``dag_id`` and wait until one instance computes the key and the ``count - 1`` others logged that
    they wait (failing at once if a second one computes); returns the run id and the holder's work-log entry."""
    run = stack.trigger(dag_id)

    def one_computing_and_the_others_waiting() -> bool:
        entries = work_log(s3_server, dag_id, run)
        assert len(entries) <= 1, f"more than one instance computes the key: {entries}"
        return len(entries) == 1 and len(waiting_instances(stack, dag_id, run, task_id, count)) == count - 1

    stack.mark(f"{dag_id}: triggered")
    stack.wait_for(one_computing_and_the_others_waiting, time.monotonic() + timeout, f"{count - 1} waiting")
    stack.mark(f"{dag_id}: one computing, {count - 1} waiting")
    (holder,) = work_log(s3_server, dag_id, run)
    return run, holder


def test_twenty_instances_of_one_key_on_two_workers_compute_once(stack, s3_server):
    dag_id, task_id, count = "single_flight", "compute", 20
    run, holder = trigger_until_one_computes(stack, s3_server, dag_id, task_id, count, timeout=240)
    assert holder["map_index"] not in waiting_instances(stack, dag_id, run, task_id, count)
    send(s3_server, dag_id, run, "finish")
    assert (ok := stack.run_ok(dag_id, run, timeout=240)) is True, ok
    stack.mark(f"{dag_id}: run succeeded")

    assert work_log(s3_server, dag_id, run) == [holder], "the key was computed more than once"
    states = {
        (ti["task_id"], ti["map_index"]): (ti["state"], ti["try_number"])
        for ti in stack.task_instances(dag_id, run)
    }
    assert states == {
        **{(task_id, i): ("success", 1) for i in range(count)},
        ("collect", -1): ("success", 1),
    }
    value = {"value": 42, "computed_by": holder["pid"]}
    assert collected(s3_server, dag_id, run) == [value] * count

    logs = task_logs(stack, dag_id, run, task_id, count)
    assert sorted(logs) == [(i, 1) for i in range(count)]
    assert {worker for worker, _ in logs.values()} == {"w1", "w2"}, (
        "the instances did not run on both workers"
    )
    outcomes = {
        i: ("hit" if HIT in log else "") + ("miss" if MISS in log else "")
        for (i, _), (_, log) in logs.items()
    }
    assert outcomes == {i: "miss" if i == holder["map_index"] else "hit" for i in range(count)}


def test_a_killed_holder_is_taken_over_after_its_lease_and_nothing_hangs(stack, s3_server):
    dag_id, task_id, count = "single_flight_kill", "compute_killed", 4
    run, holder = trigger_until_one_computes(stack, s3_server, dag_id, task_id, count, timeout=180)
    stack.mark(f"{dag_id}: killing the holder")
    os.kill(holder["pid"], signal.SIGKILL)  # the task process computing the key, mid-computation
    killed_at = dt.datetime.now(dt.timezone.utc)
    send(s3_server, dag_id, run, "killed")
    assert (ok := stack.run_ok(dag_id, run, timeout=240)) is True, ok
    stack.mark(f"{dag_id}: run succeeded")

    entries = work_log(s3_server, dag_id, run)
    assert len(entries) == 2, f"expected the killed computation and one more: {entries}"
    (successor,) = [e for e in entries if e != holder]
    assert successor["after_kill"] is True and successor["pid"] != holder["pid"], entries
    value = {"value": 42, "computed_by": successor["pid"]}
    assert collected(s3_server, dag_id, run) == [value] * count

    tries = {
        i: [(t["try_number"], t["state"]) for t in stack.tries(dag_id, run, f"{task_id}/{i}")]
        for i in range(count)
    }
    killed = holder["map_index"]
    assert tries[killed] == [(1, "failed"), (2, "success")], tries
    assert all(tries[i] == [(1, "success")] for i in range(count) if i != killed), tries

    # The successor waited for the holder (its log says so) before it computed (a miss): it took the claim over
    # once the holder's lease expired. The killed holder's retry and the other waiters reused its value (hits).
    logs = {at: log for at, (_, log) in task_logs(stack, dag_id, run, task_id, count).items()}
    assert sorted(logs) == sorted({(i, 1) for i in range(count)} | {(killed, 2)})
    successor_log = logs.pop((successor["map_index"], successor["try_number"]))
    assert WAITING in successor_log and HIT not in successor_log, successor_log[-3000:]
    # Not before the lease could expire: the holder renewed it at most ttl/3 before the kill, and a waiter takes
    # it over only once its bytes have not changed for ttl (a lower bound the lease guarantees, not a timing).
    took_over_at = logged_at(successor_log, MISS)
    assert took_over_at - killed_at >= dt.timedelta(seconds=CLAIM_TTL * 2 / 3), (killed_at, took_over_at)
    holder_log = logs.pop((killed, 1))
    assert MISS in holder_log and HIT not in holder_log, holder_log[-3000:]
    for at, log in logs.items():
        assert HIT in log and MISS not in log, (at, log[-3000:])

"""The soak DAG (tests/e2e_celery/soak.py): every feature that writes to S3, in tasks that sleep 1-4 s so that a
SIGKILLed Celery worker takes tasks down mid-flight, and with retries so the scheduler's heartbeat-timeout detection
gets them run again.

- ``extract``: a checkpoint (``@task.result``, ``[results] default_result`` on S3);
- ``targeted``: a target shared by every run with the same ``slot`` (``params``): the first run of a slot writes
  it, later ones hit it (concurrent runs of one slot commit one after the other under the ``.lock`` lease);
- ``count_loop``: ``Loop`` for 4 iterations, each one checkpointed (a retry resumes from the last);
- ``produce`` -> ``consume``: a list the XCom backend offloads in chunks, expanded over by a mapped, checkpointed
  task;
- ``big`` -> ``check_big``: bytes the XCom backend offloads as a pickle (a signed record): 9 MB in the runs of slot 0
  (a multipart upload: parts of 8 MB and 1 MB), 1 MB in the others; read back by the downstream;
- ``summarize``: a checkpoint of everything above.

Every value is a pure function of the run id and the slot (:func:`expected`), so the soak checks what it reads back.
With ``SOAK_STORE_DELAY`` set, the workers' S3 writes are slowed down (:func:`_slow_store`) so kills land in commits.
"""

from __future__ import annotations

import functools
import hashlib
import os
import random
import time
from datetime import timedelta

from airflow.sdk import DAG, Param, get_current_context, task

from airflow_results_provider import Loop

Q1, Q2 = "worker1", "worker2"
SOAK_DAG_ID = "soak_pipeline"
MAPPED = 4
LOOP_ITERATIONS = 4
BIG_BYTES = 9 * 1024 * 1024
SMALL_BYTES = 1024 * 1024
#: Sleep bounds of a task body (seconds); the soak sets them with SOAK_SLEEP="low,high" (the workers' env).
SLEEP = tuple(float(x) for x in os.environ.get("SOAK_SLEEP", "1,4").split(","))
#: Each S3 write request of a task waits up to this long first (seconds; SOAK_STORE_DELAY, 0: none).
STORE_DELAY = float(os.environ.get("SOAK_STORE_DELAY", "0"))


def _slow_store(max_delay: float) -> None:
    """Fault injection for the soak: every S3 write request a task makes (sidecar and lease PUTs, lease deletes, the
    parts of a multipart upload) first waits a random 0..``max_delay`` s, so a commit lasts long enough for random
    kills to land inside it. Timing only: each request is the provider's own, unchanged."""
    from airflow_results_provider.results import s3_result

    def slowed(call):
        if getattr(call, "_soak_slowed", False):
            return call

        @functools.wraps(call)
        def wrapper(*args, **kwargs):
            time.sleep(random.uniform(0, max_delay))
            return call(*args, **kwargs)

        wrapper._soak_slowed = True
        return wrapper

    for cls, names in (
        (s3_result.S3Result, ("_put_small", "_create_if_absent", "_delete_key")),
        (s3_result._MultipartWriter, ("begin", "upload_part", "finish")),
    ):
        for name in names:
            setattr(cls, name, slowed(getattr(cls, name)))


if STORE_DELAY > 0 and os.environ.get("E2E_WORKER"):  # in the workers' task processes only
    _slow_store(STORE_DELAY)


# ---------------------------------------------------------------------------------------------- values


def _digest(*parts: object) -> str:
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()


def extract_value(run_id: str) -> dict:
    return {"run": run_id, "rows": [int(_digest(run_id, i)[:8], 16) for i in range(50)]}


def targeted_value(slot: int) -> dict:
    return {"slot": slot, "data": [_digest("slot", slot, i)[:16] for i in range(20)]}


def loop_value(run_id: str) -> int:
    return sum(int(_digest(run_id, "loop", n)[:4], 16) for n in range(1, LOOP_ITERATIONS + 1))


def produce_value(run_id: str) -> list[str]:
    return [f"{run_id}|{i}|" + _digest(run_id, "item", i) * 60 for i in range(MAPPED)]


def consume_value(item: str) -> dict:
    return {"head": item.split("|", 2)[1], "sha256": hashlib.sha256(item.encode()).hexdigest()}


def big_value(run_id: str, slot: int) -> bytes:
    """9 MB (a multipart upload of two parts) in the runs of slot 0, 1 MB (one PUT) in the others."""
    size = BIG_BYTES if slot == 0 else SMALL_BYTES
    return random.Random(_digest(run_id, "big")).randbytes(size)


def expected(run_id: str, slot: int) -> dict:
    """What every task of the run returns (a mapped task: a list by map index)."""
    items = produce_value(run_id)
    big_sha = hashlib.sha256(big_value(run_id, slot)).hexdigest()
    return {
        "extract": extract_value(run_id),
        "targeted": targeted_value(slot),
        "count_loop": loop_value(run_id),
        "produce": items,
        "consume": [consume_value(item) for item in items],
        "big": big_sha,  # compared by digest
        "check_big": big_sha,
        "summarize": {
            "run": run_id,
            "slot": slot,
            "rows": sum(extract_value(run_id)["rows"]),
            "loop": loop_value(run_id),
            "consumed": [consume_value(item)["sha256"] for item in items],
            "big": big_sha,
        },
    }


def nap() -> None:
    """Sleep 1-4 s: long enough for a kill to land mid-task."""
    ti = get_current_context()["ti"]
    rng = random.Random(f"{ti.run_id}:{ti.task_id}:{ti.map_index}:{ti.try_number}:{time.time_ns()}")
    time.sleep(rng.uniform(*SLEEP))


def _run_id() -> str:
    return get_current_context()["ti"].run_id


# ---------------------------------------------------------------------------------------------- the DAG

with DAG(
    SOAK_DAG_ID,
    schedule=None,
    max_active_runs=int(os.environ.get("SOAK_MAX_ACTIVE_RUNS", "3")),
    params={"slot": Param(0, type="integer")},
    default_args={"retries": 4, "retry_delay": timedelta(seconds=1)},
):

    @task.result(queue=Q1)
    def extract():
        nap()
        return extract_value(_run_id())

    @task.result(queue=Q2, target="{flow_name}/targets/slot-{slot}.pkl")
    def targeted():
        nap()
        return targeted_value(int(get_current_context()["params"]["slot"]))

    @task.result(queue=Q1)
    def count_loop(task_loop_count=1, task_loop_result=None):
        time.sleep(max(1.0, SLEEP[0]))
        total = (task_loop_result or 0) + int(_digest(_run_id(), "loop", task_loop_count)[:4], 16)
        if task_loop_count < LOOP_ITERATIONS:
            raise Loop(result=total, message=f"iteration {task_loop_count}")
        return total

    @task(queue=Q2)
    def produce():
        nap()
        return produce_value(_run_id())

    @task.result(queue=Q1)
    def consume(item):
        nap()
        return consume_value(item)

    # Not logged (PythonOperator would log the repr of 9 MB, 25 s of the masker) and pulled in the body, not passed
    # as an argument (Airflow walks and masks a TaskFlow argument): docs/xcom-backend.md, "Large values as TaskFlow
    # arguments".
    @task(queue=Q2, show_return_value_in_logs=False)
    def big():
        nap()
        return big_value(_run_id(), int(get_current_context()["params"]["slot"]))

    @task(queue=Q1)
    def check_big():
        nap()
        blob = get_current_context()["ti"].xcom_pull(task_ids="big")
        return hashlib.sha256(blob).hexdigest()

    @task.result(queue=Q2)
    def summarize(rows, slot_value, loop_total, consumed, big_sha):
        nap()
        return {
            "run": rows["run"],
            "slot": slot_value["slot"],
            "rows": sum(rows["rows"]),
            "loop": loop_total,
            "consumed": [c["sha256"] for c in consumed],
            "big": big_sha,
        }

    checked = check_big()
    big() >> checked
    summarize(extract(), targeted(), count_loop(), consume.expand(item=produce()), checked)

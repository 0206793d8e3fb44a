"""DAGs of the single-flight test (tests/e2e_celery/test_single_flight.py): a mapped task whose instances all have
one cache key (``cache_policy=INPUTS + RUN_ID`` over identical inputs), served by both Celery workers (the queue
``single_flight``, which the test makes both workers consume).

Every execution of a body appends an entry to the run's work log: an S3 object
``worklog/<dag>/<run>/<map index>-<try>-<uuid>.json`` naming the worker, pid, map index and try (the workers share
no disk). A computing body then waits for the test's signal (S3 keys under ``signals/<dag>/<run>/``): ``finish``
in ``single_flight``; in ``single_flight_kill`` the test SIGKILLs the first body (the claim's holder) and then
writes ``killed``, which lets any later body return at once.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import timedelta

from airflow.sdk import DAG, get_current_context, task

from airflow_results_provider.cache_policies import INPUTS, RUN_ID

BUCKET = os.environ.get("E2E_BUCKET", "celery-e2e")
QUEUE = "single_flight"
#: Longest a body waits for the test's signal: a test that never sends it fails the task, never hangs it.
SIGNAL_TIMEOUT = 300
#: One key per run and input: the instances of a run share it, a later run (or a rerun of the module on the
#: same bucket) does not hit an earlier run's entry.
POLICY = INPUTS + RUN_ID


def _s3():
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id="aws_default")


def _signal_key(name: str) -> str:
    ti = get_current_context()["ti"]
    return f"signals/{ti.dag_id}/{ti.run_id}/{name}"


def log_work(**extra) -> None:
    """Append this execution of the body to the run's work log."""
    ti = get_current_context()["ti"]
    entry = {
        "map_index": ti.map_index,
        "try_number": ti.try_number,
        "worker": os.environ.get("E2E_WORKER"),
        "pid": os.getpid(),
        **extra,
    }
    key = f"worklog/{ti.dag_id}/{ti.run_id}/{ti.map_index}-{ti.try_number}-{uuid.uuid4().hex}.json"
    _s3().load_string(json.dumps(entry), key, bucket_name=BUCKET, replace=True)


def signalled(name: str) -> bool:
    return _s3().check_for_key(_signal_key(name), bucket_name=BUCKET)


def wait_for(name: str) -> None:
    deadline = time.monotonic() + SIGNAL_TIMEOUT
    while not signalled(name):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no signal {_signal_key(name)} after {SIGNAL_TIMEOUT} s")
        time.sleep(0.3)


def _collect(values) -> list:
    values = list(values)
    ti = get_current_context()["ti"]
    key = f"collected/{ti.dag_id}/{ti.run_id}.json"
    _s3().load_string(json.dumps(values), key, bucket_name=BUCKET, replace=True)
    return values


# 20 instances of one key: one computes (until the test says ``finish``), the other 19 wait and reuse its value.
with DAG("single_flight", schedule=None, max_active_tasks=32, default_args={"queue": QUEUE}):

    @task.result(cache_policy=POLICY)
    def compute(x):
        log_work()
        wait_for("finish")
        return {"value": x * 6, "computed_by": os.getpid()}

    @task(queue=QUEUE)
    def collect(values):
        return _collect(values)

    collect(compute.expand(x=[7] * 20))


# The holder is SIGKILLed mid-computation: another instance takes the claim over once its lease expires.
with DAG("single_flight_kill", schedule=None, max_active_tasks=32, default_args={"queue": QUEUE}):

    @task.result(cache_policy=POLICY, retries=1, retry_delay=timedelta(seconds=0))
    def compute_killed(x):
        after_kill = signalled("killed")
        log_work(after_kill=after_kill)
        if not after_kill:
            wait_for("killed")  # the holder: the test kills this process now
        return {"value": x * 6, "computed_by": os.getpid()}

    @task(queue=QUEUE)
    def collect_killed(values):
        return _collect(values)

    collect_killed(compute_killed.expand(x=[7] * 4))

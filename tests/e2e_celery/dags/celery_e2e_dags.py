"""DAGs of the CeleryExecutor end-to-end suite (copied into the scheduler's and each worker's dags folder).

Tasks are pinned to the queues ``worker1`` and ``worker2``, each served by one ``airflow celery worker``. Every task
body leaves a record in S3 (``records/<dag>/<run>/<task>/...``) naming the worker (``E2E_WORKER``), queue,
hostname, pid and try: a body that did not run leaves none. ``wait_for`` / ``signal`` are the handshakes with the
test (S3 keys under ``signals/<dag>/<run>/``).
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from datetime import timedelta

from airflow.sdk import DAG, get_current_context, task

from airflow_results_provider import LocalResult, Loop

BUCKET = os.environ.get("E2E_BUCKET", "celery-e2e")
Q1, Q2 = "worker1", "worker2"


def _s3():
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id="aws_default")


def record(**extra):
    """Leave a record of this execution of a task body in S3."""
    ti = get_current_context()["ti"]
    body = {
        "dag_id": ti.dag_id,
        "run_id": ti.run_id,
        "task_id": ti.task_id,
        "map_index": ti.map_index,
        "try_number": ti.try_number,
        "queue": ti.task.queue,
        "worker": os.environ.get("E2E_WORKER"),
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        **extra,
    }
    key = f"records/{ti.dag_id}/{ti.run_id}/{ti.task_id}/{ti.try_number}-{uuid.uuid4().hex}.json"
    _s3().load_string(json.dumps(body), key, bucket_name=BUCKET, replace=True)


def signal(name):
    ti = get_current_context()["ti"]
    _s3().load_string("1", f"signals/{ti.dag_id}/{ti.run_id}/{name}", bucket_name=BUCKET, replace=True)


def wait_for(name, timeout=180):
    ti = get_current_context()["ti"]
    key = f"signals/{ti.dag_id}/{ti.run_id}/{name}"
    deadline = time.monotonic() + timeout
    while not _s3().check_for_key(key, bucket_name=BUCKET):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {key} after {timeout} s")
        time.sleep(0.3)


# (a) A -> B -> C alternating workers; targets without the run id, so a second run hits all three.
with DAG("celery_chain", schedule=None, default_args={"target": "{flow_name}/{task_name}.pkl"}):

    @task.result(queue=Q1)
    def extract():
        record()
        return [1, 2, 3]

    @task.result(queue=Q2)
    def transform(rows):
        record(received=rows)
        return [r * 10 for r in rows]

    @task.result(queue=Q1)
    def load(rows):
        record(received=rows)
        return sum(rows)

    load(transform(extract()))


# (b) C fails its first try; the test moves queue worker1 to worker 2 before it fails, so the retry runs there.
with DAG("celery_retry", schedule=None):

    @task.result(queue=Q1)
    def a():
        record()
        return {"a": 1}

    @task.result(queue=Q2)
    def b():
        record()
        return {"b": 2}

    @task.result(queue=Q1, retries=1, retry_delay=timedelta(seconds=0))
    def c(a, b):
        record(received=[a, b])
        if get_current_context()["ti"].try_number == 1:
            signal("c-failing")
            wait_for("c-may-fail")
            raise RuntimeError("first try of c fails on purpose")
        return a["a"] + b["b"]

    c(a(), b())


# (c) Five iterations; on the first try the worker is SIGKILLed during iteration 3.
with DAG("celery_loop", schedule=None):

    @task.result(queue=Q1, retries=1, retry_delay=timedelta(seconds=0))
    def count_to_five(task_loop_count=1, task_loop_result=None):
        record(count=task_loop_count, received=task_loop_result)
        total = (task_loop_result or 0) + task_loop_count
        if task_loop_count == 3 and get_current_context()["ti"].try_number == 1:
            signal("at-iteration-3")
            time.sleep(600)  # the test kills this worker now
        if task_loop_count < 5:
            raise Loop(result=total, message=f"iteration {task_loop_count}")
        return total

    count_to_five()


# (d) The XCom backend: a 50-item list offloaded in chunks, expanded over by a mapped task on the other worker.
with DAG("celery_xcom_map", schedule=None):

    @task(queue=Q1)
    def produce():
        return [f"item-{i}-" + "x" * 2000 for i in range(50)]

    @task(queue=Q2)
    def consume(item):
        return {
            "head": item.split("-x")[0],
            "len": len(item),
            "worker": os.environ.get("E2E_WORKER"),
            "pid": os.getpid(),
        }

    consume.expand(item=produce())


# (e) LocalResult under Celery: the value stays on worker 1's disk; the downstream runs on worker 2.
with DAG("celery_local", schedule=None):

    @task.result(queue=Q1, result=LocalResult())
    def write_local():
        record()
        return {"rows": list(range(100))}

    @task(queue=Q2)
    def read_local(value):
        record(received=len(value["rows"]))
        return len(value["rows"])

    read_local(write_local())

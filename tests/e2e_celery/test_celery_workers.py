"""Results on CeleryExecutor: two workers that share nothing but the object store (see conftest.py).

Every scenario asserts on what is stored (S3 objects and their metadata sidecars, XCom rows in PostgreSQL) and on
which worker ran each try (the record the task body left in S3, and the try's queue/hostname/pid in the REST API).
"""

from __future__ import annotations

import json
import pickle
import time

import pytest

from tests.e2e_celery.conftest import BUCKET

pytestmark = pytest.mark.airflow


def records(s3, dag_id: str, run_id: str) -> dict[str, list[dict]]:
    """Task id -> the records its body left in S3 (one per execution of the body), oldest try first."""
    out: dict[str, list[dict]] = {}
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=BUCKET, Prefix=f"records/{dag_id}/{run_id}/"):
        for item in page.get("Contents", []):
            body = json.loads(s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read())
            out.setdefault(body["task_id"], []).append(body)
    for bodies in out.values():
        bodies.sort(key=lambda b: (b["try_number"], b.get("count") or 0))
    return out


def keys(s3, prefix: str) -> list[str]:
    paginator = s3.get_paginator("list_objects_v2")
    return sorted(
        item["Key"]
        for page in paginator.paginate(Bucket=BUCKET, Prefix=prefix)
        for item in page.get("Contents", [])
    )


def wait_for_key(s3, key: str, stack, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix=key):
        if time.monotonic() > deadline:
            raise AssertionError(
                f"no s3://{BUCKET}/{key} after {timeout} s\n" + stack.tail("w1") + stack.tail("w2")
            )
        time.sleep(0.3)


def metadata(s3, key: str) -> dict:
    return json.loads(s3.get_object(Bucket=BUCKET, Key=key + ".meta.json")["Body"].read())


def payload(s3, key: str):
    return pickle.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def assert_envelope_at(row: dict, location: str) -> None:
    assert row["__airflow_result__"] == 1, row
    assert row["location"] == location, row
    assert row.get("hmac"), "the shared signing_key signs every envelope"


def worker_files(stack, name: str, sub: str = "results") -> list[str]:
    root = stack.workers[name].path(sub)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture(autouse=True)
def _routing(celery_stack):
    """Each queue served by its own worker at the start of every test."""
    celery_stack.reset_routing()


def test_chain_crosses_workers_through_s3_and_second_run_hits_every_target(celery_stack, s3_server):
    stack, s3 = celery_stack, s3_server
    first = stack.trigger("celery_chain")
    assert stack.wait_run("celery_chain", first)["state"] == "success"

    done = records(s3, "celery_chain", first)
    assert {t: [(r["worker"], r["queue"]) for r in rs] for t, rs in done.items()} == {
        "extract": [("w1", "worker1")],
        "transform": [("w2", "worker2")],
        "load": [("w1", "worker1")],
    }
    assert done["transform"][0]["received"] == [1, 2, 3]
    assert done["load"][0]["received"] == [10, 20, 30]
    for task_id, rs in done.items():
        (try_,) = stack.tries("celery_chain", first, task_id)
        assert (try_["queue"], try_["pid"]) == (rs[0]["queue"], rs[0]["pid"]) or try_["queue"] == rs[0][
            "queue"
        ]

    # The values live in S3 only: checkpoints at the targets, XCom rows are envelopes pointing at them,
    # nothing on either worker's disk.
    targets = {t: f"checkpoints/celery_chain/{t}.pkl" for t in ("extract", "transform", "load")}
    assert set(targets.values()) <= set(keys(s3, "checkpoints/celery_chain/"))
    assert payload(s3, targets["load"]) == 60
    rows = stack.xcom_rows("celery_chain", first)
    for task_id, key in targets.items():
        assert_envelope_at(rows[task_id], f"s3://{BUCKET}/{key}")
        assert metadata(s3, key)["run_id"] == first
    assert worker_files(stack, "w1") == [] and worker_files(stack, "w2") == []

    second = stack.trigger("celery_chain")
    assert stack.wait_run("celery_chain", second)["state"] == "success"
    assert records(s3, "celery_chain", second) == {}, "a task body ran although its target existed"
    for task_id, key in targets.items():
        assert metadata(s3, key)["run_id"] == first, f"{task_id}'s checkpoint was rewritten"
    rows = stack.xcom_rows("celery_chain", second)
    assert rows["load"]["location"] == f"s3://{BUCKET}/{targets['load']}"

"""Results on CeleryExecutor: two workers that share nothing but the object store (see conftest.py).

Every scenario asserts on what is stored (S3 objects and their metadata sidecars, XCom rows in PostgreSQL) and on
which worker ran each try (the record the task body left in S3, and the try's queue/hostname/pid in the REST API).
"""

from __future__ import annotations

import json
import pickle
import re
import signal
import time

import pytest

from tests.e2e_celery.conftest import BUCKET, kill_tree

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
    assert (ok := stack.run_ok("celery_chain", first)) is True, ok

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
    assert (ok := stack.run_ok("celery_chain", second)) is True, ok
    assert records(s3, "celery_chain", second) == {}, "a task body ran although its target existed"
    for task_id, key in targets.items():
        assert metadata(s3, key)["run_id"] == first, f"{task_id}'s checkpoint was rewritten"
    rows = stack.xcom_rows("celery_chain", second)
    assert rows["load"]["location"] == f"s3://{BUCKET}/{targets['load']}"


def test_retry_of_failed_task_runs_on_the_other_worker_with_upstream_values_from_s3(celery_stack, s3_server):
    stack, s3 = celery_stack, s3_server
    run = stack.trigger("celery_retry")
    wait_for_key(s3, f"signals/celery_retry/{run}/c-failing", stack)
    # Worker 1 leaves queue worker1 (as if drained or gone): its only consumer from now on is worker 2.
    stack.serve("worker1", by="w2")
    s3.put_object(Bucket=BUCKET, Key=f"signals/celery_retry/{run}/c-may-fail", Body=b"1")
    assert (ok := stack.run_ok("celery_retry", run)) is True, ok

    done = records(s3, "celery_retry", run)
    assert [(r["worker"], r["try_number"]) for r in done["a"]] == [("w1", 1)], "a ran again"
    assert [(r["worker"], r["try_number"]) for r in done["b"]] == [("w2", 1)], "b ran again"
    assert [(r["worker"], r["try_number"], r["queue"]) for r in done["c"]] == [
        ("w1", 1, "worker1"),
        ("w2", 2, "worker1"),
    ]
    assert done["c"][0]["pid"] != done["c"][1]["pid"]
    assert done["c"][1]["received"] == [{"a": 1}, {"b": 2}]
    tries = stack.tries("celery_retry", run, "c")
    assert [(t["try_number"], t["state"], t["queue"]) for t in tries] == [
        (1, "failed", "worker1"),
        (2, "success", "worker1"),
    ]

    rows = stack.xcom_rows("celery_retry", run)
    for task_id in ("a", "b", "c"):
        location = rows[task_id]["location"]
        assert location.startswith(f"s3://{BUCKET}/checkpoints/celery_retry/"), location
    c_key = rows["c"]["location"].removeprefix(f"s3://{BUCKET}/")
    assert payload(s3, c_key) == 3
    assert metadata(s3, c_key)["try_number"] == 2
    for task_id in ("a", "b"):
        assert metadata(s3, rows[task_id]["location"].removeprefix(f"s3://{BUCKET}/"))["try_number"] == 1
    assert worker_files(stack, "w1") == [] and worker_files(stack, "w2") == []


def test_mapped_task_over_offloaded_list_loads_only_its_chunk(celery_stack, s3_server):
    stack, s3 = celery_stack, s3_server
    run = stack.trigger("celery_xcom_map")
    assert (ok := stack.run_ok("celery_xcom_map", run, timeout=480)) is True, ok

    envelope = stack.xcom_rows("celery_xcom_map", run, "produce")["produce"]
    assert envelope["__airflow_result__"] == 1 and envelope["kind"] == "sequence", envelope
    assert envelope["length"] == 50 and len(envelope["chunks"]) == 50 and envelope["chunk_len"] == 1
    assert envelope["location"].startswith(f"s3://{BUCKET}/xcom/celery_xcom_map/")
    parts = [k for k in keys(s3, envelope["key"] + "/") if not k.endswith(".meta.json")]
    assert len(parts) == 50

    consumed = stack.xcom_rows("celery_xcom_map", run, "consume")
    assert sorted(consumed) == [("consume", i) for i in range(50)]
    for (_, index), value in consumed.items():
        assert value["head"] == f"item-{index}" and value["len"] == len(f"item-{index}-") + 2000
        assert value["worker"] == "w2"
    for index in range(50):
        log = stack.worker_log("w2", "celery_xcom_map", run, "consume", map_index=index)
        loaded = re.findall(r"Loaded chunk (\d+) of (\d+)", log)
        assert loaded == [(str(index + 1), "50")], (index, loaded)


@pytest.fixture(scope="module")
def local_run(celery_stack) -> str:
    """One run of ``celery_local``: write_local (LocalResult) on worker 1, read_local on worker 2."""
    if not celery_stack.private:
        pytest.skip("no mount namespaces here: the two workers' local_dirs would be visible to each other")
    celery_stack.reset_routing()
    run = celery_stack.trigger("celery_local")
    assert celery_stack.wait_run("celery_local", run)["state"] == "failed"
    return run


def test_local_result_warns_and_stays_on_its_worker(celery_stack, s3_server, local_run):
    stack, s3 = celery_stack, s3_server
    states = stack.task_states("celery_local", local_run)
    assert states == {"write_local": "success", "read_local": "failed"}
    log = stack.worker_log("w1", "celery_local", local_run, "write_local")
    assert "LocalResult writes to this machine's disk" in log and "CeleryExecutor" in log
    written = worker_files(stack, "w1")
    assert any(f.endswith("write_local/return_value.pkl") for f in written), written
    assert worker_files(stack, "w2") == []
    envelope = stack.xcom_rows("celery_local", local_run, "write_local")["write_local"]
    assert envelope["location"].startswith(f"file://{stack.workers['w1'].scratch}/results/")
    assert "read_local" not in records(s3, "celery_local", local_run), (
        "read_local ran on a value it cannot have"
    )


def test_local_result_downstream_on_other_worker_fails_naming_location_and_remedy(celery_stack, local_run):
    stack = celery_stack
    envelope = stack.xcom_rows("celery_local", local_run, "write_local")["write_local"]
    log = stack.worker_log("w2", "celery_local", local_run, "read_local")
    assert envelope["location"] in log, log[-3000:]
    assert re.search(r"S3Result|GCSResult|AzureResult|object store", log), log[-3000:]


def test_loop_resumes_on_the_other_worker_after_sigkill(celery_stack, s3_server):
    """Runs last: worker 1 is killed for good."""
    stack, s3 = celery_stack, s3_server
    run = stack.trigger("celery_loop")
    wait_for_key(s3, f"signals/celery_loop/{run}/at-iteration-3", stack)
    worker = stack.workers["w1"]
    stack.expected_dead.add("w1")
    kill_tree(worker.proc.pid, signal.SIGKILL)
    worker.proc.wait(10)
    stack.serve("worker1", by="w2")
    assert (ok := stack.run_ok("celery_loop", run, timeout=240)) is True, ok

    done = records(s3, "celery_loop", run)["count_to_five"]
    assert [(r["try_number"], r["count"], r["worker"]) for r in done] == [
        (1, 1, "w1"),
        (1, 2, "w1"),
        (1, 3, "w1"),
        (2, 3, "w2"),
        (2, 4, "w2"),
        (2, 5, "w2"),
    ]
    assert done[3]["received"] == 3, "the retry did not start from iteration 2's checkpointed result"
    tries = stack.tries("celery_loop", run, "count_to_five")
    assert [(t["try_number"], t["state"]) for t in tries] == [(1, "failed"), (2, "success")]

    envelope = stack.xcom_rows("celery_loop", run, "count_to_five")["count_to_five"]
    assert payload(s3, envelope["location"].removeprefix(f"s3://{BUCKET}/")) == 15
    iterations = {
        k: metadata(s3, k)["try_number"]
        for k in keys(s3, "checkpoints/celery_loop/")
        if "loop-" in k and not k.endswith(".meta.json")
    }
    assert sorted(iterations.values()) == [1, 1, 2, 2], iterations

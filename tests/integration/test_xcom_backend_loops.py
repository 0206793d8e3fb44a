"""ResultXComBackend with native Task Loops (Airflow >= 3.4, AIP-111): Airflow 3.4 refuses a DAG with a loop
unless the XCom backend stores through ``store_value``, which tells the task instances (one per iteration) of a
task apart. The DAG runs in a fresh process with the backend configured through env vars (as in
``test_xcom_backend.py``); the hook choice is checked on every leg.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace

import pytest
from packaging.version import Version

from tests.conftest import ROOT, airflow_env, payload_files

pytestmark = pytest.mark.airflow

BACKEND = "airflow_results_provider.xcom.ResultXComBackend"
NATIVE_LOOPS = Version(version("apache-airflow")).release >= (3, 4)

DAG = """
from pathlib import Path
from airflow.sdk import dag, task, task_group

WORK = Path("__WORK__")


def big(i):
    return {"iteration": i, "rows": list(range(20000 + i))}


@dag(dag_id="xcom_loops", schedule=None, default_args={"retries": 0})
def xcom_loops():
    @task_group
    def body():
        @task(retries=1, retry_delay=0)
        def step(*, loop, ti=None):
            i = loop.index
            if i:  # the previous iteration's value, pulled through the backend
                assert loop.previous == big(i - 1), "loop.previous is not the previous iteration's value"
            ti.xcom_push(key="small", value={"i": i})  # inline
            ti.xcom_push(key="scratch", value=big(i))  # offloaded
            if i == 1:  # deleting this iteration's row purges its payload, not another iteration's
                from airflow.sdk.execution_time.xcom import XCom

                XCom.delete(key="scratch", dag_id=ti.dag_id, task_id=ti.task_id, run_id=ti.run_id, map_index=-1)
            with open(WORK / "tries", "a") as f:
                f.write(f"{i}.{ti.try_number},")
            if i == 1 and ti.try_number == 1:
                raise RuntimeError("iteration 1 fails once: its retry stores its values again")
            return big(i)  # offloaded

        step()

    @task
    def after(ti=None):
        from airflow.sdk.execution_time.xcom import XCom

        # outside the loop, a loop task's XCom is the sequence of its iterations' values
        where = {"dag_id": ti.dag_id, "run_id": ti.run_id, "task_id": "body.step"}
        assert list(XCom.get_all(key="return_value", **where)) == [big(i) for i in range(3)]
        assert list(XCom.get_all(key="small", **where)) == [{"i": i} for i in range(3)]
        (WORK / "after").write_text("read")

    body.loop(max_iterations=3) >> after()


xcom_loops()
"""


def _run(tmp_path: Path, results: Path) -> tuple[dict, str]:
    dag_file = Path(airflow_env()["AIRFLOW__CORE__DAGS_FOLDER"]) / "xcom_loops.py"
    dag_file.write_text(DAG.replace("__WORK__", str(tmp_path)))
    environment = airflow_env(
        AIRFLOW__CORE__XCOM_BACKEND=BACKEND,
        AIRFLOW__RESULTS__LOCAL_DIR=str(results),
        AIRFLOW__RESULTS__PURGE="on_clear",
        AIRFLOW__RESULTS__SIGNING_KEY="k3y" * 11,
        PYTHONPATH=str(ROOT),
    )
    proc = subprocess.run(
        [sys.executable, "-m", "tests.integration.xcom_dag_runner", str(dag_file), "run:xcom_loops"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    output = proc.stdout + proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT-JSON ")]
    assert proc.returncode == 0 and lines, output[-5000:]
    return json.loads(lines[-1].removeprefix("RESULT-JSON "))["xcom_loops"][0], output


def _rows(run_id: str, key: str) -> list:
    """The XCom rows of ``body.step`` under ``key`` in the run (one per iteration; Airflow 3.4 also keeps the
    rows of earlier attempts, which this leaves out)."""
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from airflow_results_provider.index._airflow_xcom import xcom_model

    model = xcom_model()
    statement = select(model.value).where(
        model.dag_id == "xcom_loops", model.run_id == run_id, model.task_id == "body.step", model.key == key
    )
    with create_session() as session:
        return list(session.scalars(statement))


@pytest.mark.skipif(
    not NATIVE_LOOPS, reason="native Task Loops (task_group.loop, AIP-111) need Airflow >= 3.4"
)
def test_each_loop_iteration_stores_reads_and_purges_its_own_value(
    airflow_db, airflow_home, tmp_path, monkeypatch
):
    from airflow_results_provider import config
    from airflow_results_provider.xcom import ResultXComBackend

    results = tmp_path / "results"
    run, log = _run(tmp_path, results)
    # no TypeError from Airflow's loop check: every iteration ran, iteration 1 twice
    assert run["states"]["after"] == "success", log[-5000:]
    assert [run["states"][f"body.step[{i}]"] for i in range(3)] == ["success"] * 3, run["states"]
    assert (tmp_path / "tries").read_text() == "0.1,1.1,1.2,2.1,"
    assert (tmp_path / "after").read_text() == "read"  # the downstream task read every iteration's value

    # each iteration's value at a location of its own, the row's envelope naming its iteration
    envelopes = {row["loop_index"]: row for row in _rows(run["run_id"], "return_value")}
    assert sorted(envelopes) == [0, 1, 2]
    prefix = f"xcom/xcom_loops/{envelopes[0]['key'].split('/')[2]}/body.step"
    for i, envelope in envelopes.items():
        assert envelope["key"] == f"{prefix}/iteration-{i}/return_value.json" and "hmac" in envelope
        assert envelope["location"].endswith(f"/body.step/iteration-{i}/return_value.json")
    # small values stay inline, one row per iteration
    assert sorted(row["i"] for row in _rows(run["run_id"], "small")) == [0, 1, 2]

    # each row reads back its own iteration's value through the backend (Airflow 3.4's load_value hook)
    monkeypatch.setenv("AIRFLOW__RESULTS__SIGNING_KEY", "k3y" * 11)
    monkeypatch.setenv("AIRFLOW__RESULTS__LOCAL_DIR", str(results))
    config.clear_cache()
    try:
        for i, envelope in envelopes.items():
            assert ResultXComBackend.load_value(envelope) == {"iteration": i, "rows": list(range(20000 + i))}
    finally:
        config.clear_cache()

    # XCom.delete in iteration 1 (purge = on_clear) purged that iteration's payload, the others' stayed
    files = payload_files(results)
    assert [p for p in files if p.endswith("/scratch.json")] == [
        f"{prefix}/iteration-{i}/scratch.json" for i in (0, 2)
    ], files
    assert "Purged XCom payload" in log and f"{prefix}/iteration-1/scratch.json" in log


def test_airflow_calls_the_hooks_that_tell_task_instances_apart():
    """Airflow 3.4 stores through store_value/load_value when a backend defines both hook pairs (and refuses a
    loop otherwise); Airflow 3.2/3.3 have no store_value and keep calling serialize_value/deserialize_value."""
    from airflow.sdk.bases import xcom as base

    from airflow_results_provider.xcom import ResultXComBackend

    if NATIVE_LOOPS:
        assert base._is_legacy_xcom_backend(ResultXComBackend) is False
        assert base._is_preferred_over(ResultXComBackend, "load_value", "deserialize_value")
    else:
        assert not hasattr(base, "_is_legacy_xcom_backend")
        assert not hasattr(base.BaseXCom, "store_value") and not hasattr(base.BaseXCom, "load_value")


def test_store_value_locations_are_unique_per_task_instance_or_write(tmp_path, monkeypatch):
    """Outside a task: a coordinate without a task instance id (one task writing another's XCom) gets a location
    per write; one with an id a location of that task instance."""
    from airflow_results_provider import config
    from airflow_results_provider.xcom import ResultXComBackend

    monkeypatch.setenv("AIRFLOW__RESULTS__XCOM_RESULT", (tmp_path / "store").as_uri())
    monkeypatch.setenv("AIRFLOW__RESULTS__XCOM_INLINE_THRESHOLD", "0")
    config.clear_cache()
    value = {"rows": list(range(100))}
    try:
        other = SimpleNamespace(dag_id="d", run_id="r", task_id="t", ti_id=None)
        first = ResultXComBackend.store_value(other, "k", value)
        second = ResultXComBackend.store_value(other, "k", value)
        assert first["key"] != second["key"]
        assert all(
            e["key"].startswith("xcom/d/r/t/write-") and e["key"].endswith("/k.json") for e in (first, second)
        )
        own = SimpleNamespace(dag_id="d", run_id="r", task_id="t", ti_id="0190-ti")
        assert ResultXComBackend.store_value(own, "k", value)["key"] == "xcom/d/r/t/ti-0190-ti/k.json"
        for envelope in (first, second):
            assert ResultXComBackend.load_value(envelope) == value
    finally:
        config.clear_cache()

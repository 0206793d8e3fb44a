"""Native Task Loops (Airflow >= 3.4, AIP-111) and ``raise Loop`` in real DAG runs (dag.test on the session's DB).

The native-loop tests skip on Airflow < 3.4 (no ``task_group.loop``); the ``raise Loop`` test runs on every leg.
Clears go through Airflow's REST API (the in-process core API app, as the UI calls it): on Airflow >= 3.4 that
is the clear that discards a task's state.
"""

from __future__ import annotations

import os
import pickle
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.version import Version

from tests.conftest import payload_files

pytestmark = pytest.mark.airflow

NATIVE_LOOPS = Version(version("apache-airflow")).release >= (3, 4)
needs_native_loops = pytest.mark.skipif(
    not NATIVE_LOOPS, reason="native Task Loops (task_group.loop, AIP-111) need Airflow >= 3.4"
)


def executions(work: Path, name: str = "computed") -> list[str]:
    """The side-effect file of a DAG: one entry per execution of a body, in order."""
    path = work / name
    return path.read_text().split(",")[:-1] if path.exists() else []


@pytest.fixture(scope="module")
def rest_api(airflow_db):
    """Airflow's core REST API app in this process (every caller an admin, as ``airflow standalone`` allows)."""
    from fastapi.testclient import TestClient

    saved = os.environ.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS")
    os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] = "True"
    try:
        from airflow.api_fastapi.app import create_app

        with TestClient(create_app(apps="core"), base_url="http://localhost") as client:
            yield client
    finally:
        if saved is None:
            os.environ.pop("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", None)
        else:
            os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] = saved


def clear_through_rest(client, run, **body) -> list[dict]:
    """``POST /api/v2/dags/{dag_id}/clearTaskInstances`` for ``run``; returns the cleared task instances."""
    payload = {"dry_run": False, "only_failed": False, "dag_run_id": run.run_id, **body}
    response = client.post(f"/api/v2/dags/{run.dag_id}/clearTaskInstances", json=payload)
    assert response.status_code == 200, response.text
    return response.json()["task_instances"]


def task_instance_id(run, task_id: str, loop_index: int) -> str:
    """The id of the live task instance of ``task_id`` in iteration ``loop_index`` of its loop in ``run``."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        (ti,) = [
            ti
            for ti in session.query(TaskInstance).filter_by(
                dag_id=run.dag_id, run_id=run.run_id, task_id=task_id
            )
            if ti.region_index == loop_index
        ]
        return str(ti.id)


NATIVE = """
from pathlib import Path
from airflow.sdk import dag, task, task_group

WORK = Path("__WORK__")


@dag(schedule=None, default_args={"retries": 0})
def native_loop():
    @task_group
    def refine():
        @task.result(target="{dag_id}/refine/step-{loop_index}.pkl")
        def step(*, loop):
            with open(WORK / "computed", "a") as f:
                f.write(f"{loop.index},")
            if loop.index == 2 and not (WORK / "killed").exists():
                (WORK / "killed").touch()
                raise RuntimeError("the worker dies in iteration 3")
            return (0 if loop.index == 0 else loop.previous) + 10

        step()

    refine.loop(max_iterations=5)


native_loop()
"""


@needs_native_loops
def test_a_native_loop_writes_a_checkpoint_per_iteration_and_a_clear_reuses_them(
    dag_runner, results_dir, tmp_path, rest_api
):
    dag = dag_runner.load(NATIVE, "native_loop", work=tmp_path)
    run, states = dag_runner.run(dag)
    # iterations 1 and 2 (loop.index 0, 1) succeeded, iteration 3 failed: the run stopped there
    assert states[("refine.step", 2)] == "failed", states
    assert executions(tmp_path) == ["0", "1", "2"]
    assert payload_files(results_dir) == ["native_loop/refine/step-0.pkl", "native_loop/refine/step-1.pkl"]

    # Clear the loop from its first iteration, later iterations included (what "clear" of the task's first
    # iteration with its downstream does in the UI), and run it again.
    cleared = clear_through_rest(
        rest_api,
        run,
        task_instance_ids=[task_instance_id(run, "refine.step", 0)],
        include_downstream=True,
        include_later_loop_iterations=True,
    )
    assert {ti["task_id"] for ti in cleared} >= {"refine.step", "refine.__loop_gate"}
    _, states = dag_runner.resume(dag, run)
    assert [states[("refine.step", i)] for i in range(5)] == ["success"] * 5, states

    # iterations 1-2 ran again as task instances but found their checkpoints: not recomputed
    assert executions(tmp_path) == ["0", "1", "2", "2", "3", "4"]
    assert payload_files(results_dir) == [f"native_loop/refine/step-{i}.pkl" for i in range(5)]
    for i in range(5):
        with open(results_dir / "native_loop" / "refine" / f"step-{i}.pkl", "rb") as f:
            assert pickle.load(f) == 10 * (i + 1)


PREFECT_INSIDE_NATIVE = """
from pathlib import Path
from airflow.sdk import dag, task, task_group
from airflow_results_provider import Loop

WORK = Path("__WORK__")


@dag(schedule=None, default_args={"retries": 0})
def loop_in_loop():
    @task_group
    def outer():
        @task.result()
        def inner(*, loop, task_loop_count=1, task_loop_result=None):
            with open(WORK / "computed", "a") as f:
                f.write(f"{loop.index}.{task_loop_count},")
            if task_loop_count < 3:
                raise Loop(result=(task_loop_result or 0) + 1)
            return [loop.index, task_loop_result]

        inner()

    outer.loop(max_iterations=2)


loop_in_loop()
"""


@needs_native_loops
def test_raise_loop_inside_a_native_loop_keeps_each_iteration_apart(dag_runner, results_dir, tmp_path):
    dag = dag_runner.load(PREFECT_INSIDE_NATIVE, "loop_in_loop", work=tmp_path)
    _, states = dag_runner.run(dag)
    assert [states[("outer.inner", i)] for i in range(2)] == ["success"] * 2, states
    assert executions(tmp_path) == ["0.1", "0.2", "0.3", "1.1", "1.2", "1.3"]
    files = payload_files(results_dir)
    # default locations: iteration-<loop_index> for the native loop, loop-<n> for raise Loop inside it
    for i in range(2):
        prefix = f"loop_in_loop/{files[0].split('/')[1]}/outer.inner/iteration-{i}"
        assert f"{prefix}/return_value.pkl" in files, files
        assert {f"{prefix}/loop-{n}/return_value.pkl" for n in (1, 2)} <= set(files), files
        with open(results_dir / prefix / "return_value.pkl", "rb") as f:
            assert pickle.load(f) == [i, 2]
    assert not any("loop-state" in p for p in files), "loop state left after success"


RAISE_LOOP = """
from pathlib import Path
from airflow.sdk import dag, task
from airflow_results_provider import Loop

WORK = Path("__WORK__")


@dag(dag_id="__NAME__", schedule=None)
def raise_loop():
    @task.result(retries=__RETRIES__, retry_delay=0, target="{dag_id}/{task_name}.pkl")
    def fib(n=5, task_loop_count=1, task_loop_result=None):
        with open(WORK / "computed", "a") as f:
            f.write(f"{task_loop_count},")
        for crash_at in (3, 4):
            if task_loop_count == crash_at and not (WORK / f"crashed-{crash_at}").exists():
                (WORK / f"crashed-{crash_at}").touch()
                raise RuntimeError(f"the worker dies in iteration {crash_at}")
        a, b = task_loop_result or (0, 1)
        if task_loop_count >= n:
            return a
        raise Loop(result=(b, a + b), message=f"iteration {task_loop_count}")

    fib()


raise_loop()
"""


def test_raise_loop_checkpoints_every_iteration_and_a_retry_resumes(dag_runner, results_dir, tmp_path):
    """On every supported Airflow: a retry resumes the loop at the iteration that died."""
    dag = dag_runner.load(
        RAISE_LOOP, "raise_loop_retried", work=tmp_path, retries=2, name="raise_loop_retried"
    )
    _, states = dag_runner.run(dag)
    assert states == {"fib": "success"}
    # try 1 died in iteration 3, try 2 resumed there and died in 4, try 3 resumed at 4
    assert executions(tmp_path) == ["1", "2", "3", "3", "4", "4", "5"]
    with open(results_dir / "raise_loop_retried" / "fib.pkl", "rb") as f:
        assert pickle.load(f) == 3  # fib(4): 0 1 1 2 3
    files = payload_files(results_dir)
    assert len([p for p in files if "/loop-" in p]) == 4, files  # iterations 1-4 raised Loop
    assert not any("loop-state" in p for p in files), "loop state left after success"


@needs_native_loops
def test_a_clear_discards_the_loop_state_unless_it_keeps_task_state(
    dag_runner, results_dir, tmp_path, rest_api
):
    """Airflow 3.4: clearing a task discards its task state, and with it the ``raise Loop`` position."""
    # (a DAG id of its own: a clear reads the task's retries from the DAG stored in the metadata DB)
    dag = dag_runner.load(
        RAISE_LOOP, "raise_loop_cleared", work=tmp_path, retries=0, name="raise_loop_cleared"
    )
    run, states = dag_runner.run(dag)
    assert states == {"fib": "failed"}
    assert executions(tmp_path) == ["1", "2", "3"]
    assert any("loop-state" in p for p in payload_files(results_dir))

    # keep_task_state=true: Airflow keeps the task's state, so the loop resumes where it died
    clear_through_rest(rest_api, run, task_ids=["fib"], keep_task_state=True)
    _, states = dag_runner.resume(dag, run)
    assert states == {"fib": "failed"}
    assert executions(tmp_path)[3:] == ["3", "4"]

    # the default clear discards the task's state: the loop starts over at iteration 1
    clear_through_rest(rest_api, run, task_ids=["fib"])
    _, states = dag_runner.resume(dag, run)
    assert states == {"fib": "success"}
    assert executions(tmp_path)[5:] == ["1", "2", "3", "4", "5"]
    with open(results_dir / "raise_loop_cleared" / "fib.pkl", "rb") as f:
        assert pickle.load(f) == 3
    assert not any("loop-state" in p for p in payload_files(results_dir)), "loop state left after success"

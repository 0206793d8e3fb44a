"""The checkpointed example DAG under `airflow standalone` with the Result XCom backend: separate worker
processes (LocalExecutor), state and links read through the REST API, checkpoints on disk (the XCom rows
reference them), targets hit by the second run."""

from __future__ import annotations

import pytest

from airflow_results_provider.index.references import detach
from tests.e2e.conftest import EXAMPLE_DAGS

pytestmark = pytest.mark.airflow

DAG_ID = "checkpointed_etl"
TASKS = ("extract", "transform", "report")


def test_checkpointed_etl_under_standalone(xcom_standalone):
    airflow = xcom_standalone
    airflow.add_dag(EXAMPLE_DAGS / f"{DAG_ID}.py", DAG_ID)

    first = airflow.run_dag(DAG_ID)
    assert first["state"] == "success", airflow.tail()
    assert airflow.task_states(DAG_ID, first["dag_run_id"]) == dict.fromkeys(TASKS, "success")
    day_dirs = list((airflow.results / DAG_ID).iterdir())
    assert len(day_dirs) == 1
    files = {p.name for p in day_dirs[0].iterdir()}
    assert files == {f"{t}.json" for t in TASKS} | {f"{t}.json.meta.json" for t in TASKS}
    mtimes = {p.name: p.stat().st_mtime_ns for p in day_dirs[0].iterdir()}
    links = airflow.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{first['dag_run_id']}/taskInstances/transform/links")
    url, ref = detach(links["extra_links"]["Result"])  # the UI drops file:// links: the Result tab instead
    assert url.startswith(f"/dags/{DAG_ID}/runs/") and url.endswith("/tasks/transform/plugin/result")
    assert f"{ref['store']}/{ref['key']}" == (day_dirs[0] / "transform.json").as_uri()

    second = airflow.run_dag(DAG_ID)
    assert second["state"] == "success", airflow.tail()
    assert airflow.task_states(DAG_ID, second["dag_run_id"]) == dict.fromkeys(TASKS, "success")
    for task_id in TASKS:
        log = airflow.task_log(DAG_ID, second["dag_run_id"], task_id)
        assert f"Result found at task target {(day_dirs[0] / f'{task_id}.json').as_uri()}" in log
    assert {p.name: p.stat().st_mtime_ns for p in day_dirs[0].iterdir()} == mtimes, "a target was rewritten"

"""Cache policies (issue 23) in real DAG runs: INPUTS + TASK_SOURCE hits, misses and what explains them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.airflow

SOURCE = """
from datetime import timedelta
from pathlib import Path
from airflow.sdk import DAG, task
from airflow_results_provider.cache_policies import INPUTS, TASK_SOURCE

WORK = Path("__WORK__")


def bump(name):
    with open(WORK / name, "a") as f:
        f.write("x")


with DAG("cache_policy_dag", schedule=None, default_args={"retries": 0}) as dag:

    @task.result(checkpoint=False)
    def extract():
        bump("extract")
        return [int(x) for x in (WORK / "rows.txt").read_text().split()]

    @task.result(cache_policy=INPUTS - "session" + TASK_SOURCE, cache_expiration=timedelta(days=1))
    def transform(rows, session):
        bump("transform")
        return [r * __FACTOR__ for r in rows]

    transform(extract(), session=(WORK / "session.txt").read_text())
"""


def count(work: Path, name: str) -> int:
    path = work / name
    return len(path.read_text()) if path.exists() else 0


def decision(results: Path, run_id: str) -> dict:
    """The recorded decision of transform in ``run_id`` (what ``airflow results explain`` shows)."""
    from airflow_results_provider._checkpointing.policy_cache import decision_location

    path = results / decision_location("cache_policy_dag", "transform", run_id, None)
    return json.loads(path.read_text())


def test_inputs_and_task_source(dag_runner, results_dir, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "rows.txt").write_text("1 2 3")
    (work / "session.txt").write_text("s1")

    def run(factor: int = 10):
        dag = dag_runner.load(SOURCE, "cache_policy_dag", work=work, factor=factor)
        dag_run, states = dag_runner.run(dag)
        assert set(states.values()) == {"success"}, states
        return dag_run, decision(results_dir, dag_run.run_id)

    first, why = run()
    assert count(work, "transform") == 1
    assert why["outcome"] == "miss" and why["reason"] == "no earlier entry for this task"

    # Same inputs and code: a hit, no work.
    second, why = run()
    assert count(work, "transform") == 1, "transform ran again for the same inputs and code"
    assert why["outcome"] == "hit", why

    # An excluded argument changed: still a hit.
    (work / "session.txt").write_text("s2")
    _, why = run()
    assert count(work, "transform") == 1
    assert why["outcome"] == "hit", why

    # One input changed: a miss naming the input.
    (work / "rows.txt").write_text("1 2 4")
    _, why = run()
    assert count(work, "transform") == 2
    assert why["outcome"] == "miss"
    assert why["reason"].startswith("input 'rows' changed: "), why

    # The callable's body changed (DAG file edited): a miss naming the task source.
    _, why = run(factor=11)
    assert count(work, "transform") == 3
    assert why["outcome"] == "miss"
    assert why["reason"].startswith("task source changed: "), why

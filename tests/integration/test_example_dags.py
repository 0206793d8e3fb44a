"""Every DAG in example_dags/ runs, and a second run does no work (targets and caches are hit)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT, payload_files

pytestmark = pytest.mark.airflow

EXAMPLES = sorted(p.stem for p in (ROOT / "example_dags").glob("*.py"))


def test_there_are_examples_for_each_feature():
    assert {"checkpointed_etl", "mapped_targets", "loop_resume", "cached_task", "quickstart_results"} <= set(
        EXAMPLES
    )


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_runs_twice_and_the_second_run_does_no_work(
    name, dag_runner, results_dir, tmp_path, monkeypatch
):
    work_log = tmp_path / "work.log"
    monkeypatch.setenv("RESULTS_DEMO_WORK_LOG", str(work_log))
    shutil.copy(ROOT / "example_dags" / f"{name}.py", dag_runner.dags_folder / f"{name}.py")
    dag = dag_runner.load(Path(dag_runner.dags_folder / f"{name}.py").read_text(), name)

    _, states = dag_runner.run(dag)
    assert set(states.values()) == {"success"}, states
    first = work_log.read_text().splitlines()
    assert first, "the first run did no work"
    assert payload_files(results_dir), "nothing was written"

    work_log.write_text("")
    _, states = dag_runner.run(dag)
    assert set(states.values()) == {"success"}, states
    assert work_log.read_text().splitlines() == [], "the second run recomputed"
    if name == "loop_resume":
        assert first == [f"loop_resume.fibonacci iteration {i}" for i in range(1, 11)]
    if name == "mapped_targets":
        assert len([p for p in payload_files(results_dir) if "/square/" in p]) == 10

"""Checkpointing, targets and restart from failure in real DAG runs (dag.test on the session's SQLite DB)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from tests.conftest import payload_files

pytestmark = pytest.mark.airflow

COMMON = """
from pathlib import Path
from airflow.sdk import DAG, task
from airflow.providers.standard.operators.python import PythonOperator
from airflow.providers.standard.operators.bash import BashOperator
from airflow_results_provider import LocalResult, ResultMixin, JSONSerializer

WORK = Path("__WORK__")


def bump(name):
    with open(WORK / name, "a") as f:
        f.write("x")


class ResultPythonOperator(ResultMixin, PythonOperator):
    pass


class ResultBashOperator(ResultMixin, BashOperator):
    pass
"""


def count(work: Path, name: str) -> int:
    path = work / name
    return len(path.read_text()) if path.exists() else 0


ABC = (
    COMMON
    + """
def a():
    bump("a")
    return [1, 2, 3]


def b(rows):
    bump("b")
    return [r * 10 for r in rows]


def c(rows):
    bump("c")
    if (WORK / "fail_c").exists():
        raise RuntimeError("C fails on purpose")
    (WORK / "c_got").write_text(repr(rows))
    return sum(rows)


with DAG("restart_abc", schedule=None, default_args={"retries": 0}) as dag:
    ta = ResultPythonOperator(task_id="a", python_callable=a, target="{dag_id}/{task_name}.pkl")
    tb = ResultPythonOperator(
        task_id="b", python_callable=b, op_args=[ta.output], target="{dag_id}/{task_name}.pkl"
    )
    tc = ResultPythonOperator(task_id="c", python_callable=c, op_args=[tb.output])
"""
)


def test_restart_from_failure_reuses_upstream_results(dag_runner, results_dir, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "fail_c").touch()
    dag = dag_runner.load(ABC, "restart_abc", work=work)

    run, states = dag_runner.run(dag)
    assert states == {"a": "success", "b": "success", "c": "failed"}
    assert (count(work, "a"), count(work, "b"), count(work, "c")) == (1, 1, 1)
    assert "restart_abc/a.pkl" in payload_files(results_dir)
    assert not any("/c/" in p for p in payload_files(results_dir)), "a failed task wrote a checkpoint"

    # Clear C in the same run: A and B are not executed again and C gets their values.
    (work / "fail_c").unlink()
    run, states = dag_runner.clear_and_resume(dag, run, ["c"])
    assert states == {"a": "success", "b": "success", "c": "success"}
    assert (count(work, "a"), count(work, "b"), count(work, "c")) == (1, 1, 2)
    assert (work / "c_got").read_text() == "[10, 20, 30]"

    # A new run: A and B find their results at their targets and are skipped.
    run2, states = dag_runner.run(dag)
    assert run2.run_id != run.run_id
    assert states == {"a": "success", "b": "success", "c": "success"}
    assert (count(work, "a"), count(work, "b"), count(work, "c")) == (1, 1, 3)
    assert (work / "c_got").read_text() == "[10, 20, 30]"
    # C has no target: it is checkpointed at its default location, once per run.
    c_files = [p for p in payload_files(results_dir) if p.startswith("restart_abc/") and "/c/" in p]
    assert len(c_files) == 2, c_files
    with open(results_dir / c_files[0], "rb") as f:
        assert pickle.load(f) == 60


NOTHING_WRITTEN = (
    COMMON
    + """
def value():
    bump("ran")
    return {"v": 1}


def nothing():
    bump("ran")
    return None


def boom():
    bump("ran")
    raise ValueError("boom")


with DAG("nothing_written", schedule=None, default_args={"retries": 0}) as dag:
    ResultPythonOperator(task_id="no_checkpoint", python_callable=value, checkpoint=False)
    ResultPythonOperator(task_id="returns_none", python_callable=nothing)
    ResultPythonOperator(task_id="fails", python_callable=boom)
    ResultPythonOperator(task_id="writes", python_callable=value)
"""
)


def test_what_is_not_written(dag_runner, results_dir, tmp_path):
    dag = dag_runner.load(NOTHING_WRITTEN, "nothing_written", work=tmp_path)
    _, states = dag_runner.run(dag)
    assert states == {
        "no_checkpoint": "success",
        "returns_none": "success",
        "fails": "failed",
        "writes": "success",
    }
    assert count(tmp_path, "ran") == 4
    files = payload_files(results_dir)
    assert len(files) == 1 and "/writes/return_value.pkl" in files[0], files


def test_global_switch_off_writes_nothing(dag_runner, results_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW__RESULTS__CHECKPOINTING", "False")
    dag = dag_runner.load(NOTHING_WRITTEN, "nothing_written", work=tmp_path)
    _, states = dag_runner.run(dag)
    assert states["writes"] == "success"
    assert payload_files(results_dir) == []


DAG_LEVEL = (
    COMMON
    + """
def value():
    bump("ran")
    return 42


with DAG(
    "dag_level_defaults",
    schedule=None,
    default_args={"checkpoint": False, "result": LocalResult(dir="__WORK__/store", serializer=JSONSerializer())},
) as dag:
    ResultPythonOperator(task_id="inherits_off", python_callable=value)
    ResultPythonOperator(task_id="task_beats_dag", python_callable=value, checkpoint=True, target="{task_name}.json")
"""
)


def test_dag_level_default_args_and_task_overrides(dag_runner, results_dir, tmp_path):
    dag = dag_runner.load(DAG_LEVEL, "dag_level_defaults", work=tmp_path)
    _, states = dag_runner.run(dag)
    assert set(states.values()) == {"success"}
    assert payload_files(tmp_path / "store") == ["task_beats_dag.json"]
    assert (tmp_path / "store" / "task_beats_dag.json").read_text() == "42"
    assert payload_files(results_dir) == []  # the DAG-level result replaced [results] default_result
    dag_runner.run(dag)
    assert count(tmp_path, "ran") == 3  # the target hit skipped task_beats_dag on the second run


BAD_TEMPLATE = (
    COMMON
    + """
def value():
    bump("ran")
    return 1


with DAG("bad_template", schedule=None, default_args={"retries": 0}) as dag:
    ResultPythonOperator(task_id="t", python_callable=value, target="{dag_id}/{no_such_key}.pkl")
"""
)


def test_missing_template_key_fails_before_execute(dag_runner, results_dir, tmp_path, capfd):
    dag = dag_runner.load(BAD_TEMPLATE, "bad_template", work=tmp_path)
    _, states = dag_runner.run(dag)
    assert states == {"t": "failed"}
    assert count(tmp_path, "ran") == 0
    out = capfd.readouterr()
    text = out.out + out.err
    assert "LocationTemplateError" in text
    assert "'no_such_key'" in text and "Available variables:" in text


MAPPED = (
    COMMON
    + """
def square(x):
    bump("ran")
    return x * x


with DAG("mapped_targets", schedule=None, default_args={"retries": 0}) as dag:
    ResultPythonOperator.partial(
        task_id="with_index", python_callable=square, target="{dag_id}/{task_name}/{map_index}.pkl"
    ).expand(op_args=[[i] for i in range(50)])
    ResultPythonOperator.partial(
        task_id="by_input", python_callable=square, target="{dag_id}/{task_name}/x={x}.pkl"
    ).expand(op_args=[[i] for i in range(5)])
    ResultPythonOperator.partial(
        task_id="without_index", python_callable=square, target="{dag_id}/{task_name}.pkl"
    ).expand(op_args=[[i] for i in range(3)])
"""
)


def test_mapped_targets_are_distinct_per_index_and_collisions_are_errors(
    dag_runner, results_dir, tmp_path, capfd
):
    dag = dag_runner.load(MAPPED, "mapped_targets", work=tmp_path)
    _, states = dag_runner.run(dag)
    with_index = {k: v for k, v in states.items() if k[0] == "with_index"}
    assert len(with_index) == 50 and set(with_index.values()) == {"success"}
    files = payload_files(results_dir / "mapped_targets")
    assert [f for f in files if f.startswith("with_index/")] == sorted(
        f"with_index/{i}.pkl" for i in range(50)
    )
    for i in (0, 7, 49):
        with open(results_dir / "mapped_targets" / "with_index" / f"{i}.pkl", "rb") as f:
            assert pickle.load(f) == i * i
    assert sorted(f for f in files if f.startswith("by_input/")) == [f"by_input/x={i}.pkl" for i in range(5)]
    # Without {map_index}: the first index to run writes, the others fail loudly instead of reusing its value.
    without = {k[1]: v for k, v in states.items() if k[0] == "without_index"}
    assert sorted(without.values()) == ["failed", "failed", "success"], without
    winner = next(i for i, state in without.items() if state == "success")
    text = capfd.readouterr().out
    assert "LocationCollisionError" in text and f"was written by map index {winner} of" in text

    # A second run: every index hits a target written by the first run, nothing recomputes.
    ran = count(tmp_path, "ran")
    _, states = dag_runner.run(dag)
    assert count(tmp_path, "ran") == ran
    assert {k: v for k, v in states.items() if k[0] != "without_index"} == {
        k: "success" for k in states if k[0] != "without_index"
    }

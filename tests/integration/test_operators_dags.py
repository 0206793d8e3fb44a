"""The mixin on many kinds of operators, @task.result, looping, caching and the Result link, in DAG runs."""

from __future__ import annotations

import json
import pickle

import pytest

from tests.conftest import payload_files
from tests.integration.test_checkpointing_dags import COMMON, count

pytestmark = pytest.mark.airflow

OPERATORS = (
    COMMON
    + '''
from datetime import timedelta
from airflow.sdk import BaseOperator
from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync
from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger


class RowCounter(BaseOperator):
    """A custom operator with its own __init__ and execute."""

    def __init__(self, *, rows, **kwargs):
        super().__init__(**kwargs)
        self.rows = rows

    def execute(self, context):
        bump("custom")
        return len(self.rows)


class ResultRowCounter(ResultMixin, RowCounter):
    pass


class LoudRowCounter(ResultRowCounter):
    """A sub-subclass overriding execute and calling super()."""

    def execute(self, context):
        bump("loud")
        return super().execute(context) * 100


class DeferThenReturn(BaseOperator):
    def execute(self, context):
        bump("defer_start")
        self.defer(trigger=TimeDeltaTrigger(timedelta(seconds=0)), method_name="resume")

    def resume(self, context, event=None):
        bump("defer_resume")
        return "value after deferral"


class ResultDeferThenReturn(ResultMixin, DeferThenReturn):
    pass


class ResultDateTimeSensorAsync(ResultMixin, DateTimeSensorAsync):
    pass


def py():
    bump("python")
    return {"python": True}


with DAG("operators", schedule=None, default_args={"retries": 0, "target": "{dag_id}/{task_name}.pkl"}) as dag:
    ResultPythonOperator(task_id="python", python_callable=py)
    ResultBashOperator(task_id="bash", bash_command="printf x >> __WORK__/bash; echo hello-from-bash")
    ResultRowCounter(task_id="custom", rows=[1, 2, 3])
    LoudRowCounter(task_id="loud", rows=[1, 2])
    ResultDeferThenReturn(task_id="deferred")
    ResultDateTimeSensorAsync(
        task_id="sensor", target_time="{{ macros.datetime.utcnow() + macros.timedelta(seconds=1) }}"
    )

    @task.result(target="{dag_id}/{task_name}.json", result=LocalResult(serializer=JSONSerializer()))
    def taskflow(n: int):
        bump("taskflow")
        return list(range(n))

    @task.result(multiple_outputs=True)
    def split():
        bump("split")
        return {"left": 1, "right": 2}

    @task
    def consume(left, right, rows):
        (WORK / "consumed").write_text(repr((left, right, rows)))

    parts = split()
    consume(parts["left"], parts["right"], taskflow(4))
'''
)

COUNTERS = ("python", "bash", "custom", "loud", "defer_start", "defer_resume", "taskflow", "split")
# LoudRowCounter's super().execute() runs RowCounter.execute too (checkpointed once, by the outer call)
EXPECTED = {**dict.fromkeys(COUNTERS, 1), "custom": 2}


def test_many_operator_kinds_checkpoint_and_skip_at_targets(dag_runner, results_dir, tmp_path):
    dag = dag_runner.load(OPERATORS, "operators", work=tmp_path)
    _, states = dag_runner.run(dag)
    assert set(states.values()) == {"success"}, states
    assert {name: count(tmp_path, name) for name in COUNTERS} == EXPECTED
    store = results_dir / "operators"

    def load(name):
        with open(store / f"{name}.pkl", "rb") as f:
            return pickle.load(f)

    assert load("python") == {"python": True}
    assert load("bash") == "hello-from-bash"
    assert load("custom") == 3
    assert load("loud") == 200
    assert load("deferred") == "value after deferral"
    assert json.loads((store / "taskflow.json").read_text()) == [0, 1, 2, 3]
    assert load("split") == {"left": 1, "right": 2}
    assert not (store / "sensor.pkl").exists()  # a deferred sensor returns None: nothing to checkpoint
    assert (tmp_path / "consumed").read_text() == "(1, 2, [0, 1, 2, 3])"

    (tmp_path / "consumed").unlink()
    _, states = dag_runner.run(dag)
    assert set(states.values()) == {"success"}, states
    assert {name: count(tmp_path, name) for name in COUNTERS} == EXPECTED, "targets were not hit"
    # multiple_outputs and plain values found at targets still reach downstream tasks
    assert (tmp_path / "consumed").read_text() == "(1, 2, [0, 1, 2, 3])"


def test_result_link_points_at_the_written_location(dag_runner, results_dir, tmp_path):
    from urllib.parse import quote

    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    dag = dag_runner.load(OPERATORS, "operators", work=tmp_path)
    run, _ = dag_runner.run(dag)
    with create_session() as session:
        rows = (
            session.query(XComModel)
            .filter_by(dag_id="operators", run_id=run.run_id, key="_link_ResultLink")
            .all()
        )
        links = {row.task_id: row.value for row in rows}
    from airflow_results_provider.index.references import detach

    for task_id, name in (("python", "python.pkl"), ("taskflow", "taskflow.json")):
        # A same-origin link to the task's Result tab; its fragment holds the signed reference (the index).
        url, ref = detach(links[task_id])
        assert url == f"/dags/operators/runs/{quote(run.run_id, safe='')}/tasks/{task_id}/plugin/result"
        assert f"{ref['store']}/{ref['key']}" == (results_dir / "operators" / name).as_uri()
        assert ref["owner"] == "checkpoint" and ref["hmac"]


LOOPING = (
    COMMON
    + """
from airflow_results_provider import Loop


def fib(n, task_loop_count=1, task_loop_result=None):
    with open(WORK / "iterations", "a") as f:
        f.write(f"{task_loop_count},")
    a, b = task_loop_result or (0, 1)
    if task_loop_count == 3 and not (WORK / "crashed").exists():
        (WORK / "crashed").touch()
        raise RuntimeError("worker died at iteration 3")
    if task_loop_count >= n:
        return a
    raise Loop(result=(b, a + b), message=f"iteration {task_loop_count}")


with DAG("looping", schedule=None) as dag:
    ResultPythonOperator(
        task_id="fib", python_callable=fib, op_kwargs={"n": 5}, retries=1, retry_delay=0,
        target="{dag_id}/{task_name}.pkl",
    )
"""
)


def test_loop_checkpoints_every_iteration_and_a_retry_resumes(dag_runner, results_dir, tmp_path):
    dag = dag_runner.load(LOOPING, "looping", work=tmp_path)
    _, states = dag_runner.run(dag)
    assert states == {"fib": "success"}
    # try 1 ran iterations 1, 2 and died in 3; try 2 started at 3 (not 1) and finished at 5
    assert (tmp_path / "iterations").read_text() == "1,2,3,3,4,5,"
    with open(results_dir / "looping" / "fib.pkl", "rb") as f:
        assert pickle.load(f) == 3  # fib(4): 0 1 1 2 3
    iterations = [p for p in payload_files(results_dir) if "/loop-" in p]
    assert len(iterations) == 4, iterations  # iterations 1-4 raised Loop and were checkpointed
    assert not any("loop-state" in p for p in payload_files(results_dir)), "loop state left after success"


CACHED = (
    COMMON
    + """
from datetime import timedelta
from airflow_results_provider.cache_validators import all_parameters, never_use


def compute():
    bump("computed")
    return "expensive"


def uncached():
    bump("uncached")
    return "again"


with DAG("cached", schedule=None, params={"region": "eu"}) as dag:
    ResultPythonOperator(
        task_id="cached", python_callable=compute, cache_for=timedelta(hours=1), cache_validator=all_parameters
    )
    ResultPythonOperator(
        task_id="never", python_callable=uncached, cache_for=timedelta(hours=1), cache_validator=never_use
    )
"""
)


def test_cache_persists_across_runs_and_validators_apply(dag_runner, results_dir, tmp_path):
    dag = dag_runner.load(CACHED, "cached", work=tmp_path)
    dag_runner.run(dag)
    dag_runner.run(dag)
    assert count(tmp_path, "computed") == 1  # the second run used the cache
    assert count(tmp_path, "uncached") == 2  # never_use always recomputes
    dag_runner.run(dag, run_conf={"region": "us"})
    assert count(tmp_path, "computed") == 2  # all_parameters: a different param invalidates the cache
    assert "_cache/cached.cached/task.pkl" in payload_files(results_dir)

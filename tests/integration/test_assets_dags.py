"""Results as assets in real DAG runs (dag.test on the session's SQLite DB): the asset each producer task gets at
parse time, the event a checkpoint write emits (and what a target hit emits), and consumers reading the value."""

from __future__ import annotations

import hashlib
import json

import pytest

pytestmark = pytest.mark.airflow

PRODUCER = """
from pathlib import Path
from airflow.sdk import DAG, task
from airflow.providers.standard.operators.python import PythonOperator
from airflow_results_provider import JSONSerializer, LocalResult, ResultMixin, load_result, result_asset

WORK = Path("__WORK__")


def bump(name):
    with open(WORK / name, "a") as f:
        f.write("x")


class ResultPythonOperator(ResultMixin, PythonOperator):
    pass


def rows():
    bump("rows")
    return {"rows": [1, 2, 3], "source": "asset test"}


with DAG("asset_producer", schedule=None, default_args={"retries": 0}) as dag:

    @task.result(asset=True, target="{dag_id}/table.pkl")
    def table():
        bump("table")
        return {"rows": [1, 2, 3], "source": "asset test"}

    @task.result(
        asset=True, result=LocalResult(location="{dag_id}/{run_id}/sq/{map_index}.json", serializer=JSONSerializer())
    )
    def square(x):
        bump("square")
        return x * x

    classic = ResultPythonOperator(task_id="classic", python_callable=rows, asset=True)
    plain = ResultPythonOperator(task_id="plain", python_callable=rows)
    @task(inlets=[result_asset("asset_producer", "table")])
    def read_back(*, inlet_events=None):
        # The events Airflow hands a task: the latest of the table's.
        event = inlet_events[result_asset("asset_producer", "table")][-1]
        (WORK / "read_back").write_text(repr(load_result(event)))

    table() >> read_back()
    square.expand(x=[1, 2, 3])
"""

EXTRA_KEYS = {
    "airflow_results_event",
    "asset",
    "location",
    "store",
    "key",
    "sha256",
    "size",
    "serializer",
    "python_type",
    "dag_id",
    "task_id",
    "run_id",
    "map_index",
    "try_number",
    "partition_key",
    "written_at",
    "hmac",
}


def asset_events(uri: str) -> list:
    """The asset events of ``uri`` in the metadata DB, oldest first, detached from the session."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select
    from sqlalchemy.orm import joinedload

    with create_session() as session:
        rows = session.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.uri == uri)
            .options(joinedload(AssetEvent.asset))
            .order_by(AssetEvent.id)
        ).all()
        session.expunge_all()
        return list(rows)


def registered_assets(prefix: str) -> list[str]:
    from airflow.models.asset import AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return sorted(session.scalars(select(AssetModel.uri).where(AssetModel.uri.startswith(prefix))))


def test_write_emits_a_described_event_and_a_target_hit_emits_none(dag_runner, results_dir, tmp_path):
    from airflow_results_provider import load_result

    dag = dag_runner.load(PRODUCER, "asset_producer", work=tmp_path)
    # Declared at parse time: one asset per task, mapped or not; a task without asset=True has none.
    assert [o.uri for o in dag.task_dict["table"].outlets] == ["airflow-results://asset_producer/table"]
    assert [o.uri for o in dag.task_dict["square"].outlets] == ["airflow-results://asset_producer/square"]
    assert dag.task_dict["plain"].outlets == []

    run, states = dag_runner.run(dag)
    assert set(states.values()) == {"success"}, states
    assert registered_assets("airflow-results://asset_producer/") == [
        "airflow-results://asset_producer/classic",
        "airflow-results://asset_producer/square",
        "airflow-results://asset_producer/table",
    ]

    (event,) = asset_events("airflow-results://asset_producer/table")
    extra = event.extra
    assert set(extra) == EXTRA_KEYS
    payload = results_dir / "asset_producer" / "table.pkl"
    sidecar = json.loads(payload.with_name("table.pkl.meta.json").read_text())
    assert extra["location"] == payload.as_uri()
    assert extra["sha256"] == hashlib.sha256(payload.read_bytes()).hexdigest() == sidecar["sha256"]
    assert extra["size"] == payload.stat().st_size
    assert (extra["serializer"], extra["python_type"]) == ("pickle", "builtins.dict")
    assert (extra["dag_id"], extra["task_id"], extra["run_id"]) == ("asset_producer", "table", run.run_id)
    assert extra["map_index"] is None and extra["partition_key"] is None
    assert (event.source_dag_id, event.source_task_id, event.source_run_id) == (
        "asset_producer",
        "table",
        run.run_id,
    )
    # Nothing of the value: no preview, no rows.
    assert "preview" not in json.dumps(extra) and "asset test" not in json.dumps(extra)
    assert load_result(event) == {"rows": [1, 2, 3], "source": "asset test"}

    # A mapped task: one asset, one event per map index, each with its own location.
    square = asset_events("airflow-results://asset_producer/square")
    assert sorted(e.extra["map_index"] for e in square) == [0, 1, 2]
    assert len({e.extra["location"] for e in square}) == 3
    assert sorted(load_result(e) for e in square) == [1, 4, 9]
    assert {e.extra["serializer"] for e in square} == {"json"}

    (classic,) = asset_events("airflow-results://asset_producer/classic")
    assert load_result(classic) == {"rows": [1, 2, 3], "source": "asset test"}

    # Second run: table hits its target (no new event), square writes per run (three new events), classic
    # writes a new checkpoint (one new event).
    run2, states = dag_runner.run(dag)
    assert set(states.values()) == {"success"}, states
    assert (tmp_path / "table").read_text() == "x", "the target was not hit"
    assert (tmp_path / "read_back").read_text() == repr({"rows": [1, 2, 3], "source": "asset test"})
    assert len(asset_events("airflow-results://asset_producer/table")) == 1
    assert len(asset_events("airflow-results://asset_producer/square")) == 6
    assert [e.extra["run_id"] for e in asset_events("airflow-results://asset_producer/classic")] == [
        run.run_id,
        run2.run_id,
    ]


EVERY_TASK = """
from airflow.sdk import DAG, task

with DAG("assets_everywhere", schedule=None) as dag:

    @task.result
    def default(): return 1

    @task.result(asset=False)
    def opted_out(): return 1

    @task.result(checkpoint=False)
    def never_writes(): return 1

    @task.result
    def mapped(x): return x

    @task
    def not_a_result_task(): return 1

    default(); opted_out(); never_writes(); mapped.expand(x=[1]); not_a_result_task()
"""


def test_results_assets_true_makes_every_checkpointed_task_an_asset(dag_runner, monkeypatch):
    from airflow_results_provider import config

    monkeypatch.setenv("AIRFLOW__RESULTS__ASSETS", "True")
    config.clear_cache()
    dag = dag_runner.load(EVERY_TASK, "assets_everywhere")
    outlets = {task_id: [o.uri for o in task.outlets] for task_id, task in dag.task_dict.items()}
    assert outlets == {
        "default": ["airflow-results://assets_everywhere/default"],
        "opted_out": [],
        "never_writes": [],
        "mapped": ["airflow-results://assets_everywhere/mapped"],
        "not_a_result_task": [],
    }

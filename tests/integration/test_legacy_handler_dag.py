"""A DAG whose tasks use the deprecated result_handler= runs end to end through the converted Results."""

from __future__ import annotations

import pickle

import pytest

from tests.conftest import payload_files
from tests.integration.test_checkpointing_dags import count

pytestmark = pytest.mark.airflow

DAG = """
import json
import warnings
from pathlib import Path
from airflow.sdk import DAG, task
from airflow_results_provider.result_handlers import LocalResultHandler, ResultHandler

WORK = Path("__WORK__")
warnings.simplefilter("ignore", DeprecationWarning)


class FileHandler(ResultHandler):
    def write(self, result):
        path = WORK / "custom.json"
        path.write_text(json.dumps(result))
        return str(path)

    def read(self, loc):
        return json.loads(Path(loc).read_text())


def bump(name):
    with open(WORK / name, "a") as f:
        f.write("x")


with DAG("legacy_handlers", schedule=None, default_args={"result_handler": LocalResultHandler(dir="__STORE__")}):

    @task.result(target="legacy/{task_name}.pkl")
    def extract():
        bump("extract")
        return [1, 2, 3]

    @task.result(result_handler=FileHandler())
    def transform(rows):
        bump("transform")
        return [r * 2 for r in rows]

    transform(extract())
"""


def test_result_handler_tasks_run_through_converted_results(dag_runner, tmp_path):
    store = tmp_path / "store"
    dag = dag_runner.load(DAG, "legacy_handlers", work=tmp_path, store=store)
    _, states = dag_runner.run(dag)
    assert states == {"extract": "success", "transform": "success"}
    # the DAG-level LocalResultHandler became LocalResult(dir=store): a checkpoint with metadata beside it
    assert payload_files(store) == ["legacy/extract.pkl"]
    assert (store / "legacy" / "extract.pkl.meta.json").exists()
    with open(store / "legacy" / "extract.pkl", "rb") as f:
        assert pickle.load(f) == [1, 2, 3]
    # the custom handler wrote through its own write()
    assert (tmp_path / "custom.json").read_text() == "[2, 4, 6]"
    _, states = dag_runner.run(dag)
    assert states == {"extract": "success", "transform": "success"}
    assert (count(tmp_path, "extract"), count(tmp_path, "transform")) == (1, 2)  # the target was hit

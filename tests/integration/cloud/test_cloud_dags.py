"""Each cloud store in real DAG runs: mixin checkpoints with targets (the second run skips the work), and the
XCom backend with ``xcom_result`` pointing at the store."""

from __future__ import annotations

import pytest

from tests.integration.cloud.test_cloud_results import BUCKET, unique_prefix
from tests.integration.test_checkpointing_dags import count
from tests.integration.test_xcom_backend import run_steps, xcom_rows

pytestmark = pytest.mark.airflow

STORES = {
    "s3": ("s3_server", "S3Result", f"s3://{BUCKET}"),
    "gcs": ("gcs_server", "GCSResult", f"gs://{BUCKET}"),
    "azure": ("azure_server", "AzureResult", f"abfs://{BUCKET}"),
}

MIXIN_DAG = """
from pathlib import Path
from airflow.sdk import DAG, task
from airflow_results_provider import __CLS__, JSONSerializer

WORK = Path("__WORK__")
STORE = __CLS__("__BUCKET__", prefix="__PREFIX__", serializer=JSONSerializer())


def bump(name):
    with open(WORK / name, "a") as f:
        f.write("x")


with DAG("cloud___KIND__", schedule=None, default_args={"result": STORE, "target": "{flow_name}/{task_name}.json"}):

    @task.result()
    def extract():
        bump("extract")
        return {"rows": list(range(100))}

    @task.result()
    def load(data):
        bump("load")
        return sum(data["rows"])

    load(extract())
"""


@pytest.mark.parametrize("kind", sorted(STORES))
def test_mixin_targets_on_the_store(kind, request, dag_runner, tmp_path):
    fixture, cls, _ = STORES[kind]
    request.getfixturevalue(fixture)
    prefix = unique_prefix()
    dag = dag_runner.load(
        MIXIN_DAG, f"cloud_{kind}", work=tmp_path, cls=cls, bucket=BUCKET, prefix=prefix, kind=kind
    )
    _, states = dag_runner.run(dag)
    assert states == {"extract": "success", "load": "success"}
    _, states = dag_runner.run(dag)
    assert states == {"extract": "success", "load": "success"}
    assert (count(tmp_path, "extract"), count(tmp_path, "load")) == (1, 1)

    from airflow_results_provider.results.registry import result_from_spec
    from airflow_results_provider.serializers import JSONSerializer

    store = result_from_spec(f"{STORES[kind][2]}/{prefix}")
    store.serializer = JSONSerializer()
    assert store.exists(f"cloud_{kind}/extract.json")
    assert store.read(f"cloud_{kind}/load.json").value == 4950


@pytest.mark.parametrize("kind", sorted(STORES))
def test_xcom_backend_on_the_store(kind, request, airflow_db, airflow_home, tmp_path):
    fixture, cls, base = STORES[kind]
    request.getfixturevalue(fixture)
    spec = f"{base}/{unique_prefix()}"
    out, _ = run_steps(tmp_path, tmp_path / "local", "run:xcom_values", AIRFLOW__RESULTS__XCOM_RESULT=spec)
    run = out["xcom_values"][0]
    assert set(run["states"].values()) == {"success"}, run["states"]
    envelope = xcom_rows("xcom_values", run["run_id"])[("big_json", -1, "return_value")]
    assert envelope["result"] == cls and envelope["location"].startswith(f"{spec}/xcom/xcom_values/")
    assert envelope["url"].startswith("https://")

"""The REST API of a running `airflow standalone` with ResultXComBackend returns the envelope of an offloaded
value (what the UI's XCom tab shows), while small values stay plain."""

from __future__ import annotations

import textwrap

import pytest

pytestmark = pytest.mark.airflow

DAG_ID = "xcom_envelope_api"
SOURCE = textwrap.dedent(
    """
    from airflow.sdk import dag, task


    @dag(schedule=None)
    def xcom_envelope_api():
        @task
        def big():
            return {"rows": list(range(10000)), "api_key": "hunter2"}

        @task
        def small():
            return {"n": 1}

        @task
        def check(b, s):
            assert b["rows"][-1] == 9999 and s == {"n": 1}

        check(big(), small())


    xcom_envelope_api()
    """
)


def test_rest_api_returns_the_envelope(xcom_standalone, tmp_path):
    airflow = xcom_standalone
    source = tmp_path / f"{DAG_ID}.py"
    source.write_text(SOURCE)
    airflow.add_dag(source, DAG_ID)
    run = airflow.run_dag(DAG_ID)
    assert run["state"] == "success", airflow.failure_report(DAG_ID, run["dag_run_id"])
    base = f"/api/v2/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances"
    envelope = airflow.get(f"{base}/big/xcomEntries/return_value")["value"]
    assert envelope["__airflow_result__"] == 1
    assert envelope["result"] == "LocalResult" and envelope["serializer"] == "json"
    assert envelope["location"].startswith((airflow.results / "xcom").as_uri())
    assert envelope["python_type"] == "builtins.dict" and envelope["size"] > 40000
    assert "hunter2" not in envelope["preview"] and "'api_key': '***'" in envelope["preview"]
    assert airflow.get(f"{base}/small/xcomEntries/return_value")["value"] == {"n": 1}

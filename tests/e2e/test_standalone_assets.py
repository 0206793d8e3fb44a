"""Results as assets under `airflow standalone`: the producer of example_dags/results_as_assets.py writes its
checkpoint, the scheduler runs the consumer DAG scheduled on the result asset, and the consumer's task gets the
exact value, read in its own worker process and verified against the event's sha256. An event posted through the
REST API with a forged ``extra`` (another location) also triggers the consumer, whose task then refuses it."""

from __future__ import annotations

import hashlib
import pickle
import time
from urllib.parse import quote, urlsplit
from urllib.request import url2pathname

import pytest

from tests.e2e.conftest import EXAMPLE_DAGS

pytestmark = pytest.mark.airflow

PRODUCER = "results_as_assets"
CONSUMER = "results_as_assets_consumer"
ASSET_URI = "airflow-results://results_as_assets/daily_totals"


def consumer_runs(airflow) -> list[dict]:
    return airflow.get(f"/api/v2/dags/{CONSUMER}/dagRuns?order_by=id")["dag_runs"]


def wait_for_finished_consumer_runs(airflow, count: int, timeout: float = 180) -> list[dict]:
    """The consumer's runs once ``count`` of them have finished (the scheduler creates them from asset events)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = consumer_runs(airflow)
        if sum(r["state"] in ("success", "failed") for r in runs) >= count:
            return runs
        time.sleep(1)
    raise RuntimeError(f"{CONSUMER} has not finished {count} run(s) in {timeout} s:\n{airflow.tail()}")


def test_a_consumer_scheduled_on_a_result_asset_loads_the_exact_value(xcom_standalone):
    airflow = xcom_standalone
    airflow.add_dag(EXAMPLE_DAGS / f"{PRODUCER}.py", PRODUCER)
    airflow.add_dag(EXAMPLE_DAGS / f"{PRODUCER}.py", CONSUMER)
    assert consumer_runs(airflow) == []  # scheduled on the asset only

    produced = airflow.run_dag(PRODUCER)
    assert produced["state"] == "success", airflow.tail()
    (consumed,) = wait_for_finished_consumer_runs(airflow, 1)
    assert consumed["state"] == "success", airflow.tail()
    assert consumed["run_type"] == "asset_triggered"

    (asset,) = airflow.get(f"/api/v2/assets?uri_pattern={quote(ASSET_URI)}")["assets"]
    assert asset["uri"] == asset["name"] == ASSET_URI
    (event,) = airflow.get(f"/api/v2/assets/events?asset_id={asset['id']}")["asset_events"]
    extra = event["extra"]
    assert (event["source_dag_id"], event["source_run_id"]) == (PRODUCER, produced["dag_run_id"])
    payload = url2pathname(urlsplit(extra["location"]).path)
    with open(payload, "rb") as f:
        data = f.read()
    assert extra["sha256"] == hashlib.sha256(data).hexdigest()
    # The consumer's task returned what triggering_result() gave it: the producer's value, exactly.
    base = f"/api/v2/dags/{CONSUMER}/dagRuns/{quote(consumed['dag_run_id'], safe='')}/taskInstances/report"
    assert airflow.get(f"{base}/xcomEntries/return_value")["value"] == pickle.loads(data)
    assert f"Asset event for {ASSET_URI}: task {PRODUCER}.daily_totals" in airflow.task_log(
        PRODUCER, produced["dag_run_id"], "daily_totals"
    )

    # Anyone allowed to create asset events can post one; pointing it at another payload gets nothing read.
    forged = {k: v for k, v in extra.items() if k != "hmac"}
    forged.update(key="elsewhere/secret.pkl", location="file:///elsewhere/secret.pkl")
    airflow.request("POST", "/api/v2/assets/events", {"asset_id": asset["id"], "extra": forged})
    runs = wait_for_finished_consumer_runs(airflow, 2)
    assert runs[-1]["state"] == "failed"
    log = airflow.task_log(CONSUMER, runs[-1]["dag_run_id"], "report")
    assert "UntrustedAssetEventError" in log and "posted through the REST API" in log

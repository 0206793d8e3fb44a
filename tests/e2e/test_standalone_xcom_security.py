"""Issue 11 against a running `airflow standalone`: an XCom row forged through the REST API
(`POST .../xcomEntries`, 201) never gets a pickle loaded on the worker that pulls it."""

from __future__ import annotations

import json
import pickle
import textwrap
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.conftest import REQUEST_TIMEOUT

pytestmark = pytest.mark.airflow

DAG_ID = "xcom_forged_api"
CONSUMERS = ("consumer_unsigned", "consumer_bad_hmac", "consumer_root")
SOURCE = textwrap.dedent(
    """
    import time
    from pathlib import Path

    from airflow.sdk import dag, get_current_context, task

    GO = Path("__GO__")


    @dag(schedule=None, default_args={"retries": 0})
    def xcom_forged_api():
        @task
        def producer():
            return {"n": 1}

        @task
        def wait_for_go():
            deadline = time.monotonic() + 300
            while not GO.exists():
                assert time.monotonic() < deadline, "the test never wrote its forged rows"
                time.sleep(0.5)

        def pull(key):
            value = get_current_context()["ti"].xcom_pull(task_ids="producer", key=key)
            raise AssertionError(f"a forged row was handed to the task: {value!r}")

        @task
        def consumer_unsigned():
            pull("forged_unsigned")

        @task
        def consumer_bad_hmac():
            pull("forged_bad_hmac")

        @task
        def consumer_root():
            pull("forged_root")

        producer() >> wait_for_go() >> [consumer_unsigned(), consumer_bad_hmac(), consumer_root()]


    xcom_forged_api()
    """
)


class _Evil:
    """Unpickling it creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _post(base: str, path: str, body: dict, attempts: int = 5) -> tuple[int, dict]:
    """POST ``body``; a 500 "Database error" (the standalone's SQLite file locked by the scheduler under load, seen
    once in a full xdist run) is retried, anything else is returned as it came."""
    for attempt in range(attempts):
        req = urllib.request.Request(
            base + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=REQUEST_TIMEOUT) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            status, detail = exc.code, {"detail": exc.read().decode(errors="replace")}
        if status != 500 or "Database error" not in detail["detail"] or attempt == attempts - 1:
            return status, detail
        time.sleep(2 * (attempt + 1))
    raise AssertionError("unreachable")


def _wait_for(airflow, run_id: str, predicate, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = airflow.task_states(DAG_ID, run_id)
        if predicate(states):
            return states
        time.sleep(1)
    raise AssertionError(f"{DAG_ID} {run_id}: still {states} after {timeout} s:\n{airflow.tail()}")


def test_xcom_rows_forged_through_the_rest_api_never_load_a_pickle(xcom_standalone, tmp_path):
    airflow = xcom_standalone
    go, marker = tmp_path / "go", tmp_path / "PWNED"
    evil = pickle.dumps(_Evil(marker))
    (tmp_path / "evil.pkl").write_bytes(evil)  # outside the store
    (airflow.results / "xcom").mkdir(parents=True, exist_ok=True)
    (airflow.results / "xcom" / "evil.pkl").write_bytes(evil)  # inside the configured store
    source = tmp_path / f"{DAG_ID}.py"
    source.write_text(SOURCE.replace("__GO__", str(go)))
    airflow.add_dag(source, DAG_ID)

    run_id = airflow.request("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": None})["dag_run_id"]
    _wait_for(airflow, run_id, lambda s: s.get("producer") == "success")

    def envelope(xcom_key: str, **fields) -> dict:
        body = {
            "__airflow_result__": 1,
            "location": (airflow.results / "xcom" / "evil.pkl").as_uri(),
            "store": airflow.results.as_uri(),
            "key": "xcom/evil.pkl",
            "serializer": "pickle",
            "owner": "xcom",
            "dag_id": DAG_ID,
            "task_id": "producer",
            "run_id": run_id,
            "xcom_key": xcom_key,
        }
        body.update(fields)
        return body

    forged = {
        # the row's own identity, the configured store: only the missing signature stands in the way
        "forged_unsigned": envelope("forged_unsigned"),
        "forged_bad_hmac": envelope("forged_bad_hmac", hmac="0" * 64),
        "forged_root": envelope(
            "forged_root",
            store="file:///",
            key=str(tmp_path / "evil.pkl").lstrip("/"),
            location=(tmp_path / "evil.pkl").as_uri(),
        ),
    }
    base = f"/api/v2/dags/{DAG_ID}/dagRuns/{urllib.parse.quote(run_id, safe='')}/taskInstances/producer"
    for key, value in forged.items():
        status, body = _post(
            airflow.base, f"{base}/xcomEntries", {"key": key, "value": value, "map_index": -1}
        )
        assert status == 201, (status, body, airflow.tail(80))  # the API server log names the DB error
        assert airflow.get(f"{base}/xcomEntries/{key}")["value"] == value  # stored as is

    go.touch()
    states = _wait_for(airflow, run_id, lambda s: all(s.get(t) in ("success", "failed") for t in CONSUMERS))
    assert states["producer"] == "success" and states["wait_for_go"] == "success", states
    for task_id in CONSUMERS:
        assert states[task_id] == "failed", states
        log = airflow.task_log(DAG_ID, run_id, task_id)
        assert "UntrustedEnvelopeError" in log, log[-3000:]
        assert "a forged row was handed to the task" not in log
    assert "would be unpickled" in airflow.task_log(DAG_ID, run_id, "consumer_unsigned")
    assert "missing or wrong HMAC" in airflow.task_log(DAG_ID, run_id, "consumer_bad_hmac")
    assert "not a configured store" in airflow.task_log(DAG_ID, run_id, "consumer_root")
    assert not marker.exists(), "a forged XCom row got the evil pickle loaded on a worker"
    assert (tmp_path / "evil.pkl").read_bytes() == evil
    assert (airflow.results / "xcom" / "evil.pkl").read_bytes() == evil

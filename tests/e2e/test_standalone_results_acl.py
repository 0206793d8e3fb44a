"""The Results plugin shows a record only to users who may read its DAG's XComs, under `airflow standalone`: the
user ``dagreader`` of :mod:`tests.e2e.acl_auth_manager` may read every DAG but only the XComs of
``results_acl_open``; ``admin`` may read everything. The list routes (``/api/results``, the list page) leave
``results_acl_hidden`` out, in the query (totals and pages count only what is shown), and its run, task-instance
and one-result routes are 403 for ``dagreader``."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from urllib.parse import quote

import pytest

from tests.e2e.acl_auth_manager import DAGREADER, DAGREADER_XCOM_DAGS
from tests.e2e.conftest import REQUEST_TIMEOUT

pytestmark = pytest.mark.airflow

OPEN, HIDDEN = "results_acl_open", "results_acl_hidden"
MARKERS = {OPEN: "open-preview-marker-5b1d", HIDDEN: "hidden-preview-marker-9c2e"}
SOURCE = textwrap.dedent(
    """
    from airflow.sdk import DAG, task
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow_results_provider import JSONSerializer, LocalResult, ResultMixin


    class ResultPythonOperator(ResultMixin, PythonOperator):
        pass


    for dag_id, marker in __MARKERS__.items():
        with DAG(dag_id, schedule=None) as dag:
            ResultPythonOperator(
                task_id="report",
                python_callable=lambda marker=marker: {"marker": marker},
                result=LocalResult(serializer=JSONSerializer()),
            )

            @task
            def offloaded(marker=marker):
                return {"blob": "x" * 4000, "marker": marker}  # over the XCom backend's threshold

            offloaded()
        globals()[dag_id] = dag
    """
).replace("__MARKERS__", repr(MARKERS))


MINT = """
import json, sys
from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

users = json.loads(sys.argv[1])
manager = SimpleAuthManager()
print(json.dumps({u: manager.generate_jwt(SimpleAuthManagerUser(username=u, role=r)) for u, r in users.items()}))
"""


def mint_tokens(airflow, users: dict[str, str]) -> dict[str, str]:
    """JWTs for ``{username: role}``, signed with the standalone's secret (read from its AIRFLOW_HOME): under
    ``simple_auth_manager_all_admins`` its ``/auth/token`` only hands out the anonymous admin's token, but the API
    server accepts any token it could have signed."""
    proc = subprocess.run(
        [sys.executable, "-c", MINT, json.dumps(users)],
        env=airflow.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fetch(airflow, path: str, token: str) -> tuple[int, str]:
    request = urllib.request.Request(airflow.base + path, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def fetch_json(airflow, path: str, token: str) -> dict:
    code, body = fetch(airflow, path, token)
    assert code == 200, (path, code, body)
    return json.loads(body)


@pytest.fixture(scope="module")
def acl(xcom_standalone, tmp_path_factory):
    airflow = xcom_standalone
    assert set(DAGREADER_XCOM_DAGS) == {OPEN}
    source = tmp_path_factory.mktemp("acl") / "results_acl.py"
    source.write_text(SOURCE)
    for dag_id in (OPEN, HIDDEN):
        airflow.add_dag(source, dag_id)
    runs = {
        d: airflow.request("POST", f"/api/v2/dags/{d}/dagRuns", {"logical_date": None})["dag_run_id"]
        for d in (OPEN, HIDDEN)
    }
    tokens = mint_tokens(airflow, {"admin": "admin", DAGREADER: "viewer"})  # while the runs run
    deadline = time.monotonic() + 180
    for dag_id, run_id in runs.items():
        while (state := airflow.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]) not in (
            "success",
            "failed",
        ):
            assert time.monotonic() < deadline, f"{dag_id} still {state}:\n{airflow.tail()}"
            time.sleep(1)
        assert state == "success", (airflow.task_states(dag_id, run_id), airflow.tail())
    return airflow, runs, tokens


def test_lists_hold_only_dags_whose_xcoms_the_user_may_read(acl):
    airflow, runs, tokens = acl
    admin, reader = tokens["admin"], tokens[DAGREADER]

    # Both users may read both DAGs; only admin may read results_acl_hidden's XComs (Airflow's own API agrees).
    hidden_xcom = (
        f"/api/v2/dags/{HIDDEN}/dagRuns/{quote(runs[HIDDEN], safe='')}/taskInstances/report/xcomEntries"
    )
    for token in (admin, reader):
        assert fetch(airflow, f"/api/v2/dags/{HIDDEN}", token)[0] == 200
    assert fetch(airflow, hidden_xcom, admin)[0] == 200
    assert fetch(airflow, hidden_xcom, reader)[0] == 403

    listing = "/results/api/results?q=results_acl&check_exists=false&limit=200"
    everything = fetch_json(airflow, listing, admin)
    seen = {(r["dag_id"], r["task_id"], r["owner"]) for r in everything["results"]}
    assert seen == {
        (d, t, o) for d in (OPEN, HIDDEN) for t, o in (("report", "checkpoint"), ("offloaded", "xcom"))
    }
    assert everything["total_entries"] == 4
    hidden_records = [r for r in everything["results"] if r["dag_id"] == HIDDEN]
    assert all(r["location"] and r["sha256"] for r in hidden_records), hidden_records
    assert any(MARKERS[HIDDEN] in (r["preview"] or "") for r in hidden_records)  # the offloaded value's
    # (a LocalResult has no console "url"; a cloud store's would be in these records, and out with them)

    code, body = fetch(airflow, listing, reader)
    assert code == 200 and HIDDEN not in body and MARKERS[HIDDEN] not in body
    assert not any(r["location"] in body or r["sha256"] in body for r in hidden_records)
    mine = json.loads(body)
    assert {r["dag_id"] for r in mine["results"]} == {OPEN} and mine["total_entries"] == 2

    # Filtered in the query: sorted by DAG id, results_acl_hidden comes first, yet dagreader's first page is
    # results_acl_open's and the total counts only it.
    page = "/results/api/results?q=results_acl&sort=dag_id&desc=false&limit=1"
    first = fetch_json(airflow, page, admin)
    assert [r["dag_id"] for r in first["results"]] == [HIDDEN] and first["total_entries"] == 4
    first = fetch_json(airflow, page, reader)
    assert [r["dag_id"] for r in first["results"]] == [OPEN] and first["total_entries"] == 2
    assert fetch_json(airflow, f"/results/api/results?dag_id={HIDDEN}", reader) == {
        "results": [],
        "total_entries": 0,
        "truncated": False,
    }
    assert fetch_json(airflow, f"/results/api/results?dag_id={HIDDEN}", admin)["total_entries"] == 2

    # The list page (Browse -> Results).
    code, html = fetch(airflow, "/results/?q=results_acl", admin)
    assert code == 200 and HIDDEN in html and all(r["location"] in html for r in hidden_records)
    code, html = fetch(airflow, "/results/?q=results_acl", reader)
    assert code == 200 and OPEN in html and HIDDEN not in html
    assert all(r["location"] not in html for r in hidden_records)


def test_one_dag_routes_need_xcom_read(acl):
    airflow, runs, tokens = acl
    admin, reader = tokens["admin"], tokens[DAGREADER]
    for dag_id in (OPEN, HIDDEN):
        run = quote(runs[dag_id], safe="")
        paths = {
            "run page": f"/results/run/{dag_id}/{run}",
            "task instance tab": f"/results/ti/{dag_id}/{run}/report/{{MAP_INDEX}}",
            "offloaded tab": f"/results/ti/{dag_id}/{run}/offloaded/-1",
            "detail page": f"/results/detail/{dag_id}/{run}/report/-1/_link_ResultLink",
            "one result": f"/results/api/results/{dag_id}/{run}/offloaded/-1/return_value",
        }
        for name, path in paths.items():
            code, body = fetch(airflow, path, admin)
            assert code == 200 and "file://" in body, (name, code, body)  # locations, on every route
            if name != "run page":  # which lists locations; the others show a preview too
                assert MARKERS[dag_id] in body, (name, body[:2000])
            code, body = fetch(airflow, path, reader)
            if dag_id == OPEN:
                assert code == 200, (name, code, body)
            else:
                assert code == 403, (name, code, body)
                assert MARKERS[dag_id] not in body and "file://" not in body and "results_acl" not in body

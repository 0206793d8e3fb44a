"""Issue 11, attacks on the data path through the real ResultXComBackend in DAG runs.

Forged, tampered and replayed XCom rows are written with Airflow's ``XComModel.set`` between a ``run:`` and a
``clear:...:probe`` step of ``tests/integration/xcom_dag_runner.py`` (one subprocess, default configuration:
envelopes signed with the key derived from ``[api] secret_key``; ``purge = on_clear``). The rows are written by
a task of a separate DAG (``sec_forge``) run as a step in between, so one process runs everything. ``probe``
pulls each key in try/except and records the value or the exception. An evil pickle whose ``__reduce__``
creates a marker file waits outside and inside the store: the marker must never appear.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_results_provider.index._airflow_xcom import stores_per_attempt
from tests.conftest import ROOT, airflow_env
from tests.integration.test_xcom_backend import BACKEND, xcom_rows

pytestmark = pytest.mark.airflow

SEC_DAGS = r"""
import json
from pathlib import Path

from airflow.sdk import DAG, task, get_current_context

WORK = Path("__WORK__")
RESULTS = Path("__RESULTS__")
EVIL = WORK / "evil.pkl"          # outside the store
EVIL_IN_STORE = "xcom/evil.pkl"   # inside the configured store
VICTIM = WORK / "victim.txt"      # outside the store: purge must never delete it
SHAPED = {
    "__airflow_result__": 1,
    "store": "file:///",
    "key": str(EVIL).lstrip("/"),
    "location": EVIL.as_uri(),
    "serializer": "pickle",
    "owner": "xcom",
}
FORGED_KEYS = [
    "file_root", "abs_key", "dotdot_key", "module_store", "module_serializer", "wrong_hmac",
    "tampered_signed", "unsigned_pickle_in_store",
]


with DAG("sec_other", schedule=None, default_args={"retries": 0}):

    @task
    def upstream_b():
        return {"rows": list(range(20000)), "from": "sec_other"}

    upstream_b()


with DAG("sec_xcom", schedule=None, default_args={"retries": 0}):

    @task
    def upstream():
        return {"rows": list(range(20000)), "from": get_current_context()["run_id"]}

    @task
    def upstream_b():
        return {"rows": list(range(20000)), "from": "sec_xcom"}

    @task
    def shaped():
        return dict(SHAPED)

    @task
    def probe():
        ti = get_current_context()["ti"]
        pulls = [("upstream", "return_value"), ("upstream_b", "return_value"), ("shaped", "return_value")]
        pulls += [("upstream", key) for key in FORGED_KEYS]
        got = {}
        for task_id, key in pulls:
            try:
                value = ti.xcom_pull(task_ids=task_id, key=key)
            except BaseException as exc:  # record everything, even SystemExit from a hostile import
                got[f"{task_id}.{key}"] = {"error": type(exc).__name__, "message": str(exc)}
            else:
                if isinstance(value, dict) and "rows" in value:
                    value = {"rows": len(value["rows"]), "from": value.get("from")}
                got[f"{task_id}.{key}"] = {"value": value}
        with open(WORK / "probe.jsonl", "a") as f:
            f.write(json.dumps({"run_id": ti.run_id, "try_number": ti.try_number, "got": got}) + "\n")

    [upstream(), upstream_b(), shaped()] >> probe()


def _rows(dag_id):
    # [(run_id, {(task_id, key): value})] of each run of dag_id, oldest first, read through XComModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from airflow_results_provider.index._airflow_xcom import xcom_model

    model = xcom_model()
    out = []
    with create_session() as session:
        run_ids = session.scalars(select(DagRun.run_id).where(DagRun.dag_id == dag_id).order_by(DagRun.id)).all()
        for run_id in run_ids:
            rows = session.execute(
                select(model.task_id, model.key, model.value).where(model.dag_id == dag_id, model.run_id == run_id)
            ).all()
            out.append((run_id, {(t, k): json.loads(v) if isinstance(v, str) else v for t, k, v in rows}))
    return out


with DAG("sec_forge", schedule=None, default_args={"retries": 0}):

    @task
    def forge():
        (_, other), = _rows("sec_other")
        (run1, first), (run2, second) = _rows("sec_xcom")[-2:]
        legit = first[("upstream", "return_value")]
        store = legit["store"]
        assert legit["owner"] == "xcom" and "hmac" in legit, legit
        victim_key = str(VICTIM).lstrip("/")

        def forged(xcom_key, task_id="upstream", **fields):
            base = {
                "__airflow_result__": 1,
                "location": (RESULTS / EVIL_IN_STORE).as_uri(),
                "store": store,
                "key": EVIL_IN_STORE,
                "serializer": "pickle",
                "owner": "xcom",
                "dag_id": "sec_xcom",
                "task_id": task_id,
                "run_id": run2,
                "xcom_key": xcom_key,
            }
            base.update(fields)
            return {k: v for k, v in base.items() if v is not None}

        rows = {
            ("upstream", "file_root"): forged(
                "file_root", store="file:///", key=str(EVIL).lstrip("/"), location=EVIL.as_uri()
            ),
            ("upstream", "abs_key"): forged("abs_key", key=str(EVIL)),
            ("upstream", "dotdot_key"): forged("dotdot_key", key="xcom/../../evil.pkl"),
            ("upstream", "module_store"): forged("module_store", store="os:abort"),
            ("upstream", "module_serializer"): forged("module_serializer", serializer="os:system"),
            ("upstream", "wrong_hmac"): forged("wrong_hmac", hmac="0" * 64),
            # a valid signature of another envelope, with the payload swapped for the evil pickle
            ("upstream", "tampered_signed"): dict(
                legit, key=EVIL_IN_STORE, serializer="pickle", run_id=run2, xcom_key="tampered_signed"
            ),
            ("upstream", "unsigned_pickle_in_store"): forged("unsigned_pickle_in_store"),
            # valid signed envelopes replayed: from the previous run of this DAG, and from another DAG
            ("upstream", "return_value"): legit,
            ("upstream_b", "return_value"): other[("upstream_b", "return_value")],
            # purge = on_clear: rows of probe (deleted, hence purged, when probe is cleared) naming files
            # outside the store, or inside it but not written for that row
            ("probe", "purge_root"): forged(
                "purge_root", "probe", store="file:///", key=victim_key, location=VICTIM.as_uri(),
                serializer="json",
            ),
            ("probe", "purge_abs"): forged("purge_abs", "probe", key=str(VICTIM), serializer="json"),
            ("probe", "purge_dotdot"): forged(
                "purge_dotdot", "probe", key="xcom/../../victim.txt", serializer="json"
            ),
            ("probe", "purge_module"): forged("purge_module", "probe", store="os:abort", serializer="json"),
            ("probe", "purge_wrong_hmac"): forged(
                "purge_wrong_hmac", "probe", key=legit["key"], serializer="json", hmac="0" * 64
            ),
            ("probe", "purge_replay"): legit,
        }
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        with create_session() as session:  # as the Execution API stores a row: the JSON value, not re-serialized
            for (task_id, key), value in rows.items():
                XComModel.set(
                    key, value, dag_id="sec_xcom", task_id=task_id, run_id=run2, serialize=False, session=session
                )
        (WORK / "forged.json").write_text(
            json.dumps({"run1": run1, "run2": run2, "legit": legit, "rows": {f"{t}.{k}": v for (t, k), v in rows.items()}})
        )

    forge()
"""

MARKER = "PWNED"


class _Evil:
    """Unpickling it creates the marker file: proof that a forged row got a pickle loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _run(tmp_path: Path, source: str, *steps: str, **env: str) -> tuple[dict, str]:
    """run_steps of test_xcom_backend.py for this module's DAG file (a fresh process, backend from env)."""
    dag_file = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / "security_xcom_dags.py"
    dag_file.write_text(source)
    environment = airflow_env(AIRFLOW__CORE__XCOM_BACKEND=BACKEND, PYTHONPATH=str(ROOT), **env)
    proc = subprocess.run(
        [sys.executable, "-m", "tests.integration.xcom_dag_runner", str(dag_file), *steps],
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )
    output = proc.stdout + proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT-JSON ")]
    assert proc.returncode == 0 and lines, output[-5000:]  # os:abort imported from a row would kill it
    return json.loads(lines[-1].removeprefix("RESULT-JSON ")), output


@pytest.fixture(scope="module")
def attacked(airflow_db, airflow_home, tmp_path_factory):
    """Everything in one subprocess: sec_other, sec_xcom twice, forge rows into the 2nd run, clear probe."""
    work = tmp_path_factory.mktemp("sec-xcom")
    results = work / "results"
    (results / "xcom").mkdir(parents=True)
    evil = pickle.dumps(_Evil(work / MARKER))
    (work / "evil.pkl").write_bytes(evil)
    (results / "xcom" / "evil.pkl").write_bytes(evil)
    (work / "victim.txt").write_text("keep me")
    source = SEC_DAGS.replace("__WORK__", str(work)).replace("__RESULTS__", str(results))
    out, log = _run(
        work,
        source,
        "run:sec_other",
        "run:sec_xcom",
        "run:sec_xcom",
        "run:sec_forge",
        "clear:sec_xcom:probe",
        AIRFLOW__RESULTS__LOCAL_DIR=str(results),
        AIRFLOW__RESULTS__PURGE="on_clear",
    )
    probes = [json.loads(line) for line in (work / "probe.jsonl").read_text().splitlines()]
    forged = json.loads((work / "forged.json").read_text())
    return {
        "work": work,
        "results": results,
        "out": out,
        "log": log,
        "probes": probes,
        "forged": forged,
        "home": airflow_home,
    }


def _last_probe(attacked: dict) -> dict:
    run2 = attacked["forged"]["run2"]
    probes = [p for p in attacked["probes"] if p["run_id"] == run2]
    assert len(probes) == 2, attacked["probes"]  # the run itself, then the run after the clear
    return probes[-1]["got"]


def _nothing_ran(attacked: dict) -> None:
    work, results = attacked["work"], attacked["results"]
    assert not (work / MARKER).exists(), "a forged XCom row got the evil pickle loaded"
    assert (work / "evil.pkl").exists() and (results / "xcom" / "evil.pkl").exists()
    assert (work / "victim.txt").read_text() == "keep me"


def test_runs_finished_and_legit_values_read(attacked):
    out = attacked["out"]
    assert out["sec_other"][0]["states"] == {"upstream_b": "success"}
    for run in out["sec_xcom"]:
        assert set(run["states"].values()) == {"success"}, run["states"]
    assert out["sec_forge"][0]["states"] == {"forge": "success"}, attacked["log"][-4000:]
    first = next(p for p in attacked["probes"] if p["run_id"] == attacked["forged"]["run1"])["got"]
    assert first["upstream.return_value"] == {"value": {"rows": 20000, "from": attacked["forged"]["run1"]}}
    assert first["upstream_b.return_value"] == {"value": {"rows": 20000, "from": "sec_xcom"}}
    # secure by default: no [results] signing_key, yet the envelopes are signed (key from [api] secret_key)
    assert "hmac" in attacked["forged"]["legit"]
    _nothing_ran(attacked)


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("file_root", "not a configured store"),  # store file:/// and key tmp/... -> outside the store
        ("abs_key", "keys must be relative"),
        ("dotdot_key", "keys must be relative"),
        ("module_store", "URL stores only"),  # os:abort: never imported (it would have killed the worker)
        ("module_serializer", "os:system"),
        ("wrong_hmac", "missing or wrong HMAC"),
        ("tampered_signed", "missing or wrong HMAC"),
        ("unsigned_pickle_in_store", "would be unpickled"),
    ],
)
def test_forged_envelopes_are_refused_before_storage(attacked, key, message):
    got = _last_probe(attacked)[f"upstream.{key}"]
    assert got.get("error") == "UntrustedEnvelopeError", got
    assert message in got["message"], got
    _nothing_ran(attacked)


def test_signed_envelopes_replayed_from_another_run_or_dag_are_refused(attacked):
    got = _last_probe(attacked)
    from_run = got["upstream.return_value"]
    assert from_run.get("error") == "UntrustedEnvelopeError", from_run
    assert "run_id" in from_run["message"] and "copied from another row" in from_run["message"]
    assert attacked["forged"]["run1"] in from_run["message"]
    from_dag = got["upstream_b.return_value"]
    assert from_dag.get("error") == "UntrustedEnvelopeError", from_dag
    assert "dag_id 'sec_other'" in from_dag["message"], from_dag
    _nothing_ran(attacked)


def test_a_task_value_shaped_like_an_envelope_reads_back_as_data(attacked):
    shaped = {
        "__airflow_result__": 1,
        "store": "file:///",
        "key": str(attacked["work"] / "evil.pkl").lstrip("/"),
        "location": (attacked["work"] / "evil.pkl").as_uri(),
        "serializer": "pickle",
        "owner": "xcom",
    }
    assert len(attacked["probes"]) == 3
    for probe in attacked["probes"]:  # both runs, and the run of probe after the clear
        assert probe["got"]["shaped.return_value"] == {"value": shaped}, probe
    run_id = attacked["forged"]["run2"]
    row = xcom_rows("sec_xcom", run_id)[("shaped", -1, "return_value")]
    assert row["owner"] == "xcom" and "hmac" in row and row["key"] != shaped["key"]  # offloaded, signed
    _nothing_ran(attacked)


def test_purge_on_clear_deletes_nothing_a_forged_row_names(attacked):
    log = attacked["log"]
    # the file outside the store survives, and so does the previous run's payload the signed rows named
    legit = attacked["forged"]["legit"]
    assert Path(legit["location"].removeprefix("file://")).exists()
    _nothing_ran(attacked)
    if stores_per_attempt():  # Airflow >= 3.4: a clear keeps (and never purges) the cleared attempt's rows
        return
    assert log.count("Not purging the payload of an XCom row that fails its checks") == 6, log[-6000:]
    rows = xcom_rows("sec_xcom", attacked["forged"]["run2"])
    assert not any(task == "probe" and key.startswith("purge_") for task, _, key in rows)  # rows deleted
    _nothing_ran(attacked)


PARAMS_DAG = """
import json
from pathlib import Path
from airflow.sdk import DAG, Param
from airflow.providers.standard.operators.python import PythonOperator
from airflow_results_provider import ResultMixin

WORK = Path("__WORK__")
OUTSIDE = Path("__OUTSIDE__")


class ResultPythonOperator(ResultMixin, PythonOperator):
    pass


def record(context):
    exc = context["exception"]
    path = WORK / "failures.json"
    seen = json.loads(path.read_text()) if path.exists() else {}
    seen[context["ti"].task_id] = [type(exc).__name__, str(exc)]
    path.write_text(json.dumps(seen))


def value():
    return {"v": 1}


with DAG(
    "sec_params",
    schedule=None,
    params={"out": str(OUTSIDE / "param.pkl"), "sub": "../../escape"},
    default_args={"retries": 0, "on_failure_callback": record},
) as dag:
    ResultPythonOperator(task_id="jinja_param", python_callable=value, target="{{ params.out }}")
    ResultPythonOperator(task_id="format_param", python_callable=value, target="{out}")
    ResultPythonOperator(
        task_id="conf_target", python_callable=value, target="{{ dag_run.conf['out'] }}/conf.pkl"
    )
    ResultPythonOperator(task_id="dotdot_param", python_callable=value, target="{{ params.sub }}/v.pkl")
    # control: the DAG author's own absolute template is allowed
    ResultPythonOperator(task_id="author_absolute", python_callable=value, target="__ALLOWED__")
"""


def test_params_and_conf_cannot_choose_a_path_outside_the_store(dag_runner, results_dir, tmp_path):
    outside = tmp_path / "outside"
    allowed = tmp_path / "author" / "allowed.pkl"
    dag = dag_runner.load(PARAMS_DAG, "sec_params", work=tmp_path, outside=outside, allowed=allowed)
    _, states = dag_runner.run(dag, run_conf={"out": str(outside)})
    assert states == {
        "jinja_param": "failed",
        "format_param": "failed",
        "conf_target": "failed",
        "dotdot_param": "failed",
        "author_absolute": "success",
    }, states
    failures = json.loads((tmp_path / "failures.json").read_text())
    for task_id in ("jinja_param", "format_param", "conf_target", "dotdot_param"):
        assert failures[task_id][0] == "InvalidLocationError", failures
    assert "absolute path" in failures["jinja_param"][1] and "'..'" in failures["dotdot_param"][1]
    assert not outside.exists() or not any(outside.rglob("*")), list(outside.rglob("*"))
    assert not (tmp_path / "escape").exists() and not (results_dir.parent.parent / "escape").exists()
    assert allowed.exists()
    written = [p for p in tmp_path.rglob("*") if p.is_file() and not p.name.endswith(".meta.json")]
    assert all(
        p.is_relative_to(results_dir) or p == allowed or p.name in ("failures.json", "sec_params.py")
        for p in written
    ), written

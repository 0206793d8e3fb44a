"""Smoke DAG for the installed wheel (run by test_distribution.py with the python of a clean virtualenv).

Not collected by pytest (no ``test_`` prefix). Checks that the package comes from site-packages, that Airflow
registers the provider (version, documentation URL, ``[results]`` defaults, the ``@task.result`` decorator), then
runs one DAG twice with ``dag.test()``: ``ResultMixin`` and ``@task.result`` checkpoint to targets, and the
``ResultXComBackend`` (configured through the environment) offloads a large XCom value. The second run finds
every target and does no work. Prints ``SMOKE-OK`` and a JSON summary on success.

    python smoke_dag.py WORK_DIR EXPECTED_DOCS_URL
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from pathlib import Path

WORK = Path(sys.argv[1]).resolve()
DOCS_URL = sys.argv[2]


def check_install() -> dict:
    from airflow.configuration import conf
    from airflow.providers_manager import ProvidersManager

    import airflow_results_provider

    where = Path(airflow_results_provider.__file__).resolve()
    assert "site-packages" in where.parts, f"not imported from the wheel: {where}"
    provider = ProvidersManager().providers["airflow-results-provider"]
    assert provider.version == airflow_results_provider.__version__, provider
    assert provider.data["documentation-url"] == DOCS_URL, provider.data.get("documentation-url")
    assert provider.data["versions"][0] == airflow_results_provider.__version__
    assert conf.get("results", "xcom_inline_threshold") == "1024"
    assert "result" in {d["name"] for d in provider.data["task-decorators"]}
    return {"package": str(where.parent), "provider_version": provider.version}


DAG_SOURCE = """
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, task

from airflow_results_provider import JSONSerializer, LocalResult, ResultMixin

WORK = __WORK__


class ResultPythonOperator(ResultMixin, PythonOperator):
    pass


def did_work(name):
    with open(WORK + "/work.log", "a") as log:
        log.write(name + "\\n")


def add_one(rows):
    did_work("add_one")
    return [r + 1 for r in rows]


with DAG(
    "wheel_smoke",
    schedule=None,
    default_args={
        "retries": 0,
        "target": "{flow_name}/{task_name}.json",
        "result": LocalResult(dir=WORK + "/checkpoints", serializer=JSONSerializer()),
    },
) as dag:

    @task.result()
    def extract():
        did_work("extract")
        return [1, 2, 3]

    plus = ResultPythonOperator(task_id="add_one", python_callable=add_one, op_args=[extract()])

    @task
    def large(rows):  # a plain task: its XCom value goes through the Result XCom backend
        did_work("large")
        return {"rows": rows, "pad": "x" * 5000}

    large(plus.output)
"""


def build_dag():
    """Write the DAG into the dags folder and parse it (dag.test() runs serialized DAGs only)."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow < 3.2
        from airflow.models.dagbag import DagBag

    path = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / "wheel_smoke.py"
    path.write_text(DAG_SOURCE.replace("__WORK__", repr(str(WORK))))
    bag = DagBag(dag_folder=str(path))
    assert not bag.import_errors, bag.import_errors
    return bag.get_dag("wheel_smoke")


def states(run) -> dict:
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.merge(run)
        return {
            ti.task_id: str(getattr(ti.state, "value", ti.state))
            for ti in run.get_task_instances(session=session)
        }


def xcom_rows(task_id: str) -> list[str]:
    db = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].removeprefix("sqlite:///")
    with sqlite3.connect(db) as conn:
        return [str(v) for (v,) in conn.execute("select value from xcom where task_id = ?", (task_id,))]


def main() -> None:
    summary = check_install()
    dag = build_dag()
    first = states(dag.test())
    assert set(first.values()) == {"success"}, first
    work1 = (WORK / "work.log").read_text().split()
    assert sorted(work1) == ["add_one", "extract", "large"], work1
    for name in ("extract", "add_one"):
        assert (WORK / "checkpoints" / "wheel_smoke" / f"{name}.json").is_file(), name
    envelopes = [row for row in xcom_rows("large") if "__airflow_result__" in row]
    assert envelopes, xcom_rows("large")
    offloaded = [p for p in (WORK / "xcom").rglob("*") if p.is_file() and not p.name.endswith(".meta.json")]
    assert offloaded, "the XCom backend wrote no payload"

    second = states(dag.test())
    assert set(second.values()) == {"success"}, second
    work2 = (WORK / "work.log").read_text().split()[len(work1) :]
    assert work2 == ["large"], f"targets were not used: {work2}"  # extract and add_one came from targets
    summary.update(first=first, second_run_work=work2, xcom_payloads=len(offloaded))
    print("SMOKE-OK " + json.dumps(summary))


if __name__ == "__main__":
    main()

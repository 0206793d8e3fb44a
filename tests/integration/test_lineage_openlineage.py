"""OpenLineage events of DAGs that read and write Results (the real OpenLineage provider, its file transport).

Each scenario runs ``dag.test()`` in a fresh process (this module run with ``python -m``), where the
OpenLineage provider is enabled through environment variables before Airflow is imported and the XCom backend
is ``ResultXComBackend``. The events the provider writes to its transport file are then read back here.

``dag.test()`` runs every task in one process, where a deployment runs each in its own: the runner drops
Airflow's process-wide hook lineage collector when a task ends (a listener), as a fresh task process has it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.airflow

if __name__ != "__main__":  # (the subprocess imports Airflow only once its sys.path is set: see _main)
    pytest.importorskip(
        "airflow.providers.openlineage",
        reason="apache-airflow-providers-openlineage is not installed in this environment (the main .venv has it)",
    )

BACKEND = "airflow_results_provider.xcom.ResultXComBackend"

#: Map indexes of the mapped task (12: each reads its own chunk; 50 took 134 s of CI on 2 busy cores).
MAPPED = 12

DAG = """
from pathlib import Path
from airflow.sdk import DAG, task
from airflow.providers.standard.operators.python import PythonOperator
from airflow_results_provider import LocalResult, ResultMixin

WORK = Path("__WORK__")


class ResultPythonOperator(ResultMixin, PythonOperator):
    pass


def extract():
    with open(WORK / "extract_runs", "a") as f:
        f.write("x")
    return {"rows": list(range(3000))}


with DAG("lineage_results", schedule=None, default_args={"retries": 0}) as dag:
    rows = ResultPythonOperator(task_id="extract", python_callable=extract, target="{dag_id}/{task_name}.pkl")

    @task.result(result=LocalResult(location="{dag_id}/{run_id}/{task_name}.json"))
    def total(rows):
        return {"total": sum(rows["rows"]), "rows": rows["rows"]}

    @task
    def report(summary):
        return summary["total"]

    report(total(rows.output))


with DAG("lineage_mapped", schedule=None, default_args={"retries": 0}) as mapped:

    @task
    def items():
        return [{"i": i, "pad": "x" * 200} for i in range(__MAPPED__)]

    @task
    def use_item(item):
        return item["i"]

    use_item.expand(item=items())
"""


def run_dags(tmp_path: Path, *dag_ids: str) -> list[dict]:
    """Run ``dag_ids`` one after the other in a fresh process; the OpenLineage events it emitted."""
    # (imported here: the subprocess runs this module, and importing the conftest there would give it
    # another AIRFLOW_HOME)
    from tests.conftest import ROOT, airflow_env

    dag_file = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / "lineage_dags.py"
    dag_file.write_text(DAG.replace("__WORK__", str(tmp_path)).replace("__MAPPED__", str(MAPPED)))
    events_file = tmp_path / "openlineage.jsonl"
    environment = airflow_env(
        AIRFLOW__CORE__XCOM_BACKEND=BACKEND,
        AIRFLOW__RESULTS__LOCAL_DIR=str(tmp_path / "results"),
        AIRFLOW__OPENLINEAGE__TRANSPORT=json.dumps(
            {"type": "file", "log_file_path": str(events_file), "append": True}
        ),
        AIRFLOW__OPENLINEAGE__NAMESPACE="results-tests",
        PYTHONPATH=str(ROOT),
    )
    proc = subprocess.run(
        [sys.executable, "-m", "tests.integration.test_lineage_openlineage", str(dag_file), *dag_ids],
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "LINEAGE-RUNS-DONE" in proc.stdout, output[-5000:]
    assert events_file.exists(), f"the OpenLineage provider wrote no events\n{output[-5000:]}"
    return [json.loads(line) for line in events_file.read_text().splitlines() if line.strip()]


def task_events(events: list[dict], dag_id: str, task_id: str, state: str = "COMPLETE") -> list[dict]:
    """The ``state`` run events of ``dag_id.task_id`` (one per run, and per map index)."""
    name = f"{dag_id}.{task_id}"
    return [e for e in events if e.get("eventType") == state and e["job"]["name"] == name]


def datasets(event: dict, side: str) -> list[tuple[str, str]]:
    """``(namespace, name)`` of the event's ``inputs`` or ``outputs``."""
    return [(d["namespace"], d["name"]) for d in event.get(side, [])]


def test_result_reads_and_writes_are_the_tasks_inputs_and_outputs(airflow_db, tmp_path):
    events = run_dags(tmp_path, "lineage_results", "lineage_results")
    results = (tmp_path / "results").resolve()
    checkpoint = ("file", f"{results}/lineage_results/extract.pkl")

    extract_runs = task_events(events, "lineage_results", "extract")
    total_runs = task_events(events, "lineage_results", "total")
    report_runs = task_events(events, "lineage_results", "report")
    assert len(extract_runs) == len(total_runs) == len(report_runs) == 2, [e["job"]["name"] for e in events]

    # First run: extract computes and writes its target; total reads it (an upstream read through the XCom
    # backend) and writes its own checkpoint; report reads that checkpoint.
    first_extract, second_extract = extract_runs
    assert datasets(first_extract, "outputs") == [checkpoint]
    assert datasets(first_extract, "inputs") == []
    first_total = total_runs[0]
    assert datasets(first_total, "inputs") == [checkpoint]
    [total_checkpoint] = datasets(first_total, "outputs")
    run_id = first_total["run"]["facets"]["airflow"]["dagRun"]["run_id"]
    # the path of the Result's file:// URI (LocalResult.uri: percent-encoded, as pathlib makes it)
    expected = urlsplit((results / "lineage_results" / run_id / "total.json").as_uri()).path
    assert total_checkpoint == ("file", expected)
    assert datasets(report_runs[0], "inputs") == [total_checkpoint]
    assert datasets(report_runs[0], "outputs") == []  # a small value stays inline: nothing is stored

    # Second run: extract finds its target and reads it instead of running (a read, no write).
    assert (tmp_path / "extract_runs").read_text() == "x"
    assert datasets(second_extract, "inputs") == [checkpoint]
    assert datasets(second_extract, "outputs") == []

    # Only payloads are named: never a metadata sidecar, a temporary file, or a lease.
    named = {name for e in events for side in ("inputs", "outputs") for _, name in datasets(e, side)}
    assert not [n for n in named if n.endswith((".meta.json", ".tmp", ".lock"))], named


def test_a_mapped_task_over_an_offloaded_list_is_one_dataset(airflow_db, tmp_path):
    events = run_dags(tmp_path, "lineage_mapped")
    results = (tmp_path / "results").resolve()

    [producer] = task_events(events, "lineage_mapped", "items")
    [the_list] = datasets(producer, "outputs")  # one dataset, however the list is stored
    assert the_list[0] == "file" and the_list[1].startswith(f"{results}/xcom/lineage_mapped/")
    stored = results / the_list[1].removeprefix(f"{results}/")
    if stored.is_dir():  # in one chunk object per item (with sidecars), the backend's form for a mapped list
        assert stored.name == "return_value" and "/items/" in the_list[1], the_list
        assert len([p for p in stored.glob("part-*") if not p.name.endswith(".meta.json")]) == MAPPED
    else:  # one object, where Airflow does not tell the backend that the list feeds mapped tasks (3.4)
        assert stored.name == "return_value.json" and "/items/" in the_list[1], the_list

    consumers = task_events(events, "lineage_mapped", "use_item")
    assert len(consumers) == MAPPED
    # Each map index reads one chunk of the list: its input is the list, once.
    assert all(datasets(e, "inputs") == [the_list] for e in consumers), [
        datasets(e, "inputs") for e in consumers
    ]
    assert all(datasets(e, "outputs") == [] for e in consumers)
    every_dataset = {d for e in events for side in ("inputs", "outputs") for d in datasets(e, side)}
    assert every_dataset == {the_list}


# ---------------------------------------------------------------------------------------- the subprocess


def _fresh_collector_per_task() -> object:
    """A listener giving each task a fresh hook lineage collector, as its own task process would have: the
    collector is dropped when a task ends, after the OpenLineage listener has read it (``trylast``)."""
    import pluggy

    hookimpl = pluggy.HookimplMarker("airflow")  # Airflow's listener hooks

    def drop_collector() -> None:
        from airflow.sdk.lineage import get_hook_lineage_collector

        get_hook_lineage_collector.cache_clear()

    class FreshCollectorPerTask:
        @hookimpl(trylast=True)
        def on_task_instance_success(self, previous_state, task_instance):
            drop_collector()

        @hookimpl(trylast=True)
        def on_task_instance_failed(self, previous_state, task_instance, error):
            drop_collector()

        @hookimpl(trylast=True)
        def on_task_instance_skipped(self, previous_state, task_instance):
            drop_collector()

    return FreshCollectorPerTask()


def _main() -> None:
    from tests.dag_runner import DagRunner

    # The checkout on sys.path exposes this package's metadata twice (its egg-info beside the installed
    # dist-info): Airflow's plugins manager stops registering entry-point plugins at the first duplicate
    # name, which drops the OpenLineage plugin. Its modules are imported already; the package is installed.
    root = Path(__file__).resolve().parents[2]
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != root]

    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.listener import get_listener_manager

    dag_file, dag_ids = sys.argv[1], sys.argv[2:]
    bag = DagBag(dag_folder=dag_file)
    if bag.import_errors:
        raise SystemExit(f"import errors: {bag.import_errors}")
    get_listener_manager().add_listener(_fresh_collector_per_task())
    runner = DagRunner(dags_folder=None)  # type: ignore[arg-type]
    for dag_id in dag_ids:
        _, states = runner.run(bag.get_dag(dag_id))
        if set(states.values()) != {"success"}:
            raise SystemExit(f"{dag_id}: {states}")
    print("LINEAGE-RUNS-DONE")


if __name__ == "__main__":
    _main()

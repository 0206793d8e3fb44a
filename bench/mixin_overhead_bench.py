"""Per-task overhead of ResultMixin: a 100-task DAG with and without the mixin, run with dag.test() in one
process, interleaved, best of N. Prints wall times, the ratio and the overhead per task.

    .venv/bin/python bench/mixin_overhead_bench.py [--tasks 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DAG_SOURCE = """
from airflow.sdk import DAG
from airflow.providers.standard.operators.python import PythonOperator
from airflow_results_provider import ResultMixin


class ResultPythonOperator(ResultMixin, PythonOperator):
    pass


class ResultPythonOperatorNoLink(ResultMixin, PythonOperator):
    operator_extra_links = ()


ResultPythonOperatorNoLink.operator_extra_links = ()


def value(i):
    return {{"i": i}}


for dag_id, cls in (
    ("plain_{n}", PythonOperator),
    ("mixin_{n}", ResultPythonOperator),
    ("nolink_{n}", ResultPythonOperatorNoLink),
):
    with DAG(dag_id, schedule=None) as dag:
        previous = None
        for i in range({n}):
            t = cls(task_id=f"t{{i}}", python_callable=value, op_args=[i])
            if previous is not None and i % 10:
                previous >> t
            previous = t
    globals()[dag_id] = dag
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="results-bench-home-"))
    dags = home / "dags"
    dags.mkdir()
    (dags / "overhead.py").write_text(DAG_SOURCE.format(n=args.tasks))
    os.environ.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
        AIRFLOW__RESULTS__LOCAL_DIR=str(home / "results"),
        AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING",
    )
    subprocess.run(
        [str(Path(sys.executable).with_name("airflow")), "db", "migrate"], check=True, capture_output=True
    )
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(dags))
    dags_by_name = {name: bag.get_dag(f"{name}_{args.tasks}") for name in ("plain", "mixin", "nolink")}
    plain = dags_by_name["plain"]
    plain.test()  # warm-up: the first dag.test() in a process pays ~10 s of imports
    best = dict.fromkeys(dags_by_name, float("inf"))
    for _ in range(args.repeat):
        for name, dag in dags_by_name.items():
            start = time.perf_counter()
            run = dag.test()
            elapsed = time.perf_counter() - start
            assert str(run.state) == "success", run.state
            best[name] = min(best[name], elapsed)
    written = len([p for p in (home / "results").rglob("*.pkl")])
    print(f"{args.tasks}-task DAG, dag.test(), best of {args.repeat} (checkpoints written: {written})")
    print(f"  PythonOperator         {best['plain']:7.2f} s")
    print(f"  ResultMixin + Python   {best['mixin']:7.2f} s")
    print(f"  same, no Result link   {best['nolink']:7.2f} s  (the link is one more XCom row per task)")
    print(f"  ratio mixin/plain      {best['mixin'] / best['plain']:7.2f}x")
    print(f"  overhead per task      {(best['mixin'] - best['plain']) / args.tasks * 1000:7.1f} ms")


if __name__ == "__main__":
    main()

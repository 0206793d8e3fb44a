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

# Every process of a benchmark is one deployment: one signing key (Airflow makes one up per process).
os.environ.setdefault("AIRFLOW__API__SECRET_KEY", "bench-deployment-key")

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


def time_the_mixins_own_code() -> dict:
    """Accumulate the time spent in ResultMixin's execute wrapper minus the operator's own execute, and in the
    link's get_link, while ``counting`` is set: the mixin's own cost, free of dag.test()'s noise."""
    from airflow_results_provider.links.result_link import ResultLink
    from airflow_results_provider.operators import mixin

    own = {"total": 0.0, "inner": 0.0, "link": 0.0, "counting": False}
    execute_with_results, get_link = mixin._execute_with_results, ResultLink.get_link

    def add(key: str, start: float) -> None:
        if own["counting"]:
            own[key] += time.perf_counter() - start

    def timed(operator, context, call, **kwargs):
        def inner():
            start = time.perf_counter()
            try:
                return call()
            finally:
                add("inner", start)

        start = time.perf_counter()
        try:
            return execute_with_results(operator, context, inner, **kwargs)
        finally:
            add("total", start)

    def timed_link(self, operator, *, ti_key):
        start = time.perf_counter()
        try:
            return get_link(self, operator, ti_key=ti_key)
        finally:
            add("link", start)

    mixin._execute_with_results = timed
    ResultLink.get_link = timed_link
    return own


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
    own = time_the_mixins_own_code()
    best = dict.fromkeys(dags_by_name, float("inf"))
    for _ in range(args.repeat):
        for name, dag in dags_by_name.items():
            own["counting"] = name == "mixin"
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
    tasks = args.tasks * args.repeat
    mixin_ms = (own["total"] - own["inner"]) / tasks * 1000
    print(
        f"  in the mixin's code    {mixin_ms:7.2f} ms per task (checkpoint write included, mean of {tasks})"
    )
    print(
        f"  in ResultLink.get_link {own['link'] / tasks * 1000:7.2f} ms per task (Airflow then pushes its row)"
    )


if __name__ == "__main__":
    main()

"""End to end through TaskFlow: ``consume(produce())`` with a large list passed as the argument, run with
``dag.test()`` and the Result XCom backend, for ``@task`` and ``@task.result``, against the same DAG passing
nothing. All DAGs run in one process (one warm-up first), interleaved, best of --repeat.

What the time goes to besides the backend: Airflow serializes the rendered template fields of ``consume`` (its
``op_args`` hold the whole value) and redacts them with the secrets masker before truncating them for display,
and ``PythonOperator`` logs the repr of what ``produce`` returns. ``@task.result`` hands Airflow an abridged view
of large arguments and return values; ``--profile`` prints where a run of each spends its time.

    .venv/bin/python bench/taskflow_bench.py [--items 1400000] [--repeat 2] [--profile] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Every process of a benchmark is one deployment: one signing key (Airflow makes one up per process).
os.environ.setdefault("AIRFLOW__API__SECRET_KEY", "bench-deployment-key")

DAGS = """
import os
from airflow.sdk import DAG, task

ITEMS = int(os.environ["BENCH_ITEMS"])

with DAG("nothing", schedule=None):
    @task
    def produce():
        list(range(ITEMS))  # the same work, nothing returned

    @task
    def consume():
        return 0

    produce() >> consume()

with DAG("task", schedule=None):
    @task
    def produce():
        return list(range(ITEMS))

    @task
    def consume(values):
        return len(values)

    consume(produce())

with DAG("task_result", schedule=None):
    @task.result
    def produce():
        return list(range(ITEMS))

    @task.result
    def consume(values):
        return len(values)

    consume(produce())
"""

VARIANTS = ("nothing", "task", "task_result")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--items", type=int, default=1_400_000, help="list length (14 M ints = 100 MB of JSON)"
    )
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--profile", action="store_true", help="cProfile one more run of each variant")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="results-taskflow-bench-"))
    (root / "dags").mkdir()
    (root / "dags" / "taskflow_dags.py").write_text(DAGS)
    os.environ.update(
        AIRFLOW_HOME=str(root / "home"),
        AIRFLOW__CORE__DAGS_FOLDER=str(root / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__XCOM_BACKEND="airflow_results_provider.xcom.ResultXComBackend",
        AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING",
        AIRFLOW__RESULTS__LOCAL_DIR=str(root / "results"),
        AIRFLOW__RESULTS__DEFAULT_RESULT=(root / "results").as_uri(),
        BENCH_ITEMS=str(args.items),
    )
    subprocess.run(
        [str(Path(sys.executable).with_name("airflow")), "db", "migrate"], check=True, capture_output=True
    )
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(root / "dags"))
    dags = {name: bag.get_dag(name) for name in args.variants}

    def run(name: str) -> float:
        start = time.perf_counter()
        state = str(dags[name].test().state)
        seconds = time.perf_counter() - start
        if state != "success":
            raise SystemExit(f"{name}: run {state}")
        return seconds

    run(args.variants[0])  # warm-up: the first dag.test() in a process pays the imports
    best = dict.fromkeys(args.variants, float("inf"))
    for _ in range(args.repeat):
        for name in args.variants:
            best[name] = min(best[name], run(name))
    mb = len(json.dumps(list(range(args.items)), separators=(",", ":"))) / 2**20
    print(f"consume(produce()), {args.items:,} ints ({mb:.0f} MB of JSON), dag.test(), best of {args.repeat}")
    for name, seconds in best.items():
        extra = f"  {seconds / best['nothing']:6.1f}x passing nothing" if "nothing" in best else ""
        print(f"  {name:12}{seconds:8.2f} s{extra}")
    if "task" in best and "task_result" in best:
        print(f"  @task.result is {best['task'] / best['task_result']:.1f}x faster than @task")
    if args.profile:
        import cProfile
        import pstats

        for name in args.variants:
            profiler = cProfile.Profile()
            profiler.runcall(run, name)
            print(f"\n== {name}: top functions by cumulative time")
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
    if args.json:
        Path(args.json).write_text(json.dumps({"items": args.items, "mb": mb, **best}, indent=1))


if __name__ == "__main__":
    main()

"""ResultXComBackend vs Airflow's default DB XCom and common-io's XComObjectStorageBackend (threshold 0,
file:// store), on the same DAGs in one run. Every (backend, workload) runs in its own process, so the backend is
configured before Airflow is imported and peak RSS is that workload's own.

Workloads: ``small`` = 100 TaskFlow tasks passing small values (wall time of dag.test, best of --repeat);
``json`` = one task returning a ~100 MB JSON-able list of dicts, pulled by one downstream task; ``bytes`` = a
1 GB bytes value pulled downstream. Prints wall times, ratios against the baselines, and the peak RSS growth
during the run (value creation included) divided by the value size.

    .venv/bin/python bench/xcom_backend_bench.py [--repeat 3] [--json-mb 100] [--bytes-mb 1024]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Every process of a benchmark is one deployment: one signing key (Airflow makes one up per process).
os.environ.setdefault("AIRFLOW__API__SECRET_KEY", "bench-deployment-key")

BACKENDS = {
    "default": None,
    "common-io": "airflow.providers.common.io.xcom.backend.XComObjectStorageBackend",
    "results": "airflow_results_provider.xcom.ResultXComBackend",
}

DAGS = """
import os
from airflow.sdk import DAG, BaseOperator, task

JSON_ITEMS = int(os.environ["BENCH_JSON_ITEMS"])
BYTES = int(os.environ["BENCH_BYTES"])

with DAG("small", schedule=None):
    @task
    def step(i, previous=None):
        return {"i": i, "previous": previous}

    for chain in range(10):
        value = None
        for i in range(10):
            value = step.override(task_id=f"c{chain}_s{i}")(i, value)

class Produce(BaseOperator):
    # returns the value without logging it (PythonOperator logs the repr of what it returns)

    def __init__(self, *, kind, **kwargs):
        super().__init__(**kwargs)
        self.kind = kind

    def execute(self, context):
        if self.kind == "json":
            return [{"id": i, "name": f"name-{i}", "tags": ["alpha", "beta"], "score": i * 0.5} for i in range(JSON_ITEMS)]
        return b"\\x01" * BYTES


class Consume(BaseOperator):
    # pulls the upstream value with xcom_pull (no template rendering of a huge argument)

    def execute(self, context):
        return len(context["ti"].xcom_pull(task_ids="produce"))


for kind in ("json", "bytes"):
    with DAG(kind, schedule=None):
        Produce(task_id="produce", kind=kind) >> Consume(task_id="consume")
"""


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def inner(workload: str, repeat: int) -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    dag = bag.get_dag(workload)
    if workload == "small":
        dag.test()  # warm-up: the first dag.test() in a process pays the imports
    else:
        bag.get_dag("small").test()
    times = []
    base = rss_mb()
    for _ in range(repeat):
        start = time.perf_counter()
        run = dag.test()
        times.append(time.perf_counter() - start)
        if str(run.state) != "success":
            print(json.dumps({"error": f"run {run.state}"}))
            return
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("BENCH " + json.dumps({"seconds": min(times), "peak_growth_mb": max(0.0, peak - base)}))


def outer(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="results-xcom-bench-"))
    dags = root / "dags"
    dags.mkdir()
    (dags / "bench_dags.py").write_text(DAGS)
    json_items = int(args.json_mb * 2**20 / 75)  # ~75 bytes of JSON per item
    env_base = {
        **os.environ,
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "BENCH_JSON_ITEMS": str(json_items),
        "BENCH_BYTES": str(args.bytes_mb * 2**20),
    }
    airflow = str(Path(sys.executable).with_name("airflow"))
    results: dict[tuple[str, str], dict] = {}
    for backend, cls in BACKENDS.items():
        home = root / backend
        home.mkdir()
        env = {
            **env_base,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__RESULTS__LOCAL_DIR": str(home / "results"),
            "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH": (home / "common-io").as_uri(),
            "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD": "0",
        }
        if cls:
            env["AIRFLOW__CORE__XCOM_BACKEND"] = cls
        (home / "common-io").mkdir()
        subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
        for workload in args.workloads:
            if workload == "bytes" and backend == "default":
                continue  # Airflow's serde cannot store bytes in the DB
            repeat = args.repeat if workload == "small" else 1
            proc = subprocess.run(
                [sys.executable, __file__, "--inner", workload, "--repeat", str(repeat)],
                env=env,
                capture_output=True,
                text=True,
            )
            lines = [line for line in proc.stdout.splitlines() if line.startswith("BENCH ")]
            if not lines:
                results[(backend, workload)] = {"error": (proc.stdout + proc.stderr)[-300:]}
                continue
            results[(backend, workload)] = json.loads(lines[-1][6:])
            print(f"  done {backend:9} {workload:5} {results[(backend, workload)]}", flush=True)

    sizes = {"json": args.json_mb, "bytes": args.bytes_mb}
    print(f"\nXCom backends, same DAGs, one run ({args.json_mb} MB JSON, {args.bytes_mb} MB bytes)")
    print(
        f"{'workload':9}{'backend':11}{'seconds':>9}{'vs default':>12}{'vs common-io':>14}{'peak RSS / value':>18}"
    )
    for workload in args.workloads:
        for backend in BACKENDS:
            m = results.get((backend, workload))
            if m is None:
                continue
            if "error" in m:
                print(f"{workload:9}{backend:11} failed: {m['error']!r}")
                continue

            def ratio(other: str, m: dict = m, workload: str = workload) -> str:
                o = results.get((other, workload))
                return f"{m['seconds'] / o['seconds']:.2f}x" if o and "seconds" in o else "-"

            rss = f"{m['peak_growth_mb'] / sizes[workload]:.2f}x" if workload in sizes else "-"
            print(
                f"{workload:9}{backend:11}{m['seconds']:>9.2f}{ratio('default'):>12}{ratio('common-io'):>14}{rss:>18}"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--inner")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json-mb", type=int, default=100)
    parser.add_argument("--bytes-mb", type=int, default=1024)
    parser.add_argument("--workloads", nargs="+", default=["small", "json", "bytes"])
    args = parser.parse_args()
    if args.inner:
        inner(args.inner, args.repeat)
    else:
        outer(args)


if __name__ == "__main__":
    main()

"""Scale: cost and peak RSS against value size (1 MB .. 1 GB), and a wide mapped task with per-index targets.

``sizes``: for each size, one subprocess per (store, step) so peak RSS is the step's own: LocalResult write+read
of a bytes value (pickle, verified before load) next to a raw fsynced file write+read, and the XCom backend's
serialize_value+deserialize_value of the same bytes; prints seconds, seconds per MB (flat = linear) and peak RSS
growth beyond the value and the copy read back, divided by the value size (after a warm-up run, so imports do
not count). ``mapped``: a task mapped over --width inputs with per-index targets, run twice with
dag.test(); the second run finds every target: its wall time in total and per index.

    .venv/bin/python bench/scale_bench.py [--sizes 1 10 100 1024] [--width 1000] [--parts sizes mapped]
    [--json out.json]
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

STEP = r"""
import json, os, resource, sys, time, types
step, size, root = sys.argv[1], int(sys.argv[2]), sys.argv[3]
value = os.urandom(size)
def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
os.environ.update(AIRFLOW_HOME=root + "/home", AIRFLOW__API__SECRET_KEY="bench",
                  AIRFLOW__RESULTS__XCOM_RESULT="file://" + root + "/xcom", AIRFLOW__RESULTS__LOCAL_DIR=root + "/r")
if step == "raw":
    path = os.path.join(root, "raw.bin")
    def run():
        with open(path, "wb") as f:
            f.write(value); f.flush(); os.fsync(f.fileno())
        with open(path, "rb") as f:
            return f.read()
elif step == "local":
    from airflow_results_provider.results.local_result import LocalResult
    result = LocalResult(dir=root + "/r", location="scale/value.pkl")
    def run():
        return result.read(result.write(value).location).value
else:
    from airflow_results_provider.xcom import ResultXComBackend as B
    ident = dict(key="return_value", dag_id="scale", task_id="t", run_id="r", map_index=-1)
    def run():
        return B.deserialize_value(types.SimpleNamespace(value=B.serialize_value(value, **ident), **ident))
run()  # warm-up: imports, so peak RSS growth below is the step's own, not the modules it loads
base = rss()
best = float("inf")
for _ in range(int(os.environ.get("BENCH_REPEAT", "2"))):
    start = time.perf_counter(); out = run(); best = min(best, time.perf_counter() - start)
    del out
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
# base holds the value and the modules; a read must hold one more copy (what it returns): growth beyond that
print(json.dumps({"seconds": best, "peak_growth_mb": max(0.0, peak - base - size / 2**20)}))
"""

MAPPED_DAG = """
from airflow.sdk import DAG, task
from airflow_results_provider import LocalResult

with DAG("scale_mapped", schedule=None):
    @task
    def inputs():
        return list(range({width}))

    @task.result(result=LocalResult(), target="scale/{{map_index}}.pkl")
    def square(x):
        return x * x

    square.expand(x=inputs())

with DAG("scale_mapped_plain", schedule=None):
    @task
    def plain_inputs():
        return list(range({width}))

    @task
    def plain_square(x):
        return x * x

    plain_square.expand(x=plain_inputs())
"""


def sizes(args: argparse.Namespace, root: Path) -> dict:
    out: dict = {}
    for mb in args.sizes:
        for step in ("raw", "local", "xcom"):
            d = root / f"{step}-{mb}"
            d.mkdir()
            proc = subprocess.run(
                [sys.executable, "-c", STEP, step, str(mb * 2**20), str(d)],
                capture_output=True,
                text=True,
                env={**os.environ, "BENCH_REPEAT": str(args.repeat)},
            )
            lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
            if not lines:
                print(f"  {step} {mb} MB failed: {proc.stderr[-300:]}")
                continue
            m = json.loads(lines[-1])
            out.setdefault(step, {})[mb] = m
            print(
                f"  {step:6}{mb:6} MB {m['seconds']:8.3f} s  {m['seconds'] / mb * 1000:7.2f} ms/MB  "
                f"peak RSS growth {m['peak_growth_mb'] / mb:5.2f}x value",
                flush=True,
            )
    return out


def mapped(args: argparse.Namespace, root: Path) -> dict:
    home = root / "mapped"
    dags = home / "dags"
    dags.mkdir(parents=True)
    (dags / "scale_mapped.py").write_text(MAPPED_DAG.format(width=args.width))
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__RESULTS__LOCAL_DIR": str(home / "results"),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    }
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    code = (
        "import json, time\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        "from airflow_results_provider._checkpointing.checkpointer import TaskCheckpointer\n"
        "lookup, checks = TaskCheckpointer.lookup, [0.0, 0]\n"
        "def timed(self):\n"
        "    start = time.perf_counter()\n"
        "    try:\n"
        "        return lookup(self)\n"
        "    finally:\n"
        "        checks[0] += time.perf_counter() - start; checks[1] += 1\n"
        "TaskCheckpointer.lookup = timed\n"
        f"bag = DagBag(dag_folder={str(dags)!r})\n"
        "times, second_run_checks = [], None\n"
        "for name in ('scale_mapped', 'scale_mapped', 'scale_mapped_plain'):\n"
        "    checks[:] = [0.0, 0]\n"
        "    start = time.perf_counter(); run = bag.get_dag(name).test(); times.append(time.perf_counter() - start)\n"
        "    assert str(run.state) == 'success', run.state\n"
        "    if len(times) == 2:\n"
        "        second_run_checks = list(checks)\n"
        "print('BENCH ' + json.dumps({'times': times, 'checks': second_run_checks}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("BENCH ")]
    if not lines:
        print(f"  mapped failed: {(proc.stdout + proc.stderr)[-500:]}")
        return {}
    measured = json.loads(lines[-1][6:])
    (first, second, plain), (check_seconds, checks) = measured["times"], measured["checks"]
    written = len(list((home / "results").rglob("*.pkl")))
    print(
        f"  {args.width}-way mapped task, per-index targets ({written} written): run 1 {first:.1f} s, "
        f"run 2 (every target found) {second:.1f} s = {second / args.width * 1000:.1f} ms per index, of which "
        f"the target checks {check_seconds:.2f} s in all = {check_seconds / max(checks, 1) * 1000:.2f} ms per "
        f"index; the same map with plain @task {plain:.1f} s = {plain / args.width * 1000:.1f} ms per index"
    )
    return {
        "width": args.width,
        "first": first,
        "second": second,
        "plain": plain,
        "targets": written,
        "check_seconds": check_seconds,
        "checks": checks,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 100, 1024])
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--parts", nargs="+", default=["sizes", "mapped"])
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="results-scale-bench-"))
    out = {}
    start = time.perf_counter()
    if "sizes" in args.parts:
        print("cost against value size (bytes value; raw = fsynced write + read)")
        out["sizes"] = sizes(args, root)
    if "mapped" in args.parts:
        out["mapped"] = mapped(args, root)
    print(f"(bench took {time.perf_counter() - start:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

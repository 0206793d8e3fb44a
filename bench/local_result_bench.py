"""LocalResult write + read of a large value vs a raw file write + read of the same bytes, in one run.

Baselines: a plain overwrite (open "wb", write, fsync) and an atomic raw write (temp file, fsync, rename).

Each step runs in its own subprocess so its peak RSS is its own. Prints times, the LocalResult/raw ratio,
and each step's peak RSS above the RSS it had once the value was in memory (so "+0 MB" means no copy).

    .venv/bin/python bench/local_result_bench.py [--size-mb 1024] [--repeat 2] [--kind bytes|numpy]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

# Every process of a benchmark is one deployment: one signing key (Airflow makes one up per process).
os.environ.setdefault("AIRFLOW__API__SECRET_KEY", "bench-deployment-key")

STEP = r"""
import json, os, resource, sys, time

def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

step, kind, size, directory = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
path = os.path.join(directory, "raw.bin")
from airflow_results_provider.results.local_result import LocalResult
result = LocalResult(dir=directory, location="bench/value.pkl")
# Once per process (a worker has it already): the first pickle write or read loads Airflow's configuration for
# the signing key. Not part of a value's cost.
from airflow_results_provider import config
config.envelope_signing_key()

if step.endswith("write"):
    if kind == "numpy":
        import numpy as np
        value = np.frombuffer(os.urandom(size), dtype=np.uint8)
    else:
        value = os.urandom(size)
    base = rss_mb()
    # ru_maxrss cannot be reset; the value's creation must not be the peak, so compare against a fresh peak
    before_peak = peak_mb()
    start = time.perf_counter()
    if step == "raw-write":
        with open(path, "wb") as f:
            f.write(memoryview(value))
            f.flush()
            os.fsync(f.fileno())
    elif step == "atomic-raw-write":  # what any crash-safe writer must do: new file, fsync, rename
        with open(path + ".tmp", "wb") as f:
            f.write(memoryview(value))
            f.flush()
            os.fsync(f.fileno())
        os.replace(path + ".tmp", path + ".atomic")
    else:
        result.write(value)
    elapsed = time.perf_counter() - start
else:
    base = rss_mb()
    before_peak = peak_mb()
    start = time.perf_counter()
    if step in ("raw-read", "raw-read+sha256"):
        with open(path, "rb") as f:
            value = f.read()
        if step == "raw-read+sha256":  # the least a read verified before loading costs: every byte hashed
            import hashlib
            hashlib.sha256(value).hexdigest()
        if kind == "numpy":
            import numpy as np
            value = np.frombuffer(value, dtype=np.uint8)
    else:
        value = result.read("bench/value.pkl").value
    elapsed = time.perf_counter() - start
    base = base + size / 2**20  # the value itself is the one copy a read must hold
extra = max(peak_mb(), before_peak) - base
print(json.dumps({"seconds": elapsed, "extra_mb": extra}))
"""


STEPS = ("raw-write", "atomic-raw-write", "result-write", "raw-read", "raw-read+sha256", "result-read")


def run_step(step: str, kind: str, size: int, directory: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", STEP, step, kind, str(size), directory], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise SystemExit(f"{step} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--kind", choices=["bytes", "numpy"], default="bytes")
    parser.add_argument("--dir", default=None, help="where to write (default: a temp dir)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    size = args.size_mb * 2**20
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="results-bench-") as directory:
        best: dict[str, dict] = {}
        for _ in range(args.repeat):
            # interleave baseline and candidate so machine noise hits both alike
            for step in STEPS:
                measured = run_step(step, args.kind, size, directory)
                if step not in best or measured["seconds"] < best[step]["seconds"]:
                    best[step] = measured
        print(f"LocalResult vs raw file, {args.size_mb} MB {args.kind} value, best of {args.repeat}")
        print(f"{'step':<18}{'seconds':>9}{'extra peak RSS':>18}")
        for step, m in best.items():
            print(f"{step:<18}{m['seconds']:>9.2f}{m['extra_mb']:>15.0f} MB")
        for op in ("write", "read"):
            ratio = best[f"result-{op}"]["seconds"] / best[f"raw-{op}"]["seconds"]
            print(f"{op} ratio LocalResult/raw: {ratio:.2f}x")
        ratio = best["result-read"]["seconds"] / best["raw-read+sha256"]["seconds"]
        print(f"read ratio LocalResult/(raw read + sha256 of every byte): {ratio:.2f}x")
        ratio = best["result-write"]["seconds"] / best["atomic-raw-write"]["seconds"]
        print(f"write ratio LocalResult/atomic raw (temp+fsync+rename): {ratio:.2f}x")
        total = sum(best[f"result-{op}"]["seconds"] for op in ("write", "read"))
        raw_total = sum(best[f"raw-{op}"]["seconds"] for op in ("write", "read"))
        print(f"write+read ratio LocalResult/raw: {total / raw_total:.2f}x")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"mb": args.size_mb, "kind": args.kind, "repeat": args.repeat, "steps": best}, f)


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"(bench took {time.perf_counter() - start:.0f} s, pid {os.getpid()})")

"""XCom backend methods only: ``serialize_value`` + ``deserialize_value`` of one ~100 MB JSON-able value, no task
runner around them, against Airflow's default serde (BaseXCom), common-io's XComObjectStorageBackend (threshold 0,
file://) and a floor of orjson + one fsynced file write and read. Everything runs in one process, interleaved
(floor, results, then the slow baselines once), best of --repeat, so the machine's load hits all alike: compare
the printed ratios, not the seconds.

Workloads: ``ints`` = a list of 14 M ints, ``dicts`` = a list of 1.4 M small dicts (both ~100 MB of JSON).

    .venv/bin/python bench/xcom_codec_bench.py [--repeat 3] [--scale 1.0] [--baselines default common-io]
    [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import types
from pathlib import Path


def make(workload: str, scale: float) -> list:
    if workload == "ints":
        return list(range(int(14_000_000 * scale)))
    return [
        {"id": i, "name": f"name-{i}", "tags": ["alpha", "beta"], "score": i * 0.5}
        for i in range(int(1_400_000 * scale))
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--workloads", nargs="+", default=["ints", "dicts"])
    parser.add_argument("--baselines", nargs="*", default=["default", "common-io"])
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="results-codec-bench-"))
    (root / "common-io").mkdir()
    os.environ.update(
        AIRFLOW_HOME=str(root / "home"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__API__SECRET_KEY="bench",
        AIRFLOW__RESULTS__XCOM_RESULT=(root / "results").as_uri(),
        AIRFLOW__RESULTS__LOCAL_DIR=str(root / "results"),
        AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH=(root / "common-io").as_uri(),
        AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD="0",
    )
    import orjson
    from airflow.providers.common.io.xcom.backend import XComObjectStorageBackend
    from airflow.sdk.bases.xcom import BaseXCom

    from airflow_results_provider.xcom import ResultXComBackend

    ident = {"key": "return_value", "dag_id": "bench", "task_id": "produce", "run_id": "r1", "map_index": -1}

    def row(stored):
        return types.SimpleNamespace(value=stored, **ident)

    def floor(value):
        path = root / "floor.json"
        with open(path, "wb") as f:
            f.write(orjson.dumps(value))
            f.flush()
            os.fsync(f.fileno())
        with open(path, "rb") as f:
            return orjson.loads(f.read())

    def backend(cls):
        def run(value):
            stored = cls.serialize_value(value, **ident)
            if cls is BaseXCom:  # the DB column holds the JSON text
                stored = json.loads(json.dumps(stored))
            return cls.deserialize_value(row(stored))

        return run

    cases = {"floor": floor, "results": backend(ResultXComBackend)}
    slow = {"default": backend(BaseXCom), "common-io": backend(XComObjectStorageBackend)}
    out: dict[str, dict[str, float]] = {}
    for workload in args.workloads:
        value = make(workload, args.scale)
        size = len(orjson.dumps(value)) / 2**20
        best = dict.fromkeys(cases, float("inf"))
        for name, fn in cases.items():  # check, and warm up imports
            assert fn(value) == value, name
        for _ in range(args.repeat):
            for name, fn in cases.items():
                start = time.perf_counter()
                fn(value)
                best[name] = min(best[name], time.perf_counter() - start)
        for name in args.baselines:
            start = time.perf_counter()
            slow[name](value)
            best[name] = time.perf_counter() - start
        out[workload] = {"mb": size, **best}
        print(f"{workload}: {size:.0f} MB of JSON, best of {args.repeat} (baselines once)")
        for name, seconds in best.items():
            print(f"  {name:10}{seconds:8.2f} s  {seconds / best['floor']:5.2f}x floor")
        for name in args.baselines:
            print(f"  results is {best[name] / best['results']:.1f}x faster than {name}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

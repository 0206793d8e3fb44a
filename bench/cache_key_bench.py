"""Cache key computation: ``core.stable_hash.digest_value`` of a large input against sha256 of the same value's
serialized bytes, measured in the same run (interleaved, best of --repeat; serialization time excluded from the
baseline: it is hashlib.sha256 over bytes already in memory). Compare the printed ratios, not the seconds.

Workloads: ``frame`` = a ~100 MB numeric pandas DataFrame (1.31 M rows x 10 float64 columns), baseline sha256 of
its parquet bytes as the project's PandasSerializer writes them, and of its pickle bytes; ``ints`` = a list of
14 M ints, baseline sha256 of its orjson bytes (what this package's JSON codec writes); ``dicts`` = 1.4 M small
dicts (~100 MB of JSON, the generic path: every value goes through Python), baseline sha256 of its orjson bytes.
Each line also shows serialize + sha256, what writing the value costs anyway.

    .venv/bin/python bench/cache_key_bench.py [--repeat 3] [--scale 1.0] [--workloads frame ints dicts]
    [--json out.json] [--markdown]     # --quick: scale 0.1, repeat 1 (CI smoke)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import time
from collections.abc import Callable
from pathlib import Path


def make(workload: str, scale: float) -> object:
    if workload == "frame":
        import numpy as np
        import pandas as pd

        rows = int(1_310_720 * scale)  # x 10 columns x 8 bytes = 100 MiB
        data = np.random.default_rng(23).random((rows, 10))
        return pd.DataFrame({f"c{i}": data[:, i].copy() for i in range(10)})
    if workload == "ints":
        return list(range(int(14_000_000 * scale)))
    return [
        {"id": i, "name": f"name-{i}", "tags": ["alpha", "beta"], "score": i * 0.5}
        for i in range(int(1_400_000 * scale))
    ]


def serializers(workload: str) -> dict[str, Callable[[object], bytes]]:
    """The serialized forms whose sha256 is the baseline."""
    import orjson

    if workload == "frame":
        from airflow_results_provider.serializers import PandasSerializer

        parquet = PandasSerializer(file_type="parquet")
        return {"parquet": parquet.serialize, "pickle": lambda v: pickle.dumps(v, protocol=5)}
    return {"json": orjson.dumps}


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def run(workload: str, scale: float, repeat: int) -> dict:
    from airflow_results_provider.core.stable_hash import digest_value

    value = make(workload, scale)
    forms = serializers(workload)
    payloads = {name: serialize(value) for name, serialize in forms.items()}
    digest = digest_value(value, argument=workload)
    assert digest == digest_value(value, argument=workload)  # and warm up
    key_s = float("inf")
    sha = dict.fromkeys(payloads, float("inf"))
    for _ in range(repeat):  # interleaved: the machine's load hits the candidate and the baselines alike
        key_s = min(key_s, best_of(1, lambda: digest_value(value, argument=workload)))
        for name, payload in payloads.items():
            sha[name] = min(sha[name], best_of(1, lambda p=payload: hashlib.sha256(p).hexdigest()))
    serialize = {name: best_of(1, lambda s=fn: s(value)) for name, fn in forms.items()}
    return {
        "key_s": key_s,
        "forms": {
            name: {"mb": len(payload) / 2**20, "sha256_s": sha[name], "serialize_s": serialize[name]}
            for name, payload in payloads.items()
        },
    }


def report(out: dict, repeat: int) -> list[str]:
    lines = []
    for workload, m in out.items():
        lines.append(f"{workload}: digest_value {m['key_s']:.3f} s (best of {repeat})")
        for name, f in m["forms"].items():
            lines.append(
                f"  vs sha256 of its {name} bytes ({f['mb']:.0f} MB) {f['sha256_s']:.3f} s: "
                f"{m['key_s'] / f['sha256_s']:.2f}x; vs serialize + sha256 {f['serialize_s'] + f['sha256_s']:.3f} s:"
                f" {m['key_s'] / (f['serialize_s'] + f['sha256_s']):.2f}x"
            )
    return lines


def environment() -> str:
    """The machine (bench/report.py's description) and the versions that matter here."""
    import platform
    from importlib import metadata

    from report import machine

    names = ("numpy", "pandas", "pyarrow", "orjson")
    return f"{machine()}; Python {platform.python_version()}, " + ", ".join(
        f"{name} {metadata.version(name)}" for name in names
    )


def markdown(out: dict, repeat: int, command: str) -> str:
    rows = [
        "## Cache key computation (bench/cache_key_bench.py)",
        "",
        f"`{command}` on {environment()}.",
        "",
        f"Best of {repeat}, same run. The key is `core.stable_hash.digest_value` of the value (what "
        "`cache_policy=INPUTS` computes per input); the baseline is `hashlib.sha256` over the value's serialized "
        "bytes already in memory (serialization excluded), and, for scale, serialize + sha256 (what writing the "
        "value costs anyway).",
        "",
        "A numeric DataFrame's key streams each column's buffer into one sha256, so it costs about what hashing "
        "its file costs. A list of plain ints is checked in one pass and hashed as its JSON text; any other list "
        "or dict is visited element by element in Python (the generic path), which is where the key costs more "
        "than writing the value. The key is computed once per task try, before the work.",
        "",
        "| input | key | serialized form | sha256 of it | key / sha256 | serialize + sha256 | key / that |",
        "|---|---|---|---|---|---|---|",
    ]
    for workload, m in out.items():
        for name, f in m["forms"].items():
            both = f["serialize_s"] + f["sha256_s"]
            rows.append(
                f"| {workload} | {m['key_s']:.3f} s | {name}, {f['mb']:.0f} MB | {f['sha256_s']:.3f} s | "
                f"{m['key_s'] / f['sha256_s']:.2f}x | {both:.3f} s | {m['key_s'] / both:.2f}x |"
            )
    return "\n".join(rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--workloads", nargs="+", default=["frame", "ints", "dicts"])
    parser.add_argument("--quick", action="store_true", help="scale 0.1, repeat 1: a smoke run")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--markdown", action="store_true", help="print the docs/benchmarks.md section only")
    args = parser.parse_args()
    if args.quick:
        args.scale, args.repeat = 0.1, 1
    out = {workload: run(workload, args.scale, args.repeat) for workload in args.workloads}
    if args.markdown:
        command = "python bench/cache_key_bench.py" + (
            f" --repeat {args.repeat} --scale {args.scale}" if (args.repeat, args.scale) != (3, 1.0) else ""
        )
        print(markdown(out, args.repeat, command))
    else:
        print("\n".join(report(out, args.repeat)))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

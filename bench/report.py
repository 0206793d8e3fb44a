"""Turns the JSON/text outputs of one ``scripts/bench.sh`` run into docs/benchmarks.md and PNG plots.

.venv/bin/python bench/report.py <run dir> docs/benchmarks.md docs/img/benchmarks
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path


def load(run: Path, name: str) -> dict:
    path = run / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def machine() -> str:
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) / 2**20
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        load1 = os.getloadavg()[0]
    except OSError:
        load1 = float("nan")
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GB RAM, load average {load1:.1f} at the end of the run"


def versions() -> str:
    names = ("apache-airflow", "airflow-results-provider", "orjson", "boto3", "google-cloud-storage")
    found = []
    for name in (*names, "azure-storage-blob"):
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    return f"Python {platform.python_version()}, " + ", ".join(found)


def codec_section(codec: dict) -> list[str]:
    if not codec:
        return ["(not run)"]
    lines = [
        "| workload | JSON size | orjson floor | this backend | Airflow default serde | common-io (file://) |",
        "|---|---|---|---|---|---|",
    ]
    for workload, m in codec.items():
        floor = m["floor"]

        def cell(name: str, m: dict = m, floor: float = floor) -> str:
            return f"{m[name]:.2f} s ({m[name] / floor:.2f}x floor)" if name in m else "-"

        lines.append(
            f"| {workload} | {m['mb']:.0f} MB | {floor:.2f} s | {cell('results')} | {cell('default')} | "
            f"{cell('common-io')} |"
        )
    return lines


def local_section(local: dict) -> list[str]:
    if not local:
        return ["(not run)"]
    s = local["steps"]
    lines = ["| step | seconds | extra peak RSS |", "|---|---|---|"]
    lines += [f"| {k} | {v['seconds']:.2f} | {v['extra_mb']:.0f} MB |" for k, v in s.items()]
    lines += [
        "",
        f"Read with verification (sha256 before unpickling) takes **{s['result-read']['seconds'] / s['raw-read']['seconds']:.2f}x**"
        f" the time of the raw read, **{s['result-read']['seconds'] / s['raw-read+sha256']['seconds']:.2f}x** a raw read that"
        " also hashes every byte (the least a read verified before loading can cost); the write takes"
        f" **{s['result-write']['seconds'] / s['atomic-raw-write']['seconds']:.2f}x** the time of the"
        " atomic raw write (temp file, fsync, rename).",
    ]
    return lines


def cloud_section(cloud: dict) -> list[str]:
    if not cloud:
        return ["(not run)"]
    lines = ["| case | seconds (write+read) |", "|---|---|"]
    lines += [f"| {k} | {v:.2f} |" for k, v in cloud["seconds"].items()]
    lines += ["", "Throughput against the raw client (1.0 = as fast): "]
    lines[-1] += ", ".join(f"{k} **{v:.2f}x**" for k, v in cloud["ratios"].items())
    return lines


def taskflow_section(taskflow: dict) -> list[str]:
    if not taskflow:
        return ["(not run)"]
    lines = ["| DAG | seconds | x passing nothing |", "|---|---|---|"]
    names = {"nothing": "same DAG passing nothing", "task": "`@task`", "task_result": "`@task.result`"}
    for key, label in names.items():
        if key in taskflow:
            lines.append(f"| {label} | {taskflow[key]:.2f} | {taskflow[key] / taskflow['nothing']:.1f}x |")
    if "task" in taskflow and "task_result" in taskflow:
        lines += [
            "",
            f"`@task.result` is **{taskflow['task'] / taskflow['task_result']:.1f}x** faster than `@task` with the"
            " same XCom backend: it hands Airflow's rendered-field serializers and return-value log an abridged"
            " view of large values, and skips the per-item Asset check on lists of plain values.",
        ]
    return lines


def scale_section(scale: dict, img: str) -> list[str]:
    sizes = scale.get("sizes") or {}
    lines = []
    if sizes:
        lines += [
            "| store | size | seconds | ms per MB | extra peak RSS / value (beyond the value and the copy read back) |",
            "|---|---|---|---|---|",
        ]
        for store, by_size in sizes.items():
            for mb, m in sorted(by_size.items(), key=lambda kv: int(kv[0])):
                lines.append(
                    f"| {store} | {mb} MB | {m['seconds']:.3f} | {m['seconds'] / int(mb) * 1000:.2f} | "
                    f"{m['peak_growth_mb'] / int(mb):.2f}x |"
                )
        lines += ["", f"![time and peak RSS against value size]({img}/scale.png)"]
    mapped = scale.get("mapped") or {}
    if mapped:
        lines += [
            "",
            f"{mapped['width']}-way mapped task with per-index targets ({mapped['targets']} targets written): "
            f"first run {mapped['first']:.1f} s, second run (every target found, no work) "
            f"{mapped['second']:.1f} s = **{mapped['second'] / mapped['width'] * 1000:.1f} ms per index**.",
        ]
        if "checks" in mapped:
            lines[-1] += (
                f" The target checks themselves (`exists` + read of each target) took {mapped['check_seconds']:.2f}"
                f" s in all = **{mapped['check_seconds'] / max(mapped['checks'], 1) * 1000:.2f} ms per index**;"
                f" the rest is Airflow running a task instance. The same map with a plain `@task` (no Results):"
                f" {mapped['plain']:.1f} s = {mapped['plain'] / mapped['width'] * 1000:.1f} ms per index."
            )
    return lines or ["(not run)"]


def plots(scale: dict, codec: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    sizes = scale.get("sizes") or {}
    if sizes:
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
        for store, by_size in sizes.items():
            pts = sorted((int(mb), m) for mb, m in by_size.items())
            xs = [mb for mb, _ in pts]
            ax1.plot(xs, [m["seconds"] for _, m in pts], marker="o", label=store)
            ax2.plot(xs, [m["peak_growth_mb"] / mb for mb, m in pts], marker="o", label=store)
        ax1.set(xscale="log", yscale="log", xlabel="value size (MB)", ylabel="write + read (s)")
        ax2.set(xscale="log", xlabel="value size (MB)", ylabel="extra peak RSS / value size")
        for ax in (ax1, ax2):
            ax.grid(True, which="both", alpha=0.3)
            ax.legend()
        fig.tight_layout()
        fig.savefig(out / "scale.png", dpi=90)
        plt.close(fig)
    if codec:
        names = [
            n for n in ("floor", "results", "common-io", "default") if any(n in m for m in codec.values())
        ]
        fig, ax = plt.subplots(figsize=(7, 3.5))
        width = 0.8 / len(codec)
        for i, (workload, m) in enumerate(codec.items()):
            ax.bar(
                [j + i * width for j in range(len(names))],
                [m.get(n, 0) / m["floor"] for n in names],
                width,
                label=workload,
            )
        ax.set_xticks([j + width * (len(codec) - 1) / 2 for j in range(len(names))], names)
        ax.set(ylabel="x orjson floor (lower is better)")
        ax.legend()
        ax.grid(True, axis="y", alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / "xcom_codec.png", dpi=90)
        plt.close(fig)


def main() -> None:
    run, md, img_dir = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    codec, local, cloud, scale, taskflow = (
        load(run, n) for n in ("codec", "local", "cloud", "scale", "taskflow")
    )
    img = os.path.relpath(img_dir, md.parent)
    plots(scale, codec, img_dir)
    mixin = (run / "mixin.txt").read_text().strip() if (run / "mixin.txt").exists() else "(not run)"
    text = [
        "# Benchmarks",
        "",
        f"Made by `{'BENCH_QUICK=1 ' if os.environ.get('BENCH_QUICK') else ''}bash scripts/bench.sh` on "
        f"{dt.date.today().isoformat()}: {machine()}; {versions()}.",
        "",
        "Every table compares candidate and baselines measured **in the same run**, interleaved, best of N: the"
        " machine was shared with other jobs, so read the ratios, not the seconds.",
        "",
        "## XCom backend methods (serialize_value + deserialize_value, ~100 MB JSON-able value)",
        "",
        "Floor: `orjson.dumps`, one fsynced file write, one read, `orjson.loads`.",
        "",
        *codec_section(codec),
        "",
        f"![XCom codec cost against the floor]({img}/xcom_codec.png)" if codec else "",
        "",
        "## End to end through TaskFlow (`consume(produce())`, dag.test(), this XCom backend)",
        "",
        f"A list of {taskflow.get('items', 0):,} ints ({taskflow.get('mb', 0):.0f} MB of JSON) passed as the"
        " argument (bench/taskflow_bench.py)."
        if taskflow
        else "",
        "",
        *taskflow_section(taskflow),
        "",
        "## LocalResult against raw file I/O (bytes value, pickled, verified before load)",
        "",
        *local_section(local),
        "",
        "## Object stores against their raw clients (local emulators, 100 MB)",
        "",
        *cloud_section(cloud),
        "",
        "## Scale",
        "",
        *scale_section(scale, img),
        "",
        "## ResultMixin overhead (bench/mixin_overhead_bench.py)",
        "",
        "```",
        mixin,
        "```",
        "",
    ]
    md.write_text("\n".join(text))
    print(f"wrote {md} and plots in {img_dir}")


if __name__ == "__main__":
    main()

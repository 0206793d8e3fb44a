"""Mapped tasks with per-index targets: each map index has its own location ({map_index}), so a re-run
finds every index's value and skips all of them. A target without {map_index} would be an error."""

from __future__ import annotations

import os

from airflow.sdk import dag, task

from airflow_results_provider import LocalResult


def note_work(what: str) -> None:
    """Demo instrumentation: record that real work ran (``scripts/demo.sh`` counts these lines)."""
    if path := os.environ.get("RESULTS_DEMO_WORK_LOG"):
        with open(path, "a") as f:
            f.write(f"{what}\n")


@dag(schedule=None, tags=["results", "example"])
def mapped_targets():
    @task.result(result=LocalResult(), target="{flow_name}/{today}/square/{map_index}.pkl")
    def square(x: int) -> int:
        note_work(f"mapped_targets.square[{x}]")
        return x * x

    @task.result(target="{flow_name}/{today}/total.pkl")
    def total(values: list[int]) -> int:
        note_work("mapped_targets.total")
        return sum(values)

    total(square.expand(x=list(range(10))))


mapped_targets()

"""Looping with checkpoints: the task raises ``Loop`` to run again with ``task_loop_count + 1`` and the
previous iteration's result; every iteration is checkpointed, so a retry resumes where the last try died."""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.sdk import dag, task

from airflow_results_provider import Loop


def note_work(what: str) -> None:
    """Demo instrumentation: record that real work ran (``scripts/demo.sh`` counts these lines)."""
    if path := os.environ.get("RESULTS_DEMO_WORK_LOG"):
        with open(path, "a") as f:
            f.write(f"{what}\n")


@dag(schedule=None, tags=["results", "example"])
def loop_resume():
    @task.result(target="{flow_name}/{today}/fibonacci.pkl", retries=1, retry_delay=timedelta(seconds=0))
    def fibonacci(n: int = 10, task_loop_count: int = 1, task_loop_result: tuple | None = None) -> int:
        note_work(f"loop_resume.fibonacci iteration {task_loop_count}")
        a, b = task_loop_result or (0, 1)
        if task_loop_count >= n:
            return a
        raise Loop(result=(b, a + b), message=f"iteration {task_loop_count}: {a}")

    fibonacci()


loop_resume()

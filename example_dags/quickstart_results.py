"""Quick start: Results used directly from TaskFlow tasks.

Each task looks for its value at a target location first; when it is there, the task reads it and skips
the work, otherwise it computes the value and writes it atomically (with a sha256 sidecar). Run the DAG
twice and the second run does no work. ``example_dags/checkpointed_etl.py`` shows the same with the
``ResultMixin`` / ``@task.result`` API, which does this for you.
"""

from __future__ import annotations

import logging
import os

from airflow.sdk import dag, get_current_context, task

from airflow_results_provider import JSONSerializer, LocalResult

log = logging.getLogger(__name__)

RESULT = LocalResult(location="quickstart/{task_name}.json", serializer=JSONSerializer())


def checkpointed(compute):
    """Run ``compute()`` unless its Result already exists at the task's target."""
    context = get_current_context()
    target = RESULT.format(**context)
    if target.exists():
        log.info("Result found at task target %s", target.uri(target.location))
        return target.read(target.location).value
    value = compute()
    if path := os.environ.get("RESULTS_DEMO_WORK_LOG"):  # demo instrumentation: count real work
        with open(path, "a") as f:
            f.write(f"quickstart_results.{context['ti'].task_id}\n")
    RESULT.write(value, **context)
    return value


@dag(schedule=None, catchup=False, tags=["results", "example"])
def quickstart_results():
    @task
    def extract() -> list[int]:
        return checkpointed(lambda: list(range(1, 11)))

    @task
    def transform(rows: list[int]) -> list[int]:
        return checkpointed(lambda: [row * row for row in rows])

    @task
    def load(rows: list[int]) -> int:
        return checkpointed(lambda: sum(rows))

    load(transform(extract()))


quickstart_results()

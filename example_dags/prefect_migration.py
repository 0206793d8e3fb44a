"""A Prefect 1.x flow ported to Airflow, line for line (see docs/migrating-from-prefect.md).

The Prefect 1.x original::

    from prefect import Flow, Parameter, task
    from prefect.engine.results import LocalResult
    from prefect.engine.signals import LOOP

    RESULT = LocalResult(dir="~/.prefect/results")
    TARGET = "{flow_name}/{date:%Y-%m-%d}/{parameters[city]}/{task_full_name}.pkl"

    @task(result=RESULT, target=TARGET, checkpoint=True)
    def fetch_day(city, day):
        return {"city": city, "day": day, "temps": [day + i for i in range(24)]}

    @task(result=RESULT, target=TARGET)
    def daily_mean(reading):
        return sum(reading["temps"]) / len(reading["temps"])

    @task(result=RESULT, target=TARGET, max_retries=1)
    def paginate_report(means):
        page = prefect.context.get("task_loop_count", 1)
        lines = (prefect.context.get("task_loop_result") or []) + [f"page {page}: {means[page - 1]:.1f}"]
        if page < len(means):
            raise LOOP(result=lines)
        return lines

    with Flow("prefect_migration") as flow:
        city = Parameter("city", default="Oslo")
        readings = fetch_day.map(city=unmapped(city), day=[1, 2, 3])
        paginate_report(daily_mean.map(readings))
"""

from __future__ import annotations

import os

from airflow.sdk import dag, task

from airflow_results_provider import LocalResult, Loop

# Prefect's {task_full_name} is name[i] for mapped tasks: safe in a path, and distinct per map index.
RESULT = LocalResult()  # [results] local_dir; LocalResult(dir="~/.prefect/results") keeps the old folder
TARGET = "{flow_name}/{date:%Y-%m-%d}/{parameters[city]}/{task_full_name}.pkl"


def note_work(what: str) -> None:
    """Demo instrumentation: record that real work ran (``scripts/demo.sh`` counts these lines)."""
    if path := os.environ.get("RESULTS_DEMO_WORK_LOG"):
        with open(path, "a") as f:
            f.write(f"{what}\n")


@dag(
    dag_id="prefect_migration", schedule=None, params={"city": "Oslo"}, tags=["results", "example", "prefect"]
)
def weather():
    @task.result(result=RESULT, target=TARGET, checkpoint=True)
    def fetch_day(city: str, day: int) -> dict:
        note_work(f"prefect_migration.fetch_day[{day}]")
        return {"city": city, "day": day, "temps": [day + i for i in range(24)]}

    @task.result(result=RESULT, target=TARGET)
    def daily_mean(reading: dict) -> float:
        note_work(f"prefect_migration.daily_mean[{reading['day']}]")
        return sum(reading["temps"]) / len(reading["temps"])

    @task.result(result=RESULT, target=TARGET, retries=1)
    def paginate_report(means: list[float], task_loop_count: int = 1, task_loop_result: list | None = None):
        note_work(f"prefect_migration.paginate_report page {task_loop_count}")
        means = list(means)
        lines = (task_loop_result or []) + [f"page {task_loop_count}: {means[task_loop_count - 1]:.1f}"]
        if task_loop_count < len(means):
            raise Loop(result=lines)
        return lines

    readings = fetch_day.partial(city="{{ params.city }}").expand(day=[1, 2, 3])
    paginate_report(daily_mean.expand(reading=readings))


weather()

"""Results as assets: a producer whose checkpoint is an Airflow asset, and a consumer DAG scheduled on it.

``asset=True`` puts the asset ``airflow-results://results_as_assets/daily_totals`` in the task's outlets; each
run that writes the checkpoint emits an event describing the stored value (location, sha256, size, serializer,
type; never the value). The consumer runs after each such event and gets the value, read from the store and
verified (producer signature, record, sha256), as an ordinary TaskFlow argument. A run that finds the value at
its target writes nothing and emits no event.
"""

from __future__ import annotations

import os

from airflow.sdk import dag, task

from airflow_results_provider import result_asset, triggering_result


def note_work(what: str) -> None:
    """Demo instrumentation: record that real work ran (``scripts/demo.sh`` counts these lines)."""
    if path := os.environ.get("RESULTS_DEMO_WORK_LOG"):
        with open(path, "a") as f:
            f.write(f"{what}\n")


@dag(schedule=None, tags=["results", "example", "assets"])
def results_as_assets():
    @task.result(asset=True, target="{flow_name}/{today}/daily_totals.pkl")
    def daily_totals() -> dict:
        note_work("results_as_assets.daily_totals")
        return {"orders": 42, "revenue": 1234.5, "currency": "EUR"}

    daily_totals()


results_as_assets()

DAILY_TOTALS = result_asset("results_as_assets", "daily_totals")


@dag(schedule=[DAILY_TOTALS], tags=["results", "example", "assets"])
def results_as_assets_consumer():
    @task
    def report(totals: dict) -> dict:
        print(f"{totals['orders']} orders, {totals['revenue']} {totals['currency']}")
        return totals

    report(triggering_result(DAILY_TOTALS))


results_as_assets_consumer()

"""Time-based caching: the value is reused for 10 minutes by later runs, as long as the DAG params are the
same (``all_parameters``); trigger with another ``region`` and it is computed again."""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.sdk import dag, task

from airflow_results_provider.cache_validators import all_parameters


def note_work(what: str) -> None:
    """Demo instrumentation: record that real work ran (``scripts/demo.sh`` counts these lines)."""
    if path := os.environ.get("RESULTS_DEMO_WORK_LOG"):
        with open(path, "a") as f:
            f.write(f"{what}\n")


@dag(schedule=None, params={"region": "eu-north"}, tags=["results", "example"])
def cached_task():
    @task.result(cache_for=timedelta(minutes=10), cache_validator=all_parameters)
    def exchange_rates(params=None) -> dict:
        note_work("cached_task.exchange_rates")
        return {"region": params["region"], "EURUSD": 1.08, "EURNOK": 11.6}

    exchange_rates()


cached_task()

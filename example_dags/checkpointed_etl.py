"""Checkpointed ETL: every task's value is checkpointed at a dated target, so a re-run the same day (or a
restart after a failure) skips the work that is already done and hands the stored values downstream.

Shows ``ResultMixin`` on classic operators (PythonOperator, BashOperator) and ``@task.result``.
"""

from __future__ import annotations

import os

from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, task

from airflow_results_provider import JSONSerializer, LocalResult, ResultMixin


class ResultPythonOperator(ResultMixin, PythonOperator):
    pass


class ResultBashOperator(ResultMixin, BashOperator):
    pass


def note_work(what: str) -> None:
    """Demo instrumentation: record that real work ran (``scripts/demo.sh`` counts these lines)."""
    if path := os.environ.get("RESULTS_DEMO_WORK_LOG"):
        with open(path, "a") as f:
            f.write(f"{what}\n")


def transform_rows(rows: list[dict]) -> dict:
    note_work("checkpointed_etl.transform")
    return {row["city"]: round(row["temp_f"] - 32) * 5 // 9 for row in rows}


with DAG(
    "checkpointed_etl",
    schedule=None,
    tags=["results", "example"],
    default_args={
        # every task of this DAG: JSON payloads, at <dag>/<day>/<task>.json under [results] local_dir
        "result": LocalResult(serializer=JSONSerializer()),
        "target": "{flow_name}/{today}/{task_name}.json",
    },
):

    @task.result()
    def extract() -> list[dict]:
        note_work("checkpointed_etl.extract")
        return [
            {"city": "Oslo", "temp_f": 41},
            {"city": "Lima", "temp_f": 68},
            {"city": "Pune", "temp_f": 90},
        ]

    transform = ResultPythonOperator(task_id="transform", python_callable=transform_rows, op_args=[extract()])

    report = ResultBashOperator(
        task_id="report",
        bash_command=(
            'if [ -n "$RESULTS_DEMO_WORK_LOG" ]; then echo checkpointed_etl.report >> "$RESULTS_DEMO_WORK_LOG"; fi; '
            "echo '{{ ti.xcom_pull(task_ids=\"transform\") | tojson }}' | tr -d '\\n' | wc -c"
        ),
    )
    transform >> report

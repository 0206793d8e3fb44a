"""``partition_key``: the run's partition as a location template variable (Airflow >= 3.2 partitioned runs)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from airflow_results_provider import LocalResult
from airflow_results_provider.templating import build_location_context, render_location

IDENTITY = {"dag_id": "sales", "task_id": "load", "run_id": "r1"}


@pytest.mark.parametrize(
    "template",
    ["{dag_id}/{partition_key}/{task_id}.pkl", "{{ dag_id }}/{{ partition_key }}/{{ task_id }}.pkl"],
)
def test_the_context_key_of_a_partitioned_run_renders_in_both_syntaxes(template):
    # Airflow >= 3.3 puts the run's partition_key in the task context.
    variables = build_location_context({**IDENTITY, "partition_key": "2026-12-01"})
    assert render_location(template, variables) == "sales/2026-12-01/load.pkl"


def test_the_dag_runs_attribute_when_the_context_has_no_key():
    # Airflow 3.2's context has no partition_key; its DAG run has the attribute.
    dag_run = SimpleNamespace(run_id="r1", partition_key="eu-west", logical_date=None, run_after=None)
    variables = build_location_context({"dag_id": "sales", "task_id": "load", "dag_run": dag_run})
    assert variables["partition_key"] == "eu-west"


def test_a_run_without_a_partition_has_partition_key_none():
    # Always defined (a template naming it never fails with "missing variable"); None when the run has no
    # partition, as Airflow's own context value is, so a template chooses its fallback.
    for context in (IDENTITY, {**IDENTITY, "partition_key": None}):
        variables = build_location_context(context)
        assert "partition_key" in variables and variables["partition_key"] is None
    variables = build_location_context(IDENTITY)
    assert render_location("{{ partition_key or 'all' }}/{{ task_id }}.pkl", variables) == "all/load.pkl"
    assert render_location("{partition_key}/{task_id}.pkl", variables) == "None/load.pkl"


def test_a_result_location_per_partition(tmp_path):
    result = LocalResult(dir=str(tmp_path), location="{{ dag_id }}/{{ partition_key }}.json")
    written = result.write({"rows": 3}, **IDENTITY, partition_key="2026-12-01")
    assert written.location == "sales/2026-12-01.json"
    assert result.read(written.location).value == {"rows": 3}

"""_identity: map-index normalisation, task-instance keys, labels and the map-index collision rule."""

from __future__ import annotations

import pytest

from airflow_results_provider.core.identity import (
    check_no_collision,
    map_index_or_none,
    task_instance_key,
    task_label,
)
from airflow_results_provider.exceptions import LocationCollisionError, ResultError


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (0, 0),
        (1, 1),
        (41, 41),
        (-1, None),
        (-5, None),
        (None, None),
        (True, None),
        (False, None),
        ("3", None),
        (2.0, None),
    ],
)
def test_map_index_or_none(given, expected):
    assert map_index_or_none(given) == expected
    if expected is not None:
        assert type(map_index_or_none(given)) is int


def test_task_instance_key_uses_airflows_minus_one_for_unmapped():
    assert task_instance_key("etl", "extract", "run1", None) == ("etl", "extract", "run1", -1)
    assert task_instance_key("etl", "extract", "run1", -1) == ("etl", "extract", "run1", -1)
    assert task_instance_key("etl", "extract", "run1", 0) == ("etl", "extract", "run1", 0)
    assert task_instance_key("etl", "extract", "run1", 3) == ("etl", "extract", "run1", 3)
    assert task_instance_key("etl", "extract", "run1", None) == task_instance_key(
        "etl", "extract", "run1", -1
    )


def test_task_label():
    assert task_label(
        {"dag_id": "etl", "task_full_name": "grp.extract", "task_name": "x", "task_id": "y"}
    ) == ("etl.grp.extract")
    assert task_label({"dag_id": "etl", "task_name": "extract", "task_id": "y"}) == "etl.extract"
    assert task_label({"dag_id": "etl", "task_id": "extract"}) == "etl.extract"
    assert task_label({"task_id": "extract"}) == "extract"
    assert task_label({"task_name": 7}) == "7"
    assert task_label({"dag_id": "etl"}) == "<no task>"
    assert task_label({}) == "<no task>"


VARIABLES = {"dag_id": "etl", "run_id": "run1", "task_id": "extract", "map_index": 1}
URI = "file:///results/etl/extract.pkl"


@pytest.mark.parametrize("metadata", [None, {}], ids=["none", "empty"])
def test_no_previous_metadata_is_no_collision(metadata):
    check_no_collision(metadata, VARIABLES, URI)


def test_another_map_index_of_the_same_task_and_run_collides():
    previous = {**VARIABLES, "map_index": 0}
    with pytest.raises(LocationCollisionError) as info:
        check_no_collision(previous, VARIABLES, URI)
    message = str(info.value)
    assert URI in message
    assert "map index 0" in message and "map index 1" in message
    assert "etl.extract" in message and "run1" in message
    assert "{map_index}" in message
    assert isinstance(info.value, ResultError) and isinstance(info.value, FileExistsError)


def test_unmapped_previous_against_a_mapped_writer_collides():
    with pytest.raises(LocationCollisionError, match="map index None"):
        check_no_collision({**VARIABLES, "map_index": -1}, VARIABLES, URI)
    with pytest.raises(LocationCollisionError):
        check_no_collision({**VARIABLES, "map_index": 2}, {**VARIABLES, "map_index": None}, URI)


@pytest.mark.parametrize(
    "previous",
    [
        {**VARIABLES},  # the same task instance rewriting (retry, rerun)
        {**VARIABLES, "map_index": 0, "run_id": "run0"},  # another run
        {**VARIABLES, "map_index": 0, "dag_id": "other"},  # another DAG
        {**VARIABLES, "map_index": 0, "task_id": "load"},  # another task
        {"map_index": 0},  # a payload written outside any task
    ],
    ids=["same-index", "other-run", "other-dag", "other-task", "no-context"],
)
def test_only_another_index_of_the_same_dag_run_task_collides(previous):
    check_no_collision(previous, VARIABLES, URI)


def test_unmapped_spellings_do_not_collide():
    # Airflow writes -1, the context says None: both mean "not mapped".
    check_no_collision({**VARIABLES, "map_index": -1}, {**VARIABLES, "map_index": None}, URI)
    check_no_collision({**VARIABLES, "map_index": None}, {**VARIABLES, "map_index": -1}, URI)
    previous = {k: v for k, v in VARIABLES.items() if k != "map_index"}
    check_no_collision(previous, {**VARIABLES, "map_index": -1}, URI)

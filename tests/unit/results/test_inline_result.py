from __future__ import annotations

import pytest

from airflow_results_provider import PrefectResult
from airflow_results_provider.exceptions import ResultError, ResultTooLargeError, SerializationError
from airflow_results_provider.results import InlineResult


def test_prefect_result_is_the_inline_result():
    assert PrefectResult is InlineResult


def test_location_is_the_json_text():
    written = InlineResult().write({"rows": [1, 2]}, task_name="t")
    assert written.location == '{"rows": [1, 2]}'
    assert InlineResult().read(written.location).value == {"rows": [1, 2]}
    assert written.metadata["size"] == len(written.location)
    assert written.metadata["location"] == written.location


def test_exists_means_readable_json_and_touches_nothing():
    assert InlineResult().exists("[1, 2]")
    assert not InlineResult().exists("not json")
    assert not InlineResult().exists(None)


def test_values_over_the_cap_raise_a_clear_error(monkeypatch):
    with pytest.raises(ResultTooLargeError, match="inline_max_bytes.*LocalResult") as info:
        InlineResult(max_bytes=10).write("x" * 100, task_id="big_task")
    assert "big_task" in str(info.value)
    assert isinstance(info.value, ResultError)
    from airflow_results_provider import config

    monkeypatch.setenv("AIRFLOW__RESULTS__INLINE_MAX_BYTES", "5")
    config.clear_cache()
    with pytest.raises(ResultTooLargeError, match="5 byte limit"):
        InlineResult().write("toolong")


def test_non_json_values_raise_serialization_error():
    with pytest.raises(SerializationError, match="JSONSerializer"):
        InlineResult().write({1, 2})


def test_templates_are_not_rendered_in_inline_locations():
    written = InlineResult().write({"a": "{task_name}"}, task_name="t")
    assert written.format(task_name="x").location == written.location

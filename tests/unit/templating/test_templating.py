"""Location templates: both syntaxes, the variable set, precedence, filters, defaults and errors."""

from __future__ import annotations

import datetime as dt
import re
from types import SimpleNamespace

import pytest

from airflow_results_provider.exceptions import LocationTemplateError, ResultError
from airflow_results_provider.templating import (
    build_location_context,
    default_location,
    path_safe,
    render_location,
    task_run_id,
)

RUN_ID = "manual__2024-01-02T03:04:05+00:00"


def fake_airflow_context(map_index: int = -1, try_number: int = 1, params: dict | None = None) -> dict:
    """The shape of an Airflow task context (attribute objects, like the real one)."""
    dag = SimpleNamespace(dag_id="etl", tags=["nightly", "finance"])
    task = SimpleNamespace(task_id="extract", dag=dag, tags=None)
    ti = SimpleNamespace(
        dag_id="etl", task_id="extract", run_id=RUN_ID, map_index=map_index, try_number=try_number, task=task
    )
    dag_run = SimpleNamespace(
        run_id=RUN_ID, logical_date=None, run_after=dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    )
    return {
        "ti": ti,
        "task_instance": ti,
        "task": task,
        "dag": dag,
        "dag_run": dag_run,
        "params": params or {},
        "ds": "2024-01-02",
    }


def test_prefect_aliases_from_an_airflow_context():
    ctx = build_location_context(fake_airflow_context(params={"region": "eu"}))
    assert ctx["flow_name"] == ctx["dag_id"] == "etl"
    assert ctx["task_name"] == ctx["task_id"] == ctx["task_full_name"] == "extract"
    assert ctx["flow_run_id"] == ctx["flow_run_name"] == ctx["run_id"] == RUN_ID
    assert ctx["map_index"] is None
    assert ctx["task_run_count"] == ctx["try_number"] == 1
    assert ctx["task_tags"] == ["finance", "nightly"]
    assert ctx["task_loop_count"] == 1 and ctx["task_loop_result"] is None
    assert (
        ctx["date"] == ctx["scheduled_start_time"] == dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    )
    today = dt.datetime.now(dt.timezone.utc).date()
    assert ctx["today"] == today.isoformat()
    assert ctx["yesterday_nodash"] == (today - dt.timedelta(days=1)).strftime("%Y%m%d")
    assert ctx["tomorrow"] == (today + dt.timedelta(days=1)).isoformat()
    assert ctx["parameters"] == {"region": "eu"} and ctx["region"] == "eu"
    assert re.fullmatch(r"[0-9a-f-]{36}", ctx["task_run_id"])


def test_mapped_task_full_name_and_map_index():
    ctx = build_location_context(fake_airflow_context(map_index=7))
    assert ctx["map_index"] == 7
    assert ctx["task_full_name"] == "extract[7]"


def test_task_run_id_is_stable_across_tries_and_distinct_per_instance():
    first = build_location_context(fake_airflow_context(try_number=1))["task_run_id"]
    retry = build_location_context(fake_airflow_context(try_number=3))["task_run_id"]
    mapped = build_location_context(fake_airflow_context(map_index=0))["task_run_id"]
    assert first == retry != mapped
    assert task_run_id("d", "r", "t", None) != task_run_id("d", "r2", "t", None)


def test_precedence_params_then_context_then_inputs():
    ctx = build_location_context(
        {"params": {"x": "param", "y": "param", "z": "param"}, "y": "context", "z": "context"},
        inputs={"z": "input"},
    )
    assert (ctx["x"], ctx["y"], ctx["z"]) == ("param", "context", "input")


def test_plain_keyword_context_gets_aliases():
    ctx = build_location_context({"dag_id": "d", "task_id": "t", "run_id": "r"})
    assert ctx["flow_name"] == "d" and ctx["task_name"] == "t" and "task_run_id" in ctx


def test_logical_date_wins_over_run_after():
    context = fake_airflow_context()
    context["logical_date"] = dt.datetime(2020, 5, 6, tzinfo=dt.timezone.utc)
    assert build_location_context(context)["date"].year == 2020


def test_jinja_syntax_with_airflow_objects_and_filter():
    ctx = build_location_context(fake_airflow_context())
    rendered = render_location(
        "{{ dag.dag_id }}/{{ ds }}/{{ run_id | path_safe }}/{{ ti.task_id }}.json", ctx
    )
    assert rendered == "etl/2024-01-02/manual__2024-01-02T03_04_05_00_00/extract.json"


def test_format_syntax_with_format_spec():
    ctx = build_location_context(fake_airflow_context(map_index=3))
    assert render_location("{flow_name}/{task_name}-{map_index}.pkl", ctx) == "etl/extract-3.pkl"
    assert render_location("{date:%Y-%m-%d}/{task_name}", ctx) == "2024-01-02/extract"


def test_literal_location_is_unchanged():
    assert render_location("fixed/path.pkl", {}) == "fixed/path.pkl"


@pytest.mark.parametrize("template", ["{missing_key}/x", "{{ missing_key }}/x"])
def test_missing_key_is_named_and_available_ones_listed(template):
    with pytest.raises(LocationTemplateError) as info:
        render_location(template, {"dag_id": "d", "task_name": "t"})
    message = str(info.value)
    assert "'missing_key'" in message
    assert "Available variables: dag_id, task_name" in message
    assert isinstance(info.value, ResultError)


def test_missing_attribute_in_jinja_is_a_template_error():
    with pytest.raises(LocationTemplateError, match="nope"):
        render_location("{{ dag.nope }}", {"dag": SimpleNamespace(dag_id="d")})


def test_bad_syntax_and_empty_results():
    with pytest.raises(LocationTemplateError, match="not valid Jinja"):
        render_location("{{ unclosed", {})
    with pytest.raises(LocationTemplateError, match="positional"):
        render_location("{}/x", {})
    with pytest.raises(LocationTemplateError, match="empty"):
        render_location("{{ blank }}", {"blank": "  "})


def test_jinja_is_sandboxed():
    with pytest.raises(LocationTemplateError):
        render_location("{{ ''.__class__.__mro__[1].__subclasses__() }}", {})


def test_callable_location_through_a_result(tmp_path):
    from airflow_results_provider.results import LocalResult

    result = LocalResult(
        dir=tmp_path, location=lambda task_name, map_index, **_: f"{task_name}-{map_index}.pkl"
    )
    assert result.format(**fake_airflow_context(map_index=4)).location == "extract-4.pkl"


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        (RUN_ID, "manual__2024-01-02T03_04_05_00_00"),
        ("a/b/../c", "a_b_.._c"),
        ("..", "_"),
        ("", "_"),
        ("naïve name", "na_ve_name"),
        (42, "42"),
    ],
)
def test_path_safe(raw, safe):
    assert path_safe(raw) == safe
    assert "/" not in path_safe(raw)


def test_default_location_in_a_task_is_deterministic_and_distinct():
    base = build_location_context(fake_airflow_context())
    mapped = build_location_context(fake_airflow_context(map_index=2))
    assert (
        default_location(base, "pkl")
        == "etl/manual__2024-01-02T03_04_05_00_00-34211930/extract/return_value.pkl"
    )
    assert default_location(base, "pkl") == default_location(base, "pkl")
    assert (
        default_location(mapped, "pkl")
        == "etl/manual__2024-01-02T03_04_05_00_00-34211930/extract/2/return_value.pkl"
    )
    looping = dict(base, task_loop_active=True, task_loop_count=3)
    assert default_location(looping, "pkl").endswith("/extract/loop-3/return_value.pkl")
    assert default_location(dict(base, xcom_key="rows"), "").endswith("/extract/rows")


def test_default_location_without_a_task_is_dated_and_unique():
    first, second = default_location({}, "pkl"), default_location({}, "pkl")
    now = dt.datetime.now(dt.timezone.utc)
    assert first != second
    assert re.fullmatch(rf"{now.year}/{now.month}/{now.day}/[0-9a-f-]{{36}}\.pkl", first)


class _NativeLoop:
    """Airflow 3.4's ``context["loop"]`` as a task in a native Task Loop sees it (``index`` from 0)."""

    def __init__(self, index: int) -> None:
        self.index = index


def test_loop_index_of_a_native_task_loop_and_none_outside_one():
    assert build_location_context(fake_airflow_context())["loop_index"] is None  # also on Airflow < 3.4
    ctx = build_location_context({**fake_airflow_context(), "loop": _NativeLoop(3)})
    assert ctx["loop_index"] == 3
    assert render_location("{task_name}/{loop_index}.pkl", ctx) == "extract/3.pkl"
    assert render_location("{{ task_name }}/{{ loop_index }}.pkl", ctx) == "extract/3.pkl"

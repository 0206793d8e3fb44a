"""Issue 11 findings 3, 5 and 6 (render errors): locations stay inside their store, templates cannot walk
to the interpreter, and distinct task instances never share a default location."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from airflow_results_provider.exceptions import InvalidLocationError, LocationTemplateError, ResultError
from airflow_results_provider.results import LocalResult
from airflow_results_provider.serializers import JSONSerializer
from airflow_results_provider.templating import build_location_context, default_location, render_location


def test_a_param_that_renders_an_absolute_path_cannot_write_outside_dir(tmp_path):
    outside = tmp_path / "outside" / "evil.json"
    result = LocalResult(dir=tmp_path / "results", location="{name}", serializer=JSONSerializer())
    with pytest.raises(InvalidLocationError, match="only a template that is itself absolute"):
        result.write({"x": 1}, name=str(outside))
    jinja = LocalResult(dir=tmp_path / "results", location="{{ params.name }}")
    with pytest.raises(InvalidLocationError):
        jinja.write({"x": 1}, params={"name": str(outside)})
    assert not outside.exists() and not outside.parent.exists()
    # the DAG author's own absolute template is honoured
    author = LocalResult(dir=tmp_path / "results", location=str(tmp_path / "chosen" / "{name}.json"))
    written = author.write({"x": 1}, name="ok")
    assert (
        written.location == str(tmp_path / "chosen" / "ok.json")
        and (tmp_path / "chosen" / "ok.json").exists()
    )


def test_a_symlink_inside_dir_is_not_followed_out(tmp_path):
    base, outside = tmp_path / "results", tmp_path / "outside"
    base.mkdir()
    outside.mkdir()
    (base / "link").symlink_to(outside, target_is_directory=True)
    result = LocalResult(dir=base)
    with pytest.raises(InvalidLocationError, match="symlink"):
        result.path("link/evil.pkl")
    with pytest.raises(InvalidLocationError, match="symlink"):
        LocalResult(dir=base, location="link/evil.pkl").write("v")
    with pytest.raises(InvalidLocationError):
        result.read("link/evil.pkl")
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize(
    "template",
    [
        "{ti.xcom_pull.__globals__[sys].modules[os].environ[SECRET_FOR_TEST]}",
        "{ti.__class__.__init__.__globals__}",
        "{ti._private}",
        "{data[_hidden]}",
    ],
)
def test_str_format_templates_cannot_walk_private_attributes(template, monkeypatch):
    monkeypatch.setenv("SECRET_FOR_TEST", "hunter2")

    class TI:
        _private = "p"

        def xcom_pull(self):
            return None

    context = {"ti": TI(), "data": {"_hidden": "h", "ok": "fine"}}
    with pytest.raises(LocationTemplateError, match="not allowed") as error:
        render_location(template, context)
    assert "hunter2" not in str(error.value)


def test_safe_attribute_and_key_access_still_render():
    context = {"dag": SimpleNamespace(dag_id="etl"), "data": {"ok": "fine"}}
    assert render_location("{dag.dag_id}/{data[ok]}.json", context) == "etl/fine.json"


def test_jinja_path_is_sandboxed_too():
    with pytest.raises(LocationTemplateError):
        render_location("{{ ti.xcom_pull.__globals__ }}", {"ti": SimpleNamespace(xcom_pull=print)})


def test_distinct_run_ids_never_share_a_default_location():
    a = build_location_context({"dag_id": "d", "task_id": "t", "run_id": "manual__2024-01-01T00:00:00+00:00"})
    b = build_location_context({"dag_id": "d", "task_id": "t", "run_id": "manual__2024-01-01T00_00_00_00_00"})
    assert default_location(a, "pkl") != default_location(b, "pkl")
    # values that are already path-safe keep their readable form
    assert default_location(b, "pkl") == "d/manual__2024-01-01T00_00_00_00_00/t/return_value.pkl"
    for key_a, key_b in [("a:b", "a_b"), ("x/y", "x_y"), ("é", "_")]:
        ca = build_location_context({"dag_id": "d", "task_id": "t", "run_id": "r", "xcom_key": key_a})
        cb = build_location_context({"dag_id": "d", "task_id": "t", "run_id": "r", "xcom_key": key_b})
        assert default_location(ca) != default_location(cb)


def test_two_runs_with_colliding_path_safe_ids_keep_their_own_values(tmp_path):
    result = LocalResult(dir=tmp_path)
    run_a = {"dag_id": "d", "task_id": "t", "run_id": "manual__2024-01-01T00:00:00+00:00"}
    run_b = {"dag_id": "d", "task_id": "t", "run_id": "manual__2024-01-01T00_00_00_00_00"}
    written_a = result.write("A", **run_a)
    written_b = result.write("B", **run_b)
    assert result.read(written_a.location).value == "A" and result.read(written_b.location).value == "B"


@pytest.mark.parametrize(
    ("location", "error"),
    [
        ("with\x00nul.pkl", LocationTemplateError),  # caught while rendering
        ("x" * 300 + ".pkl", InvalidLocationError),
    ],
)
def test_bad_names_are_typed_errors(tmp_path, location, error):
    with pytest.raises(error):
        LocalResult(dir=tmp_path, location=location).write("v")
    with pytest.raises(InvalidLocationError):
        LocalResult(dir=tmp_path).read(location)
    assert issubclass(error, ResultError)
    assert os.listdir(tmp_path) == []


def test_a_template_rendering_nul_is_a_template_error():
    with pytest.raises(LocationTemplateError, match="NUL"):
        render_location("{name}.pkl", {"name": "a\x00b"})

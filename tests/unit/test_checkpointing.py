"""The checkpointing core on plain dicts: targets, write rules, collisions, caches, loops, store specs."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from airflow_results_provider import cache_validators
from airflow_results_provider._checkpointing import CheckpointOptions, TaskCheckpointer
from airflow_results_provider.cache_validators import CacheEntry
from airflow_results_provider.core.values import NOTHING as MISS
from airflow_results_provider.exceptions import LocationCollisionError, LocationTemplateError, ResultError
from airflow_results_provider.looping import Loop
from airflow_results_provider.results import InlineResult, LocalResult
from airflow_results_provider.results.registry import result_from_spec
from airflow_results_provider.serializers import JSONSerializer
from airflow_results_provider.templating import build_location_context

log = logging.getLogger("test")


def variables(map_index=None, run_id="run1", **extra):
    return build_location_context(
        {"dag_id": "d", "task_id": "t", "run_id": run_id, "map_index": map_index, **extra}
    )


def checkpointer(tmp_path, map_index=None, run_id="run1", **options):
    options.setdefault("result", LocalResult(dir=tmp_path))
    return TaskCheckpointer(CheckpointOptions(**options), variables(map_index, run_id), logger=log)


def test_result_is_copied_per_execution(tmp_path):
    shared = LocalResult(dir=tmp_path, location="{task_name}.pkl")
    first = checkpointer(tmp_path, result=shared)
    first.write(1)
    assert shared.location == "{task_name}.pkl" and shared.value is None
    assert first.result is not shared


def test_target_miss_then_hit(tmp_path, caplog):
    cp = checkpointer(tmp_path, target="{dag_id}/{task_name}.pkl")
    assert cp.lookup() is MISS
    cp.write({"a": 1})
    again = checkpointer(tmp_path, run_id="run2", target="{dag_id}/{task_name}.pkl")
    with caplog.at_level(logging.INFO, logger="test"):
        assert again.lookup() == {"a": 1}
    assert f"Result found at task target {(tmp_path / 'd' / 't.pkl').as_uri()}" in caplog.text


def test_a_corrupt_target_is_a_warned_miss_and_is_overwritten(tmp_path, caplog):
    cp = checkpointer(tmp_path, target="t.pkl")
    cp.write("good")
    path = tmp_path / "t.pkl"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    again = checkpointer(tmp_path, run_id="run2", target="t.pkl")
    with caplog.at_level(logging.WARNING, logger="test"):
        assert again.lookup() is MISS
    assert "unreadable" in caplog.text and "corrupt" in caplog.text
    again.write("fresh")
    assert LocalResult(dir=tmp_path).read("t.pkl").value == "fresh"


def test_write_rules(tmp_path, monkeypatch):
    assert checkpointer(tmp_path).write(None) is None
    assert checkpointer(tmp_path, checkpoint=False).write(1) is None
    monkeypatch.setenv("AIRFLOW__RESULTS__CHECKPOINTING", "False")
    from airflow_results_provider import config

    config.clear_cache()
    assert checkpointer(tmp_path).write(1) is None
    assert list(tmp_path.rglob("*.pkl")) == []


def test_target_with_checkpointing_off_warns(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="test"):
        checkpointer(tmp_path, checkpoint=False, target="x.pkl")
    assert "nothing will be written" in caplog.text


def test_template_errors_surface_at_construction(tmp_path):
    with pytest.raises(LocationTemplateError, match="'missing'"):
        checkpointer(tmp_path, target="{missing}.pkl")


def test_map_index_collisions_within_a_run(tmp_path):
    checkpointer(tmp_path, map_index=0, target="same.pkl").write(0)
    with pytest.raises(LocationCollisionError, match="map index 0"):
        checkpointer(tmp_path, map_index=1, target="same.pkl").lookup()
    with pytest.raises(LocationCollisionError):
        checkpointer(tmp_path, map_index=1, result=LocalResult(dir=tmp_path, location="same.pkl")).write(1)
    # the same index again (a retry) and another run are fine
    checkpointer(tmp_path, map_index=0, target="same.pkl").write(0)
    assert checkpointer(tmp_path, map_index=1, run_id="run2", target="same.pkl").lookup() == 0


def test_option_validation():
    with pytest.raises(TypeError, match="result= must be a Result"):
        CheckpointOptions(result="file:///tmp")
    with pytest.raises(TypeError, match="cache_for="):
        CheckpointOptions(cache_for=60)
    with pytest.raises(TypeError, match="target="):
        CheckpointOptions(target=42)


def test_cache_round_trip_and_expiry(tmp_path):
    options = {"cache_for": dt.timedelta(hours=1)}
    assert checkpointer(tmp_path, **options).lookup() is MISS
    checkpointer(tmp_path, **options).write("v1")
    assert checkpointer(tmp_path, run_id="run2", **options).lookup() == "v1"
    expired = checkpointer(tmp_path, cache_for=dt.timedelta(seconds=-1))
    expired.write("v2")
    assert checkpointer(tmp_path, run_id="run3", **options).lookup() is MISS
    shared = checkpointer(tmp_path, cache_key="shared", **options)
    shared.write("s")
    other_task = TaskCheckpointer(
        CheckpointOptions(result=LocalResult(dir=tmp_path), cache_key="shared", **options),
        build_location_context({"dag_id": "other", "task_id": "x", "run_id": "r"}),
        logger=log,
    )
    assert other_task.lookup() == "s"


def test_cache_for_inline_results_lives_in_the_default_store(tmp_path, results_dir):
    cp = checkpointer(tmp_path, result=InlineResult(), cache_for=dt.timedelta(hours=1))
    cp.write([1, 2])
    assert (results_dir / "_cache" / "d.t" / "task.pkl").exists()
    assert checkpointer(tmp_path, result=InlineResult(), cache_for=dt.timedelta(hours=1)).lookup() == [1, 2]


def entry(**kw):
    defaults = {
        "value": 1,
        "cached_result_expiration": dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1),
        "cached_inputs": {"x": 1, "y": 2},
        "cached_parameters": {"p": "a", "q": "b"},
        "written_at": dt.datetime.now(dt.timezone.utc),
    }
    return CacheEntry(**{**defaults, **kw})


def test_cache_validators():
    fresh, stale = entry(), entry(cached_result_expiration=dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc))
    inputs, params = {"x": 1, "y": 2}, {"p": "a", "q": "b"}
    assert not cache_validators.never_use(fresh, inputs, params)
    assert cache_validators.duration_only(fresh, {}, {}) and not cache_validators.duration_only(stale, {}, {})
    assert cache_validators.all_inputs(fresh, inputs, params)
    assert not cache_validators.all_inputs(fresh, {"x": 1, "y": 3}, params)
    assert cache_validators.all_parameters(fresh, {}, params)
    assert not cache_validators.all_parameters(fresh, {}, {"p": "a", "q": "c"})
    assert cache_validators.partial_inputs_only(["x"])(fresh, {"x": 1, "y": 99}, {})
    assert not cache_validators.partial_inputs_only(["y"])(fresh, {"x": 1, "y": 99}, {})
    assert cache_validators.partial_parameters_only(["p"])(fresh, {}, {"p": "a", "q": "zzz"})
    assert not cache_validators.partial_parameters_only(["p"])(stale, {}, {"p": "a"})


def test_loop_runs_checkpoints_and_resumes(tmp_path):
    seen = []

    def body(count, loop_result, crash_at=None):
        seen.append(count)
        if count == crash_at:
            raise RuntimeError("crash")
        if count == 4:
            return loop_result
        raise Loop(result=(loop_result or 0) + count)

    cp = checkpointer(tmp_path, target="final.pkl")
    with pytest.raises(RuntimeError):
        cp.run(lambda c, r: body(c, r, crash_at=3), Loop)
    assert seen == [1, 2, 3]
    cp = checkpointer(tmp_path, target="final.pkl")
    assert cp.run(body, Loop) == 6  # 1 + 2 + 3
    assert seen == [1, 2, 3, 3, 4]
    assert LocalResult(dir=tmp_path).read("final.pkl").value == 6
    loops = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("return_value.pkl"))
    assert loops == [f"d/run1/t/loop-{i}/return_value.pkl" for i in (1, 2, 3)]
    # finished: the next execution starts at iteration 1 again
    seen.clear()
    checkpointer(tmp_path, target="final.pkl").run(body, Loop)
    assert seen == [1, 2, 3, 4]


def test_store_specs(tmp_path):
    local = result_from_spec(f"file://{tmp_path}")
    assert isinstance(local, LocalResult) and local.dir == str(tmp_path)
    assert result_from_spec(f"file://{tmp_path}") is not local  # fresh copies
    named = result_from_spec("airflow_results_provider.results.inline_result:PrefectResult")
    assert isinstance(named, InlineResult)
    with pytest.raises(ResultError, match="unknown scheme 'ftp'"):
        result_from_spec("ftp://host/x")
    with pytest.raises(ResultError, match="neither a URL"):
        result_from_spec("just-a-name")
    with pytest.raises(ResultError, match="cannot be imported"):
        result_from_spec("no_such_module_xyz:thing")
    with pytest.raises(ResultError, match="not a Result"):
        result_from_spec("json:JSONDecoder")
    with pytest.raises(ResultError, match="without arguments"):
        result_from_spec("json:dumps")


def test_default_result_is_a_local_result_under_local_dir(results_dir):
    from airflow_results_provider.results.registry import default_result

    result = default_result()
    assert isinstance(result, LocalResult) and result.base_dir == str(results_dir)


def test_json_result_serializer_is_kept_for_checkpoints(tmp_path):
    cp = checkpointer(
        tmp_path, result=LocalResult(dir=tmp_path, serializer=JSONSerializer()), target="v.json"
    )
    cp.write({"k": [1]})
    assert (tmp_path / "v.json").read_text() == '{"k":[1]}'


def test_checkpoint_references_are_kept_only_for_the_result_xcom_backend(tmp_path, monkeypatch):
    from airflow_results_provider import config
    from airflow_results_provider.xcom.handoff import remember_checkpoint, take_checkpoint

    value = {"big": "value"}
    written = LocalResult(dir=tmp_path).write(value)
    ctx = {"dag_id": "d", "task_id": "t", "run_id": "r", "map_index": None}
    monkeypatch.setenv("AIRFLOW__CORE__XCOM_BACKEND", "airflow.sdk.bases.xcom.BaseXCom")
    config.clear_cache()
    remember_checkpoint(ctx, value, written)
    assert take_checkpoint("d", "t", "r", -1, value) is None  # not held: no backend would consume it
    monkeypatch.setenv("AIRFLOW__CORE__XCOM_BACKEND", "airflow_results_provider.xcom.ResultXComBackend")
    config.clear_cache()
    remember_checkpoint(ctx, value, written)
    assert take_checkpoint("d", "t", "r", -1, {"big": "value"}) is None  # an equal but different object
    assert take_checkpoint("d", "t", "r", -1, value) is written
    assert take_checkpoint("d", "t", "r", -1, value) is None  # consumed


class TaskStateStore:
    """Airflow's ``context["task_state_store"]`` of one task instance, over a dict: the interface the loop uses
    (get/set/delete); a clear that discards task state (Airflow >= 3.4) is ``entries.clear()``."""

    def __init__(self):
        self.entries = {}

    def get(self, key, default=None):
        return self.entries.get(key, default)

    def set(self, key, value):
        self.entries[key] = value

    def delete(self, key):
        self.entries.pop(key, None)


def test_loop_state_lives_as_long_as_airflows_task_state(tmp_path):
    seen = []

    def body(count, loop_result, crash_at=None):
        seen.append(count)
        if count == crash_at:
            raise RuntimeError("crash")
        if count == 4:
            return loop_result
        raise Loop(result=(loop_result or 0) + count)

    def run(task_state, crash_at=None):
        variables = build_location_context({"dag_id": "d", "task_id": "t", "run_id": "r"})
        variables["task_state_store"] = task_state
        options = CheckpointOptions(result=LocalResult(dir=tmp_path), target="final.pkl")
        return TaskCheckpointer(options, variables, logger=log).run(lambda c, r: body(c, r, crash_at), Loop)

    state = TaskStateStore()
    with pytest.raises(RuntimeError):
        run(state, crash_at=3)
    assert list(state.entries) == ["airflow_results.loop_state"]
    with pytest.raises(RuntimeError):
        run(state, crash_at=4)  # a retry: the task state is kept, the loop resumes at 3
    assert seen == [1, 2, 3, 3, 4]
    state.entries.clear()  # a clear: Airflow discards the task state, so the loop starts over at 1
    seen.clear()
    assert run(state) == 6
    assert seen == [1, 2, 3, 4]
    assert state.entries == {}  # finished: the marker is gone with the record
    assert not [p for p in tmp_path.rglob("*loop-state*")]


def test_native_loop_iterations_are_kept_apart(tmp_path):
    def at(loop_index, **options):
        options.setdefault("result", LocalResult(dir=tmp_path))
        return TaskCheckpointer(CheckpointOptions(**options), variables(loop_index=loop_index), logger=log)

    assert at(None).location == "d/run1/t/return_value.pkl"
    assert at(2).location == "d/run1/t/iteration-2/return_value.pkl"
    assert at(2, target="{task_name}-{loop_index}.pkl").location == "t-2.pkl"
    at(0, target="same.pkl").write(0)
    # another iteration rendering the same location is refused, on read and on write, naming the variable
    with pytest.raises(LocationCollisionError, match=r"loop iteration 0 .*\{loop_index\}"):
        at(1, target="same.pkl").lookup()
    with pytest.raises(LocationCollisionError, match="loop iteration 0"):
        at(1, result=LocalResult(dir=tmp_path, location="same.pkl")).write(1)
    assert at(0, target="same.pkl").lookup() == 0  # the same iteration again (a clear) finds its checkpoint

"""Cache policies: composition, keys, task source digests and what explains a miss (no Airflow runtime)."""

from __future__ import annotations

import datetime as dt
import importlib.util
import itertools
import textwrap
import threading
from pathlib import Path

import pytest

from airflow_results_provider import cache_policies
from airflow_results_provider._checkpointing.options import CheckpointOptions
from airflow_results_provider._checkpointing.policy_cache import explain_change
from airflow_results_provider.cache_policies import (
    INPUTS,
    NONE,
    PARAMS,
    RUN_ID,
    TASK_SOURCE,
    CacheKeyFunction,
    KeyContext,
    parse_policy,
    task_source_digest,
)
from airflow_results_provider.exceptions import ResultConfigError, UnhashableInputError

_modules = itertools.count()


def key(policy, **kwargs):
    kwargs.setdefault("inputs", {})
    found = policy.compute_key(KeyContext(**kwargs))
    return None if found is None else found.key


def test_public_names():
    assert {"INPUTS", "TASK_SOURCE", "PARAMS", "RUN_ID", "NONE", "CacheKeyFunction"} <= set(
        dir(cache_policies)
    )


def test_inputs_key_follows_values_and_exclusions():
    a = key(INPUTS, inputs={"rows": [1, 2], "session": "s1"})
    assert a == key(INPUTS, inputs={"session": "s1", "rows": [1, 2]})
    assert a != key(INPUTS, inputs={"rows": [1, 3], "session": "s1"})
    assert a != key(INPUTS, inputs={"rows": [1, 2], "session": "s2"})
    without = INPUTS - "session"
    assert key(without, inputs={"rows": [1, 2], "session": "s1"}) == key(
        without, inputs={"rows": [1, 2], "session": "other"}
    )


def test_composition_and_text_forms():
    policy = INPUTS - "session" + TASK_SOURCE
    assert str(policy) == "INPUTS - 'session' + TASK_SOURCE"
    assert parse_policy("INPUTS - 'session' + TASK_SOURCE") == policy
    assert parse_policy("inputs+params") == INPUTS + PARAMS
    assert parse_policy("  ") is None
    assert (INPUTS + PARAMS).uses_inputs and not (PARAMS + RUN_ID).uses_inputs
    assert (PARAMS + TASK_SOURCE).uses_task_source
    with pytest.raises(ResultConfigError, match=r"\[results\] cache_policy.*unknown cache policy 'INPUT'"):
        parse_policy("INPUT + TASK_SOURCE")


def test_none_does_not_cache_and_adds_nothing():
    assert key(NONE) is None
    assert key(NONE + INPUTS, inputs={"a": 1}) == key(INPUTS, inputs={"a": 1})


def test_params_and_run_id():
    assert key(PARAMS, params={"day": 1}) != key(PARAMS, params={"day": 2})
    assert key(RUN_ID, run_id="a") != key(RUN_ID, run_id="b")
    assert key(PARAMS + RUN_ID, params={}, run_id="a") != key(RUN_ID, run_id="a")


def test_cache_key_fn():
    fn = CacheKeyFunction(lambda context, inputs: f"{context['ds']}:{inputs['x']}")
    assert key(fn, inputs={"x": 1}, context={"ds": "d1"}) == key(fn, inputs={"x": 1}, context={"ds": "d1"})
    assert key(fn, inputs={"x": 1}, context={"ds": "d1"}) != key(fn, inputs={"x": 1}, context={"ds": "d2"})
    assert key(CacheKeyFunction(lambda c, i: None)) is None
    with pytest.raises(TypeError, match="not a str"):
        key(CacheKeyFunction(lambda c, i: 3))
    assert CacheKeyFunction(lambda c, i: "k").needs_values


def test_unhashable_input_names_the_argument_and_the_way_out():
    with pytest.raises(UnhashableInputError) as raised:
        key(INPUTS, inputs={"conn": threading.Lock()})
    assert "'conn'" in str(raised.value) and 'INPUTS - "conn"' in str(raised.value)


def load_function(tmp_path: Path, source: str):
    path = tmp_path / f"task_module_{next(_modules)}.py"
    path.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.transform


class Task:
    """The attributes TASK_SOURCE reads of a TaskFlow operator."""

    def __init__(self, python_callable):
        self.python_callable = python_callable
        self.task_id = "transform"


def source_digest(tmp_path, source):
    return task_source_digest(Task(load_function(tmp_path, source)))


BASE = """
def transform(rows, factor=10):
    total = [r * factor for r in rows]
    return total
"""


def test_task_source_ignores_comments_formatting_and_decorators(tmp_path):
    base = source_digest(tmp_path, BASE)
    reformatted = """
import functools


# a comment above
@functools.lru_cache(maxsize=None)
def transform(rows,
              factor=10):  # a trailing comment
    total = [r*factor for r in rows]   # spacing and a comment


    return total
"""
    assert source_digest(tmp_path, reformatted) == base


@pytest.mark.parametrize(
    "changed",
    [
        BASE.replace("r * factor", "r * factor + 1"),
        BASE.replace("factor=10", "factor=11"),
        BASE.replace("return total", "return sorted(total)"),
        BASE.replace("    total = [", '    """Now with a docstring."""\n    total = ['),
    ],
    ids=["expression", "default", "statement", "docstring"],
)
def test_task_source_follows_code_changes(tmp_path, changed):
    assert source_digest(tmp_path, changed) != source_digest(tmp_path, BASE)


def test_task_source_of_a_classic_operator_includes_rendered_fields():
    class EchoOperator:
        template_fields = ("bash_command",)
        task_id = "echo"

        def __init__(self, command):
            self.bash_command = command

        def execute(self, context):
            return self.bash_command

    assert task_source_digest(EchoOperator("echo 1")) == task_source_digest(EchoOperator("echo 1"))
    assert task_source_digest(EchoOperator("echo 1")) != task_source_digest(EchoOperator("echo 2"))
    assert not TASK_SOURCE.decided_before_pull(EchoOperator("x"))
    assert TASK_SOURCE.decided_before_pull(Task(print))


def test_task_source_without_source_is_a_config_error():
    with pytest.raises(ResultConfigError, match="TASK_SOURCE cannot read the source"):
        task_source_digest(Task(eval("lambda: 1")))


def test_explain_change_names_each_component():
    old = {"input:rows": "3f2a" + "0" * 60, "task_source": "a" * 64}
    new = {"input:rows": "9c1e" + "0" * 60, "task_source": "a" * 64, "params": "b" * 64}
    text = explain_change(old, new)
    assert text.startswith("input 'rows' changed: 3f2a0000… -> 9c1e0000…")
    assert "params added" in text
    assert explain_change(None, new) == "no earlier entry for this task"


def test_options_policy_defaults(monkeypatch):
    from airflow_results_provider import config

    monkeypatch.setenv("AIRFLOW__RESULTS__CACHE_POLICY", "INPUTS + TASK_SOURCE")
    config.clear_cache()
    try:
        assert CheckpointOptions().policy == INPUTS + TASK_SOURCE
        assert CheckpointOptions(cache_policy=PARAMS).policy == PARAMS
        assert CheckpointOptions(cache_policy=NONE).policy is None
        # Prefect 1's cache_for keeps its own cache; the [results] default does not apply to it.
        assert CheckpointOptions(cache_for=dt.timedelta(hours=1)).policy is None
        fn = CheckpointOptions(cache_policy="PARAMS", cache_key_fn=lambda c, i: "k").policy
        assert str(fn).startswith("PARAMS + cache_key_fn=")
    finally:
        monkeypatch.delenv("AIRFLOW__RESULTS__CACHE_POLICY")
        config.clear_cache()


def test_bad_options_are_typed_errors():
    with pytest.raises(ResultConfigError, match="cache_expiration="):
        CheckpointOptions(cache_expiration=3600)
    with pytest.raises(ResultConfigError, match="cache_policy="):
        CheckpointOptions(cache_policy=3)
    with pytest.raises(ResultConfigError, match="cache_key_fn="):
        CheckpointOptions(cache_key_fn="not callable")


def test_targets_naming_inputs_are_decided_after_the_pull():
    """A target whose location may depend on the task's arguments is not rendered before they are pulled (an
    input may also shadow a context variable of the same name, e.g. ``date``)."""
    from airflow_results_provider.operators._cache_decision import target_names_inputs

    class Operator:
        op_kwargs = {"session": "s"}

        @staticmethod
        def python_callable(rows, date=None, **kwargs):
            return rows

    task = Operator()
    for template in (
        "{dag_id}/{rows}.pkl",
        "{{ rows | path_safe }}",
        "x/{rows[0]}",
        "{date}.pkl",
        "{session}",
    ):
        assert target_names_inputs(task, template), template
    for template in ("{dag_id}/{task_name}.pkl", "{{ params.rows }}", "{nrows}", "{cache_key}.json"):
        assert not target_names_inputs(task, template), template
    assert target_names_inputs(task, lambda **variables: "x")  # a callable may read anything
    assert not target_names_inputs(task, None)

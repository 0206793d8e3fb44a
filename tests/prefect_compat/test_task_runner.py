# Ported from https://github.com/PrefectHQ/prefect, tag 1.4.1 (commit f6648e44f514), path
# tests/engine/test_task_runner.py: the checkpointing, result-formatting, caching, target and looping cases
# (TestCheckTaskCached, TestRunTaskStep's result cases, TestCacheResultStep, TestTargetExistsStep,
# test_failures/skips_arent_checkpointed, TestLooping, test_runner_checks_hashed_inputs_correctly).
# Copyright Prefect Technologies, Inc. Licensed under the Apache License, Version 2.0 (Apache-2.0).
# Changes are limited to imports, fixtures and runtime glue; each is marked "# port:". The runtime glue:
# Prefect drove one task through TaskRunner; here each case is a DAG run (dag.test, in this process) of the
# same task as a @task.result, and `new_state` is read back from the run: its state from the task instance,
# its `_result`/`result`/`message` from what the checkpointer wrote or found (see the `run` fixture).
import types  # port
from datetime import timedelta  # noqa: F401

import pytest

from airflow_results_provider._checkpointing import checkpointer as _checkpointer  # port
from airflow_results_provider.core.values import NOTHING as MISS  # port
from tests.prefect_compat.conftest import (  # port
    NO_HASHED_INPUTS,
    NO_PARAMETER_TASK,
    NO_PREFECT_SKIP_STATE,
    NO_PREFECT_STATE,
    NO_SIGNAL_WITH_RESULT,
    NO_STATE_HANDLERS,
    NO_TASK_RUNNER_LOGGER,
)

pytestmark = pytest.mark.airflow  # port

HEADER = """
from datetime import timedelta
from unittest.mock import MagicMock
from airflow.sdk import DAG, task, get_current_context
from airflow_results_provider import cache_validators
from airflow_results_provider.cache_validators import (
    all_inputs, all_parameters, duration_only, never_use, partial_inputs_only, partial_parameters_only,
)
from airflow_results_provider.results import Result, LocalResult, PrefectResult
from airflow_results_provider.looping import Loop


class signals:  # port: prefect.engine.signals
    LOOP = Loop


class prefect:  # port: prefect.context is the Airflow context of the running task
    class context:
        @staticmethod
        def get(key, default=None):
            value = get_current_context().get(key)
            return default if value is None else value


with DAG("__DAG_ID__", schedule=None, default_args={"retries": 0}) as dag:
"""


class State(types.SimpleNamespace):  # port: the final Prefect state of one task, read back from a DAG run
    def is_successful(self):
        return self.state == "success"

    def is_failed(self):
        return self.state == "failed"

    def is_cached(self):
        return self.cached

    def is_retrying(self):
        return self.state == "up_for_retry"


@pytest.fixture
def run(dag_runner, results_dir, tmp_path, monkeypatch, request):
    """port: TaskRunner(task).run(...) -> a DAG run; returns {task_id: State} for the run."""
    seen: dict = {}
    orig_lookup, orig_run = _checkpointer.TaskCheckpointer.lookup, _checkpointer.TaskCheckpointer.run

    def note(self, **kw):
        entry = seen.setdefault(self.variables["task_id"], types.SimpleNamespace(messages=[], error=None))
        entry.__dict__.update(kw)
        return entry

    def lookup(self):
        entry = note(self, cached=False, _result=None, result=None)
        info = self.log.info
        self.log.info = lambda msg, *a, **k: (
            entry.messages.append(msg % a if a else msg),
            info(msg, *a, **k),
        )
        value = orig_lookup(self)
        if value is not MISS:
            note(self, cached=True, _result=self.found, result=value, message=entry.messages[-1])
        return value

    def run_(self, body, loop_signal):
        try:
            value = orig_run(self, body, loop_signal)
        except BaseException as exc:
            note(self, error=exc, result=exc)
            raise
        note(self, _result=self.written or types.SimpleNamespace(location=None), result=value)
        return value

    monkeypatch.setattr(_checkpointer.TaskCheckpointer, "lookup", lookup)
    monkeypatch.setattr(_checkpointer.TaskCheckpointer, "run", run_)
    counter = iter(range(100))

    def go(body: str, dag=None, **subs):
        if dag is None:
            dag_id = f"pc_{request.node.name}_{next(counter)}".replace("[", "_").replace("]", "")
            dag_id = "".join(c if c.isalnum() or c in "._-" else "_" for c in dag_id)
            source = HEADER.replace("__DAG_ID__", dag_id) + "\n".join(
                "    " + line for line in body.splitlines()
            )
            dag = dag_runner.load(source, dag_id, tmp_dir=tmp_path, **subs)
        seen.clear()
        _, states = dag_runner.run(dag)
        out = {}
        for task_id, state in states.items():
            entry = seen.get(task_id, types.SimpleNamespace())
            out[task_id] = State(state=state, **{"cached": False, **entry.__dict__})
        out["__dag__"] = dag
        return out

    return go


@pytest.mark.skip(reason=NO_HASHED_INPUTS)  # port
def test_runner_checks_hashed_inputs_correctly():
    pass  # port: Cached(hashed_inputs={"x": tokenize(1), ...}) handed to TaskRunner.run


class TestCheckTaskCached:
    @pytest.mark.skip(reason=NO_PREFECT_STATE)  # port
    @pytest.mark.parametrize("state", ["Pending", "Success", "Retrying"])
    def test_not_cached(self, state):
        pass

    @pytest.mark.skip(reason=NO_HASHED_INPUTS)  # port
    def test_cached_same_inputs(self):
        pass

    @pytest.mark.skip(reason=NO_HASHED_INPUTS)  # port
    def test_cached_different_inputs(self):
        pass

    @pytest.mark.skip(reason=NO_PREFECT_STATE)  # port
    def test_cached_duration(self):
        pass  # port: a Cached state with an expiration handed to check_task_is_cached

    @pytest.mark.skip(reason=NO_PREFECT_STATE)  # port
    def test_cached_duration_fail(self):
        pass

    def test_reads_result_from_context_if_cached_valid(self, run):
        # port: prefect.context(caches={"Task": [Cached(PrefectResult(2))]}) -> the cache entry of an earlier run
        body = """
@task.result(cache_for=timedelta(minutes=1), cache_validator=cache_validators.duration_only, result=PrefectResult())
def Task(a):
    return 2

Task(1)
"""
        first = run(body)
        new = run("", dag=first["__dag__"])["Task"]
        assert new.is_cached()
        assert new.result == 2

    @pytest.mark.skip(reason=NO_PREFECT_STATE)  # port
    def test_state_kwarg_is_prioritized_over_context_caches(self):
        pass

    def test_reads_result_from_context_with_cache_key_if_cached_valid(self, run):
        # port: the "FOO" cache is filled by another task of an earlier run sharing cache_key="FOO"
        body = """
@task.result(cache_for=timedelta(minutes=1), cache_validator=cache_validators.duration_only, cache_key="FOO")
def Task(a):
    return 2

@task.result(cache_for=timedelta(minutes=1), cache_validator=cache_validators.duration_only, cache_key="FOO")
def other(a):
    return 99

Task(1) >> other(1)
"""
        new = run(body)["other"]
        assert new.is_cached()
        assert new.result == 2

    @pytest.mark.skip(
        reason="Airflow: a validator reads the Airflow context (get_current_context(): ti, params, ...), "
        "not Prefect's context keys (config, logger, checkpointing)"
    )  # port
    def test_all_of_run_context_is_available_to_custom_cache_validators(self):
        pass


class TestRunTaskStep:
    @pytest.mark.skip(reason=NO_PREFECT_STATE)  # port
    def test_returns_success_with_hydrated_result_obj(self):
        pass

    @pytest.mark.skip(reason=NO_PREFECT_STATE)  # port
    def test_returns_success_with_correct_result_type(self):
        pass

    def test_success_state_without_checkpoint(self, run, monkeypatch):
        body = """
@task.result(checkpoint=False, result=PrefectResult())
def fn(x):
    return x + 1

fn(1)
"""
        monkeypatch.setenv(
            "AIRFLOW__RESULTS__CHECKPOINTING", "True"
        )  # port: prefect.context(checkpointing=True)
        new_state = run(body)["fn"]
        assert new_state.is_successful()
        assert new_state._result.location is None

    @pytest.mark.parametrize("checkpoint", [True, None])
    def test_success_state_with_checkpointing_in_config(self, run, monkeypatch, checkpoint):
        body = f"""
@task.result(checkpoint={checkpoint}, result=PrefectResult())
def fn(x):
    return x + 1

@task
def upstream():  # port: Edge(Task(), fn, key="x") with Success(result=Result(2))
    return 2

fn(upstream())
"""
        monkeypatch.setenv("AIRFLOW__RESULTS__CHECKPOINTING", "True")  # port: set_temporary_config
        new_state = run(body)["fn"]
        assert new_state.is_successful()
        assert new_state._result.location == "3"

    @pytest.mark.skip(reason=NO_SIGNAL_WITH_RESULT)  # port
    def test_raised_success_state_is_checkpointed(self):
        pass

    def test_result_formatting_with_checkpointing(self, run, monkeypatch):
        body = """
result = LocalResult(dir="__TMP_DIR__", location="{task_name}.txt")

@task.result(checkpoint=True, result=result)
def fn(x):
    return x + 1

fn(2)  # port: upstream edge x=Result(2)
"""
        monkeypatch.setenv("AIRFLOW__RESULTS__CHECKPOINTING", "True")
        new_state = run(body)["fn"]
        assert new_state.is_successful()
        assert new_state._result.location.endswith("fn.txt")

    def test_result_formatting_with_custom_formatter(self, run, monkeypatch):
        body = """
result = LocalResult(dir="__TMP_DIR__", location=lambda **kwargs: kwargs["task_name"][:3] + ".txt")

@task.result(checkpoint=True, result=result, task_id="big_function_name")  # port: name="big function name"
def fn(x):
    return x + 1

fn(2)
"""
        monkeypatch.setenv("AIRFLOW__RESULTS__CHECKPOINTING", "True")
        new_state = run(body)["big_function_name"]
        assert new_state.is_successful()
        assert new_state._result.location.endswith("big.txt")

    def test_result_formatting_with_templated_inputs(self, run, monkeypatch):
        body = """
result = LocalResult(dir="__TMP_DIR__", location="{x}.txt")

@task.result(checkpoint=True, result=result)
def fn(x):
    return x + 1

fn(2)
"""
        monkeypatch.setenv("AIRFLOW__RESULTS__CHECKPOINTING", "True")
        new_state = run(body)["fn"]
        assert new_state.is_successful()
        assert new_state._result.location.endswith("2.txt")

    def test_result_formatting_with_templated_inputs_inputs_take_precedence(self, run, monkeypatch):
        body = """
result = LocalResult(dir="__TMP_DIR__", location="{config}.txt")

@task.result(checkpoint=True, result=result)
def fn(config):
    return config

fn(2)
"""
        monkeypatch.setenv("AIRFLOW__RESULTS__CHECKPOINTING", "True")
        new_state = run(body)["fn"]
        assert new_state.is_successful()
        assert new_state._result.location.endswith("2.txt")

    def test_result_formatting_with_input_named_value(self, run, monkeypatch):
        body = """
result = LocalResult(dir="__TMP_DIR__", location="{value}.txt")

@task.result(checkpoint=True, result=result)
def fn(value):
    return value + 1

fn(2)
"""
        monkeypatch.setenv("AIRFLOW__RESULTS__CHECKPOINTING", "True")
        new_state = run(body)["fn"]
        assert new_state.is_successful()
        assert new_state._result.location.endswith("2.txt")

    @pytest.mark.parametrize("checkpoint", [True, None])
    def test_success_state_with_checkpointing_in_context(self, run, monkeypatch, checkpoint):
        body = f"""
@task.result(checkpoint={checkpoint}, result=PrefectResult())
def fn(x):
    return x + 1

fn(2)
"""
        monkeypatch.setenv("AIRFLOW__RESULTS__CHECKPOINTING", "True")
        new_state = run(body)["fn"]
        assert new_state.is_successful()
        assert new_state._result.location == "3"

    @pytest.mark.parametrize("checkpoint", [True, None])
    def test_success_state_is_checkpointed_if_result_handler_present(self, run, monkeypatch, checkpoint):
        body = f"""
@task.result(checkpoint={checkpoint}, result=PrefectResult())
def fn():
    return 1

fn()
"""
        ## checkpointing allows users to toggle behavior for local testing
        monkeypatch.setenv(
            "AIRFLOW__RESULTS__CHECKPOINTING", "False"
        )  # port: prefect.context(checkpointing=False)
        first = run(body)
        new_state = first["fn"]
        assert new_state.is_successful()
        assert new_state._result.location is None

        monkeypatch.setenv("AIRFLOW__RESULTS__CHECKPOINTING", "True")
        from airflow_results_provider import config

        config.clear_cache()
        new_state = run("", dag=first["__dag__"])["fn"]
        assert new_state.is_successful()
        assert new_state._result.location == "1"

    @pytest.mark.skip(reason=NO_PARAMETER_TASK)  # port
    def test_success_state_for_parameter(self):
        pass

    @pytest.mark.parametrize("checkpoint", [True, None])
    def test_success_state_with_bad_result_results_in_failed_state(self, run, monkeypatch, checkpoint):
        body = f"""
class BadResult(Result):
    def read(self, *args, **kwargs):
        pass

    def write(self, *args, **kwargs):
        raise SyntaxError("Oh boy")

@task.result(checkpoint={checkpoint}, result=BadResult())
def fn(x):
    return x + 1

fn(1)
"""
        monkeypatch.setenv("AIRFLOW__RESULTS__CHECKPOINTING", "True")
        new_state = run(body)["fn"]
        assert new_state.is_failed()
        assert "SyntaxError" in repr(new_state.error)  # port: new_state.message

    def test_success_state_with_bad_result_and_checkpointing_disabled(self, run, monkeypatch):
        body = """
class BadResult(Result):
    def read(self, *args, **kwargs):
        pass

    def write(self, *args, **kwargs):
        raise SyntaxError("Oh boy")

@task.result(checkpoint=False, result=BadResult())
def fn(x):
    return x + 1

fn(1)
"""
        monkeypatch.setenv("AIRFLOW__RESULTS__CHECKPOINTING", "True")
        new_state = run(body)["fn"]
        assert new_state.is_successful()


class TestCacheResultStep:
    @pytest.mark.skip(reason=NO_PREFECT_STATE)  # port
    @pytest.mark.parametrize("state", ["Failed", "Skipped", "Finished", "Pending", "Running"])
    def test_non_success_states_with_results(self, state):
        pass

    @pytest.mark.skip(reason=NO_PREFECT_STATE)  # port
    def test_non_success_states(self):
        pass  # port: parametrized over Failed and its subclasses

    @pytest.mark.skip(reason=NO_PREFECT_STATE)  # port
    @pytest.mark.parametrize(
        "validator",
        ["all_inputs", "all_parameters", "duration_only", "partial_inputs_only", "partial_parameters_only"],
    )
    def test_success_state_with_no_cache_for(self, validator):
        pass  # port: TaskRunner.cache_result(state=Success()) on a task without cache_for

    def test_success_state_with_cache_for(self, run):
        body = """
@task.result(cache_for=timedelta(minutes=10))
def fn(x):
    return x + 1

fn(5)
"""
        # port: state=Success(result=2) handed to cache_result -> the value a first run cached
        first = run(body)
        state = first["fn"]
        new_state = run("", dag=first["__dag__"])["fn"]
        assert new_state is not state
        assert new_state.is_successful()
        assert new_state.is_cached()  # port: isinstance(new_state, Cached)
        assert new_state.result == state.result


class TestTargetExistsStep:
    @pytest.mark.skip(reason=NO_PREFECT_STATE)  # port
    @pytest.mark.parametrize("state", ["Failed", "Skipped", "Finished", "Pending", "Running"])
    def test_check_target(self, state):
        pass

    @pytest.mark.skip(reason=NO_STATE_HANDLERS)  # port
    def test_check_target_calls_state_handlers(self):
        pass

    def test_check_target_not_exists(self, run):
        # port: parametrized over the Prefect state handed in; the DAG run starts every task the same way
        body = """
@task.result(target="test-file", result=PrefectResult())
def Task():
    return 1

Task()
"""
        new_state = run(body)["Task"]
        assert not new_state.is_cached()  # port: new_state is state
        assert new_state._result.location != "test-file"

    def test_check_target_exists(self, run, tmp_path):
        from airflow_results_provider.results import LocalResult

        result = LocalResult(dir=tmp_path, location="Task-test-file")
        result.write(1)
        body = """
result = LocalResult(dir="__TMP_DIR__", location="Task-test-file")

@task.result(target="{task_name}-test-file", result=result)
def Task():  # port: task_name "Task"
    return 2

Task()
"""
        new_state = run(body)["Task"]

        assert result.exists("Task-test-file")
        assert new_state.is_cached()
        assert new_state._result.location == "Task-test-file"
        # port: the log line names the full URI of the target
        assert new_state.message == f"Result found at task target {result.uri('Task-test-file')}"

    def test_check_target_exists_multiple_checks(self, run, tmp_path):
        from airflow_results_provider.results import LocalResult

        result = LocalResult(dir=tmp_path, location="test-file")
        result.write(1)
        body = """
@task.result(target="test-file", result=LocalResult(dir="__TMP_DIR__", location="test-file"))
def my_task():
    return 2

my_task()
"""
        first = run(body)
        new_state = first["my_task"]

        assert result.exists("test-file")
        assert new_state.is_cached()
        assert new_state._result.location == "test-file"

        new_state_2 = run("", dag=first["__dag__"])["my_task"]

        assert result.exists("test-file")
        assert new_state_2.is_cached()
        assert new_state_2._result.location == "test-file"

    def test_check_target_uses_callable(self, run, tmp_path):
        from airflow_results_provider.results import LocalResult

        result = LocalResult(dir=tmp_path, location="testcall")
        result.write(1)
        body = """
@task.result(target=lambda **kwargs: "testcall", result=LocalResult(dir="__TMP_DIR__", location="testcall"))
def my_task():
    return 2

my_task()
"""
        first = run(body)
        new_state = first["my_task"]

        assert result.exists("testcall")
        assert new_state.is_cached()
        assert new_state._result.location == "testcall"

        new_state_2 = run("", dag=first["__dag__"])["my_task"]

        assert result.exists("testcall")
        assert new_state_2.is_cached()
        assert new_state_2._result.location == "testcall"

    def test_check_target_callable_uses_context(self, run, tmp_path):
        from airflow_results_provider.results import LocalResult

        result = LocalResult(dir=tmp_path, location="testtask")
        result.write(1)
        body = """
@task.result(target=lambda **kwargs: "{task_name}", result=LocalResult(dir="__TMP_DIR__", location="testtask"))
def testtask():  # port: prefect.context(task_name="testtask")
    return 2

testtask()
"""
        first = run(body)
        new_state = first["testtask"]

        assert result.exists("testtask")
        assert new_state.is_cached()
        assert new_state._result.location == "testtask"

        new_state_2 = run("", dag=first["__dag__"])["testtask"]

        assert result.exists("testtask")
        assert new_state_2.is_cached()
        assert new_state_2._result.location == "testtask"

    def _two_runs(self, run, body):  # port: flow.run() twice; Flow(result=...) -> default_args
        first = run(body)
        state = first
        assert state["t"].is_successful()
        assert not state["t"].is_cached()
        state2 = run("", dag=first["__dag__"])
        assert state2["t"].is_successful()
        assert state2["t"].is_cached()

    def test_target_respects_multiple_flow_runs(self, run, monkeypatch):
        monkeypatch.setenv("AIRFLOW__RESULTS__CHECKPOINTING", "True")
        body = """
dag.default_args["result"] = LocalResult(dir="__TMP_DIR__")

@task.result(target="{task_name}", task_id="t")
def my_task():
    return "data"

t = my_task()
"""
        self._two_runs(run, body)

    def test_target_with_callable_uses_run_context(self, run, monkeypatch):
        monkeypatch.setenv("AIRFLOW__RESULTS__CHECKPOINTING", "True")
        body = """
dag.default_args["result"] = LocalResult(dir="__TMP_DIR__")

@task.result(target=lambda **kwargs: str(kwargs["task_run_count"]), task_id="t")
def my_task():
    return "data"

t = my_task()
"""
        self._two_runs(run, body)

    def test_target_with_callable_uses_task_inputs(self, run, monkeypatch):
        monkeypatch.setenv("AIRFLOW__RESULTS__CHECKPOINTING", "True")
        body = """
dag.default_args["result"] = LocalResult(dir="__TMP_DIR__")

@task.result(target=lambda **kwargs: str(kwargs["x"]), task_id="t")
def my_task(x):
    return x

t = my_task("test_input")
"""
        self._two_runs(run, body)


@pytest.mark.parametrize("checkpoint", [True, None])
def test_failures_arent_checkpointed(run, monkeypatch, checkpoint):
    body = f"""
result = MagicMock(spec=Result, write=MagicMock(side_effect=SyntaxError))  # port: spec= (result= takes a Result)

@task.result(checkpoint={checkpoint}, result=result)
def fn():
    raise TypeError("Bad types")

fn()
"""
    monkeypatch.setenv("AIRFLOW__RESULTS__CHECKPOINTING", "True")
    new_state = run(body)["fn"]
    assert new_state.is_failed()
    assert isinstance(new_state.result, TypeError)


@pytest.mark.skip(reason=NO_PREFECT_SKIP_STATE)  # port
@pytest.mark.parametrize("checkpoint", [True, None])
def test_skips_arent_checkpointed(checkpoint):
    pass


class TestLooping:
    def test_looping_works(self, run):
        body = """
@task.result
def my_task():
    if prefect.context.get("task_loop_count", 1) < 3:
        raise signals.LOOP()
    else:
        return 42

my_task()
"""
        state = run(body)["my_task"]
        assert state.is_successful()
        assert state.result == 42

    @pytest.mark.skip(reason=NO_STATE_HANDLERS)  # port
    def test_looping_calls_state_handlers_appropriately(self):
        pass

    @pytest.mark.skip(reason=NO_TASK_RUNNER_LOGGER)  # port
    def test_looping_doesnt_aggressively_log_task_starting(self):
        pass

    @pytest.mark.skip(reason=NO_TASK_RUNNER_LOGGER)  # port
    def test_looping_doesnt_aggressively_log_task_finished(self):
        pass

    def test_looping_accumulates(self, run):
        body = """
@task.result
def my_task():
    curr = prefect.context.get("task_loop_result", 0)
    if prefect.context.get("task_loop_count", 1) < 3:
        raise signals.LOOP(result=curr + 1)
    else:
        return curr + 1

my_task()
"""
        state = run(body)["my_task"]
        assert state.is_successful()
        assert state.result == 3

    @pytest.mark.parametrize("checkpoint", [True, None])
    def test_looping_checkpoints_all_iterations(self, run, monkeypatch, checkpoint):
        body = f"""
class MyResult(Result):
    data = []

    def write(self, obj, **kwargs):
        self.data.append(obj)
        self.location = self.data.index(obj)
        self.value = obj
        return self

    def read(self, idx, **kwargs):
        return self.data[idx]

result = MyResult()

@task.result(checkpoint={checkpoint}, result=result)
def my_task():
    curr = prefect.context.get("task_loop_result", 0)
    if prefect.context.get("task_loop_count", 1) < 3:
        raise signals.LOOP(result=curr + 1)
    else:
        return curr + 1

my_task()
"""
        monkeypatch.setenv("AIRFLOW__RESULTS__CHECKPOINTING", "True")  # port: context={"checkpointing": True}
        states = run(body)
        state = states["my_task"]
        result = states["__dag__"].task_dict["my_task"].result  # port: the DAG's MyResult
        assert state.is_successful()
        assert result.data == [1, 2, 3]
        assert state.result == 3

    def test_looping_works_with_retries(self, run):
        body = """
@task.result(retries=2, retry_delay=timedelta(seconds=0))
def my_task():
    if prefect.context.get("task_loop_count", 1) == 2:
        if prefect.context.get("ti").try_number > 1:  # port: task_run_count
            return 42
        raise SyntaxError("failure")
    elif prefect.context.get("task_loop_count", 1) < 3:
        raise signals.LOOP()

my_task()
"""
        # port: runner.run() -> Retrying, runner.run(state=state) -> Success: one DAG run retries the task
        state = run(body)["my_task"]
        assert state.is_successful()

    def test_loop_results_work_with_retries(self, run):
        body = """
@task.result(retries=2, retry_delay=timedelta(seconds=0))
def my_task():
    if prefect.context.get("task_loop_count", 1) == 3:
        if prefect.context.get("ti").try_number > 1:  # port: task_run_count
            return prefect.context.get("task_loop_result")
        raise SyntaxError("failure")
    elif prefect.context.get("task_loop_count", 1) < 3:
        raise signals.LOOP(result=prefect.context.get("task_loop_result", 0) + 1)

my_task()
"""
        state = run(body)["my_task"]
        assert state.is_successful()
        assert state.result == 2

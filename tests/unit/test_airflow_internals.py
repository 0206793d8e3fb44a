"""Every Airflow internal this package (or its test harness) depends on, checked against the installed Airflow.

One test per item of docs/compatibility.md (the test id is the item's anchor). Each runs on every matrix leg
(Airflow 3.2 floor, 3.3, 3.4) and fails with a message naming the item when Airflow renames, removes or
reshapes it, so a new Airflow release breaks a test here instead of silently losing a feature.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable

import pytest

from airflow_results_provider.index._airflow_xcom import ALL_ATTEMPTS, stores_per_attempt, xcom_model

CHECKS: dict[str, Callable[[], None]] = {}


def internal(item: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """Register the check of docs/compatibility.md item ``item``."""

    def register(check: Callable[[], None]) -> Callable[[], None]:
        CHECKS[item] = check
        return check

    return register


def changed(item: str, what: str) -> AssertionError:
    import importlib.metadata

    version = importlib.metadata.version("apache-airflow")
    return AssertionError(
        f"Airflow internal {item!r} changed in apache-airflow {version}: {what}. "
        f"See docs/compatibility.md#{item} for what depends on it and what breaks."
    )


def attribute(item: str, module: str, name: str) -> object:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise changed(item, f"{module}.{name} is gone ({exc})") from exc


def parameters(item: str, function: object, *names: str) -> None:
    present = inspect.signature(function).parameters  # type: ignore[arg-type]
    missing = [name for name in names if name not in present]
    if missing:
        raise changed(item, f"{getattr(function, '__qualname__', function)} lost the parameters {missing}")


@internal("xcom-model-columns")
def _xcom_model_columns() -> None:
    from sqlalchemy import select

    model = attribute("xcom-model-columns", "airflow.models.xcom", "XComModel")
    columns = ("dag_id", "run_id", "task_id", "map_index", "key", "value", "timestamp")
    missing = [name for name in columns if not hasattr(model, name)]
    if missing:
        raise changed("xcom-model-columns", f"XComModel has no {missing}")
    statement = select(*(getattr(model, name) for name in columns)).where(model.key == "k")
    statement.compile()  # a projection, a table: both select these columns


@internal("xcom-row-delete")
def _xcom_row_delete() -> None:
    model = xcom_model()
    if stores_per_attempt():
        parameters("xcom-row-delete", model.delete_for_attempts, "producer_ids", "key", "session")
        select_producers = attribute("xcom-row-delete", "airflow.models.xcom", "select_producers")
        parameters("xcom-row-delete", select_producers, "dag_ids", "task_ids", "run_id", "map_indexes")
        return
    from sqlalchemy import Table, delete

    if not isinstance(getattr(model, "__table__", None), Table):
        raise changed(
            "xcom-row-delete",
            "XComModel maps no table any more and has no delete_for_attempts: rows cannot be deleted",
        )
    delete(model).where(model.key == "k").compile()


@internal("xcom-attempts")
def _xcom_attempts() -> None:
    if not stores_per_attempt():
        return  # one row per task instance: nothing archived to include
    restrict = attribute("xcom-attempts", "airflow.models.taskinstance", "_restrict_to_current_attempts")
    (option,) = ALL_ATTEMPTS
    if option not in inspect.getsource(restrict):  # type: ignore[arg-type]
        raise changed("xcom-attempts", f"archived attempts are no longer included with {option}=True")


@internal("purge-callers")
def _purge_callers() -> None:
    from airflow.sdk.bases.xcom import BaseXCom

    if "purge" not in vars(BaseXCom) or "cls.purge(" not in inspect.getsource(BaseXCom.delete):
        raise changed(
            "purge-callers", "BaseXCom.delete no longer calls purge: purge = on_clear purges nothing"
        )
    runner = importlib.import_module("airflow.sdk.execution_time.task_runner")
    if "xcom_keys_to_clear" not in inspect.getsource(runner):
        raise changed("purge-callers", "the task runner no longer deletes the XCom keys the server names")


@internal("xcom-push-hooks")
def _xcom_push_hooks() -> None:
    from airflow.sdk.bases.xcom import BaseXCom

    runner = inspect.getsource(importlib.import_module("airflow.sdk.execution_time.task_runner"))
    if "_push" in vars(BaseXCom):  # Airflow >= 3.4
        for name in ("_push", "_apush"):
            parameters("xcom-push-hooks", getattr(BaseXCom, name), "ti", "key", "value", "mapped_length")
        parameters("xcom-push-hooks", BaseXCom._store, "coordinate", "map_index", "key", "value")
        if "XCom._push(" not in runner:
            raise changed("xcom-push-hooks", "the task runner no longer pushes through XCom._push")
        return
    parameters("xcom-push-hooks", BaseXCom.set, "key", "value", "_mapped_length")
    if "_mapped_length=" not in runner:
        raise changed("xcom-push-hooks", "the task runner no longer passes _mapped_length to XCom.set")


@internal("display-serializers")
def _display_serializers() -> None:
    """Each (module, function) is a function of that module or a method of one of its classes (frames are
    matched by the module's ``__name__`` and the code's name)."""
    from airflow_results_provider.operators._rendered_fields import _DISPLAY_SERIALIZERS

    for module_name, function in sorted(_DISPLAY_SERIALIZERS):
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise changed("display-serializers", f"{module_name} is gone ({exc})") from exc
        candidates = [getattr(module, function, None)] + [
            vars(cls).get(function) for cls in vars(module).values() if isinstance(cls, type)
        ]
        codes = [
            getattr(inspect.unwrap(getattr(c, "__func__", c)), "__code__", None)
            for c in candidates
            if c is not None
        ]
        if not any(code is not None and code.co_filename == module.__file__ for code in codes):
            raise changed("display-serializers", f"no function {function} in {module_name}")


@internal("expand-input-resolve")
def _expand_input_resolve() -> None:
    module = importlib.import_module("airflow.sdk.definitions._internal.expandinput")
    if not (module.__file__ or "").endswith("expandinput.py"):
        raise changed("expand-input-resolve", f"expand inputs moved to {module.__file__}")
    for name in ("DictOfListsExpandInput", "ListOfDictsExpandInput"):
        if not callable(getattr(attribute("expand-input-resolve", module.__name__, name), "resolve", None)):
            raise changed("expand-input-resolve", f"{name}.resolve is gone")


@internal("secrets-masker-module")
def _secrets_masker_module() -> None:
    from airflow.sdk.log import mask_secret

    from airflow_results_provider.core.masking import airflow_redact

    name = "airflow.sdk._shared.secrets_masker.secrets_masker"
    importlib.import_module(name)
    if not callable(getattr(sys.modules.get(name), "redact", None)):
        raise changed("secrets-masker-module", f"{name}.redact is gone")
    mask_secret("internals-probe-s3cr3t-value")
    if "internals-probe-s3cr3t-value" in airflow_redact("token internals-probe-s3cr3t-value"):
        raise changed("secrets-masker-module", f"mask_secret no longer masks through {name}")


@internal("python-decorated-operator")
def _python_decorated_operator() -> None:
    operator = attribute(
        "python-decorated-operator",
        "airflow.providers.standard.decorators.python",
        "_PythonDecoratedOperator",
    )
    if not callable(getattr(operator, "_handle_output", None)):
        raise changed("python-decorated-operator", "_PythonDecoratedOperator._handle_output is gone")


@internal("render-template-fields")
def _render_template_fields() -> None:
    templater = attribute(
        "render-template-fields", "airflow.sdk.definitions._internal.templater", "Templater"
    )
    render = getattr(templater, "_do_render_template_fields", None)
    if not callable(render):
        raise changed("render-template-fields", "Templater._do_render_template_fields is gone")
    parameters(
        "render-template-fields", render, "parent", "template_fields", "context", "jinja_env", "seen_oids"
    )
    for module, caller in (
        ("airflow.sdk.bases.operator", "BaseOperator"),
        ("airflow.sdk.definitions.mappedoperator", "MappedOperator"),
    ):
        source = inspect.getsource(attribute("render-template-fields", module, caller).render_template_fields)
        if "_do_render_template_fields(" not in source:
            raise changed("render-template-fields", f"{caller}.render_template_fields no longer calls it")
    xcom_arg = attribute("render-template-fields", "airflow.sdk.definitions.xcom_arg", "XComArg")
    if not callable(getattr(xcom_arg, "iter_xcom_references", None)):
        raise changed("render-template-fields", "XComArg.iter_xcom_references is gone")


@internal("cli-config")
def _cli_config() -> None:
    for name in ("ActionCommand", "Arg", "GroupCommand", "lazy_load_command"):
        attribute("cli-config", "airflow.cli.cli_config", name)


@internal("api-server-dependencies")
def _api_server_dependencies() -> None:
    for module, name in (
        ("airflow.api_fastapi.app", "get_auth_manager"),
        ("airflow.api_fastapi.common.db.common", "SessionDep"),
        ("airflow.api_fastapi.core_api.security", "GetUserDep"),
        ("airflow.api_fastapi.core_api.security", "requires_access_dag"),
        ("airflow.api_fastapi.auth.managers.models.batch_apis", "IsAuthorizedDagRequest"),
        ("airflow.api_fastapi.auth.managers.models.resource_details", "DagAccessEntity"),
        ("airflow.api_fastapi.auth.managers.models.resource_details", "DagDetails"),
    ):
        attribute("api-server-dependencies", module, name)


@internal("in-process-execution-api")
def _in_process_execution_api() -> None:
    server = attribute(
        "in-process-execution-api", "airflow.sdk.execution_time.supervisor", "in_process_api_server"
    )
    if not callable(server):
        raise changed("in-process-execution-api", "in_process_api_server is not callable")


@internal("dag-test-clear-and-resume")
def _dag_test_clear_and_resume() -> None:
    clear = attribute("dag-test-clear-and-resume", "airflow.models.taskinstance", "clear_task_instances")
    parameters("dag-test-clear-and-resume", clear, "tis", "session", "dag_run_state")
    run_task = attribute("dag-test-clear-and-resume", "airflow.sdk.definitions.dag", "_run_task")
    parameters("dag-test-clear-and-resume", run_task, "ti", "task", "run_triggerer")
    serialization = attribute(
        "dag-test-clear-and-resume", "airflow.serialization.serialized_objects", "DagSerialization"
    )
    for name in ("serialize_dag", "deserialize_dag"):
        if not callable(getattr(serialization, name, None)):
            raise changed("dag-test-clear-and-resume", f"DagSerialization.{name} is gone")


@pytest.mark.parametrize("item", sorted(CHECKS))
def test_airflow_internal(item: str) -> None:
    CHECKS[item]()


def test_every_item_is_documented() -> None:
    """docs/compatibility.md lists exactly the items checked here (an anchor per item)."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "compatibility.md").read_text()
    documented = {line.split("{#", 1)[1].split("}", 1)[0] for line in text.splitlines() if "{#" in line}
    assert documented == set(CHECKS), (
        f"docs/compatibility.md items {sorted(documented)} != checked items {sorted(CHECKS)}"
    )

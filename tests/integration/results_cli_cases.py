"""Shared body of the ``airflow results`` CLI tests (LocalResult here, S3Result under cloud/): real DAG runs
(mixin checkpoints, a target hit, a mapped task) plus values the XCom backend offloaded, then list/show/rm/gc."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

DAG_SOURCE = """
from airflow.sdk import DAG
from airflow.providers.standard.operators.python import PythonOperator
from airflow_results_provider import ResultMixin
__IMPORTS__


class ResultPythonOperator(ResultMixin, PythonOperator):
    pass


def secretive():
    return {"rows": [1, 2, 3], "password": "hunter2"}


def text():
    return "a text value"


def square(i):
    return i * i


with DAG("__DAG_ID__", schedule=None) as dag:
    ResultPythonOperator(task_id="ckpt", python_callable=secretive, result=__RESULT__)
    ResultPythonOperator(
        task_id="tgt", python_callable=text, result=__RESULT__, target="__DAG_ID__/fixed-target.pkl"
    )
    ResultPythonOperator.partial(task_id="mapped", python_callable=square, result=__RESULT__).expand(
        op_args=[[1], [2]]
    )
"""


def args(**kwargs) -> argparse.Namespace:
    defaults = {
        "dag_id": None,
        "run_id": None,
        "task_id": None,
        "owner": None,
        "older_than": None,
        "limit": 100,
        "output": "json",
        "yes": False,
        "value": False,
        "include_checkpoints": False,
        "keep_last": None,
        "no_orphans": False,
        "store": None,
        "grace": None,
        "prefix": "",
        "bare_serializer": None,
    }
    defaults.update(kwargs)
    return argparse.Namespace(**defaults)


def offload_xcom(dag_id: str, run_id: str, task_id: str, value) -> None:
    """Store ``value`` as the XCom backend does (an offloaded envelope row)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    from airflow_results_provider.xcom import ResultXComBackend

    envelope = ResultXComBackend.serialize_value(
        value, key="big", dag_id=dag_id, task_id=task_id, run_id=run_id, map_index=-1
    )
    with create_session() as session:
        XComModel.set(
            "big",
            json.loads(envelope) if isinstance(envelope, str) else envelope,
            dag_id=dag_id,
            task_id=task_id,
            run_id=run_id,
            session=session,
        )


def json_out(text: str):
    """The JSON document a command printed (hooks may log lines to stdout before it)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(("{", "[")))
    return json.loads("\n".join(lines[start:]))


def listed(capsys, **kwargs) -> list[dict]:
    from airflow_results_provider.cli import commands

    capsys.readouterr()
    commands.list_results(args(**kwargs))
    return json_out(capsys.readouterr().out)


def run_cli_cases(
    dag_runner,
    capsys,
    *,
    dag_id: str,
    result_expr: str,
    imports: str,
    store: str,
    count_objects,
    locations: tuple[str, ...] = (),
):
    """The scenario; ``count_objects()`` counts payloads in the store (sidecars excluded); ``locations``: the
    prefixes of the records' locations (default: ``store``)."""
    from airflow_results_provider.cli import commands

    dag = dag_runner.load(
        DAG_SOURCE.replace("__RESULT__", result_expr)
        .replace("__IMPORTS__", imports)
        .replace("__DAG_ID__", dag_id),
        dag_id,
    )
    first, states = dag_runner.run(dag)
    assert set(states.values()) == {"success"}, states
    second, states = dag_runner.run(dag)
    assert set(states.values()) == {"success"}, states
    offload_xcom(dag_id, second.run_id, "ckpt", {"blob": "x" * 5000, "token": "s3cr3t"})

    records = listed(capsys, dag_id=dag_id)
    owners = sorted((r["run_id"] == second.run_id, r["task_id"], r["map_index"], r["owner"]) for r in records)
    assert owners == [
        (False, "ckpt", -1, "checkpoint"),
        (False, "mapped", 0, "checkpoint"),
        (False, "mapped", 1, "checkpoint"),
        (False, "tgt", -1, "checkpoint"),
        (True, "ckpt", -1, "checkpoint"),
        (True, "ckpt", -1, "xcom"),
        (True, "mapped", 0, "checkpoint"),
        (True, "mapped", 1, "checkpoint"),
        (True, "tgt", -1, "target"),
    ], owners
    assert all(r["verified"] for r in records)
    assert all(r["location"].startswith(locations or store) for r in records), [
        r["location"] for r in records
    ]
    assert [r["owner"] for r in listed(capsys, dag_id=dag_id, owner="xcom")] == ["xcom"]

    # show: metadata and the structured preview (masked), without loading the value.
    ckpt = next(r for r in records if r["task_id"] == "ckpt" and r["owner"] == "checkpoint")
    commands.show_result(args(result_id=ckpt["id"]))
    shown = json_out(capsys.readouterr().out)
    assert shown["metadata"]["preview_data"] == {
        "kind": "json",
        "data": {"rows": [1, 2, 3], "password": "***"},
    }
    assert shown["exists"] is True
    target = next(r for r in records if r["owner"] == "target")
    commands.show_result(args(result_id=target["id"], output="table", value=True, yes=True))
    out = capsys.readouterr()
    assert "a text value" in out.out and "Unpickling runs code" in out.err

    # gc: the dry run deletes nothing; checkpoints stay unless asked; orphans go with -y.
    orphan_before = count_objects()
    make_orphan(store)
    commands.gc_results(args(store=[store], grace="0s"))
    out = capsys.readouterr().out
    assert "Would delete 0 expired result(s) (0 B) and 1 orphan(s)" in out and "Dry run" in out
    assert count_objects() == orphan_before + 1
    commands.gc_results(args(store=[store], keep_last=1, yes=True, grace="0s"))
    out = capsys.readouterr().out
    assert "Deleted 0 expired result(s)" in out and "1 orphan(s)" in out, out
    assert "Kept 4 referenced checkpoint(s)" in out, out
    assert count_objects() == orphan_before
    assert len(listed(capsys, dag_id=dag_id)) == len(records)

    # rm: only the XCom backend's payload unless --include-checkpoints.
    commands.remove_results(args(dag_id=dag_id, run_id=second.run_id, yes=True))
    assert "Deleted 1 result(s)" in capsys.readouterr().out
    assert [r["owner"] for r in listed(capsys, dag_id=dag_id, run_id=second.run_id)].count("xcom") == 0
    assert count_objects() == orphan_before - 1
    commands.remove_results(
        args(dag_id=dag_id, run_id=first.run_id, task_id="mapped", include_checkpoints=True, yes=True)
    )
    assert "Deleted 2 result(s)" in capsys.readouterr().out
    assert count_objects() == orphan_before - 3
    # ... and gc --older-than with --include-checkpoints expires what is left.
    commands.gc_results(args(store=[store], older_than="0s", include_checkpoints=True, yes=True, grace="0s"))
    assert count_objects() == 0  # run 2's target hit is run 1's checkpoint: one object, deleted once
    return records


def make_orphan(store: str):
    """Write a payload + sidecar that no XCom row refers to (a deleted XCom row's payload: the XCom backend's)."""
    from airflow_results_provider.results.registry import result_from_spec

    result = result_from_spec(store)
    result.location = "xcom/orphaned/value.pkl"
    written = result.write({"orphan": True}, owner="xcom")
    return written


def local_payloads(root: Path) -> int:
    return sum(1 for p in root.rglob("*") if p.is_file() and not p.name.endswith(".meta.json"))

"""The attack of issue 21, finding 1, in real DAG runs: someone who can write the store but does not hold the
signing key plants a pickle at a task's target, cache entry or loop state. It must never run; the task runs
instead (a miss with a warning) and overwrites the record with a signed one."""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
from pathlib import Path

import pytest

from airflow_results_provider.core.sidecar import METADATA_SUFFIX

pytestmark = pytest.mark.airflow

COMMON = """
import datetime as dt
from pathlib import Path
from airflow.sdk import DAG
from airflow.providers.standard.operators.python import PythonOperator
from airflow_results_provider import Loop, ResultMixin

WORK = Path("__WORK__")


class ResultPythonOperator(ResultMixin, PythonOperator):
    pass


def counted(name, value):
    with open(WORK / name, "a") as f:
        f.write("x")
    return value


def looping(task_loop_count=1, task_loop_result=None):
    with open(WORK / "iterations", "a") as f:
        f.write(f"{task_loop_count},")
    if task_loop_count == 3 and not (WORK / "crashed").exists():
        (WORK / "crashed").touch()
        raise RuntimeError("worker died at iteration 3")
    if task_loop_count >= 4:
        return task_loop_result
    raise Loop(result=(task_loop_result or 0) + 1)


with DAG("planted", schedule=None, default_args={"retries": 0}) as dag:
    ResultPythonOperator(
        task_id="targeted", python_callable=counted, op_args=["targeted", "fresh"], target="planted/targeted.pkl"
    )
    ResultPythonOperator(
        task_id="neighbour", python_callable=counted, op_args=["neighbour", "other"], target="planted/neighbour.pkl"
    )
    ResultPythonOperator(
        task_id="cached", python_callable=counted, op_args=["cached", "fresh"], cache_for=dt.timedelta(hours=1),
        cache_key="planted-cache",
    )

with DAG("planted_loop", schedule=None, default_args={"retries": 0}) as loop_dag:
    ResultPythonOperator(task_id="loop", python_callable=looping, target="planted/loop.pkl")
"""


class _Exploit:
    """Unpickling this writes the marker file: what an attacker's pickle would do (run code)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


def _plant(path: Path, marker: Path, sidecar: str) -> None:
    """An attacker's pickle at ``path``: with no sidecar, a forged one (right sha256, made-up signature) or an
    unsigned one."""
    data = pickle.dumps(_Exploit(marker))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    meta_path = Path(str(path) + METADATA_SUFFIX)
    meta_path.unlink(missing_ok=True)
    if sidecar == "none":
        return
    digest = hashlib.sha256(data).hexdigest()
    meta = {"sha256": digest, "size": len(data), "serializer": "pickle", "location": path.as_uri()}
    if sidecar == "forged":
        meta["signature"] = {"kind": "result", "sha256": [digest], "hmac": "0" * 64}
    meta_path.write_text(json.dumps(meta))


def _count(work: Path, name: str) -> int:
    path = work / name
    return len(path.read_text()) if path.exists() else 0


@pytest.mark.parametrize("sidecar", ["none", "unsigned", "forged"])
def test_a_planted_target_or_cache_entry_never_runs(dag_runner, results_dir, tmp_path, sidecar, capfd):
    from airflow_results_provider.templating.filters import path_safe_unique

    work = tmp_path / "work"
    work.mkdir()
    marker = tmp_path / "pwned"
    _plant(results_dir / "planted" / "targeted.pkl", marker, sidecar)
    cache = results_dir / "_cache" / path_safe_unique("planted-cache") / "task.pkl"
    _plant(cache, marker, sidecar)
    dag = dag_runner.load(COMMON, "planted", work=work)

    _, states = dag_runner.run(dag)

    assert states == {"targeted": "success", "neighbour": "success", "cached": "success"}
    assert not marker.exists(), "a planted pickle ran"
    assert _count(work, "targeted") == 1 and _count(work, "cached") == 1  # both were misses: the tasks ran
    out, err = capfd.readouterr()
    assert "is not signed for this location" in out + err
    # The tasks overwrote the planted records with signed ones: the next run hits both.
    _, states = dag_runner.run(dag)
    assert _count(work, "targeted") == 1 and _count(work, "cached") == 1 and _count(work, "neighbour") == 1
    assert not marker.exists()


def test_a_signed_record_moved_to_another_place_is_a_miss(dag_runner, results_dir, tmp_path):
    # A store writer copies a key holder's record (payload and signed sidecar) to another task's target and to
    # a cache entry: signed for another URI and kind, it is not loaded there.
    work = tmp_path / "work"
    work.mkdir()
    dag = dag_runner.load(COMMON, "planted", work=work)
    dag_runner.run(dag)
    from airflow_results_provider.templating.filters import path_safe_unique

    source = results_dir / "planted" / "neighbour.pkl"
    cache = results_dir / "_cache" / path_safe_unique("planted-cache") / "task.pkl"
    for destination in (results_dir / "planted" / "targeted.pkl", cache):
        shutil.copy(source, destination)
        shutil.copy(str(source) + METADATA_SUFFIX, str(destination) + METADATA_SUFFIX)

    _, states = dag_runner.run(dag)

    assert set(states.values()) == {"success"}
    assert _count(work, "targeted") == 2 and _count(work, "cached") == 2  # moved records were misses
    assert _count(work, "neighbour") == 1  # its own record still hits
    with open(results_dir / "planted" / "targeted.pkl", "rb") as f:
        assert pickle.load(f) == "fresh"


@pytest.mark.parametrize("pointing_at", ["planted pickle", "another task's checkpoint"])
def test_a_forged_loop_state_never_redirects_the_loop(dag_runner, results_dir, tmp_path, pointing_at):
    work = tmp_path / "work"
    work.mkdir()
    marker = tmp_path / "pwned"
    dag = dag_runner.load(COMMON, "planted_loop", work=work)
    run, states = dag_runner.run(dag)
    assert states == {"loop": "failed"}  # died in iteration 3; the loop state says "resume at 3"
    (state_path,) = [p for p in results_dir.rglob("*loop-state*") if not p.name.endswith(METADATA_SUFFIX)]
    if pointing_at == "planted pickle":
        target = results_dir / "planted" / "evil.pkl"
        _plant(target, marker, "forged")
    else:
        target = next(p for p in results_dir.rglob("*.pkl") if "loop-" in str(p))
    # The forged state (resume at iteration 9 from the attacker's choice), with a matching unsigned sidecar.
    forged = json.dumps(
        {"next_count": 9, "location": str(target.relative_to(results_dir)), "uri": target.as_uri()}
    ).encode()
    state_path.write_bytes(forged)
    Path(str(state_path) + METADATA_SUFFIX).write_text(
        json.dumps({"sha256": hashlib.sha256(forged).hexdigest(), "size": len(forged), "serializer": "json"})
    )

    dag_runner.clear_and_resume(dag, run, ["loop"])

    assert not marker.exists(), "a planted pickle ran"
    # The forged state was refused: the loop started over at 1 (not 9) and finished at 4.
    assert (work / "iterations").read_text() == "1,2,3,1,2,3,4,"
    with open(results_dir / "planted" / "loop.pkl", "rb") as f:
        assert pickle.load(f) == 3

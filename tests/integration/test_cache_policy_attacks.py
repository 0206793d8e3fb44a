"""Policy cache records are untrusted (issue 23): someone who can write the store but does not hold the signing
key edits or plants cache entries and values. Nothing they wrote may be loaded or run, and no entry may redirect a
hit to another value; the task computes instead (a miss with a warning)."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
from pathlib import Path

import pytest

from airflow_results_provider.core.sidecar import METADATA_SUFFIX

pytestmark = pytest.mark.airflow

SOURCE = """
from pathlib import Path
from airflow.sdk import DAG, task
from airflow_results_provider.cache_policies import INPUTS

WORK = Path("__WORK__")


def bump(name):
    with open(WORK / name, "a") as f:
        f.write("x")


with DAG("cache_attacks", schedule=None, default_args={"retries": 0}) as dag:

    @task.result(cache_policy=INPUTS)
    def victim(n):
        bump("victim")
        return {"victim": n}

    @task.result(cache_policy=INPUTS)
    def neighbour(n):
        bump("neighbour")
        return {"neighbour": n}

    victim(1)
    neighbour(1)
"""


class Planted:
    """Unpickling this touches a file: proof that code of the attacker's ran."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def count(work: Path, name: str) -> int:
    path = work / name
    return len(path.read_text()) if path.exists() else 0


def keys_dir(results: Path, task_id: str) -> Path:
    from airflow_results_provider._checkpointing.policy_cache import task_cache_dir

    return results / task_cache_dir("cache_attacks", task_id) / "keys"


def only_entry(results: Path, task_id: str) -> Path:
    entries = [p for p in keys_dir(results, task_id).glob("*.json") if not p.name.endswith(METADATA_SUFFIX)]
    assert len(entries) == 1, entries
    return entries[0]


def rewrite(path: Path, data: bytes) -> None:
    """Replace a payload and fix its sidecar's digest and size, as a writer without the key can."""
    path.write_bytes(data)
    sidecar = Path(str(path) + METADATA_SUFFIX)
    meta = json.loads(sidecar.read_text()) if sidecar.exists() else {}
    meta.update(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    sidecar.write_text(json.dumps(meta))


@pytest.fixture
def seeded(dag_runner, results_dir, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    dag = dag_runner.load(SOURCE, "cache_attacks", work=work)
    _, states = dag_runner.run(dag)
    assert set(states.values()) == {"success"}, states
    return dag_runner, dag, results_dir, work


def run_again(dag_runner, dag) -> dict:
    _, states = dag_runner.run(dag)
    assert set(states.values()) == {"success"}, states
    return states


def test_planted_pickle_value_never_runs(seeded):
    dag_runner, dag, results, work = seeded
    entry_path = only_entry(results, "victim")
    entry = json.loads(entry_path.read_text())
    pickle_path = entry_path.with_suffix(".pkl")
    sentinel = work / "pwned"
    rewrite(pickle_path, pickle.dumps(Planted(str(sentinel))))
    entry["value"] = {"pickle": str(pickle_path.relative_to(results))}
    rewrite(entry_path, json.dumps(entry).encode())

    run_again(dag_runner, dag)
    assert not sentinel.exists(), "the planted pickle ran"
    assert count(work, "victim") == 2  # a miss: computed again
    assert count(work, "neighbour") == 1  # untouched records still hit


def test_entry_cannot_redirect_a_hit_to_another_value(seeded):
    dag_runner, dag, results, work = seeded
    victim_path = only_entry(results, "victim")
    neighbour = json.loads(only_entry(results, "neighbour").read_text())
    forged = json.loads(victim_path.read_text())
    forged["value"] = neighbour["value"]  # the neighbour's checkpoint, with its true sha256
    rewrite(victim_path, json.dumps(forged).encode())

    run_again(dag_runner, dag)
    assert count(work, "victim") == 2  # the edited entry is unsigned: ignored


def test_signed_entry_copied_to_another_task_is_refused(seeded):
    dag_runner, dag, results, work = seeded
    victim_path = only_entry(results, "victim")
    neighbour_path = only_entry(results, "neighbour")
    # The neighbour's entry, signature and all, in place of the victim's (same key file name, other task's dir).
    shutil.copyfile(neighbour_path, victim_path)
    shutil.copyfile(str(neighbour_path) + METADATA_SUFFIX, str(victim_path) + METADATA_SUFFIX)

    run_again(dag_runner, dag)
    assert count(work, "victim") == 2  # the signature names the neighbour's location, not this one

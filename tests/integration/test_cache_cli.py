"""``airflow results explain/invalidate`` and the Result tab's cache decision, over real DAG runs; gc never
takes policy cache records."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.conftest import run_airflow
from tests.integration.results_cli_cases import json_out

pytestmark = pytest.mark.airflow

SOURCE = """
from pathlib import Path
from airflow.sdk import DAG, task
from airflow_results_provider.cache_policies import INPUTS, TASK_SOURCE

WORK = Path("__WORK__")


def bump(name):
    with open(WORK / name, "a") as f:
        f.write("x")


with DAG("__DAG_ID__", schedule=None, default_args={"retries": 0}) as dag:

    @task.result(checkpoint=False)
    def extract():
        return [int(x) for x in (WORK / "rows.txt").read_text().split()]

    @task.result(cache_policy=INPUTS - "session" + TASK_SOURCE)
    def transform(rows, session):
        bump("transform")
        return [r * __FACTOR__ for r in rows]

    @task.result(cache_policy=INPUTS, checkpoint=False)
    def square(i):
        bump("square")
        return i * i

    transform(extract(), session=(WORK / "session.txt").read_text())
    square(3)
"""

DAG_ID = "cache_cli_dag"


def explain_args(**kwargs) -> argparse.Namespace:
    defaults = {
        "task_instance": None,
        "dag_id": None,
        "run_id": None,
        "task_id": None,
        "map_index": None,
        "store": None,
        "output": "json",
    }
    return argparse.Namespace(**{**defaults, **kwargs})


def invalidate_args(**kwargs) -> argparse.Namespace:
    defaults = {"dag_id": DAG_ID, "task_id": None, "key": None, "store": None, "yes": False}
    return argparse.Namespace(**{**defaults, **kwargs})


def explain(capsys, ti: str, **kwargs) -> dict:
    from airflow_results_provider.cli import cache_commands

    capsys.readouterr()
    cache_commands.explain_cache(explain_args(task_instance=ti, **kwargs))
    return json_out(capsys.readouterr().out)


def explain_table(capsys, ti: str) -> str:
    from airflow_results_provider.cli import cache_commands

    capsys.readouterr()
    cache_commands.explain_cache(explain_args(task_instance=ti, output="table"))
    return capsys.readouterr().out


def invalidate(capsys, **kwargs) -> str:
    from airflow_results_provider.cli import cache_commands

    capsys.readouterr()
    cache_commands.invalidate_cache(invalidate_args(**kwargs))
    return capsys.readouterr().out


def count(work: Path, name: str) -> int:
    path = work / name
    return len(path.read_text()) if path.exists() else 0


def cache_files(root: Path, dag_id: str = DAG_ID) -> set[str]:
    """Every policy cache file of ``dag_id``'s tasks (entries, values, claims, latest, decisions, sidecars)."""
    return {
        str(p.relative_to(root))
        for task in ("transform", "square")
        for p in (root / "_cache" / f"{dag_id}.{task}").rglob("*")
        if p.is_file()
    }


def entry_files(files: set[str], task: str) -> set[str]:
    """The entries and values (with sidecars) of ``task`` among ``files`` (claims left out)."""
    return {f for f in files if f"{DAG_ID}.{task}/keys/" in f and ".claim" not in f}


@pytest.fixture
def work(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "rows.txt").write_text("1 2 3")
    (work / "session.txt").write_text("s1")
    return work


def make_runner(dag_runner, work, dag_id=DAG_ID):
    def run(factor: int = 10):
        dag = dag_runner.load(SOURCE.replace("__DAG_ID__", dag_id), dag_id, work=work, factor=factor)
        dag_run, states = dag_runner.run(dag)
        assert set(states.values()) == {"success"}, states
        return dag_run.run_id

    return run


def test_explain_names_the_changed_component_and_invalidate_makes_the_next_run_compute(
    dag_runner, results_dir, work, capsys, tmp_path
):
    run = make_runner(dag_runner, work)
    first = run()
    why = explain(capsys, f"{DAG_ID}/{quote(first, safe='')}/transform")
    assert (why["outcome"], why["reason"]) == ("miss", "no earlier entry for this task"), why
    assert why["policy"] == "INPUTS - 'session' + TASK_SOURCE"
    names = [c["name"] for c in why["components"]]
    assert names == ["input:rows", "task_source"], names  # the excluded argument is not a component

    # Same inputs and code: a hit; -d/-r/-t work as the positional form does.
    second = run()
    assert count(work, "transform") == 1
    why = explain(capsys, "", dag_id=DAG_ID, run_id=second, task_id="transform")
    assert why["outcome"] == "hit" and why["from_run_id"] == first, why
    assert not any(c["differs_from_newest"] or c["changed_when_decided"] for c in why["components"])

    # An excluded argument changed: a hit.
    (work / "session.txt").write_text("s2")
    assert explain(capsys, f"{DAG_ID}/{run()}/transform")["outcome"] == "hit"

    # One input changed: the miss names it, with the old and new digests.
    (work / "rows.txt").write_text("1 2 4")
    third = run()
    assert count(work, "transform") == 2
    why = explain(capsys, f"{DAG_ID}/{third}/transform")
    old_rows = next(c["digest"] for c in explain(capsys, f"{DAG_ID}/{first}/transform")["components"])
    new_rows = why["components"][0]["digest"]
    assert why["outcome"] == "miss"
    assert why["reason"] == f"input 'rows' changed: {old_rows[:8]}… -> {new_rows[:8]}…", why
    marked = {c["name"]: c["changed_when_decided"] for c in why["components"]}
    assert marked == {"input:rows": True, "task_source": False}
    table = explain_table(capsys, f"{DAG_ID}/{third}/transform")
    assert "Cache miss" in table and "input 'rows' changed:" in table and "changed (when decided)" in table
    # The first run's key, against the newest entry now: its rows differ.
    first_now = explain(capsys, f"{DAG_ID}/{first}/transform")
    assert {c["name"]: c["differs_from_newest"] for c in first_now["components"]} == {
        "input:rows": True,
        "task_source": False,
    }

    # The callable's body changed (DAG file edited): the miss names the task source.
    fourth = run(factor=11)
    assert count(work, "transform") == 3
    why = explain(capsys, f"{DAG_ID}/{fourth}/transform")
    assert why["outcome"] == "miss" and why["reason"].startswith("task source changed: "), why

    # A value kept by the cache itself (checkpoint=False): a hit all along.
    why = explain(capsys, f"{DAG_ID}/{fourth}/square")
    assert why["outcome"] == "hit" and why["components"][0]["name"] == "input:i", why

    # A task without a cache policy: a clear message, exit code 1 (the real CLI).
    proc = run_airflow("results", "explain", f"{DAG_ID}/{fourth}/extract")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "No cache decision recorded" in proc.stderr and "no cache policy" in proc.stderr, proc.stderr

    # Another DAG whose cache directory starts the same way (a dot in its id): never invalidated with this one.
    other = "cache_cli_dag.transform"
    other_work = tmp_path / "other"
    shutil.copytree(work, other_work)
    make_runner(dag_runner, other_work, dag_id=other)()
    others = cache_files(results_dir, other)
    assert any("/keys/" in p for p in others), others

    # invalidate: a dry run first (nothing goes), then -y for transform only.
    before = cache_files(results_dir)
    out = invalidate(capsys)
    # transform: rows 1 2 3 (x10), 1 2 4 (x10), 1 2 4 (x11); square: i=3
    assert "Would remove 4 cache entries" in out and "Dry run" in out, out
    assert "latest.json" in out and f"{other}.transform/" not in out and f"{other}.square/" not in out, out
    assert cache_files(results_dir) == before
    out = invalidate(capsys, task_id="transform")
    assert "Would remove 3 cache entries" in out, out
    checkpoints = {p for p in results_dir.rglob("*") if p.is_file() and "_cache" not in p.parts}
    out = invalidate(capsys, task_id="transform", yes=True)
    assert "Removed 3 cache entries" in out, out
    left = cache_files(results_dir)
    assert entry_files(before, "transform") and not entry_files(left, "transform"), left
    assert f"_cache/{DAG_ID}.transform/latest.json" in before - left
    runs = {f for f in before if f"{DAG_ID}.transform/runs/" in f}
    assert runs and runs <= left, "the recorded decisions must stay"
    assert entry_files(left, "square") == entry_files(before, "square"), "another task's entries must stay"
    assert cache_files(results_dir, other) == others, "another DAG's records must stay"
    assert {p for p in results_dir.rglob("*") if p.is_file() and "_cache" not in p.parts} == checkpoints

    # The next run computes again, and explains why.
    fifth = run(factor=11)
    assert count(work, "transform") == 4
    why = explain(capsys, f"{DAG_ID}/{fifth}/transform")
    assert (why["outcome"], why["reason"]) == ("miss", "no earlier entry for this task"), why
    assert run(factor=11) and count(work, "transform") == 4  # and hits after that

    # --key (a prefix of the key, as explain shows it): that entry and its pickled value only.
    key = explain(capsys, f"{DAG_ID}/{fifth}/square")["key"]
    assert invalidate(capsys, key="0" * 64 if key[0] != "0" else "f" * 64, yes=True).startswith(
        "No cache entries"
    )
    out = invalidate(capsys, key=key[:8] + "…", yes=True)
    assert "Removed 1 cache entry" in out and f"keys/{key}.pkl" in out, out
    squares, transforms = count(work, "square"), count(work, "transform")
    run(factor=11)
    assert (count(work, "square"), count(work, "transform")) == (squares + 1, transforms)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("d/r/t", ("d", "r", "t", None)),
        ("d/r/t/3", ("d", "r", "t", 3)),
        ("d/r/t/-1", ("d", "r", "t", None)),
        ("d/backfill%2Fx/t/0", ("d", "backfill/x", "t", 0)),  # URL-quoted, as `list` shows ids
        ("d/scheduled/2024/t", ("d", "scheduled/2024", "t", None)),  # a run id with a slash
    ],
)
def test_a_task_instance_is_named_like_the_ids_of_list(given, expected):
    from airflow_results_provider.cli.cache_commands import parse_task_instance

    assert parse_task_instance(explain_args(task_instance=given)) == expected


def test_a_task_instance_missing_a_part_is_refused():
    from airflow_results_provider.cli.cache_commands import parse_task_instance

    with pytest.raises(SystemExit, match="DAG/RUN/TASK"):
        parse_task_instance(explain_args(task_instance="d/t"))
    with pytest.raises(SystemExit, match="-d DAG -r RUN -t TASK"):
        parse_task_instance(explain_args(dag_id="d", task_id="t"))


def test_gc_never_deletes_policy_cache_records(dag_runner, results_dir, work, capsys):
    """`gc -y` and `gc -y --include-checkpoints` (everything expired) leave every record of the policy cache:
    entries, pickled values, latest.json and decisions; after the plain gc the next run still hits."""
    from airflow_results_provider.cli import commands
    from tests.integration.results_cli_cases import args

    run = make_runner(dag_runner, work)
    run()
    run()
    records = cache_files(results_dir)
    kinds = {Path(p).name.split(".")[-1] for p in records}
    assert any(p.endswith(".pkl") for p in records) and "latest.json" in {Path(p).name for p in records}
    assert kinds >= {"json", "pkl"}, kinds
    store = results_dir.as_uri()
    commands.gc_results(args(store=[store], yes=True, grace="0s"))
    out = capsys.readouterr().out
    assert "0 orphan(s)" in out and "never orphans" in out, out  # the records were listed, and kept
    assert cache_files(results_dir) == records
    done = count(work, "transform"), count(work, "square")
    run()
    assert (count(work, "transform"), count(work, "square")) == done, "gc broke the cache"
    records = cache_files(results_dir)
    commands.gc_results(args(store=[store], yes=True, grace="0s", older_than="0s", include_checkpoints=True))
    out = capsys.readouterr().out
    assert "Deleted 0 expired" not in out and "Deleted" in out, out  # transform's checkpoints went
    assert not list((results_dir / DAG_ID).rglob("return_value.pkl"))
    assert cache_files(results_dir) == records


def test_the_result_tab_shows_the_cache_decision_escaped(dag_runner, results_dir, work, capsys):
    """The plugin's task instance page (the "Result" tab) through Airflow's API app: hit/miss, reason, the key
    shortened with the full key on hover, the components; a signed record's text is escaped, never markup."""
    from fastapi.testclient import TestClient

    from airflow_results_provider._checkpointing.policy_cache import decision_location
    from airflow_results_provider.index.cache_records import read_record, records_store

    run = make_runner(dag_runner, work)
    run()
    run_id = run()
    key = explain(capsys, f"{DAG_ID}/{run_id}/transform")["key"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
        from airflow.api_fastapi.app import create_app

        with TestClient(create_app(apps="core"), base_url="http://localhost") as client:
            page = client.get(f"/results/ti/{DAG_ID}/{quote(run_id, safe='')}/transform/-1")
            assert page.status_code == 200, page.text
            html = page.text
            assert 'Cache <span class="ok">hit</span>' in html, html
            assert f'title="{key}"' in html and f">{key[:8]}…<" in html
            assert "input:rows" in html and "task_source" in html and "INPUTS - &#39;session&#39;" in html

            # A signed decision whose text is markup (a task holds the signing key): shown as text.
            store = records_store("")
            location = decision_location(DAG_ID, "transform", run_id, None)
            record = read_record(store, location)
            record["reason"] = "<script>alert(1)</script>"
            record["components"] = {"input:<b>x</b>": "<img src=x onerror=alert(1)>"}
            writer = store.copy()
            writer.location = location
            writer.write(record, dag_id=DAG_ID, run_id=run_id, task_id="transform")
            html = client.get(f"/results/ti/{DAG_ID}/{quote(run_id, safe='')}/transform/-1").text
            assert "<script>" not in html and "<b>x</b>" not in html and "<img" not in html
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "input:&lt;b&gt;x&lt;/b&gt;" in html

            # A task without a cache policy: no cache section.
            html = client.get(f"/results/ti/{DAG_ID}/{quote(run_id, safe='')}/extract/-1").text
            assert 'class="cache"' not in html

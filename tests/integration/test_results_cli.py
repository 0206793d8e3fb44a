"""``airflow results list/show/rm/gc`` against LocalResult (the S3Result run is in cloud/)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from tests.conftest import run_airflow
from tests.integration.results_cli_cases import local_payloads, run_cli_cases

pytestmark = pytest.mark.airflow


def cli_cases_on(dag_runner, capsys, monkeypatch, *, name: str, store: str, root, result_expr: str, **kwargs):
    """The CLI scenario with ``store`` as ``[results] xcom_result`` and the mixin tasks' Result."""
    from airflow_results_provider import config

    monkeypatch.setenv("AIRFLOW__RESULTS__XCOM_RESULT", store)
    config.clear_cache()
    run_cli_cases(
        dag_runner,
        capsys,
        dag_id=f"results_cli_{name}",
        result_expr=result_expr,
        store=store,
        count_objects=lambda: local_payloads(root),
        **kwargs,
    )


def test_cli_on_local_results(dag_runner, capsys, tmp_path, monkeypatch):
    root = tmp_path / "store"
    cli_cases_on(
        dag_runner,
        capsys,
        monkeypatch,
        name="local",
        store=root.as_uri(),
        root=root,
        result_expr=f"LocalResult(dir={str(root)!r})",
        imports="from airflow_results_provider import LocalResult",
    )


def test_cli_on_a_store_registered_at_runtime(dag_runner, capsys, tmp_path, monkeypatch):
    """A third-party store (tests/directory_store.py, public storage protocol only), registered with
    register_store: specs resolve to it, the index lists its payloads, gc deletes its orphans, rm its values."""
    from airflow_results_provider.results.registry import register_store, result_from_spec, unregister_store
    from tests.directory_store import DirectoryStore

    root = tmp_path / "dirstore"
    store = f"dirstore://{root}"
    register_store("dirstore", DirectoryStore.from_spec)
    try:
        assert isinstance(result_from_spec(store), DirectoryStore)
        assert result_from_spec(store).store_spec() == store
        cli_cases_on(
            dag_runner,
            capsys,
            monkeypatch,
            name="dirstore",
            store=store,
            root=root,
            result_expr=f"DirectoryStore({str(root)!r})",
            imports="from tests.directory_store import DirectoryStore",
        )
    finally:
        unregister_store("dirstore")


def test_cli_on_object_storage_results(dag_runner, capsys, tmp_path, monkeypatch):
    """ObjectStorageResult payloads are listed by the index and collected by gc like every store's."""
    root = tmp_path / "objectstorage"
    root.mkdir()
    base = root.as_uri()
    cli_cases_on(
        dag_runner,
        capsys,
        monkeypatch,
        name="objectstorage",
        store=f"objectstorage+{base}",
        root=root,
        result_expr=f"ObjectStorageResult({base!r})",
        imports="from airflow_results_provider import ObjectStorageResult",
        locations=(f"objectstorage+{base}", base),
    )


def test_gc_never_takes_live_data_for_orphans(dag_runner, capsys, results_dir, tmp_path):
    """Cache entries (no XCom row refers to them) survive `gc -y`, so the next run still hits the cache; an
    orphan the XCom backend wrote is deleted only once it is older than the grace period."""
    from airflow_results_provider.cli import commands
    from tests.integration.results_cli_cases import args, make_orphan
    from tests.integration.test_operators_dags import CACHED, count

    dag = dag_runner.load(CACHED, "cached", work=tmp_path)
    dag_runner.run(dag)
    assert count(tmp_path, "computed") == 1
    store = results_dir.as_uri()
    orphan = make_orphan(store)
    commands.gc_results(args(store=[store], yes=True))  # default grace: the fresh orphan is kept
    out = capsys.readouterr().out
    assert "0 orphan(s)" in out, out
    assert (results_dir / orphan.location).exists()
    commands.gc_results(args(store=[store], yes=True, grace="0s"))
    out = capsys.readouterr().out
    assert "1 orphan(s)" in out and "never orphans" in out, out  # the cache entries: not the backend's
    assert not (results_dir / orphan.location).exists()
    assert (results_dir / "_cache" / "cached.cached" / "task.pkl").exists()
    dag_runner.run(dag)
    assert count(tmp_path, "computed") == 1  # the cache entry gc kept was used


def test_gc_keeps_a_payload_that_a_kept_row_still_refers_to(dag_runner, capsys, tmp_path, monkeypatch):
    """Run 2's target hit is run 1's checkpoint (one object, two rows): expiring run 1's row with
    --keep-last 1 --include-checkpoints deletes that row, never the object run 2's row still refers to."""
    from airflow_results_provider import config
    from airflow_results_provider.cli import commands
    from tests.integration.results_cli_cases import DAG_SOURCE, args, listed

    root = tmp_path / "store"
    store = root.as_uri()
    monkeypatch.setenv("AIRFLOW__RESULTS__XCOM_RESULT", store)
    config.clear_cache()
    source = DAG_SOURCE.replace("__RESULT__", f"LocalResult(dir={str(root)!r})")
    source = source.replace("__IMPORTS__", "from airflow_results_provider import LocalResult")
    dag = dag_runner.load(source.replace("__DAG_ID__", "results_cli_shared"), "results_cli_shared")
    dag_runner.run(dag)
    dag_runner.run(dag)
    target = root / "results_cli_shared" / "fixed-target.pkl"
    owners = sorted(r["owner"] for r in listed(capsys, dag_id="results_cli_shared", task_id="tgt"))
    assert owners == ["checkpoint", "target"] and target.exists()
    commands.gc_results(args(store=[store], keep_last=1, include_checkpoints=True, yes=True, grace="0s"))
    capsys.readouterr()
    kept = listed(capsys, dag_id="results_cli_shared", task_id="tgt")
    assert [r["owner"] for r in kept] == ["target"]  # run 1's row expired
    assert target.exists(), "gc deleted the payload run 2's row still refers to"


def _strip_signatures(root):
    """Sidecars as earlier versions wrote them: no signature."""
    for sidecar in root.rglob("*.meta.json"):
        meta = json.loads(sidecar.read_text())
        meta.pop("signature", None)
        sidecar.write_text(json.dumps(meta))


def test_sign_makes_records_of_earlier_versions_hit_again(dag_runner, capsys, results_dir, tmp_path):
    """Records written before signing are misses (their pickles are not loaded); once the operator signs the
    store, the cache hits again and a bare legacy pickle (no sidecar) reads with --bare-serializer."""
    from airflow_results_provider.cli import commands
    from airflow_results_provider.results import LocalResult
    from tests.integration.results_cli_cases import args
    from tests.integration.test_operators_dags import CACHED, count

    dag = dag_runner.load(CACHED, "cached", work=tmp_path)
    dag_runner.run(dag)
    assert count(tmp_path, "computed") == 1
    _strip_signatures(results_dir)
    bare = results_dir / "legacy" / "prefect-abc123"
    bare.parent.mkdir()
    bare.write_bytes(pickle.dumps({"legacy": 1}))
    store = results_dir.as_uri()

    with pytest.raises(SystemExit):  # the bare payload is reported (no --bare-serializer)
        commands.sign_results(args(store=[store]))
    out, err = capsys.readouterr()
    assert "Would sign" in out and "Dry run" in out and "no sidecar" in err, (out, err)
    assert "signature" not in (results_dir / "_cache" / "cached.cached" / "task.pkl.meta.json").read_text()
    commands.sign_results(args(store=[store], yes=True, bare_serializer="pickle"))
    out = capsys.readouterr().out
    assert "Signed" in out and "task.pkl" in out, out
    assert LocalResult(dir=results_dir).read("legacy/prefect-abc123").value == {"legacy": 1}
    dag_runner.run(dag)
    assert count(tmp_path, "computed") == 1  # the re-signed cache entry hit
    commands.sign_results(args(store=[store], yes=True))  # idempotent
    assert "Signed 0 record(s)" in capsys.readouterr().out


def test_gc_never_takes_a_checkpoint_relabelled_as_the_backends(dag_runner, capsys, results_dir, tmp_path):
    """A store writer marks a cache entry ``owner: xcom`` (unsigned): gc does not take it for an orphan."""
    from airflow_results_provider.cli import commands
    from tests.integration.results_cli_cases import args
    from tests.integration.test_operators_dags import CACHED

    dag_runner.run(dag_runner.load(CACHED, "cached", work=tmp_path))
    entry = results_dir / "_cache" / "cached.cached" / "task.pkl"
    sidecar = Path(str(entry) + ".meta.json")
    meta = json.loads(sidecar.read_text())
    meta["owner"] = "xcom"
    sidecar.write_text(json.dumps(meta))
    commands.gc_results(args(store=[results_dir.as_uri()], yes=True, grace="0s"))
    assert "0 orphan(s)" in capsys.readouterr().out
    assert entry.exists()


def test_the_cli_is_registered(airflow_db):
    proc = run_airflow("results", "gc", "--help")
    assert proc.returncode == 0, proc.stderr
    assert "--dry-run" not in proc.stdout and "-y, --yes" in proc.stdout and "--keep-last" in proc.stdout

"""``airflow results list/show/rm/gc`` against LocalResult (the S3Result run is in cloud/)."""

from __future__ import annotations

import pytest

from tests.conftest import run_airflow
from tests.integration.results_cli_cases import local_payloads, run_cli_cases

pytestmark = pytest.mark.airflow


def test_cli_on_local_results(dag_runner, capsys, tmp_path, monkeypatch):
    store_dir = tmp_path / "store"
    store = store_dir.as_uri()
    monkeypatch.setenv("AIRFLOW__RESULTS__XCOM_RESULT", store)
    from airflow_results_provider import config

    config.clear_cache()
    run_cli_cases(
        dag_runner,
        capsys,
        dag_id="results_cli_local",
        result_expr=f"LocalResult(dir={str(store_dir)!r})",
        imports="from airflow_results_provider import LocalResult",
        store=store,
        count_objects=lambda: local_payloads(store_dir),
    )


def test_cli_on_a_store_registered_at_runtime(dag_runner, capsys, tmp_path, monkeypatch):
    """A third-party store (tests/directory_store.py, public storage protocol only), registered with
    register_store: specs resolve to it, the index lists its payloads, gc deletes its orphans, rm its values."""
    from airflow_results_provider import config
    from airflow_results_provider.results.registry import register_store, result_from_spec, unregister_store
    from tests.directory_store import DirectoryStore

    root = tmp_path / "dirstore"
    store = f"dirstore://{root}"
    register_store("dirstore", DirectoryStore.from_spec)
    try:
        assert isinstance(result_from_spec(store), DirectoryStore)
        assert result_from_spec(store).store_spec() == store
        monkeypatch.setenv("AIRFLOW__RESULTS__XCOM_RESULT", store)
        config.clear_cache()
        run_cli_cases(
            dag_runner,
            capsys,
            dag_id="results_cli_dirstore",
            result_expr=f"DirectoryStore({str(root)!r})",
            imports="from tests.directory_store import DirectoryStore",
            store=store,
            count_objects=lambda: local_payloads(root),
        )
    finally:
        unregister_store("dirstore")


def test_cli_on_object_storage_results(dag_runner, capsys, tmp_path, monkeypatch):
    """ObjectStorageResult payloads are listed by the index and collected by gc like every store's."""
    from airflow_results_provider import config

    root = tmp_path / "objectstorage"
    root.mkdir()
    base = root.as_uri()
    store = f"objectstorage+{base}"
    monkeypatch.setenv("AIRFLOW__RESULTS__XCOM_RESULT", store)
    config.clear_cache()
    run_cli_cases(
        dag_runner,
        capsys,
        dag_id="results_cli_objectstorage",
        result_expr=f"ObjectStorageResult({base!r})",
        imports="from airflow_results_provider import ObjectStorageResult",
        store=store,
        count_objects=lambda: local_payloads(root),
        locations=(store, base),
    )


def test_the_cli_is_registered(airflow_db):
    proc = run_airflow("results", "gc", "--help")
    assert proc.returncode == 0, proc.stderr
    assert "--dry-run" not in proc.stdout and "-y, --yes" in proc.stdout and "--keep-last" in proc.stdout

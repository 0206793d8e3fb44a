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


def test_the_cli_is_registered(airflow_db):
    proc = run_airflow("results", "gc", "--help")
    assert proc.returncode == 0, proc.stderr
    assert "--dry-run" not in proc.stdout and "-y, --yes" in proc.stdout and "--keep-last" in proc.stdout

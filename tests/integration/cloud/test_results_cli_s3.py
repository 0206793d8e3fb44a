"""``airflow results list/show/rm/gc`` against S3Result (moto_server)."""

from __future__ import annotations

import pytest

from tests.integration.results_cli_cases import run_cli_cases

pytestmark = pytest.mark.airflow

BUCKET = "results-test"
PREFIX = "cli-case"


def test_cli_on_s3_results(dag_runner, capsys, monkeypatch, s3_server):
    store = f"s3://{BUCKET}/{PREFIX}"
    monkeypatch.setenv("AIRFLOW__RESULTS__XCOM_RESULT", store)
    from airflow_results_provider import config

    config.clear_cache()

    def count_objects() -> int:
        pages = s3_server.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{PREFIX}/")
        keys = [o["Key"] for page in pages for o in page.get("Contents", ())]
        return sum(1 for k in keys if not k.endswith((".meta.json", ".lock")))

    run_cli_cases(
        dag_runner,
        capsys,
        dag_id="results_cli_s3",
        result_expr=f"S3Result(bucket={BUCKET!r}, prefix={PREFIX!r})",
        imports="from airflow_results_provider import S3Result",
        store=store,
        count_objects=count_objects,
    )

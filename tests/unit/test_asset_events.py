"""The pure part of results as assets: asset URIs and the signed ``extra`` of an event."""

from __future__ import annotations

import pytest

from airflow_results_provider.core.asset_events import (
    build_event_extra,
    check_event_extra,
    producer_of,
    result_asset_uri,
)
from airflow_results_provider.exceptions import UntrustedAssetEventError

KEY = b"k" * 32
METADATA = {
    "location": "file:///r/shop/t.pkl",
    "sha256": "a" * 64,
    "size": 10,
    "serializer": "pickle",
    "python_type": "builtins.dict",
    "preview": "{'secret': ...}",
}
VARIABLES = {"dag_id": "shop", "task_id": "totals", "run_id": "r1", "map_index": -1, "partition_key": None}


@pytest.mark.parametrize(
    ("dag_id", "task_id"),
    [("shop", "totals"), ("my.dag-v2", "group.task_1"), ("Ünïcode", "t"), ("UPPER", "Mixed.Case")],
)
def test_a_task_is_named_by_its_asset_uri_and_back(dag_id, task_id):
    from airflow.sdk import Asset

    uri = result_asset_uri(dag_id, task_id)
    assert producer_of(uri) == (dag_id, task_id)
    assert Asset(uri).uri == uri  # Airflow keeps it as written: the consumer's schedule names the same asset


@pytest.mark.parametrize(
    "uri", ["s3://b/k", "airflow-results://dag", "airflow-results://dag/a/b", "airflow-results:///t", None, 3]
)
def test_other_uris_name_no_producer(uri):
    assert producer_of(uri) is None


def test_an_extra_describes_the_value_and_verifies():
    extra = build_event_extra(
        asset_uri=result_asset_uri("shop", "totals"),
        metadata=METADATA,
        store="file:///r",
        key="shop/t.pkl",
        variables=VARIABLES,
        signing_key=KEY,
    )
    assert "preview" not in extra and extra["map_index"] is None and extra["partition_key"] is None
    assert check_event_extra(extra, asset_uri="airflow-results://shop/totals", signing_key=KEY) == (
        "shop",
        "totals",
    )
    with pytest.raises(UntrustedAssetEventError, match="not signed"):
        check_event_extra(extra, asset_uri="airflow-results://shop/totals", signing_key=b"x" * 32)
    with pytest.raises(UntrustedAssetEventError, match="no signing key"):
        check_event_extra(extra, asset_uri="airflow-results://shop/totals", signing_key=b"")
    with pytest.raises(UntrustedAssetEventError, match="another asset"):
        check_event_extra(extra, asset_uri="airflow-results://shop/other", signing_key=KEY)

"""Attacks on result asset events: an event's ``extra`` is untrusted (anyone allowed to create asset events posts
them through the REST API), so ``load_result`` refuses forged, copied, re-posted and tampered events before it
touches storage, and a tampered or replaced payload fails its digest check.

Two producer DAGs run once (dag.test on the session's SQLite DB); forged events are created as the REST API's
``POST /assets/events`` creates them (its request model, then Airflow's asset manager)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_results_provider import config, load_result
from airflow_results_provider.core.asset_events import build_event_extra
from airflow_results_provider.exceptions import (
    ResultIntegrityError,
    UnsignedRecordError,
    UntrustedAssetEventError,
)

pytestmark = pytest.mark.airflow

PRODUCERS = """
from airflow.sdk import DAG, task
from airflow_results_provider import JSONSerializer, LocalResult

with DAG("__NAME__", schedule=None, default_args={"retries": 0}) as dag:

    @task.result(asset=True, result=LocalResult(location="{dag_id}/{run_id}/value.pkl"))
    def produce():
        return __VALUE__

    @task.result(asset=True, result=LocalResult(location="{dag_id}/fixed.json", serializer=JSONSerializer()))
    def fixed():
        return __VALUE__

    produce()
    fixed()
"""

A = "airflow-results://sec_producer_a/produce"
B = "airflow-results://sec_producer_b/produce"


@pytest.fixture(scope="module")
def produced(dag_runner, tmp_path_factory):
    """Both producers ran once: their value events, by asset URI."""
    results = tmp_path_factory.mktemp("results")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW__RESULTS__LOCAL_DIR", str(results))
        config.clear_cache()
        for dag_id, value in (("sec_producer_a", "{'a': 'public'}"), ("sec_producer_b", "{'b': 'secret'}")):
            dag = dag_runner.load(PRODUCERS, dag_id, name=dag_id, value=value)
            _, states = dag_runner.run(dag)
            assert set(states.values()) == {"success"}, states
        yield {uri: last_event(uri) for uri in (A, B)} | {"results": results}
    config.clear_cache()


def last_event(uri: str):
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select
    from sqlalchemy.orm import joinedload

    with create_session() as session:
        event = session.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.uri == uri)
            .options(joinedload(AssetEvent.asset))
            .order_by(AssetEvent.id.desc())
            .limit(1)
        ).one()
        session.expunge_all()
        return event


def local_path(uri: str) -> Path:
    """The file a ``file://`` URI names."""
    from urllib.parse import urlsplit
    from urllib.request import url2pathname

    return Path(url2pathname(urlsplit(uri).path))


def post_event(uri: str, extra: dict):
    """What ``POST /api/v2/assets/events`` does with ``{"asset_id": <uri's id>, "extra": extra}``."""
    from airflow.api_fastapi.core_api.datamodels.assets import CreateAssetEventsBody
    from airflow.assets.manager import asset_manager
    from airflow.models.asset import AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        model = session.scalars(select(AssetModel).where(AssetModel.uri == uri)).one()
        body = CreateAssetEventsBody(asset_id=model.id, extra=dict(extra))
        asset_manager.register_asset_change(asset=model, extra=body.extra, session=session)
    return last_event(uri)


def test_genuine_events_load(produced):
    assert load_result(produced[A]) == {"a": "public"}
    assert load_result(produced[B]) == {"b": "secret"}


def test_a_forged_extra_pointing_at_another_dags_result_is_refused(produced):
    # Posted to A's asset, describing B's value (location, store, key, sha256 copied; no valid signature).
    stolen = {k: v for k, v in produced[B].extra.items() if k != "hmac"}
    forged = post_event(A, {**stolen, "asset": A, "dag_id": "sec_producer_a"})
    with pytest.raises(UntrustedAssetEventError, match="not signed by a producer"):
        load_result(forged)


def test_a_genuine_extra_reposted_through_the_rest_api_is_refused(produced):
    # B's signed extra re-posted to A's asset, and A's own re-posted to A: Airflow marks both from_rest_api.
    for extra in (produced[B].extra, produced[A].extra):
        reposted = post_event(A, extra)
        assert reposted.extra["from_rest_api"] is True
        with pytest.raises(UntrustedAssetEventError, match="posted through the REST API"):
            load_result(reposted)


def test_a_signed_extra_of_another_asset_is_refused(produced):
    # The signed extra of B's event, handed over as an event of A (e.g. a task emitting it for another asset).
    event = {"uri": A, "extra": dict(produced[B].extra)}
    with pytest.raises(UntrustedAssetEventError, match="another asset"):
        load_result(event)


def test_an_extra_naming_a_record_of_another_task_is_refused(produced):
    # Even signed with the deployment's key, an event of A cannot make a consumer load B's record.
    b = produced[B].extra
    extra = build_event_extra(
        asset_uri=A,
        metadata={k: b[k] for k in ("location", "sha256", "size", "serializer", "python_type")},
        store=b["store"],
        key=b["key"],
        variables={"dag_id": "sec_producer_a", "task_id": "produce", "run_id": b["run_id"]},
        signing_key=config.envelope_signing_key(),
    )
    with pytest.raises(UntrustedAssetEventError, match="written by sec_producer_b.produce"):
        load_result({"uri": A, "extra": extra})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sha256", "0" * 64),
        ("key", "sec_producer_b/other.pkl"),
        ("store", "module.path:attribute"),
        ("serializer", "json"),
        ("run_id", "manual__other"),
    ],
)
def test_a_tampered_extra_is_refused_before_storage_is_touched(produced, field, value):
    extra = {**produced[A].extra, field: value}
    with pytest.raises(UntrustedAssetEventError, match="not signed by a producer"):
        load_result({"uri": A, "extra": extra})


def test_events_of_other_assets_and_other_sources_are_refused(produced):
    with pytest.raises(UntrustedAssetEventError, match="not a result asset"):
        load_result({"uri": "s3://bucket/key", "extra": dict(produced[A].extra)})
    with pytest.raises(UntrustedAssetEventError, match="no 'airflow_results_event'"):
        load_result({"uri": A, "extra": {"location": produced[A].extra["location"]}})
    event = {
        "uri": A,
        "extra": dict(produced[A].extra),
        "source_dag_id": "intruder",
        "source_task_id": "produce",
    }
    with pytest.raises(UntrustedAssetEventError, match="emitted by intruder.produce"):
        load_result(event)


def test_a_tampered_payload_fails_its_digest(produced, tmp_path):
    extra = produced[A].extra
    payload = local_path(extra["location"])
    original = payload.read_bytes()
    try:
        payload.write_bytes(original.replace(b"public", b"PWNED!"))
        with pytest.raises(ResultIntegrityError, match="corrupt"):
            load_result(produced[A])
    finally:
        payload.write_bytes(original)
    assert load_result(produced[A]) == {"a": "public"}


def test_a_record_resigned_by_a_store_writer_without_the_key_is_refused(produced):
    # Someone who can write the store but holds no key rewrites the sidecar for another payload.
    extra = produced[A].extra
    payload = local_path(extra["location"])
    sidecar = payload.with_name(payload.name + ".meta.json")
    original = sidecar.read_text()
    try:
        record = json.loads(original)
        record["signature"]["hmac"] = "0" * 64
        sidecar.write_text(json.dumps(record))
        with pytest.raises(UnsignedRecordError, match="not signed for the value"):
            load_result(produced[A])
    finally:
        sidecar.write_text(original)


def test_a_value_overwritten_since_its_event_is_not_returned(produced):
    fixed = "airflow-results://sec_producer_a/fixed"
    first = last_event(fixed)
    assert load_result(first) == {"a": "public"}
    location = local_path(first.extra["location"])
    from airflow_results_provider.results.local_result import LocalResult
    from airflow_results_provider.serializers import JSONSerializer

    store = LocalResult(
        dir=str(produced["results"]), location="sec_producer_a/fixed.json", serializer=JSONSerializer()
    )
    store.write({"a": "newer"}, dag_id="sec_producer_a", task_id="fixed", run_id="manual__later")
    assert json.loads(location.read_text()) == {"a": "newer"}
    with pytest.raises(ResultIntegrityError, match="no longer holds the value"):
        load_result(first)

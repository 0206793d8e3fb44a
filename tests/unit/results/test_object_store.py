"""Object-store Results without a server: keys, URLs, store specs, and the missing-extra error."""

from __future__ import annotations

import pickle
import types

import pytest

from airflow_results_provider.exceptions import InvalidLocationError, ResultError
from airflow_results_provider.results.azure_result import AzureResult
from airflow_results_provider.results.gcs_result import GCSResult
from airflow_results_provider.results.s3_result import S3Result


def test_keys_urls_and_specs():
    s3 = S3Result("bkt", prefix="/runs/", aws_conn_id="other")
    assert s3.key("a/b.pkl") == "runs/a/b.pkl"
    assert s3.uri("a/b.pkl") == "s3://bkt/runs/a/b.pkl"
    assert s3.store_spec() == "s3://other@bkt/runs"
    assert (
        s3.console_url("runs/a b.pkl")
        == "https://s3.console.aws.amazon.com/s3/object/bkt?prefix=runs/a%20b.pkl"
    )
    assert GCSResult("g").store_spec() == "gs://g/"
    assert AzureResult("c", prefix="p").uri("x") == "abfs://c/p/x"


def test_invalid_names_and_locations():
    with pytest.raises(ValueError):
        S3Result("bad/bucket")
    for bad in ("../x", "/x", "a/../b", "a//b"):
        with pytest.raises(InvalidLocationError):
            S3Result("bkt")._check_location(bad)


def test_a_missing_provider_names_the_extra():
    class NoProvider(S3Result):
        hook_path = ("no_such_provider_module", "S3Hook", "amazon")

    with pytest.raises(ResultError, match=r"pip install 'airflow-results-provider\[amazon\]'"):
        NoProvider("bkt").client  # noqa: B018


class CountingHook:
    """A hook whose ``get_conn()`` counts the clients it makes (a boto3 client costs ~0.3-1 s of CPU)."""

    made: list[object] = []

    def __init__(self, aws_conn_id: str) -> None:
        self.conn_id = aws_conn_id

    def get_conn(self) -> object:
        client = types.SimpleNamespace(meta=types.SimpleNamespace(endpoint_url=None, region_name="us-east-1"))
        CountingHook.made.append((self.conn_id, client))
        return client

    def get_session(self, region_name: str) -> object:
        def client(service: str, **kwargs: object) -> object:
            made = types.SimpleNamespace(service=service, kwargs=kwargs)
            CountingHook.made.append(("session", made))
            return made

        return types.SimpleNamespace(client=client)


class CountingS3Result(S3Result):
    hook_path = (__name__, "CountingHook", "amazon")


def test_clients_are_never_pickled():
    result = CountingS3Result("bkt")
    client = result.client
    clone = pickle.loads(pickle.dumps(result))
    assert clone == CountingS3Result("bkt") and "_hook_cache" not in clone.__dict__
    assert clone.client is not client  # an unpickled Result connects on its own


def test_copies_share_one_client_made_on_first_use():
    CountingHook.made.clear()
    result = CountingS3Result("bkt")
    parts = [result.copy().format() for _ in range(64)]  # what a 64-chunk XCom list does, unconnected
    assert {id(p.client) for p in parts} == {id(result.client)} and len(CountingHook.made) == 1
    other = result.copy()
    other.aws_conn_id = "other"
    assert other.client is not result.client and [c for c, _ in CountingHook.made] == ["aws_default", "other"]


def test_a_boto3_kwargs_client_is_made_once_for_every_copy():
    CountingHook.made.clear()
    result = CountingS3Result("bkt", boto3_kwargs={"verify": False})
    clients = {id(result.copy().client) for _ in range(8)}  # the hook's cache entry is asked for inside
    assert len(clients) == 1 and [c for c, _ in CountingHook.made] == ["aws_default", "session"]
    assert CountingHook.made[1][1].kwargs == {
        "endpoint_url": None,
        "region_name": "us-east-1",
        "verify": False,
    }

"""Legacy result handlers: conversion to Results, wrapping, warnings, and payloads in the old formats."""

from __future__ import annotations

import json
import warnings

import cloudpickle
import pytest

from airflow_results_provider import config
from airflow_results_provider.exceptions import UnsignedRecordError
from airflow_results_provider.result_handlers import (
    AzureResultHandler,
    ConstantResultHandler,
    GCSResultHandler,
    JSONResultHandler,
    LocalResultHandler,
    ResultHandler,
    S3ResultHandler,
    SecretResultHandler,
    convert_result_handler,
)
from airflow_results_provider.results import ConstantResult, InlineResult, LocalResult, SecretResult
from airflow_results_provider.results.handler_result import ResultHandlerResult


class Webserver(ResultHandler):
    """A custom handler, as in Prefect's docs."""

    def __init__(self):
        self.store = {}

    def write(self, result):
        key = f"k{len(self.store)}"
        self.store[key] = json.dumps(result)
        return key

    def read(self, loc):
        return json.loads(self.store[loc])


def convert(handler):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = convert_result_handler(handler)
    assert len(caught) == 1 and caught[0].category is DeprecationWarning
    return result, str(caught[0].message)


def test_conversion_table():
    from airflow_results_provider.results.azure_result import AzureResult
    from airflow_results_provider.results.gcs_result import GCSResult
    from airflow_results_provider.results.s3_result import S3Result

    result, message = convert(LocalResultHandler(dir="/data/old"))
    assert type(result) is LocalResult and result.dir == "/data/old"
    assert message == (
        "result_handler= is deprecated: LocalResultHandler was converted to LocalResult; "
        "pass result=LocalResult(dir='/data/old') instead"
    )
    result, _ = convert(JSONResultHandler())
    assert type(result) is InlineResult
    result, _ = convert(ConstantResultHandler(42))
    assert type(result) is ConstantResult and result.value == 42
    result, message = convert(S3ResultHandler("bkt", aws_conn_id="my_aws"))
    assert type(result) is S3Result and (result.bucket, result.aws_conn_id) == ("bkt", "my_aws")
    assert "pass result=S3Result(bucket='bkt') instead" in message
    result, _ = convert(GCSResultHandler("gbkt", gcp_conn_id="my_gcp"))
    assert type(result) is GCSResult and (result.bucket, result.gcp_conn_id) == ("gbkt", "my_gcp")
    result, _ = convert(AzureResultHandler("cont", wasb_conn_id="my_wasb"))
    assert type(result) is AzureResult and (result.container, result.wasb_conn_id) == ("cont", "my_wasb")
    result, _ = convert(SecretResultHandler("api_token"))
    assert type(result) is SecretResult and result.variable == "api_token"


def test_custom_handlers_and_overriding_subclasses_are_wrapped():
    result, message = convert(Webserver())
    assert type(result) is ResultHandlerResult
    assert "Webserver was converted to ResultHandlerResult" in message

    class CompressingLocal(LocalResultHandler):
        def write(self, result):
            return super().write(result)

    result, _ = convert(CompressingLocal(dir="/tmp"))
    assert type(result) is ResultHandlerResult  # its write() must keep running (Prefect dropped it)

    class PlainSubclass(LocalResultHandler):
        pass

    result, _ = convert(PlainSubclass(dir="/tmp/x"))
    assert type(result) is LocalResult and result.dir == "/tmp/x"


def test_result_handler_result_writes_and_reads_through_the_handler():
    handler = Webserver()
    result = ResultHandlerResult(handler)
    written = result.write({"a": 1})
    assert written.location == "k0" and handler.store == {"k0": '{"a": 1}'}
    assert result.read("k0").value == {"a": 1}
    with pytest.raises(Exception, match="handlers cannot tell whether a value exists"):
        result.exists("k0")


def test_old_local_payloads_read_through_handler_and_result(tmp_path, monkeypatch):
    # byte for byte what Prefect's LocalResultHandler wrote: raw cloudpickle in prefect-XXXX
    path = tmp_path / "prefect-abc123"
    path.write_bytes(cloudpickle.dumps({"legacy": [1, 2, 3]}))
    assert LocalResultHandler(dir=tmp_path).read(str(path)) == {"legacy": [1, 2, 3]}
    result, _ = convert(LocalResultHandler(dir=tmp_path))
    # Through a Result, a pickle nobody holding the signing key vouched for is refused, unless the store is
    # re-signed (airflow results sign) or unsigned pickles are allowed.
    with pytest.raises(UnsignedRecordError):
        result.read(str(path))
    monkeypatch.setenv("AIRFLOW__RESULTS__ALLOW_UNSIGNED_PICKLE", "True")
    config.clear_cache()
    try:
        assert result.read(str(path)).value == {"legacy": [1, 2, 3]}
    finally:
        monkeypatch.delenv("AIRFLOW__RESULTS__ALLOW_UNSIGNED_PICKLE")
        config.clear_cache()


def test_local_handler_writes_the_old_format(tmp_path):
    ref = LocalResultHandler(dir=tmp_path).write([4, 5])
    assert ref.startswith(str(tmp_path / "prefect-"))
    with open(ref, "rb") as f:
        assert cloudpickle.loads(f.read()) == [4, 5]


def test_json_references_read_through_prefect_result():
    ref = JSONResultHandler().write({"x": [1, 2]})
    assert ref == '{"x": [1, 2]}'
    result, _ = convert(JSONResultHandler())
    assert result.read(ref).value == {"x": [1, 2]}


def test_constant_handler():
    handler = ConstantResultHandler("c")
    assert handler.write("ignored") == "'c'" and handler.read("anything") == "c"


def test_mixin_accepts_result_handler_and_rejects_bad_combinations(tmp_path):
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import DAG

    from airflow_results_provider import ResultMixin

    class ResultPythonOperator(ResultMixin, PythonOperator):
        pass

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with DAG("legacy", default_args={"result_handler": LocalResultHandler(dir=tmp_path)}):
            task = ResultPythonOperator(task_id="t", python_callable=print)
        assert type(task.result) is LocalResult and task.result.dir == str(tmp_path)
        with pytest.raises(TypeError, match="not both"):
            ResultPythonOperator(
                task_id="both",
                python_callable=print,
                result=LocalResult(),
                result_handler=JSONResultHandler(),
            )
        with pytest.raises(ValueError, match="target= needs a Result"):
            ResultPythonOperator(task_id="tgt", python_callable=print, result_handler=Webserver(), target="x")
    with pytest.warns(DeprecationWarning, match="JSONResultHandler was converted to InlineResult"):
        ResultPythonOperator(task_id="warned", python_callable=print, result_handler=JSONResultHandler())


def test_default_result_may_name_a_legacy_handler(monkeypatch):
    from airflow_results_provider import config
    from airflow_results_provider.results.registry import _cached_result, default_result

    monkeypatch.setenv(
        "AIRFLOW__RESULTS__DEFAULT_RESULT", "airflow_results_provider.result_handlers:JSONResultHandler"
    )
    config.clear_cache()
    _cached_result.cache_clear()
    with pytest.warns(DeprecationWarning):
        result = default_result()
    assert type(result) is InlineResult
    _cached_result.cache_clear()

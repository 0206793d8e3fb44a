# Ported from https://github.com/PrefectHQ/prefect, tag 0.13.19 (commit 9d78841eea41), path tests/engine/results/test_result_handler_result.py
# Copyright Prefect Technologies, Inc. Licensed under the Apache License, Version 2.0 (Apache-2.0).
# Changes are limited to imports, fixtures and runtime glue; each is marked "# port:".
import uuid

import pytest

from airflow_results_provider.result_handlers import (  # port: prefect.engine.result_handlers
    ConstantResultHandler,
    GCSResultHandler,
    JSONResultHandler,
    LocalResultHandler,
    ResultHandler,
    S3ResultHandler,
    SecretResultHandler,
)
from airflow_results_provider.results import (  # port: prefect.engine.results
    ConstantResult,
    LocalResult,
    PrefectResult,
    SecretResult,
)
from airflow_results_provider.results.gcs_result import GCSResult  # port
from airflow_results_provider.results.handler_result import ResultHandlerResult  # port
from airflow_results_provider.results.s3_result import S3Result  # port
from tests.prefect_compat.conftest import NO_PREFECT_SECRET_TASK  # port

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # port: conversion warns here
ResultHandlerResult.from_result_handler = (
    staticmethod(  # port: Prefect's classmethod is convert_result_handler
        lambda handler: __import__(
            "airflow_results_provider.result_handlers", fromlist=["convert_result_handler"]
        ).convert_result_handler(handler)
    )
)


@pytest.mark.skip(reason=NO_PREFECT_SECRET_TASK)  # port
def test_basic_conversion_secret_result():
    task = PrefectSecret("foo")  # noqa: F821
    result_handler = SecretResultHandler(task)
    result = ResultHandlerResult.from_result_handler(result_handler)
    assert isinstance(result, SecretResult)
    assert result.secret_task is task


def test_basic_conversion_json_result():
    result_handler = JSONResultHandler()
    result = ResultHandlerResult.from_result_handler(result_handler)
    assert isinstance(result, PrefectResult)
    assert result.write(42).location == "42"


def test_basic_conversion_constant_result():
    result_handler = ConstantResultHandler(value=42)
    result = ResultHandlerResult.from_result_handler(result_handler)
    assert isinstance(result, ConstantResult)
    assert result.value == 42


def test_basic_conversion_local_result(tmpdir):
    result_handler = LocalResultHandler(dir=str(tmpdir))
    result = ResultHandlerResult.from_result_handler(result_handler)
    assert isinstance(result, LocalResult)
    assert result.dir == str(tmpdir)


def test_basic_conversion_gcs_result():
    result_handler = GCSResultHandler(bucket="foo")
    result = ResultHandlerResult.from_result_handler(result_handler)
    assert isinstance(result, GCSResult)
    assert result.bucket == "foo"


def test_basic_conversion_s3_result():
    result_handler = S3ResultHandler(bucket="foo", boto3_kwargs=dict(x=42, y=[1, 2, 3]))
    result = ResultHandlerResult.from_result_handler(result_handler)
    assert isinstance(result, S3Result)
    assert result.bucket == "foo"
    assert result.boto3_kwargs == dict(x=42, y=[1, 2, 3])


class TestCustomResultHandler:
    @pytest.fixture
    def handler(self):
        class MyHandler(ResultHandler):
            stuff = dict()

            def read(self, loc):
                return self.stuff[loc]

            def write(self, result):
                key = str(uuid.uuid4())
                self.stuff[key] = result
                return key

        return MyHandler()

    def test_conversion_type(self, handler):
        result = ResultHandlerResult.from_result_handler(handler)
        assert isinstance(result, ResultHandlerResult)
        assert isinstance(result.result_handler, type(handler))

    def test_converted_result_writes_and_reads(self, handler):
        result = ResultHandlerResult.from_result_handler(handler)
        new = result.write(42)

        assert new is not result
        assert new.value == 42
        assert new.location
        assert new.result_handler.stuff[new.location] == 42

        another = new.read(new.location)
        assert another is not new
        assert another.value == 42
        assert another.location == new.location

"""NonStorageResultContract: what every Result without a store (inline, constant, secret, handler-backed) does.

A subclass provides ``result`` (a fresh Result), ``read_result`` (one holding a value, as ``read`` or ``write``
returns it), ``expected_value`` (the value ``read_result`` holds) and implements ``test_write_and_read``.
"""

from __future__ import annotations

import copy
import pickle

import pytest

from airflow_results_provider.exceptions import ResultError, ResultNotWritableError
from airflow_results_provider.result_handlers.json_result_handler import JSONResultHandler
from airflow_results_provider.results import ConstantResult, InlineResult, PrefectResult, SecretResult
from airflow_results_provider.results.base import Result
from airflow_results_provider.results.handler_result import ResultHandlerResult
from tests.unit.results.test_secret_result import secrets  # noqa: F401 - the Variables/Connections fixture

CONTEXT = {
    "dag_id": "etl",
    "task_id": "extract",
    "run_id": "manual__1",
    "map_index": 3,
    "task_name": "extract",
}


def _state(result: Result) -> dict:
    return copy.deepcopy(result.__dict__)


class NonStorageResultContract:
    @pytest.fixture
    def result(self) -> Result:
        raise NotImplementedError

    @pytest.fixture
    def read_result(self, result) -> Result:
        raise NotImplementedError

    @pytest.fixture
    def expected_value(self):
        raise NotImplementedError

    @pytest.fixture(params=["fresh", "with_value"])
    def any_result(self, request, result, read_result) -> Result:
        return result if request.param == "fresh" else read_result

    # ------------------------------------------------------------------------------ not a store

    def test_not_persistent_and_no_store_spec(self, any_result):
        assert type(any_result).persistent is False
        assert any_result.persistent is False
        assert any_result.store_spec() is None

    def test_delete_returns_false(self, read_result):
        assert read_result.delete(read_result.location) is False
        assert read_result.delete("anything") is False

    def test_uri_is_a_str(self, read_result):
        uri = read_result.uri(read_result.location)
        assert isinstance(uri, str) and uri

    def test_read_result_holds_the_value(self, read_result, expected_value):
        assert read_result.value == expected_value
        assert (
            isinstance(read_result.metadata, dict)
            and read_result.metadata["result"] == type(read_result).__name__
        )

    # ------------------------------------------------------------------------------ copies

    def test_format_returns_a_copy_and_leaves_the_original_unchanged(self, any_result):
        before = _state(any_result)
        formatted = any_result.format(**CONTEXT)
        assert formatted is not any_result
        assert type(formatted) is type(any_result)
        assert formatted == any_result
        assert formatted.location == any_result.location  # nothing to render: the location is not a template
        assert formatted.value is any_result.value
        formatted.location = "changed"
        if isinstance(formatted.metadata, dict):
            formatted.metadata["changed"] = True
        assert _state(any_result) == before

    def test_copy_equals_the_original(self, any_result):
        clone = any_result.copy()
        assert clone is not any_result
        assert clone == any_result
        assert clone.value is any_result.value
        assert clone.metadata == any_result.metadata
        assert repr(clone) == repr(any_result)

    def test_pickle_round_trip(self, any_result):
        clone = pickle.loads(pickle.dumps(any_result))
        assert type(clone) is type(any_result)
        assert clone == any_result
        assert isinstance(repr(clone), str)
        assert clone.location == any_result.location

    def test_deepcopy_round_trip(self, any_result):
        clone = copy.deepcopy(any_result)
        assert clone is not any_result
        assert clone == any_result
        assert isinstance(repr(clone), str)

    def test_from_value_holds_the_value_and_no_location(self, result):
        new = result.from_value([1, 2])
        assert new is not result and type(new) is type(result)
        assert new.value == [1, 2] and new.location is None and new.metadata is None


class TestInlineResultContract(NonStorageResultContract):
    @pytest.fixture
    def result(self):
        return InlineResult()

    @pytest.fixture
    def expected_value(self):
        return {"rows": [1, 2], "name": "{task_name}"}

    @pytest.fixture
    def read_result(self, result, expected_value):
        return result.write(expected_value, **CONTEXT)

    def test_prefect_result_is_the_same_class(self):
        assert PrefectResult is InlineResult

    def test_write_and_read(self, result, expected_value):
        written = result.write(expected_value, **CONTEXT)
        assert written is not result and result.value is None and result.location is None
        assert written.location == '{"rows": [1, 2], "name": "{task_name}"}'
        assert written.uri(written.location) == written.location
        assert result.read(written.location).value == expected_value
        assert written.metadata["task_id"] == "extract" and written.metadata["map_index"] == 3
        assert result.exists(written.location)


class TestConstantResultContract(NonStorageResultContract):
    @pytest.fixture
    def result(self):
        return ConstantResult({"constant": [1, 2]})  # serializer= is refused, as in Prefect

    @pytest.fixture
    def expected_value(self):
        return {"constant": [1, 2]}

    @pytest.fixture
    def read_result(self, result):
        return result.read("the-location")

    def test_read_result_holds_the_value(self, read_result, expected_value):
        assert read_result.value == expected_value
        assert read_result.location == "the-location"

    def test_write_and_read(self, result, read_result, expected_value):
        for target in (result, read_result):
            with pytest.raises(ResultNotWritableError, match="ConstantResult") as info:
                target.write({"other": 1}, **CONTEXT)
            assert isinstance(info.value, ResultError)
        assert result.read("anywhere").value == expected_value
        assert result.value == expected_value
        assert result.exists("anywhere")
        assert result.uri("x") == "constant:x"


class TestSecretResultContract(NonStorageResultContract):
    @pytest.fixture
    def result(self, secrets):  # noqa: F811 - the fixture imported above
        return SecretResult(variable="vendor_key")

    @pytest.fixture
    def expected_value(self):
        return "s3cr3t-value-123"

    @pytest.fixture
    def read_result(self, result):
        return result.read()

    def test_read_result_holds_the_value(self, read_result, expected_value):
        assert read_result.value == expected_value
        assert read_result.metadata["preview"] == "***"
        assert expected_value not in repr(read_result)

    def test_pickle_round_trip(self, any_result):
        super().test_pickle_round_trip(any_result)
        # The secret itself is never pickled.
        assert pickle.loads(pickle.dumps(any_result)).value is None
        assert b"s3cr3t" not in pickle.dumps(any_result)

    def test_write_and_read(self, result, read_result, expected_value):
        for target in (result, read_result):
            with pytest.raises(ResultNotWritableError, match="SecretResult") as info:
                target.write("x", **CONTEXT)
            assert isinstance(info.value, ResultError)
        assert result.read().value == expected_value
        assert result.read("vendor_key").value == expected_value
        assert result.uri("vendor_key") == "airflow-variable:vendor_key"
        assert SecretResult(connection="vendor_db").uri("vendor_db") == "airflow-connection:vendor_db"


class TestResultHandlerResultContract(NonStorageResultContract):
    @pytest.fixture
    def result(self):
        return ResultHandlerResult(JSONResultHandler())

    @pytest.fixture
    def expected_value(self):
        return {"handled": [1, 2]}

    @pytest.fixture
    def read_result(self, result, expected_value):
        return result.write(expected_value, **CONTEXT)

    def test_write_and_read(self, result, expected_value):
        written = result.write(expected_value, **CONTEXT)
        assert written is not result and result.value is None and result.location is None
        assert written.location == '{"handled": [1, 2]}'
        assert written.metadata["serializer"] == "JSONResultHandler"
        assert written.metadata["run_id"] == "manual__1"
        read = result.read(written.location)
        assert read.value == expected_value and read.location == written.location
        with pytest.raises(ResultError, match="handlers cannot tell whether a value exists"):
            result.exists(written.location)

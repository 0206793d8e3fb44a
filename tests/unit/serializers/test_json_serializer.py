"""JSONSerializer: the contract, plus the exact text written and JSON's refusals (NaN, non-JSON types)."""

from __future__ import annotations

import io

import pytest

from airflow_results_provider.exceptions import SerializationError
from airflow_results_provider.serializers import JSONSerializer, PickleSerializer
from tests.unit.serializers.contract import SerializerContract, roundtrip_both


class TestJSONSerializer(SerializerContract):
    @pytest.fixture
    def serializer(self):
        return JSONSerializer()

    @pytest.fixture
    def equal_serializer(self):
        return JSONSerializer()

    @pytest.fixture
    def other_serializer(self):
        return PickleSerializer()

    @pytest.fixture
    def value(self):
        return {"rows": [1, 2.5, "x", None, True], "text": "é ünïcode ✓", "nested": {"a": [[]]}}

    @pytest.fixture
    def unserializable_value(self):
        return object()

    @pytest.fixture
    def corrupt_payload(self):
        return b"{broken"


def test_json_roundtrip_and_errors():
    value = {"a": [1, 2.5, "x", None, True]}
    assert roundtrip_both(JSONSerializer(), value) == (value, value)
    assert JSONSerializer().serialize(value) == b'{"a": [1, 2.5, "x", null, true]}'
    with pytest.raises(SerializationError, match=r"JSONSerializer \(json\).*builtins.object"):
        JSONSerializer().serialize(object())
    with pytest.raises(SerializationError):
        JSONSerializer().dump({"x": object()}, io.BytesIO())
    with pytest.raises(SerializationError, match="JSONSerializer"):
        JSONSerializer().serialize(float("nan"))
    with pytest.raises(SerializationError, match="could not deserialize"):
        JSONSerializer().deserialize(b"{broken")


def test_json_dump_writes_text_larger_than_one_slice():
    from airflow_results_provider.serializers import json_serializer

    value = ["x" * 1000] * (json_serializer._SLICE // 1000 + 10)  # more characters than one 4 MB slice
    sink = io.BytesIO()
    JSONSerializer().dump(value, sink)
    assert sink.getvalue() == JSONSerializer().serialize(value)
    assert JSONSerializer().load(io.BytesIO(sink.getvalue())) == value


def test_json_dump_of_a_refused_value_writes_nothing():
    sink = io.BytesIO()
    with pytest.raises(SerializationError):
        JSONSerializer().dump({"x": float("inf")}, sink)
    assert sink.getvalue() == b""


def test_json_extension():
    assert JSONSerializer().extension == "json"
    assert JSONSerializer().label == "json"

"""JSONSerializer: the contract, plus the exact text written and JSON's refusals (NaN, non-JSON types)."""

from __future__ import annotations

import io
import json

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
    def deterministic(self):
        return False  # serialize() is json.dumps' text (Prefect); dump() writes compact orjson text

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

    value = ["x" * 1000] * (json_serializer._SLICE // 1000 + 10)  # more bytes than one slice
    sink = io.BytesIO()
    JSONSerializer().dump(value, sink)
    assert sink.getvalue() == json.dumps(value, separators=(",", ":")).encode()
    assert JSONSerializer().load(io.BytesIO(sink.getvalue())) == value


def test_json_dump_of_a_refused_value_writes_nothing():
    sink = io.BytesIO()
    with pytest.raises(SerializationError):
        JSONSerializer().dump({"x": float("inf")}, sink)
    assert sink.getvalue() == b""


def test_json_extension():
    assert JSONSerializer().extension == "json"
    assert JSONSerializer().label == "json"


@pytest.mark.parametrize(
    "value",
    [
        [1, (2, 3)],
        {"a": float("nan")},
        [float("inf"), None],
        {1: "non-str key"},
        [2**70],
        ["\ud800"],
        {"a": [{"b": [1, {"c": (1,)}]}]},
    ],
)
def test_json_codec_falls_back_where_orjson_would_differ(value):
    from airflow_results_provider.core import json_codec as _json

    assert _json.encode(value, _json.STRICT_TYPES) is None  # auto sends these to pickle
    try:
        expected = json.dumps(value, allow_nan=False)
    except ValueError:
        with pytest.raises(SerializationError):
            JSONSerializer().serialize(value)
        return
    assert JSONSerializer().deserialize(JSONSerializer().serialize(value)) == json.loads(expected)


@pytest.mark.parametrize(
    "payload",
    [b"[18446744073709551616, -9223372036854775809, 1]", b"[NaN, Infinity]", b'"\\ud800"', b"[1e400]"],
)
def test_json_decode_matches_the_standard_library(payload):
    from airflow_results_provider.core import json_codec as _json

    assert repr(_json.decode(payload)) == repr(json.loads(payload))


def test_json_strict_check_accepts_plain_json():
    from airflow_results_provider.core import json_codec as _json

    value = {"a": [1, 2.5, "x", None, True, {"b": []}], "c": {}}
    assert _json.decode(_json.encode(value, _json.STRICT_TYPES)) == value

"""PickleSerializer: the contract, plus cloudpickle specifics and the base64 payloads of legacy handlers."""

from __future__ import annotations

import base64
import io
import threading

import cloudpickle
import pytest

from airflow_results_provider.exceptions import ResultError, SerializationError
from airflow_results_provider.serializers import JSONSerializer, PickleSerializer
from tests.unit.serializers.contract import NonSeekableStream, SerializerContract, roundtrip_both


class TestPickleSerializer(SerializerContract):
    @pytest.fixture
    def serializer(self):
        return PickleSerializer()

    @pytest.fixture
    def equal_serializer(self):
        return PickleSerializer()

    @pytest.fixture
    def other_serializer(self):
        return JSONSerializer()

    @pytest.fixture
    def value(self):
        return {"rows": list(range(100)), "blob": b"\x00\x01" * 1000, "nested": ({"a": None}, 2.5)}

    @pytest.fixture
    def unserializable_value(self):
        return threading.Lock()

    @pytest.fixture
    def corrupt_payload(self):
        return b"not a pickle at all"


@pytest.mark.parametrize(
    "value",
    [1, "text", {"a": [1, 2, {"b": None}]}, (1, 2), {1, 2}, b"\x00" * 10, lambda x: x + 1],
    ids=["int", "str", "nested", "tuple", "set", "bytes", "lambda"],
)
def test_pickle_roundtrip(value):
    via_bytes, via_stream = roundtrip_both(PickleSerializer(), value)
    if callable(value):
        assert via_bytes(1) == 2 and via_stream(1) == 2
    else:
        assert via_bytes == value and via_stream == value


def test_pickle_reads_base64_payloads_of_legacy_handlers():
    legacy = base64.b64encode(cloudpickle.dumps({"old": True}))
    assert PickleSerializer().deserialize(legacy) == {"old": True}
    assert PickleSerializer().load(io.BytesIO(legacy + b"\n")) == {"old": True}
    assert PickleSerializer().load(NonSeekableStream(legacy)) == {"old": True}


def test_pickle_unserializable_value_names_the_serializer():
    lock = threading.Lock()
    with pytest.raises(SerializationError, match=r"PickleSerializer \(pickle\).*_thread.lock"):
        PickleSerializer().serialize(lock)
    with pytest.raises(SerializationError, match="PickleSerializer"):
        PickleSerializer().dump(lock, io.BytesIO())


def test_pickle_garbage_is_a_serialization_error():
    with pytest.raises(SerializationError, match="could not deserialize"):
        PickleSerializer().deserialize(b"not a pickle at all")


def test_pickle_empty_payload_is_a_serialization_error():
    with pytest.raises(SerializationError, match="could not deserialize"):
        PickleSerializer().load(io.BytesIO(b""))


def test_serialization_error_is_a_result_error():
    assert issubclass(SerializationError, ResultError)


def test_pickle_extension():
    assert PickleSerializer().extension == "pkl"
    assert PickleSerializer().label == "pickle"

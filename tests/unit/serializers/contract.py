"""SerializerContract: the behaviour every serializer must have. Each serializer's tests subclass it.

A subclass (``class TestXSerializer(SerializerContract)``) provides these fixtures:

- ``serializer``: the serializer under test;
- ``equal_serializer``: a separately built serializer with the same configuration;
- ``other_serializer``: a serializer with a different configuration (must not be equal);
- ``value``: a value the serializer round trips;
- ``unserializable_value``: a value it refuses;
- ``corrupt_payload``: bytes it cannot read.

and may override these flags (fixtures too, so that a parametrized subclass can vary them per case):

- ``deterministic`` (True): ``serialize(v)`` is byte for byte what ``dump(v, f)`` writes;
- ``label_rebuild`` ("equal"): what ``serializer_from_label(s.label)`` gives back: ``"equal"`` (an equal
  serializer), ``"same_label"`` (a serializer of the same type and label, e.g. keyword arguments are not part of
  the label) or ``"error"`` (the label cannot be rebuilt: ``SerializationError``);
- ``error_names`` (the serializer's class name): what a serialization error message names.

``assert_same(a, b)`` compares a value with its round trip (``==`` by default).
"""

from __future__ import annotations

import copy
import io
import pickle
import re
from typing import Any

import pytest

from airflow_results_provider.exceptions import ResultError, SerializationError
from airflow_results_provider.serializers._labels import serializer_from_label
from airflow_results_provider.serializers.base import Serializer


def roundtrip_both(serializer: Serializer, value: Any) -> tuple[Any, Any]:
    """Round trip through the bytes API and the streaming API; both must agree."""
    via_bytes = serializer.deserialize(serializer.serialize(value))
    buffer = io.BytesIO()
    serializer.dump(value, buffer)
    streamed_payload = buffer.getvalue()
    via_stream = serializer.load(io.BytesIO(streamed_payload))
    return via_bytes, via_stream


class NonSeekableStream(io.RawIOBase):
    """A readable and writable stream that cannot seek nor tell (like a cloud SDK body or an upload pipe)."""

    def __init__(self, data: bytes = b"") -> None:
        super().__init__()
        self._buffer = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer) -> int:  # type: ignore[override]
        return self._buffer.readinto(buffer)

    def write(self, data) -> int:  # type: ignore[override]
        return self._buffer.write(data)

    def getvalue(self) -> bytes:
        return self._buffer.getvalue()


class SerializerContract:
    # ------------------------------------------------------------------------------ what subclasses provide

    @pytest.fixture
    def serializer(self) -> Serializer:
        raise NotImplementedError

    @pytest.fixture
    def equal_serializer(self) -> Serializer:
        raise NotImplementedError

    @pytest.fixture
    def other_serializer(self) -> Serializer:
        raise NotImplementedError

    @pytest.fixture
    def value(self) -> Any:
        raise NotImplementedError

    @pytest.fixture
    def unserializable_value(self) -> Any:
        raise NotImplementedError

    @pytest.fixture
    def corrupt_payload(self) -> bytes:
        raise NotImplementedError

    @pytest.fixture
    def deterministic(self) -> bool:
        return True

    @pytest.fixture
    def label_rebuild(self) -> str:
        return "equal"

    @pytest.fixture
    def error_names(self, serializer) -> str:
        return type(serializer).__name__

    def assert_same(self, actual: Any, expected: Any) -> None:
        assert actual == expected
        assert type(actual) is type(expected)

    # ------------------------------------------------------------------------------ round trips

    def test_bytes_round_trip(self, serializer, value):
        payload = serializer.serialize(value)
        assert isinstance(payload, bytes) and payload
        self.assert_same(serializer.deserialize(payload), value)

    def test_stream_round_trip_through_bytesio(self, serializer, value):
        sink = io.BytesIO()
        serializer.dump(value, sink)
        assert not sink.closed, "dump must leave the caller's stream open"
        assert sink.getvalue()
        source = io.BytesIO(sink.getvalue())
        self.assert_same(serializer.load(source), value)
        assert not source.closed, "load must leave the caller's stream open"

    def test_stream_round_trip_through_a_non_seekable_stream(self, serializer, value):
        sink = NonSeekableStream()
        serializer.dump(value, sink)
        assert not sink.closed
        assert sink.getvalue()
        self.assert_same(serializer.load(NonSeekableStream(sink.getvalue())), value)

    def test_serialize_is_what_dump_writes(self, serializer, value, deterministic):
        sink = io.BytesIO()
        serializer.dump(value, sink)
        if deterministic:
            assert serializer.serialize(value) == sink.getvalue()
        else:  # e.g. gzip stamps the time: the payloads still read back the same way
            self.assert_same(serializer.deserialize(sink.getvalue()), value)
        # Either API reads what the other wrote.
        self.assert_same(serializer.load(io.BytesIO(serializer.serialize(value))), value)

    # ------------------------------------------------------------------------------ configuration

    def test_equal_configurations_are_equal(self, serializer, equal_serializer):
        assert serializer is not equal_serializer
        assert serializer == equal_serializer
        assert hash(serializer) == hash(equal_serializer)
        assert repr(serializer) == repr(equal_serializer)
        assert repr(serializer).startswith(f"{type(serializer).__name__}(")

    def test_different_configurations_are_not_equal(self, serializer, other_serializer):
        assert serializer != other_serializer
        assert repr(serializer) != repr(other_serializer)
        assert serializer != object()
        assert serializer != None  # noqa: E711 - __eq__ itself is under test

    def test_pickle_round_trip_of_the_serializer(self, serializer, value):
        clone = pickle.loads(pickle.dumps(serializer))
        assert clone == serializer and clone is not serializer
        assert repr(clone) == repr(serializer)
        self.assert_same(clone.deserialize(serializer.serialize(value)), value)

    def test_deepcopy_of_the_serializer(self, serializer, value):
        clone = copy.deepcopy(serializer)
        assert clone == serializer and clone is not serializer
        self.assert_same(serializer.deserialize(clone.serialize(value)), value)
        assert copy.copy(serializer) == serializer

    def test_label_and_extension_are_non_empty_strings(self, serializer):
        assert isinstance(serializer.label, str) and serializer.label
        assert isinstance(serializer.extension, str) and serializer.extension
        assert not serializer.extension.startswith(".")

    def test_label_rebuilds_the_serializer(self, serializer, value, label_rebuild):
        if label_rebuild == "error":
            with pytest.raises(SerializationError, match=re.escape(repr(serializer.label))):
                serializer_from_label(serializer.label)
            return
        rebuilt = serializer_from_label(serializer.label)
        assert type(rebuilt) is type(serializer)
        assert rebuilt.label == serializer.label
        if label_rebuild == "equal":
            assert rebuilt == serializer
            self.assert_same(rebuilt.deserialize(serializer.serialize(value)), value)
        else:
            assert label_rebuild == "same_label", label_rebuild

    # ------------------------------------------------------------------------------ errors

    def test_unserializable_value_raises_naming_the_serializer(
        self, serializer, unserializable_value, error_names
    ):
        with pytest.raises(SerializationError, match=error_names) as info:
            serializer.serialize(unserializable_value)
        assert isinstance(info.value, ResultError)
        assert "could not serialize" in str(info.value)
        with pytest.raises(SerializationError, match=error_names):
            serializer.dump(unserializable_value, io.BytesIO())

    def test_corrupt_payload_raises(self, serializer, corrupt_payload):
        with pytest.raises(SerializationError) as info:
            serializer.deserialize(corrupt_payload)
        assert isinstance(info.value, ResultError)
        with pytest.raises(SerializationError):
            serializer.load(io.BytesIO(corrupt_payload))
        with pytest.raises(SerializationError):
            serializer.load(NonSeekableStream(corrupt_payload))

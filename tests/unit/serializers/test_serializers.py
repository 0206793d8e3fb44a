"""Every serializer: bytes and streaming round trips, and clear errors on bad input."""

from __future__ import annotations

import base64
import datetime as dt
import io
import threading
import zlib

import cloudpickle
import numpy as np
import pandas as pd
import pytest

from airflow_results_provider.exceptions import ResultError, SerializationError
from airflow_results_provider.serializers import (
    CompressedSerializer,
    DateTimeSerializer,
    JSONSerializer,
    PandasSerializer,
    PickleSerializer,
)

CODECS = ["gzip", "bz2", "lzma", "zlib", "zstd", "lz4"]


def roundtrip_both(serializer, value):
    """Round trip through the bytes API and the streaming API; both must agree."""
    via_bytes = serializer.deserialize(serializer.serialize(value))
    buffer = io.BytesIO()
    serializer.dump(value, buffer)
    streamed_payload = buffer.getvalue()
    via_stream = serializer.load(io.BytesIO(streamed_payload))
    return via_bytes, via_stream


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


def test_pickle_unserializable_value_names_the_serializer():
    lock = threading.Lock()
    with pytest.raises(SerializationError, match=r"PickleSerializer \(pickle\).*_thread.lock"):
        PickleSerializer().serialize(lock)
    with pytest.raises(SerializationError, match="PickleSerializer"):
        PickleSerializer().dump(lock, io.BytesIO())


def test_pickle_garbage_is_a_serialization_error():
    with pytest.raises(SerializationError, match="could not deserialize"):
        PickleSerializer().deserialize(b"not a pickle at all")


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


@pytest.mark.parametrize(
    "value",
    [
        dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        dt.datetime(2024, 1, 2, 3, 4, 5, 678),
        dt.date(2024, 2, 29),
    ],
)
def test_datetime_roundtrip(value):
    via_bytes, via_stream = roundtrip_both(DateTimeSerializer(), value)
    assert via_bytes == value and via_stream == value
    assert type(via_bytes) is type(value)


def test_datetime_accepts_pendulum_and_rejects_others():
    import pendulum

    value = pendulum.datetime(2024, 5, 6, 7, tz="Europe/Paris")
    back = DateTimeSerializer().deserialize(DateTimeSerializer().serialize(value))
    assert back == value and back.utcoffset() == dt.timedelta(hours=2)
    with pytest.raises(SerializationError, match="DateTimeSerializer"):
        DateTimeSerializer().serialize("2024-01-01")
    with pytest.raises(SerializationError):
        DateTimeSerializer().deserialize(b"yesterday")


@pytest.fixture
def frame():
    return pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"], "c": [0.5, 1.5, None]})


@pytest.mark.parametrize("file_type", ["parquet", "feather", "csv", "json", "pickle"])
def test_pandas_roundtrip(frame, file_type):
    kwargs = {"csv": ({"index": False}, {}), "json": ({"orient": "records"}, {"orient": "records"})}
    ser_kw, de_kw = kwargs.get(file_type, ({}, {}))
    serializer = PandasSerializer(file_type, serialize_kwargs=ser_kw, deserialize_kwargs=de_kw)
    via_bytes, via_stream = roundtrip_both(serializer, frame)
    pd.testing.assert_frame_equal(via_bytes, frame)
    pd.testing.assert_frame_equal(via_stream, frame)
    assert serializer.label == f"pandas-{file_type}"


def test_pandas_bad_input(frame):
    with pytest.raises(ValueError, match="unsupported file_type 'docx'"):
        PandasSerializer("docx")
    with pytest.raises(SerializationError, match=r"PandasSerializer \(pandas\).*builtins.dict"):
        PandasSerializer("parquet").serialize({"not": "a frame"})
    with pytest.raises(SerializationError, match="could not deserialize"):
        PandasSerializer("parquet").deserialize(b"garbage")


def test_pandas_serializer_equality():
    assert PandasSerializer("csv") == PandasSerializer("csv")
    assert PandasSerializer("csv") != PandasSerializer("csv", serialize_kwargs={"index": False})
    assert PandasSerializer("csv") != PandasSerializer("parquet")


@pytest.mark.parametrize("codec", CODECS)
def test_compressed_roundtrip_streams_and_compresses(codec):
    serializer = CompressedSerializer(PickleSerializer(), format=codec)
    value = {"rows": list(range(20000)), "blob": b"a" * 200_000}
    via_bytes, via_stream = roundtrip_both(serializer, value)
    assert via_bytes == value and via_stream == value
    assert len(serializer.serialize(value)) < len(PickleSerializer().serialize(value)) / 3
    assert serializer.label == f"{codec}+pickle"


@pytest.mark.parametrize("codec", CODECS)
def test_compressed_large_numpy_value(codec):
    array = np.tile(np.arange(1000, dtype=np.int64), 2000)  # 16 MB, compressible
    serializer = CompressedSerializer(PickleSerializer(), format=codec)
    buffer = io.BytesIO()
    serializer.dump(array, buffer)
    back = serializer.load(io.BytesIO(buffer.getvalue()))
    np.testing.assert_array_equal(back, array)


@pytest.mark.parametrize("codec", CODECS)
def test_compressed_truncated_payload_is_an_error(codec):
    serializer = CompressedSerializer(JSONSerializer(), format=codec)
    payload = serializer.serialize({"k": list(range(5000))})
    with pytest.raises(SerializationError):
        serializer.deserialize(payload[: len(payload) // 2])


def test_compressed_custom_callables():
    serializer = CompressedSerializer(
        JSONSerializer(), compress=zlib.compress, decompress=zlib.decompress, compress_kwargs={"level": 9}
    )
    assert roundtrip_both(serializer, {"a": 1}) == ({"a": 1}, {"a": 1})
    assert zlib.decompress(serializer.serialize([1])) == b"[1]"
    assert serializer.label == "custom+json"


def test_compressed_argument_errors():
    with pytest.raises(ValueError, match="unknown format 'rar'"):
        CompressedSerializer(PickleSerializer(), format="rar")
    with pytest.raises(ValueError, match="not both"):
        CompressedSerializer(PickleSerializer(), format="gzip", compress=zlib.compress)
    with pytest.raises(ValueError, match="both compress= and decompress="):
        CompressedSerializer(PickleSerializer(), compress=zlib.compress)
    with pytest.raises(TypeError):
        CompressedSerializer("pickle", format="gzip")


def test_compressed_inner_error_names_the_inner_serializer():
    with pytest.raises(SerializationError, match="JSONSerializer"):
        CompressedSerializer(JSONSerializer(), format="gzip").serialize(object())


def test_serialization_error_is_a_result_error():
    assert issubclass(SerializationError, ResultError)


def test_extensions():
    assert PickleSerializer().extension == "pkl"
    assert JSONSerializer().extension == "json"
    assert PandasSerializer("parquet").extension == "parquet"
    assert CompressedSerializer(JSONSerializer(), format="zstd").extension == "json.zst"

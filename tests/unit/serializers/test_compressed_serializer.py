"""CompressedSerializer: the contract over every codec (and custom callables) and several inner serializers,
plus compression ratio, large numpy values, truncated payloads and argument errors."""

from __future__ import annotations

import io
import threading
import zlib

import numpy as np
import pandas as pd
import pytest

from airflow_results_provider.exceptions import SerializationError
from airflow_results_provider.serializers import (
    CompressedSerializer,
    JSONSerializer,
    PandasSerializer,
    PickleSerializer,
)
from airflow_results_provider.serializers._labels import serializer_from_label
from tests.unit.serializers.contract import NonSeekableStream, SerializerContract, roundtrip_both

CODECS = ["gzip", "bz2", "lzma", "zlib", "zstd", "lz4"]
INNERS = {
    "pickle": PickleSerializer,
    "json": JSONSerializer,
    "parquet": lambda: PandasSerializer("parquet"),
}
CASES = [(codec, inner) for codec in [*CODECS, "custom"] for inner in ("pickle", "json")] + [
    ("zstd", "parquet"),
    ("gzip", "parquet"),
    ("custom", "parquet"),
]


def reversed_zlib_compress(data: bytes, **kwargs) -> bytes:
    """A custom codec (not a built-in one's own function, which CompressedSerializer may map to its codec)."""
    return zlib.compress(data, **kwargs)[::-1]


def reversed_zlib_decompress(data: bytes, **kwargs) -> bytes:
    return zlib.decompress(data[::-1], **kwargs)


def build(codec: str, inner: str, **kwargs) -> CompressedSerializer:
    if codec == "custom":
        return CompressedSerializer(
            INNERS[inner](), compress=reversed_zlib_compress, decompress=reversed_zlib_decompress, **kwargs
        )
    return CompressedSerializer(INNERS[inner](), format=codec, **kwargs)


class TestCompressedSerializer(SerializerContract):
    @pytest.fixture(params=CASES, ids=[f"{codec}-{inner}" for codec, inner in CASES])
    def case(self, request):
        return request.param

    @pytest.fixture
    def serializer(self, case):
        return build(*case)

    @pytest.fixture
    def equal_serializer(self, case):
        return build(*case)

    @pytest.fixture
    def other_serializer(self, case):
        codec, inner = case
        return build("lzma" if codec != "lzma" else "bz2", inner)

    @pytest.fixture
    def value(self, case):
        if case[1] == "parquet":
            return pd.DataFrame({"a": list(range(1000)), "b": ["x", "y"] * 500})
        return {"rows": list(range(2000)), "text": "abc" * 1000}

    @pytest.fixture
    def unserializable_value(self, case):
        return threading.Lock() if case[1] != "parquet" else {"not": "a frame"}

    @pytest.fixture
    def corrupt_payload(self):
        return b"\x00\xffnot compressed data at all\x01" * 10

    @pytest.fixture
    def deterministic(self, case):
        return case[0] != "gzip"  # the gzip header stamps the time of writing

    @pytest.fixture
    def label_rebuild(self, case):
        return "error" if case[0] == "custom" else "equal"

    @pytest.fixture
    def error_names(self, case):
        # The inner serializer raises: its name is the one in the message.
        return {"pickle": "PickleSerializer", "json": "JSONSerializer", "parquet": "PandasSerializer"}[
            case[1]
        ]

    def assert_same(self, actual, expected):
        if isinstance(expected, pd.DataFrame):
            pd.testing.assert_frame_equal(actual, expected)
        else:
            super().assert_same(actual, expected)

    def test_payload_is_compressed(self, serializer, value):
        assert len(serializer.serialize(value)) < len(serializer.serializer.serialize(value))


def test_compressed_pandas_label_names_the_file_type():
    # Regression: the label was <format>+<inner.name> ("zstd+pandas"), which serializer_from_label cannot rebuild.
    serializer = CompressedSerializer(PandasSerializer("parquet"), format="zstd")
    assert serializer.label == "zstd+pandas-parquet"
    assert serializer_from_label(serializer.label) == serializer


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("file_type", ["parquet", "feather", "orc"])
def test_compressed_pandas_reads_from_a_non_seekable_stream(codec, file_type):
    # Regression: GzipFile says seekable() over a non-seekable source, and pyarrow then failed to seek it.
    frame = pd.DataFrame({"a": [1, 2, 3]})
    serializer = CompressedSerializer(PandasSerializer(file_type), format=codec)
    back = serializer.load(NonSeekableStream(serializer.serialize(frame)))
    pd.testing.assert_frame_equal(back, frame)


def test_nested_compressed_label():
    serializer = CompressedSerializer(CompressedSerializer(JSONSerializer(), format="gzip"), format="zstd")
    value = {"a": [1, 2]}
    assert roundtrip_both(serializer, value) == (value, value)
    assert serializer.extension == "json.gz.zst"


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


def test_compressed_extensions():
    assert CompressedSerializer(JSONSerializer(), format="zstd").extension == "json.zst"
    assert CompressedSerializer(PickleSerializer(), format="lzma").extension == "pkl.xz"
    assert build("custom", "json").extension == "json.z"

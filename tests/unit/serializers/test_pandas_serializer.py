"""PandasSerializer: the contract for every file type pandas can write here (excel needs openpyxl, not a\ndependency; html reads back a list), plus argument and input errors."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from airflow_results_provider.exceptions import SerializationError
from airflow_results_provider.serializers import PandasSerializer
from tests.unit.serializers.contract import NonSeekableStream, SerializerContract, roundtrip_both

# file_type -> (serialize_kwargs, deserialize_kwargs, assert_frame_equal kwargs)
FILE_TYPES = {
    "parquet": ({}, {}, {}),
    "feather": ({}, {}, {}),
    "orc": ({}, {}, {}),
    "pickle": ({}, {}, {}),
    "csv": ({"index": False}, {}, {}),
    "json": ({"orient": "records"}, {"orient": "records"}, {}),
    "xml": ({"index": False}, {}, {}),
    "stata": ({"write_index": False}, {}, {"check_dtype": False}),  # Stata stores int64 as int32
}


class TestPandasSerializer(SerializerContract):
    @pytest.fixture(params=sorted(FILE_TYPES))
    def file_type(self, request):
        return request.param

    @pytest.fixture
    def serializer(self, file_type):
        ser_kw, de_kw, _ = FILE_TYPES[file_type]
        return PandasSerializer(file_type, serialize_kwargs=ser_kw, deserialize_kwargs=de_kw)

    @pytest.fixture
    def equal_serializer(self, file_type):
        ser_kw, de_kw, _ = FILE_TYPES[file_type]
        return PandasSerializer(file_type, serialize_kwargs=dict(ser_kw), deserialize_kwargs=dict(de_kw))

    @pytest.fixture
    def other_serializer(self, file_type):
        return PandasSerializer("csv" if file_type != "csv" else "parquet")

    @pytest.fixture
    def value(self):
        return pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"], "c": [0.5, 1.5, None]})

    @pytest.fixture
    def unserializable_value(self):
        return {"not": "a frame"}

    @pytest.fixture
    def corrupt_payload(self):
        return b"\xff\xfe\x00 garbage, not a frame \x00\x01"

    @pytest.fixture
    def label_rebuild(self, file_type):
        # The label is pandas-<file_type>: keyword arguments are not part of it.
        ser_kw, de_kw, _ = FILE_TYPES[file_type]
        return "same_label" if ser_kw or de_kw else "equal"

    @pytest.fixture(autouse=True)
    def _compare_kwargs(self, file_type):
        self.compare_kwargs = FILE_TYPES[file_type][2]

    def assert_same(self, actual, expected):
        pd.testing.assert_frame_equal(actual, expected, **self.compare_kwargs)

    def test_label_and_extension_name_the_file_type(self, serializer, file_type):
        assert serializer.label == f"pandas-{file_type}"
        expected = {"excel": "xlsx", "stata": "dta", "pickle": "pkl"}.get(file_type, file_type)
        assert serializer.extension == expected


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


def test_pandas_series_round_trip():
    series = pd.Series([1.5, 2.5], name="s")
    back = PandasSerializer("pickle").deserialize(PandasSerializer("pickle").serialize(series))
    pd.testing.assert_series_equal(back, series)


def test_pandas_html_reads_back_a_list_of_frames(frame):
    # pandas.read_html returns every table of the document: the frame written is the first one.
    serializer = PandasSerializer("html", serialize_kwargs={"index": False})
    back = serializer.load(NonSeekableStream(serializer.serialize(frame)))
    assert isinstance(back, list) and len(back) == 1
    pd.testing.assert_frame_equal(back[0], frame)


def test_pandas_bad_input(frame):
    with pytest.raises(ValueError, match="unsupported file_type 'docx'"):
        PandasSerializer("docx")
    with pytest.raises(SerializationError, match=r"PandasSerializer \(pandas\).*builtins.dict"):
        PandasSerializer("parquet").serialize({"not": "a frame"})
    with pytest.raises(SerializationError, match="could not deserialize"):
        PandasSerializer("parquet").deserialize(b"garbage")


def test_pandas_writer_error_is_a_serialization_error(frame):
    serializer = PandasSerializer("csv", serialize_kwargs={"no_such_option": 1})
    with pytest.raises(
        SerializationError, match=r"PandasSerializer \(pandas\) could not serialize.*TypeError"
    ):
        serializer.dump(frame, io.BytesIO())


def test_pandas_serializer_equality():
    assert PandasSerializer("csv") == PandasSerializer("csv")
    assert PandasSerializer("csv") != PandasSerializer("csv", serialize_kwargs={"index": False})
    assert PandasSerializer("csv") != PandasSerializer("parquet")


def test_pandas_extension():
    assert PandasSerializer("parquet").extension == "parquet"


def test_xml_payloads_do_not_read_files_or_expand_entities_without_bound(tmp_path):
    # A payload is written by whoever can write the store: its DTD must not make the worker read its files
    # (XXE) or expand entities exponentially (billion laughs). read_xml's lxml parser resolves no external
    # entity and libxml2 caps entity amplification; both payloads fail with a clear error.
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    external = (
        f'<?xml version="1.0"?><!DOCTYPE data [<!ENTITY x SYSTEM "{secret.as_uri()}">]>'
        "<data><row><a>&x;</a></row></data>"
    ).encode()
    with pytest.raises(SerializationError, match="Entity 'x' not defined") as error:
        PandasSerializer("xml").load(io.BytesIO(external))
    assert "TOPSECRET" not in str(error.value)
    levels = '<!ENTITY l0 "lol">' + "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    laughs = f'<?xml version="1.0"?><!DOCTYPE data [{levels}]><data><row><a>&l9;</a></row></data>'.encode()
    with pytest.raises(SerializationError, match="amplification"):
        PandasSerializer("xml").load(io.BytesIO(laughs))

"""ResultContract: the behaviour every storage Result must have. Backends subclass it (``TestXResult``).

A subclass provides the ``make_result`` fixture (``make_result(**kwargs) -> Result``) and implements
``raw_payload`` / ``corrupt_payload`` to reach the stored bytes without going through the Result.
"""

from __future__ import annotations

import copy
import datetime as dt
import pickle

import pytest

from airflow_results_provider.exceptions import (
    LocationTemplateError,
    ResultIntegrityError,
    ResultNotFoundError,
    SerializationError,
)
from airflow_results_provider.serializers import (
    CompressedSerializer,
    JSONSerializer,
    PandasSerializer,
    PickleSerializer,
)

TASK_CONTEXT = {
    "dag_id": "etl",
    "run_id": "manual__2024-01-02T03:04:05+00:00",
    "task_id": "extract",
    "try_number": 1,
}


class ResultContract:
    supports_streaming = True

    def raw_payload(self, result, location: str) -> bytes:
        raise NotImplementedError

    def corrupt_payload(self, result, location: str) -> None:
        raise NotImplementedError

    # --------------------------------------------------------------------------------------- round trips

    @pytest.mark.parametrize(
        "value",
        [1, "text", {"a": [1, 2, {"b": None}]}, [1.5, True], b"\x00\x01bytes", dt.date(2024, 1, 2)],
        ids=["int", "str", "dict", "list", "bytes", "date"],
    )
    def test_pickle_round_trip(self, make_result, value):
        result = make_result()
        written = result.write(value)
        assert written.value == value
        assert result.read(written.location).value == value

    def test_json_round_trip_payload_is_plain_json(self, make_result):
        result = make_result(serializer=JSONSerializer(), location="out/value.json")
        written = result.write({"rows": [1, 2, 3]})
        assert self.raw_payload(result, written.location) == b'{"rows":[1,2,3]}'
        assert result.read("out/value.json").value == {"rows": [1, 2, 3]}

    @pytest.mark.parametrize("fmt", ["gzip", "bz2", "lzma", "zlib", "zstd", "lz4"])
    def test_compressed_round_trip(self, make_result, fmt):
        value = {"k": "v" * 10_000, "n": list(range(1000))}
        result = make_result(serializer=CompressedSerializer(PickleSerializer(), format=fmt))
        written = result.write(value)
        assert written.metadata["size"] < len(PickleSerializer().serialize(value))
        assert result.read(written.location).value == value

    def test_pandas_round_trip(self, make_result):
        pandas = pytest.importorskip("pandas")
        frame = pandas.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
        result = make_result(serializer=PandasSerializer("parquet"))
        written = result.write(frame)
        pandas.testing.assert_frame_equal(result.read(written.location).value, frame)
        assert written.metadata["python_type"] == "pandas.DataFrame"

    # --------------------------------------------------------------------------------------- immutability

    def test_write_returns_a_new_result_and_leaves_the_original_alone(self, make_result):
        result = make_result(location="{task_name}.pkl")
        written = result.write(42, task_name="t1")
        assert written is not result
        assert result.location == "{task_name}.pkl"
        assert result.value is None
        assert written.location == "t1.pkl"
        assert written.value == 42

    def test_format_renders_both_syntaxes_and_callables(self, make_result):
        context = {"flow_name": "etl", "task_name": "load", "date": dt.datetime(2024, 1, 2)}
        assert make_result(location="{flow_name}/{task_name}").format(**context).location == "etl/load"
        assert (
            make_result(location="{date:%Y-%m-%d}/{task_name}").format(**context).location
            == "2024-01-02/load"
        )
        assert (
            make_result(location="{{ flow_name }}/{{ task_name | upper }}").format(**context).location
            == "etl/LOAD"
        )
        assert make_result(location=lambda **kw: f"{kw['flow_name']}-x").format(**context).location == "etl-x"

    def test_missing_template_key_names_it_and_lists_the_available_ones(self, make_result):
        result = make_result(location="{flow_name}/{nope}.pkl")
        with pytest.raises(LocationTemplateError, match="'nope'") as info:
            result.write(1, flow_name="etl")
        assert "flow_name" in str(info.value)
        with pytest.raises(LocationTemplateError, match="'missing_var'"):
            make_result(location="{{ missing_var }}/x").format(flow_name="etl")

    # --------------------------------------------------------------------------------------- exists / read errors

    def test_exists_renders_the_location_and_checks_storage(self, make_result):
        result = make_result(location="{task_name}/value.pkl")
        assert result.exists("{task_name}/value.pkl", task_name="a") is False
        result.write("v", task_name="a")
        assert result.exists("{task_name}/value.pkl", task_name="a") is True
        assert result.exists("a/value.pkl") is True
        assert result.exists("{task_name}/value.pkl", task_name="b") is False

    def test_read_of_a_missing_location_raises_not_found_naming_it(self, make_result):
        result = make_result()
        with pytest.raises(ResultNotFoundError, match="never/written.pkl"):
            result.read("never/written.pkl")
        assert issubclass(ResultNotFoundError, FileNotFoundError)

    def test_one_flipped_byte_is_an_integrity_error(self, make_result):
        result = make_result(location="corrupt.pkl")
        result.write({"important": list(range(100))})
        self.corrupt_payload(result, "corrupt.pkl")
        with pytest.raises(ResultIntegrityError, match="corrupt.pkl"):
            result.read("corrupt.pkl")

    def test_unserializable_value_names_the_serializer_and_task_and_keeps_the_old_value(self, make_result):
        result = make_result(location="keep.json", serializer=JSONSerializer())
        result.write({"good": True}, **TASK_CONTEXT)
        with pytest.raises(SerializationError) as info:
            result.write({"bad": object()}, **TASK_CONTEXT)
        message = str(info.value)
        assert "JSONSerializer" in message
        assert "etl.extract" in message
        assert result.read("keep.json").value == {"good": True}

    # --------------------------------------------------------------------------------------- metadata

    def test_metadata_describes_the_payload(self, make_result):
        result = make_result(location="meta.pkl")
        written = result.write({"password": "hunter2", "rows": 3}, **TASK_CONTEXT)
        meta = written.metadata
        for key in (
            "result",
            "location",
            "serializer",
            "size",
            "sha256",
            "python_type",
            "preview",
            "written_at",
        ):
            assert key in meta, key
        assert meta["result"] == type(result).__name__
        assert meta["location"] == result.uri("meta.pkl")
        assert meta["serializer"] == "pickle"
        assert meta["python_type"] == "builtins.dict"
        assert meta["size"] == len(self.raw_payload(result, "meta.pkl"))
        assert meta["dag_id"] == "etl" and meta["task_id"] == "extract" and meta["try_number"] == 1
        assert "hunter2" not in meta["preview"]
        assert meta["python_version"] and meta["cloudpickle_version"]
        read_back = result.read("meta.pkl")
        assert read_back.metadata["sha256"] == meta["sha256"]

    def test_metadata_is_stored_beside_the_payload_not_wrapping_it(self, make_result):
        result = make_result(location="plain.pkl")
        result.write([1, 2, 3])
        assert self.raw_payload(result, "plain.pkl") == PickleSerializer().serialize([1, 2, 3])

    # --------------------------------------------------------------------------------------- locations

    def test_default_location_is_deterministic_per_task_instance(self, make_result):
        result = make_result()
        first = result.write(1, **TASK_CONTEXT).location
        assert first == result.write(2, **TASK_CONTEXT).location
        assert first.startswith("etl/manual__2024-01-02T03_04_05_00_00-34211930/extract/")
        mapped = {result.write(i, **TASK_CONTEXT, map_index=i).location for i in range(3)}
        assert len(mapped) == 3 and first not in mapped

    def test_default_location_without_task_context_never_collides(self, make_result):
        result = make_result()
        assert result.write(1).location != result.write(1).location

    def test_delete(self, make_result):
        result = make_result(location="gone.pkl")
        result.write(1)
        assert result.delete("gone.pkl") is True
        assert result.exists("gone.pkl") is False
        assert result.delete("gone.pkl") is False
        with pytest.raises(ResultNotFoundError):
            result.read("gone.pkl")

    def test_overwrite_keeps_the_latest_value(self, make_result):
        result = make_result(location="same.pkl")
        result.write("first")
        result.write("second")
        assert result.read("same.pkl").value == "second"

    # --------------------------------------------------------------------------------------- object protocol

    def test_everything_is_pickleable_copyable_and_equal_after_init(self, make_result):
        result = make_result(location="{task_name}.pkl")
        assert pickle.loads(pickle.dumps(result)) == result
        assert copy.deepcopy(result) == result
        assert result.copy() == result
        assert result != make_result(location="other.pkl")
        written = result.write({"a": 1}, task_name="t")
        assert pickle.loads(pickle.dumps(written)) == written

    def test_repr(self, make_result):
        assert repr(make_result(value=2)) == f"<{type(make_result()).__name__}: 2>"

    def test_from_value(self, make_result):
        result = make_result(location="x.pkl")
        new = result.from_value(5)
        assert new.value == 5 and new.location is None and result.value is None

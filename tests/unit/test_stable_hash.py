"""Stable, type-aware hashing of task inputs (airflow_results_provider.core.stable_hash).

Property tests (Hypothesis): values of each supported type built independently (deep copies, dicts in another
insertion order, arrays in another memory layout, DataFrames built twice, pyarrow tables chunked differently) get
one digest; values that differ get different digests. Golden digests pin the encoding: a change to any of them
changes every user's cache keys, so it must come with a new ENCODING_VERSION. Two processes with different
PYTHONHASHSEED agree. Every kind of unhashable value fails with the documented message naming its path.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import datetime as dt
import decimal
import enum
import io
import os
import pathlib
import socket
import subprocess
import sys
import threading
import typing
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from airflow_results_provider.core.stable_hash import MAX_DEPTH, digest_inputs, digest_value
from airflow_results_provider.core.stored_digest import StoredDigest
from airflow_results_provider.exceptions import UnhashableInputError

ROOT = Path(__file__).resolve().parents[2]
PROPERTY = settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
TABLES = settings(PROPERTY, max_examples=25)  # DataFrames and pyarrow tables: slower to build


def key(value: object) -> str:
    return digest_value(value, argument="value")


# -- strategies ---------------------------------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary()
)
json_like = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.lists(inner, max_size=5).map(tuple)
        | st.dictionaries(st.text(max_size=5) | st.integers(), inner, max_size=5)
        | st.frozensets(st.integers() | st.text(max_size=5), max_size=5)
    ),
    max_leaves=20,
)
fixed_offsets = st.builds(
    dt.timezone, st.timedeltas(min_value=dt.timedelta(hours=-23), max_value=dt.timedelta(hours=23))
)
temporals = (
    st.datetimes()
    | st.datetimes(timezones=st.timezones() | fixed_offsets)
    | st.dates()
    | st.times()
    | st.times(timezones=fixed_offsets)
    | st.timedeltas()
)
others = (
    st.decimals(allow_nan=False)
    | st.uuids()
    | st.text(max_size=20).map(pathlib.PurePosixPath)
    | st.text(max_size=20).map(pathlib.PureWindowsPath)
    | st.complex_numbers(allow_nan=False)
)


class Color(enum.Enum):
    RED = 1
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1


@dataclasses.dataclass
class Point:
    x: int
    y: list


class Pair(typing.NamedTuple):
    left: object
    right: object


records = (
    st.sampled_from(list(Color) + list(Level))
    | st.builds(Point, st.integers(), st.lists(st.integers(), max_size=3))
    | st.builds(Pair, scalars, scalars)
)


def rebuilt(value: object) -> object:
    """An independent equal copy: new containers, dicts in reversed insertion order, sets rebuilt."""
    if type(value) is dict:
        return {k: rebuilt(value[k]) for k in reversed(list(value))}
    if type(value) in (list, tuple):
        return type(value)(rebuilt(item) for item in value)
    if type(value) in (set, frozenset):
        return type(value)(sorted(value, key=repr, reverse=True))
    return copy.deepcopy(value)


# -- properties ---------------------------------------------------------------------------------------------------


@PROPERTY
@given(json_like | temporals | others | records)
def test_equal_values_built_independently_have_one_digest(value):
    assert key(rebuilt(value)) == key(value)
    assert len(key(value)) == 64


@PROPERTY
@given(json_like | temporals | others | records, json_like | temporals | others | records)
def test_different_values_have_different_digests(a, b):
    assume(a != b)
    assert key(a) != key(b)


@PROPERTY
@given(st.dictionaries(st.text(max_size=8), json_like, max_size=8), st.randoms())
def test_dict_insertion_order_does_not_change_the_digest(mapping, random):
    items = list(mapping.items())
    random.shuffle(items)
    assert key(dict(items)) == key(mapping)


@PROPERTY
@given(st.lists(st.integers(min_value=-(2**63), max_value=2**64 - 1), min_size=1, max_size=50), st.data())
def test_int_lists_fast_path_is_injective(values, data):
    other = data.draw(st.lists(st.integers(min_value=-(2**63), max_value=2**64 - 1), min_size=1, max_size=50))
    assume(values != other)
    assert key(values) != key(other)
    assert key(values) == key(list(values))
    assert key(values) != key(tuple(values))  # a tuple and a list differ, as by ==


def test_records_sharing_keys_reuse_their_layout_without_confusing_key_types():
    class Key(str, enum.Enum):
        A = "a"

    assert key([{"a": 1}, {"a": 1}]) != key([{"a": 1}, {Key.A: 1}])  # Key.A == "a", yet another key type
    assert key([{"a": 1}, {Key.A: 1}]) == key([{"a": 1}, {Key.A: 1}])
    assert key([{"a": 1, "b": 2}, {"b": 2, "a": 1}]) == key([{"a": 1, "b": 2}, {"a": 1, "b": 2}])
    assert key([{"a": 1, "b": 2}, {"b": 1, "a": 2}]) != key([{"a": 1, "b": 2}, {"a": 1, "b": 2}])


def test_type_tags_keep_equal_looking_values_apart():
    values = [
        1, 1.0, True, "1", b"1", [1], (1,), {1}, {"1": 1}, None, np.int64(1), np.float64(1.0), decimal.Decimal(1),
        Color.RED, Level.LOW, [True], [1.0], complex(1, 0), dt.timedelta(microseconds=1), pathlib.PurePath("1"),
        np.array([1]), pa.array([1]), pd.Series([1]), [np.int64(1)],
    ]  # fmt: skip
    digests = [key(value) for value in values]
    assert len(set(digests)) == len(values)


def test_decided_equivalences():
    assert key(b"ab") == key(bytearray(b"ab")) == key(memoryview(b"ab"))
    assert key({1, 2}) == key(frozenset({2, 1}))
    assert key(float("nan")) == key(-float("nan")) == key(float("inf") - float("inf"))
    assert key(-0.0) != key(0.0)
    assert key(decimal.Decimal("1.0")) != key(decimal.Decimal("1.00"))
    assert key([1, 2]) != key((1, 2))
    naive = dt.datetime(2024, 1, 1, 12)
    utc = naive.replace(tzinfo=dt.timezone.utc)
    assert key(naive) != key(utc)
    # one instant, another offset: another key; another zone with the same offset at that instant: the same key
    assert key(utc) != key(utc.astimezone(dt.timezone(dt.timedelta(hours=1))))
    berlin_winter = dt.datetime(2024, 1, 1, 13, tzinfo=__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    assert key(berlin_winter) == key(dt.datetime(2024, 1, 1, 13, tzinfo=dt.timezone(dt.timedelta(hours=1))))
    assert key(pathlib.PurePosixPath("a/b")) == key(pathlib.Path("a/b"))
    assert key(pathlib.PurePosixPath("a")) != key(pathlib.PureWindowsPath("a"))


# -- numpy ---------------------------------------------------------------------------------------------------------

array_dtypes = (
    hnp.integer_dtypes() | hnp.unsigned_integer_dtypes() | hnp.floating_dtypes() | hnp.boolean_dtypes()
    | hnp.datetime64_dtypes() | hnp.unicode_string_dtypes() | hnp.complex_number_dtypes()
)  # fmt: skip
arrays = hnp.arrays(array_dtypes, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5))


@PROPERTY
@given(arrays)
def test_equal_arrays_in_any_layout_have_one_digest(array):
    assert key(np.asfortranarray(array)) == key(array)
    assert key(array.copy()) == key(array)
    swapped = array.astype(array.dtype.newbyteorder(">"))
    assert key(swapped) == key(array)


@PROPERTY
@given(arrays, arrays)
def test_different_arrays_have_different_digests(a, b):
    same_dtype = a.dtype.newbyteorder("<") == b.dtype.newbyteorder("<")  # byte order is not part of the key
    same = same_dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind in "fcmM")
    assume(not same)
    assert key(a) != key(b)


def test_non_contiguous_views_hash_their_values():
    base = np.arange(24.0).reshape(4, 6)
    assert key(base[:, ::2]) == key(np.ascontiguousarray(base[:, ::2]))
    assert key(base.T) == key(base.T.copy())
    assert key(base.T) != key(base)


def test_numpy_scalars_hash_as_dtype_and_bytes():
    assert key(np.int64(5)) == key(np.int64(5))
    assert key(np.int64(5)) != key(np.int32(5))
    assert key(np.float64("nan")) == key(np.float64(-np.nan))
    assert key(np.datetime64("2024-01-01")) != key(np.datetime64("2024-01-01T00:00"))


def test_object_arrays_hash_element_by_element():
    assert key(np.array([1, "a", None], dtype=object)) == key(np.array([1, "a", None], dtype=object))
    assert key(np.array([1, "a"], dtype=object)) != key(np.array([1, "b"], dtype=object))
    with pytest.raises(UnhashableInputError, match=r"input 'value\[1\]' is a object"):
        key(np.array([1, object()], dtype=object))


# -- pandas --------------------------------------------------------------------------------------------------------

column_values = {
    "ints": st.lists(st.integers(-(2**62), 2**62), min_size=3, max_size=3),
    "floats": st.lists(st.floats(allow_nan=True, width=64), min_size=3, max_size=3),
    "strings": st.lists(st.text(max_size=4), min_size=3, max_size=3),
    "bools": st.lists(st.booleans(), min_size=3, max_size=3),
    "times": st.lists(  # within pandas 2's datetime64[ns] range
        st.datetimes(min_value=dt.datetime(1700, 1, 1), max_value=dt.datetime(2200, 1, 1)),
        min_size=3,
        max_size=3,
    ),
    "nullable": st.lists(st.none() | st.integers(-100, 100), min_size=3, max_size=3),
}
frame_data = st.dictionaries(
    st.text(min_size=1, max_size=4), st.one_of(*column_values.values()), min_size=1, max_size=4
)


def build_frame(data: dict, *, extensions: bool = False) -> pd.DataFrame:
    frame = pd.DataFrame({name: list(values) for name, values in data.items()})
    if extensions:  # nullable ints, categoricals, tz-aware datetimes
        for name, values in data.items():
            if all(v is None or type(v) is int for v in values):
                frame[name] = pd.array(values, dtype="Int64")
            elif all(type(v) is str for v in values):
                frame[name] = pd.Categorical(values)
            elif all(isinstance(v, dt.datetime) for v in values):
                frame[name] = pd.to_datetime(values).tz_localize("UTC").tz_convert("Asia/Kolkata")
    return frame


@TABLES
@given(frame_data, st.booleans())
def test_dataframes_built_twice_have_one_digest(data, extensions):
    frame = build_frame(data, extensions=extensions)
    assert key(build_frame(copy.deepcopy(data), extensions=extensions)) == key(frame)
    assert key(frame.copy(deep=True)) == key(frame)
    assert key(frame.iloc[:, 0]) == key(frame.iloc[:, 0].copy())
    assert key(frame.index) == key(pd.RangeIndex(len(frame)))


@TABLES
@given(frame_data, st.booleans(), st.data())
def test_a_changed_value_name_dtype_or_index_changes_the_digest(data, extensions, draw):
    frame = build_frame(data, extensions=extensions)
    before = key(frame)
    name = draw.draw(st.sampled_from(list(frame.columns)))
    renamed = frame.rename(columns={name: name + "_"})
    assert key(renamed) != before
    assert key(frame.set_axis([10, 11, 12])) != before
    assert key(frame.astype({name: object})) != before or frame[name].dtype == object
    changed = frame.copy()
    column = changed[name]
    replacement = draw.draw(st.sampled_from(list(column.dropna().unique()) or [None]))
    assume(not pd.isna(replacement) and not column.iloc[:1].eq(replacement).all())
    changed.loc[0, name] = replacement
    assert not changed.equals(frame)
    assert key(changed) != before


def test_dataframe_dtypes_and_structure_are_in_the_key():
    frame = pd.DataFrame({"a": [1, 2, 3], "b": [0.5, 1.5, None]})
    assert key(frame) != key(frame.astype({"a": "int32"}))
    assert key(frame) != key(frame[["b", "a"]])
    assert key(frame) != key(frame.set_index("a"))
    assert key(frame) != key(frame.T)
    tz = pd.DataFrame({"t": pd.date_range("2024", periods=2, tz="UTC")})
    assert key(tz) != key(
        pd.DataFrame({"t": pd.date_range("2024", periods=2, tz="UTC").tz_convert("Asia/Tokyo")})
    )
    assert key(tz) != key(pd.DataFrame({"t": pd.date_range("2024", periods=2)}))
    cats = pd.Series(pd.Categorical(["x", "y"], categories=["x", "y"]))
    assert key(cats) != key(pd.Series(pd.Categorical(["x", "y"], categories=["y", "x"])))
    assert key(cats) != key(pd.Series(["x", "y"]))
    multi = pd.DataFrame(
        {"v": [1, 2]}, index=pd.MultiIndex.from_tuples([("a", 1), ("b", 2)], names=["k", "n"])
    )
    assert key(multi) == key(multi.copy(deep=True))
    assert key(multi) != key(multi.rename_axis(["k", "m"]))
    assert key(pd.Series([1, 2], name="a")) != key(pd.Series([1, 2], name="b"))


def test_pandas_scalars_keep_their_nanoseconds_and_range():
    assert key(pd.Timestamp("2020-01-01T00:00:00.000000001")) != key(pd.Timestamp("2020-01-01"))
    assert key(pd.Timestamp(dt.datetime(2266, 1, 1))) != key(pd.Timestamp(dt.datetime(2266, 1, 2)))  # past ns
    assert key(pd.Timestamp("2020-01-01", tz="UTC")) != key(pd.Timestamp("2020-01-01"))
    assert key(pd.Timestamp("2020-01-01")) != key(dt.datetime(2020, 1, 1))
    assert key(pd.Timedelta(1)) != key(pd.Timedelta(2))
    assert key(pd.NaT) != key(pd.NA) != key(None)


def test_pandas_object_columns_name_the_failing_cell():
    frame = pd.DataFrame({"ok": [1, 2], "bad": ["x", object()]})
    with pytest.raises(UnhashableInputError, match=r"input \"frame\['bad'\]\[1\]\"") as caught:
        digest_value(frame, argument="frame")
    assert 'INPUTS - "frame"' in str(caught.value)


# -- pyarrow -------------------------------------------------------------------------------------------------------

arrow_columns = {
    "ints": st.lists(st.none() | st.integers(-(2**63), 2**63 - 1), min_size=6, max_size=6),
    "floats": st.lists(st.none() | st.floats(), min_size=6, max_size=6),
    "strings": st.lists(st.none() | st.text(max_size=4), min_size=6, max_size=6),
    "lists": st.lists(st.none() | st.lists(st.integers(-5, 5), max_size=3), min_size=6, max_size=6),
    "times": st.lists(st.none() | st.datetimes(), min_size=6, max_size=6),
}
arrow_data = st.dictionaries(
    st.text(min_size=1, max_size=4), st.one_of(*arrow_columns.values()), min_size=1, max_size=4
)


@TABLES
@given(arrow_data, st.integers(1, 6), st.integers(1, 6))
def test_pyarrow_chunking_does_not_change_the_digest(data, chunk_a, chunk_b):
    table = pa.table(data)
    a = pa.Table.from_batches(table.to_batches(max_chunksize=chunk_a), schema=table.schema)
    b = pa.concat_tables([table.slice(0, chunk_b), table.slice(chunk_b)])
    assert key(a) == key(b) == key(table.combine_chunks()) == key(pa.table(copy.deepcopy(data)))
    name = table.column_names[0]
    assert key(a.column(name)) == key(b.column(name))
    assert key(table.to_batches()[0]) == key(pa.RecordBatch.from_pydict(data))


@TABLES
@given(arrow_data, arrow_data)
def test_different_pyarrow_tables_have_different_digests(a, b):
    table_a, table_b = pa.table(a), pa.table(b)
    # equal by value, NaN equal to NaN (the digest's rule; Table.equals says NaN != NaN)
    assume(table_a.schema != table_b.schema or repr(table_a.to_pylist()) != repr(table_b.to_pylist()))
    assert key(table_a) != key(table_b)


def test_pyarrow_strings_are_hashed_from_their_buffers_by_value():
    assert key(pa.array(["ab", "c"])) != key(pa.array(["a", "bc"]))  # lengths are part of the key
    assert key(pa.array(["ab", "c"])) != key(pa.array(["ab", "c"], pa.large_string()))
    assert key(pa.array([b"x"])) != key(pa.array(["x"]))
    sliced = pa.array(["skip", "a", None, "", "bc"], pa.large_string()).slice(1)
    assert key(sliced) == key(pa.array(["a", None, "", "bc"], pa.large_string()))
    assert key(pa.array(["a", None])) != key(pa.array(["a", ""]))


def test_pyarrow_nulls_and_dictionaries():
    assert key(pa.array([1, None, 3])) != key(pa.array([1, 0, 3]))
    assert key(pa.array([1, None])) != key(pa.array([None, 1]))
    plain = pa.chunked_array([["a", "b"], ["a"]])
    encoded = pa.chunked_array(
        [pa.array(["a", "b"]).dictionary_encode(), pa.array(["a"]).dictionary_encode()]
    )
    split = pa.chunked_array([pa.array(["a"]).dictionary_encode(), pa.array(["b", "a"]).dictionary_encode()])
    assert key(encoded) == key(split)
    assert key(encoded) != key(plain)  # the type (dictionary<...>) is part of the key


# -- stored values --------------------------------------------------------------------------------------------------


def test_stored_digest_is_keyed_by_its_recorded_fields():
    stored = StoredDigest(algorithm="sha256", digest="ab" * 32, serializer="json")
    assert key(stored) == key(StoredDigest("sha256", "ab" * 32, "json"))
    assert key(stored) != key(StoredDigest("sha256", "cd" * 32, "json"))
    assert key(stored) != key(StoredDigest("sha256", "ab" * 32, "pickle"))
    assert key(stored) != key(dataclasses.replace(stored, parts=("ab" * 32,)))
    assert key(stored) != key("ab" * 32)
    assert key({"rows": stored}) != key({"rows": [1, 2]})


def test_digest_inputs_digests_each_input():
    inputs = {"rows": [1, 2, 3], "config": {"mode": "fast"}}
    assert digest_inputs(inputs) == {
        name: digest_value(value, argument=name) for name, value in inputs.items()
    }


# -- golden digests: an encoding change fails here (it would invalidate every user's cache) -----------------------


def golden_values() -> dict[str, object]:
    return {
        "json": {"a": 1, "b": [1.5, "x", None]},
        "ints": list(range(-3, 1000)),
        "set": {"x", "y", frozenset({1, 2})},
        "datetime": dt.datetime(2024, 5, 6, 7, 8, 9, 10, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
        "misc": (
            decimal.Decimal("-1.50"),
            uuid.UUID(int=7),
            pathlib.PurePosixPath("/a/b"),
            b"\x00\xff",
            2**100,
        ),
        "numpy": np.arange(12, dtype="<f8").reshape(3, 4),
        # dtypes spelled out: pandas 2 and 3 infer different ones for strings (object/str) and datetimes (ns/us)
        "frame": pd.DataFrame(
            {
                "i": np.array([1, 2], dtype="int64"),
                "f": np.array([0.5, np.nan]),
                "s": pd.Series(["a", "b"], dtype=object),
                "t": np.array(["2024-01-01", "2024-01-02"], dtype="datetime64[ns]"),
            }
        ).set_axis(pd.Index(["i", "f", "s", "t"], dtype=object), axis=1),
        "arrow": pa.table({"i": [1, None], "s": ["a", None]}),
        "stored": StoredDigest("sha256", "0" * 64, "json"),
    }


GOLDEN_DIGESTS = {
    "arrow": "03cca8cafd0a96a5a561e1276eccdc62c3024dd1010f50d4a73288b0a8bb914c",
    "datetime": "4550485ddfdb63477a35a098f50505c13878ea81cd4ffdb1d8ce48cb853c724c",
    "frame": "a09f48b4810d0aefec4c89edc8ba5d0fdc1f95c363c98fec5d693cc46c296acb",
    "ints": "a53345897dec6a75089b6ab0f64442d28f06846853fd514d838f7afa443f2bea",
    "json": "a70d6ddda90be7c63401f37c429b0ef90a32cd999341e66c325a8e0c2b4d8ad0",
    "misc": "ebba7cb448962af97c5a6da41ec36749f80495db14601e6b09c9d3f810234a75",
    "numpy": "1cbe711682bfcdaa4f504a13a4a7b27499b9747c3770a62610622910d24aff27",
    "set": "e7ca2b2fbc09c611fe99c3a7a432431ae6ede222255d06da9cb2218d360be85b",
    "stored": "c16571a252a4d0bac2ff756bc62f102e2ebe3b47ace2a7ef5b6aaca4b3bb6cc6",
}


@pytest.mark.parametrize("name", sorted(golden_values()))
def test_golden_digests(name):
    assert key(golden_values()[name]) == GOLDEN_DIGESTS[name]


# -- other processes -----------------------------------------------------------------------------------------------

PROBE = """
import json, sys
import numpy as np, pandas as pd
from airflow_results_provider.core.stable_hash import digest_value
frame = pd.DataFrame({"s": ["x", "y", None], "c": pd.Categorical(["a", "b", "a"]), "f": [0.5, np.nan, 2.0],
                      "t": pd.date_range("2024", periods=3, tz="Europe/Paris")}, index=["r1", "r2", "r3"])
nested = {"tags": {"alpha", "beta", "gamma", "delta"}, "z": {"k": frozenset({"p", "q"})}, "a": [1, "two", 3.0]}
print(json.dumps([digest_value(frame, argument="frame"), digest_value(nested, argument="nested")]))
"""


def test_other_processes_with_other_hash_seeds_agree():
    results = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", PROBE], env=env, cwd=ROOT, capture_output=True, text=True, check=True
        )
        results.append(out.stdout.strip())
    assert results[0] == results[1]
    here = io.StringIO()
    with contextlib.redirect_stdout(here):
        exec(PROBE, {})
    assert here.getvalue().strip() == results[0]


# -- values without a stable hash -----------------------------------------------------------------------------------


class OnlyEq:
    def __eq__(self, other):
        return isinstance(other, OnlyEq)

    __hash__ = None


class Plain:
    def __init__(self):
        self.setting = 1


def unhashable_values():
    from airflow.providers.standard.hooks.subprocess import SubprocessHook
    from airflow.sdk import Connection

    def function():
        return 1

    return {
        "connection": Connection(conn_id="db", conn_type="postgres", password="secret"),
        "hook": SubprocessHook(),
        "lambda": lambda: 1,
        "function": function,
        "method": Plain().__init__,
        "generator": (i for i in range(3)),
        "module": os,
        "class": Plain,
        "lock": threading.Lock(),
        "object": Plain(),
        "only_eq": OnlyEq(),
        "masked": np.ma.masked_array([1, 2], mask=[0, 1]),
        "period": pd.Period("2024-01", freq="M"),
    }


UNHASHABLE_KINDS = (
    "class", "connection", "function", "generator", "hook", "lambda", "lock", "masked", "method", "module",
    "object", "only_eq", "period",
)  # fmt: skip


def test_unhashable_kinds_are_all_tested():
    assert sorted(unhashable_values()) == sorted(UNHASHABLE_KINDS)


@pytest.mark.parametrize("kind", UNHASHABLE_KINDS)
def test_unhashable_values_name_the_argument_and_how_to_exclude_it(kind):
    value = unhashable_values()[kind]
    with pytest.raises(UnhashableInputError) as caught:
        digest_value(value, argument="thing")
    message = str(caught.value)
    assert "input 'thing' is a" in message
    assert 'cache_policy=INPUTS - "thing"' in message
    assert caught.value.argument == "thing"
    with pytest.raises(UnhashableInputError) as nested:
        digest_value({"client": [0, 1, 2, {"x": value}]}, argument="config")
    assert nested.value.argument == "config['client'][3]['x']"
    assert 'INPUTS - "config"' in str(nested.value)


def test_open_files_sockets_and_sdk_clients_are_unhashable(tmp_path):
    boto3 = pytest.importorskip("boto3")
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    with open(tmp_path / "f", "w") as handle, socket.socket() as sock:
        for value in (handle, sock, client):
            with pytest.raises(UnhashableInputError, match=r"input 'rows\[3\]'.*INPUTS - \"rows\""):
                digest_value([0, 1, 2, value], argument="rows")


def test_unhashable_dict_keys_set_elements_and_fields_are_named():
    with pytest.raises(
        UnhashableInputError, match=r"input 'm\[<tests.unit.test_stable_hash.Plain>\] \(its key\)'"
    ):
        digest_value({Plain(): 1}, argument="m")
    with pytest.raises(UnhashableInputError, match=r"input 'p.y\[0\]'"):
        digest_value(Point(1, [Plain()]), argument="p")
    with pytest.raises(UnhashableInputError, match=r"input 'p.right'"):
        digest_value(Pair(1, Plain()), argument="p")
    with pytest.raises(UnhashableInputError, match=r"input 'c.value'"):
        digest_value(enum.Enum("Bad", {"A": Plain()}).A, argument="c")


def test_cycles_and_deep_nesting_are_refused():
    loop: list = [1]
    loop.append(loop)
    with pytest.raises(UnhashableInputError, match="reference cycle"):
        key(loop)
    mapping: dict = {}
    mapping["self"] = mapping
    with pytest.raises(UnhashableInputError, match=r"input \"value\['self'\]\".*reference cycle"):
        key(mapping)
    deep: list = []
    for _ in range(MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(UnhashableInputError, match="nested too deeply"):
        key(deep)
    shallow: list = []
    for _ in range(MAX_DEPTH - 5):
        shallow = [shallow]
    assert len(key(shallow)) == 64
    shared = [1, 2]
    assert key([shared, shared]) == key([[1, 2], [1, 2]])  # shared, not cyclic


def test_the_module_imports_no_numpy_pandas_or_pyarrow():
    code = (
        "import sys; import airflow_results_provider.core.stable_hash; "
        "print(sorted(m for m in ('numpy', 'pandas', 'pyarrow', 'airflow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

"""_metadata: the one metadata builder, masked bounded previews, and the sidecar encoding."""

from __future__ import annotations

import datetime as dt
import json
import platform
from collections.abc import Mapping

import cloudpickle
import numpy as np
import pandas as pd
import pytest

from airflow_results_provider.core.metadata import METADATA_FORMAT_VERSION, build_metadata
from airflow_results_provider.core.preview import PREVIEW_MAX_CHARS, make_preview, python_type_name
from airflow_results_provider.core.sidecar import decode_metadata, encode_metadata
from airflow_results_provider.exceptions import ResultIntegrityError

BASE = {
    "result_type": "LocalResult",
    "uri": "file:///r/x.pkl",
    "serializer": "pickle",
    "size": 12,
    "sha256": "ab",
}
WRITE_FIELDS = {
    "format_version",
    "python_type",
    "preview",
    "preview_data",  # the structured preview the Results page renders (JSON tree, table, text, hex)
    "written_at",
    "python_version",
    "cloudpickle_version",
}


def test_build_metadata_without_value_records_only_what_the_bytes_tell():
    assert build_metadata(**BASE) == {
        "result": "LocalResult",
        "location": "file:///r/x.pkl",
        "serializer": "pickle",
        "size": 12,
        "sha256": "ab",
    }


def test_build_metadata_with_value():
    before = dt.datetime.now(dt.timezone.utc)
    meta = build_metadata(**BASE, value={"rows": 3})
    after = dt.datetime.now(dt.timezone.utc)
    assert set(meta) == {"result", "location", "serializer", "size", "sha256"} | WRITE_FIELDS
    assert meta["format_version"] == METADATA_FORMAT_VERSION
    assert meta["python_type"] == "builtins.dict"
    assert meta["preview"] == "{'rows': 3}"
    written_at = dt.datetime.fromisoformat(meta["written_at"])
    assert written_at.utcoffset() == dt.timedelta(0)
    assert before <= written_at <= after
    assert meta["python_version"] == platform.python_version()
    assert meta["cloudpickle_version"] == cloudpickle.__version__


def test_a_none_value_is_still_a_value():
    meta = build_metadata(**BASE, value=None)
    assert meta["python_type"] == "builtins.NoneType" and meta["preview"] == "None"


def test_build_metadata_context_fields():
    context = {
        "dag_id": "etl",
        "run_id": "manual__1",
        "task_id": "extract",
        "map_index": 0,
        "try_number": 2,
        "task_run_count": 9,
        "ds": "2024-01-02",
        "params": {"x": 1},
    }
    meta = build_metadata(**BASE, context=context)
    assert {k: meta[k] for k in ("dag_id", "run_id", "task_id", "map_index", "try_number")} == {
        "dag_id": "etl",
        "run_id": "manual__1",
        "task_id": "extract",
        "map_index": 0,  # 0 is a map index, not "missing"
        "try_number": 2,  # try_number wins over task_run_count
    }
    assert "ds" not in meta and "params" not in meta and "task_run_count" not in meta


def test_try_number_falls_back_to_task_run_count():
    assert build_metadata(**BASE, context={"task_run_count": 3})["try_number"] == 3
    assert build_metadata(**BASE, context={"try_number": None, "task_run_count": 4})["try_number"] == 4
    assert "try_number" not in build_metadata(**BASE, context={"dag_id": "etl"})


def test_none_fields_are_dropped():
    meta = build_metadata(
        result_type="InlineResult", uri="[1]", context={"dag_id": None, "map_index": None}, url=None
    )
    assert meta == {"result": "InlineResult", "location": "[1]"}
    assert None not in build_metadata(**BASE, value=1, context={"run_id": None}).values()


def test_extra_fields_are_added_as_they_are():
    meta = build_metadata(**BASE, url="https://console/x", previous_sha256="cd", nested={"a": [1]})
    assert meta["url"] == "https://console/x"
    assert meta["previous_sha256"] == "cd"
    assert meta["nested"] == {"a": [1]}
    # An extra field overrides a computed one (SecretResult's "***" preview).
    assert build_metadata(**BASE, value="s3cr3t", preview="***")["preview"] == "***"
    assert build_metadata(result_type="SecretResult", uri="airflow-variable:k", preview="***") == {
        "result": "SecretResult",
        "location": "airflow-variable:k",
        "preview": "***",
    }


def test_python_type_name():
    assert python_type_name({}) == "builtins.dict"
    assert python_type_name(pd.DataFrame()) == "pandas.DataFrame"
    assert python_type_name(np.zeros(2)) == "numpy.ndarray"
    assert python_type_name(dt.date(2024, 1, 2)) == "datetime.date"

    class Local:
        pass

    assert python_type_name(Local()).endswith("test_python_type_name.<locals>.Local")


# ---------------------------------------------------------------------------------------------- previews


def test_preview_is_the_repr_of_a_small_value():
    assert make_preview([1, "a", None]) == "[1, 'a', None]"
    assert make_preview(42) == "42"


@pytest.mark.parametrize(
    "value",
    [
        "x" * 10_000,
        list(range(10_000)),
        {f"key{i}": "v" * 100 for i in range(1000)},
        [[[[[[1]]]]]] * 100,
        10**5000,
        pd.DataFrame({"a": range(1000)}),
    ],
    ids=["str", "list", "dict", "deep", "int", "frame"],
)
@pytest.mark.parametrize("max_chars", [PREVIEW_MAX_CHARS, 40])
def test_preview_is_bounded(value, max_chars):
    preview = make_preview(value, max_chars)
    assert isinstance(preview, str)
    assert len(preview) <= max_chars


def test_preview_of_a_long_repr_ends_with_an_ellipsis():
    class Long:
        def __repr__(self):
            return "L" * 1000

    preview = make_preview(Long(), 50)
    assert len(preview) == 50 and preview.endswith("...")


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_preview_of_bytes_shows_size_and_head(kind):
    data = kind(b"\x00\x01abc" + b"z" * 10_000_000)
    preview = make_preview(data)
    assert preview.startswith(f"{type(data).__name__}(10000005 bytes): b'\\x00\\x01abc")
    assert len(preview) <= PREVIEW_MAX_CHARS
    assert make_preview(kind(b"hi")) == f"{type(data).__name__}(2 bytes): b'hi'"


def test_preview_masks_sensitive_keys():
    value = {
        "password": "hunter2",
        "API_KEY": "k-123",
        "aws_secret_access_key": "s-456",
        "nested": {"token": "t-789", "rows": 3},
        "items": [{"Authorization": "Bearer b-000", "id": 1}],
        "credentials": {"user": "u", "pw": "p-111"},
        "rows": 3,
    }
    preview = make_preview(value)
    for secret in ("hunter2", "k-123", "s-456", "t-789", "b-000", "p-111"):
        assert secret not in preview
    assert preview.count("***") == 6
    assert "'rows': 3" in preview and "'id': 1" in preview
    assert value["password"] == "hunter2"  # the value itself is not changed


def test_preview_of_a_broken_repr():
    class Broken:
        def __repr__(self):
            raise RuntimeError("boom")

    broken = Broken()
    # reprlib stands in for a repr that raises; a write never fails on it.
    assert make_preview(broken) == f"<Broken instance at {id(broken):#x}>"
    assert make_preview([broken]) == f"[<Broken instance at {id(broken):#x}>]"
    assert build_metadata(**BASE, value=broken)["preview"] == make_preview(broken)


def test_preview_of_a_value_that_cannot_even_be_walked():
    class BrokenMapping(Mapping):
        def __getitem__(self, key):
            raise KeyError(key)

        def __iter__(self):
            raise RuntimeError("boom")

        def __len__(self):
            return 1

    preview = make_preview(BrokenMapping())
    assert preview == (
        "<unrepresentable tests.unit.test_metadata.test_preview_of_a_value_that_cannot_even_be_walked.<locals>."
        "BrokenMapping: RuntimeError>"
    )
    assert len(make_preview(BrokenMapping(), 20)) <= 20
    assert build_metadata(**BASE, value=BrokenMapping())["python_type"].endswith("BrokenMapping")


# ---------------------------------------------------------------------------------------------- sidecars


def test_encode_decode_round_trip():
    meta = build_metadata(**BASE, value={"rows": 3}, context={"dag_id": "etl", "map_index": 2})
    data = encode_metadata(meta)
    assert isinstance(data, bytes)
    assert decode_metadata(data, "file:///r/x.pkl") == meta
    assert list(json.loads(data)) == sorted(meta)  # stable text: keys sorted


def test_encode_stringifies_what_json_cannot_hold():
    data = encode_metadata({"when": dt.date(2024, 1, 2), "n": 1})
    assert decode_metadata(data) == {"when": "2024-01-02", "n": 1}


@pytest.mark.parametrize("data", [b"{not json", b"", b"\xff\xfe", b"{'single': 'quotes'}"])
def test_decode_of_non_json_names_the_uri(data):
    with pytest.raises(ResultIntegrityError, match=r"Metadata of the result at s3://b/k\.pkl is corrupt"):
        decode_metadata(data, "s3://b/k.pkl")


@pytest.mark.parametrize("data", [b"[1, 2]", b'"text"', b"42", b"null"])
def test_decode_of_a_non_object_names_the_uri(data):
    with pytest.raises(ResultIntegrityError, match=r"s3://b/k\.pkl is corrupt: not a JSON object"):
        decode_metadata(data, "s3://b/k.pkl")

from __future__ import annotations

import io
import pickle

import pytest

from airflow_results_provider.exceptions import ResultError, ResultNotImplementedError, UnsignedRecordError
from airflow_results_provider.results import Result
from airflow_results_provider.results.storage import PayloadWriter, StorageResult
from airflow_results_provider.serializers import JSONSerializer, PickleSerializer


def test_base_result_has_no_storage():
    result = Result(location="x")
    for call in (lambda: result.write(1), lambda: result.read("x"), lambda: result.exists("x")):
        with pytest.raises(ResultNotImplementedError, match="no storage") as info:
            call()
        assert isinstance(info.value, NotImplementedError)
        assert isinstance(info.value, ResultError)


def test_defaults_and_validation():
    result = Result()
    assert result.serializer == PickleSerializer()
    assert result.value is None and result.location is None
    with pytest.raises(TypeError):
        Result(serializer="json")
    with pytest.raises(TypeError):
        Result(location=42)


def test_format_never_changes_the_original():
    result = Result(location="{{ a }}/{b}")
    formatted = result.format(a=1, b=2)
    assert formatted.location == "1/{b}"  # Jinja syntax wins; single braces stay literal
    assert result.location == "{{ a }}/{b}"


def test_equality_is_by_type_and_public_attributes():
    assert Result(value=1) == Result(value=1)
    assert Result(value=1) != Result(value=2)
    assert Result(serializer=JSONSerializer()) != Result()
    assert Result(value=1) != "Result"

    class Other(Result):
        pass

    assert Other(value=1) != Result(value=1)


def test_repr_is_bounded():
    assert repr(Result(value=2)) == "<Result: 2>"
    assert len(repr(Result(value="x" * 10_000))) < 200


class InMemoryResult(StorageResult):
    """A minimal storage backend implemented through the hooks only."""

    store: dict[str, bytes]

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.store = {}
        self.sidecars = {}

    def uri(self, location):
        return f"memory://{location}"

    def open_writer(self, location):
        store = self.store

        class Writer(PayloadWriter):
            def __init__(self):
                self.buffer = io.BytesIO()

            def write(self, data):
                return self.buffer.write(data)

            def commit(self):
                store[location] = self.buffer.getvalue()

            def abort(self):
                self.buffer = io.BytesIO()

        return Writer()

    def open_reader(self, location):
        import contextlib

        return contextlib.nullcontext(io.BytesIO(self.store[location]))

    def stat(self, location):
        return {"size": len(self.store[location])} if location in self.store else None

    def read_metadata(self, location):
        return self.sidecars.get(location)

    def write_metadata(self, location, metadata):
        self.sidecars[location] = dict(metadata)


def test_a_backend_needs_only_the_storage_hooks():
    result = InMemoryResult(location="{task_name}")
    written = result.write({"a": 1}, task_name="t")
    assert result.store["t"] == PickleSerializer().serialize({"a": 1})
    assert result.read("t").value == {"a": 1}
    assert result.exists("{task_name}", task_name="t")
    assert written.metadata["location"] == "memory://t"


def test_a_store_without_sidecars_gets_no_pickle_loaded():
    # Without metadata hooks nothing can vouch for a payload: a code-loading serializer refuses it, JSON works.
    class NoSidecars(InMemoryResult):
        def write_metadata(self, location, metadata):
            pass

    result = NoSidecars(location="{task_name}")
    result.write({"a": 1}, task_name="t")
    with pytest.raises(UnsignedRecordError, match="memory://t"):
        result.read("t")
    as_json = NoSidecars(location="{task_name}", serializer=JSONSerializer())
    as_json.write({"a": 1}, task_name="t")
    assert as_json.read("t").value == {"a": 1}


class PrefectStyleResult(Result):
    """A user subclass that overrides read/write the Prefect 1.x way, ignoring the hooks."""

    blobs: dict = {}

    def write(self, value_, **kwargs):
        new = self.format(**kwargs)
        new.value = value_
        self.blobs[new.location] = self.serializer.serialize(value_)
        return new

    def read(self, location):
        new = self.copy()
        new.location = location
        new.value = self.serializer.deserialize(self.blobs[location])
        return new

    def exists(self, location, **kwargs):
        return location.format(**kwargs) in self.blobs


def test_prefect_style_subclasses_still_work():
    result = PrefectStyleResult(location="{flow_name}.bin")
    written = result.write([1, 2], flow_name="f")
    assert written.location == "f.bin"
    assert result.read("f.bin").value == [1, 2]
    assert result.exists("{flow_name}.bin", flow_name="f")
    assert pickle.loads(pickle.dumps(result)) == result

"""Readers see the old value or the new one, never an error, while honest writers overwrite one location
(issue 21, finding 3: one reader and 8 writers on one LocalResult location once gave 41 integrity errors in
8,318 reads). Real processes, real files."""

from __future__ import annotations

import multiprocessing

import pytest

from airflow_results_provider.results.local_result import LocalResult
from airflow_results_provider.serializers import JSONSerializer, PickleSerializer

WRITERS = 8
ROUNDS = 20
SERIALIZERS = {"json": JSONSerializer, "pickle": PickleSerializer}


def value(writer: int, round_: int) -> dict:
    return {"writer": writer, "round": round_, "blob": [writer * 1000 + round_] * 20_000}


def write_rounds(directory: str, serializer: str, writer: int) -> None:
    result = LocalResult(dir=directory, location="shared/value", serializer=SERIALIZERS[serializer]())
    for round_ in range(ROUNDS):
        result.write(value(writer, round_))


def read_until(directory: str, serializer: str, stop, queue) -> None:
    result = LocalResult(dir=directory, serializer=SERIALIZERS[serializer]())
    reads, errors = 0, []
    while not stop.is_set():
        try:
            got = result.read("shared/value").value
            assert got == value(got["writer"], got["round"]), "a mix of two writers' payloads"
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        reads += 1
    queue.put((reads, errors))


@pytest.mark.parametrize("serializer", sorted(SERIALIZERS))
def test_a_reader_never_fails_while_eight_writers_overwrite(tmp_path, serializer):
    directory = str(tmp_path)
    LocalResult(dir=directory, location="shared/value", serializer=SERIALIZERS[serializer]()).write(
        value(-1, 0)
    )
    context = multiprocessing.get_context("spawn")
    results, stop = context.Queue(), context.Event()
    writers = [context.Process(target=write_rounds, args=(directory, serializer, w)) for w in range(WRITERS)]
    reader = context.Process(target=read_until, args=(directory, serializer, stop, results))
    reader.start()
    for process in writers:
        process.start()
    for process in writers:
        process.join(300)
        assert process.exitcode == 0
    stop.set()
    reads, errors = results.get(timeout=300)
    reader.join(60)
    assert reads > 50, reads
    assert errors == [], f"{len(errors)} of {reads} reads failed: {errors[:3]}"

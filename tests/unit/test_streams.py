"""_streams: hashing wrappers (sha256 and size equal hashlib's, whatever the read/write pattern) and peek_reader."""

from __future__ import annotations

import array
import hashlib
import io
import itertools
import random

import pytest

from airflow_results_provider.core import streams as _streams
from airflow_results_provider.core.streams import HashingReader, HashingWriter, peek_reader

ODD_SIZES = [1, 7, 4093, 65537, 3, 1_000_003]


@pytest.fixture(scope="module")
def data() -> bytes:
    return random.Random(1234).randbytes(3_000_017)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ReadOnly:
    """A source with ``read`` only (like some cloud SDK streams): no ``readinto``, no ``seek``."""

    def __init__(self, data: bytes) -> None:
        self._buffer = io.BytesIO(data)
        self.requests: list[int] = []

    def read(self, size: int = -1) -> bytes:
        self.requests.append(size)
        return self._buffer.read(size)


class ShortReads(io.RawIOBase):
    """A source whose ``readinto`` returns at most ``limit`` bytes per call (a socket)."""

    def __init__(self, data: bytes, limit: int = 1001) -> None:
        super().__init__()
        self._buffer = io.BytesIO(data)
        self._limit = limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        view = memoryview(buffer)[: self._limit]
        return self._buffer.readinto(view)


def chunks(data: bytes, sizes=ODD_SIZES):
    position = 0
    for size in itertools.cycle(sizes):
        if position >= len(data):
            return
        yield data[position : position + size]
        position += size


# ---------------------------------------------------------------------------------------------- writer


def test_hashing_writer_hashes_and_counts_what_it_writes(data):
    sink = io.BytesIO()
    writer = HashingWriter(sink)
    assert writer.writable() and not writer.readable()
    for chunk in chunks(data):
        assert writer.write(chunk) == len(chunk)
    assert sink.getvalue() == data
    assert writer.size == len(data)
    assert writer.hexdigest() == sha(data)


def test_hashing_writer_under_a_buffered_writer(data):
    sink = io.BytesIO()
    writer = HashingWriter(sink)
    buffered = io.BufferedWriter(writer, 8191)
    for chunk in chunks(data, [5, 70001, 13]):
        buffered.write(chunk)
    buffered.flush()
    assert sink.getvalue() == data
    assert (writer.size, writer.hexdigest()) == (len(data), sha(data))


def test_hashing_writer_counts_bytes_of_any_buffer():
    numbers = array.array("i", range(1000))  # 4-byte items: the size is in bytes, not items
    sink = io.BytesIO()
    writer = HashingWriter(sink)
    assert writer.write(numbers) == numbers.itemsize * 1000
    assert writer.write(memoryview(b"abc")) == 3
    assert writer.write(bytearray(b"de")) == 2
    assert sink.getvalue() == numbers.tobytes() + b"abcde"
    assert writer.size == len(sink.getvalue()) and writer.hexdigest() == sha(sink.getvalue())


def test_hashing_writer_of_nothing():
    writer = HashingWriter(io.BytesIO())
    assert writer.size == 0 and writer.hexdigest() == sha(b"")


def test_hashing_writer_flushes_its_sink():
    class Sink(io.BytesIO):
        flushed = 0

        def flush(self):
            self.flushed += 1
            super().flush()

    sink = Sink()
    writer = HashingWriter(sink)
    writer.flush()
    assert sink.flushed == 1
    assert writer.size == 0


# ---------------------------------------------------------------------------------------------- reader


def test_hashing_reader_readinto_path(data):
    reader = HashingReader(io.BytesIO(data))
    assert reader.readable() and not reader.writable()
    out = bytearray()
    for size in itertools.cycle(ODD_SIZES):
        buffer = bytearray(size)
        n = reader.readinto(buffer)
        if not n:
            break
        out += buffer[:n]
    assert out == data
    assert (reader.size, reader.hexdigest()) == (len(data), sha(data))


@pytest.mark.parametrize("source", [io.BytesIO, ReadOnly, ShortReads], ids=["readinto", "read-only", "short"])
def test_hashing_reader_under_a_buffered_reader(data, source):
    reader = HashingReader(source(data))
    buffered = io.BufferedReader(reader, 8191)
    out = bytearray()
    for size in itertools.cycle(ODD_SIZES):
        chunk = buffered.read(size)
        if not chunk:
            break
        out += chunk
    assert out == data
    assert (reader.size, reader.hexdigest()) == (len(data), sha(data))


def test_hashing_reader_read_path(data):
    reader = HashingReader(io.BytesIO(data))
    out = bytearray()
    for size in itertools.cycle(ODD_SIZES):
        chunk = reader.read(size)
        if not chunk:
            break
        assert len(chunk) <= size
        out += chunk
    assert out == data
    assert (reader.size, reader.hexdigest()) == (len(data), sha(data))


def test_hashing_reader_readall(data):
    for read in (lambda r: r.read(), lambda r: r.read(-1), lambda r: r.read(None), lambda r: r.readall()):
        reader = HashingReader(io.BytesIO(data))
        assert read(reader) == data
        assert (reader.size, reader.hexdigest()) == (len(data), sha(data))
        assert reader.read(10) == b""


def test_hashing_reader_source_without_readinto_reads_at_most_one_chunk(data, monkeypatch):
    monkeypatch.setattr(_streams, "CHUNK_SIZE", 100_000)
    source = ReadOnly(data)
    reader = HashingReader(source)
    out = bytearray()
    buffer = bytearray(1_000_003)  # larger than a chunk
    while n := reader.readinto(buffer):
        assert n <= 100_000
        out += buffer[:n]
    assert out == data
    assert max(source.requests) <= 100_000
    assert (reader.size, reader.hexdigest()) == (len(data), sha(data))


def test_hashing_reader_read_asks_the_source_for_at_most_one_chunk(data, monkeypatch):
    monkeypatch.setattr(_streams, "CHUNK_SIZE", 65536)
    source = ReadOnly(data)
    reader = HashingReader(source)
    assert len(reader.read(1_000_000)) == 65536
    assert source.requests == [65536]


@pytest.mark.parametrize("source", [io.BytesIO, ReadOnly, ShortReads], ids=["readinto", "read-only", "short"])
@pytest.mark.parametrize("consumed", [0, 1, 4093, None], ids=["none", "one", "some", "all"])
def test_drain_hashes_what_the_consumer_left(data, source, consumed):
    reader = HashingReader(source(data))
    if consumed is None:
        reader.read()
    elif consumed:
        assert len(io.BufferedReader(reader, 1).read(consumed)) == consumed
    reader.drain()
    assert (reader.size, reader.hexdigest()) == (len(data), sha(data))
    reader.drain()  # idempotent at the end
    assert reader.size == len(data)


def test_hashing_reader_of_nothing():
    reader = HashingReader(io.BytesIO(b""))
    assert reader.read(10) == b"" and reader.readinto(bytearray(10)) == 0
    reader.drain()
    assert reader.size == 0 and reader.hexdigest() == sha(b"")


# ---------------------------------------------------------------------------------------------- peek_reader


@pytest.mark.parametrize("source", [io.BytesIO, ReadOnly, ShortReads], ids=["readinto", "read-only", "short"])
@pytest.mark.parametrize("n", [1, 2, 5000])
def test_peek_reader_returns_the_head_and_still_yields_every_byte(data, source, n):
    head, reader = peek_reader(source(data), n)
    if source is ShortReads:  # one raw read: the head may be shorter than asked, never empty
        assert head and data.startswith(head) and len(head) <= n
    else:
        assert head == data[:n]
    assert reader.readable()
    assert reader.read() == data


@pytest.mark.parametrize("source", [io.BytesIO, ReadOnly, ShortReads], ids=["readinto", "read-only", "short"])
def test_peek_reader_readinto_with_buffers_smaller_and_larger_than_the_head(data, source):
    head, reader = peek_reader(source(data), 10)
    assert head == data[:10]
    out = bytearray()
    for size in itertools.cycle([3, 4093, 7, 65537]):
        buffer = bytearray(size)
        n = reader.readinto(buffer)
        if not n:
            break
        out += buffer[:n]
    assert out == data


def test_peek_reader_read_across_the_head(data):
    head, reader = peek_reader(ReadOnly(data), 10)
    assert head == data[:10]
    assert reader.read(4) == data[:4]  # inside the head
    assert reader.read(10) == data[4:14]  # the rest of the head plus the source
    assert reader.read(5) == data[14:19]
    assert reader.read(0) == b""
    assert reader.read(None) == data[19:]


def test_peek_reader_under_a_buffered_reader(data):
    head, reader = peek_reader(ShortReads(data), 1)
    buffered = io.BufferedReader(reader, 8191)
    out = bytearray()
    for size in itertools.cycle(ODD_SIZES):
        chunk = buffered.read(size)
        if not chunk:
            break
        out += chunk
    assert head == data[:1] and out == data


def test_peek_reader_of_a_short_source():
    head, reader = peek_reader(io.BytesIO(b"ab"), 10)
    assert head == b"ab" and reader.read() == b"ab"
    head, reader = peek_reader(io.BytesIO(b""), 1)
    assert head == b"" and reader.read() == b"" and reader.readinto(bytearray(4)) == 0


def test_verified_source_reads_ahead_across_many_chunks(monkeypatch, tmp_path):
    monkeypatch.setattr(_streams, "CHUNK_SIZE", 1000)
    data = bytes(range(256)) * 40  # 10 chunks and a bit
    path = tmp_path / "payload"
    path.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    with (
        open(path, "rb", buffering=0) as raw,
        _streams.verified_source(raw, {digest}, lambda d, n: ValueError(d)) as source,
    ):
        assert (source.digest, source.size) == (digest, len(data))
        assert source.reader.read() == data
    spooled = _streams.ForwardOnlyReader(io.BytesIO(data))
    with _streams.verified_source(spooled, {digest}, lambda d, n: ValueError(d)) as source:
        assert source.reader.read() == data


def test_hashing_writer_and_reader_hash_large_pieces_on_a_thread():
    from airflow_results_provider.core.streams import OVERLAP_MIN

    data = b"x" * (3 * OVERLAP_MIN + 7)
    sink = io.BytesIO()
    writer = HashingWriter(sink)
    buffer = bytearray(data[: 2 * OVERLAP_MIN])
    writer.write(buffer)
    buffer[:] = b"y" * len(buffer)  # reusing the buffer after write() returns must not change the digest
    writer.write(data[2 * OVERLAP_MIN :])
    assert (
        writer.hexdigest() == hashlib.sha256(data).hexdigest() == hashlib.sha256(sink.getvalue()).hexdigest()
    )
    reader = HashingReader(io.BytesIO(data))
    assert reader.readall() == data
    reader.drain()
    assert reader.hexdigest() == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("length", [0, 1, 99, 100, 101, 999, 1000, 1001, 4999, 5000, 12_345])
def test_verified_source_of_any_size_around_the_buffer_sizes(monkeypatch, tmp_path, length):
    # Buffers start at the payload's size + 1 (local files) or FIRST_READ and grow to CHUNK_SIZE once one
    # fills: every size around those edges hashes and reads back exactly, from a file and from a socket.
    monkeypatch.setattr(_streams, "CHUNK_SIZE", 1000)
    monkeypatch.setattr(_streams, "FIRST_READ", 100)
    data = random.Random(length).randbytes(length)
    digest = sha(data)
    path = tmp_path / "payload"
    path.write_bytes(data)
    with (
        open(path, "rb", buffering=0) as raw,
        _streams.verified_source(raw, {digest}, lambda d, n: ValueError(d)) as source,
    ):
        assert (source.digest, source.size) == (digest, length)
        assert source.reader.read() == data
    for stream in (ShortReads(data, 37), ReadOnly(data), io.BytesIO(data)):
        with _streams.verified_source(stream, {digest}, lambda d, n: ValueError(d)) as source:
            assert (source.digest, source.size) == (digest, length)
            assert source.reader.read() == data


def test_verified_source_hashes_what_the_file_holds_when_it_is_read(tmp_path):
    path = tmp_path / "payload"
    path.write_bytes(b"a" * 10)
    with open(path, "rb", buffering=0) as raw:
        with open(path, "ab") as more:
            more.write(b"b" * 70_000)
        data = b"a" * 10 + b"b" * 70_000
        # Whatever the file holds when it is read is what gets hashed, and the mismatch is reported.
        with (
            pytest.raises(ValueError, match=sha(data)),
            _streams.verified_source(raw, {sha(b"a" * 10)}, lambda d, n: ValueError(d)),
        ):
            pass

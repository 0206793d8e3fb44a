"""BufferedPartWriter: parallel part uploads keep their order and surface the first failure."""

from __future__ import annotations

import threading
import time

import pytest

from airflow_results_provider.results.part_writer import BufferedPartWriter


class Recorder(BufferedPartWriter):
    def __init__(self, parallel: int, fail_at: int | None = None) -> None:
        super().__init__(part_size=4, parallel=parallel)
        self.parts: dict[int, bytes] = {}
        self.began = 0
        self.finished: list[bytes] | None = None
        self.discarded = False
        self.fail_at = fail_at
        self.in_flight = self.max_in_flight = 0
        self._lock = threading.Lock()

    def begin(self) -> None:
        self.began += 1

    def upload_part(self, data: bytes, index: int) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        time.sleep(0.01 * (index % 3))  # finish out of order
        with self._lock:
            self.in_flight -= 1
        if index == self.fail_at:
            raise OSError("part failed")
        self.parts[index] = data

    def finish(self, small: bytes | None) -> None:
        self.finished = [self.parts[i] for i in sorted(self.parts)] if small is None else [small]

    def discard(self) -> None:
        self.discarded = True


@pytest.mark.parametrize("parallel", [1, 3])
def test_parts_keep_their_order(parallel):
    writer = Recorder(parallel)
    writer.write(b"abcdefghijklmnopqrstuvwxyz")
    writer.commit()
    assert writer.began == 1
    assert b"".join(writer.finished) == b"abcdefghijklmnopqrstuvwxyz"
    assert writer.max_in_flight <= parallel


def test_a_failed_part_fails_the_commit_and_discards():
    writer = Recorder(3, fail_at=2)
    with pytest.raises(OSError, match="part failed"):
        writer.write(b"abcdefghijklmnopqrstuvwxyz")
        writer.commit()
    writer.abort()
    assert writer.discarded
    assert writer.finished is None

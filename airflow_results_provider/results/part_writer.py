"""Multipart uploads with bounded memory: the writer S3 and Azure Results stream payloads through."""

from __future__ import annotations

import io
from typing import Any

from airflow_results_provider.results.storage import PayloadWriter

PART_SIZE = 8 * 1024 * 1024


class BufferedPartWriter(PayloadWriter):
    """Collects writes into parts of ``part_size`` bytes and hands each full part to ``upload_part``.

    Up to ``parallel`` parts upload at once on helper threads (the SDK calls release the GIL while on the
    network), so memory is bounded by ``(parallel + 1) * part_size``; ``parallel=1`` uploads in line. Subclasses
    implement ``begin()`` (once, before the first part), ``upload_part(data, index)`` (thread-safe: parts may
    finish in any order), ``finish(small)`` (``small`` is the whole payload when it never filled a part, else
    ``None``; called after every part finished) and ``discard()``.
    """

    def __init__(self, part_size: int = PART_SIZE, parallel: int = 1) -> None:
        self.part_size = part_size
        self.parallel = max(1, parallel)
        self._buffer = io.BytesIO()
        self._parts = 0
        self._done = False
        self._pool: Any = None
        self._pending: list[Any] = []

    def write(self, data: bytes | memoryview) -> int:
        view = memoryview(data).cast("B")
        written = view.nbytes
        while view.nbytes:
            room = self.part_size - self._buffer.tell()
            self._buffer.write(view[:room])
            view = view[room:]
            if self._buffer.tell() >= self.part_size:
                self._flush_part()
        return written

    def _flush_part(self) -> None:
        data = self._buffer.getvalue()
        self._buffer = io.BytesIO()
        index = self._parts
        if index == 0:
            self.begin()
        self._parts += 1
        if self.parallel == 1:
            self.upload_part(data, index)
            return
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(self.parallel, thread_name_prefix="results-upload")
        while len(self._pending) >= self.parallel:  # bounded memory: wait for the oldest part
            self._pending.pop(0).result()
        self._pending.append(self._pool.submit(self.upload_part, data, index))

    def _wait_parts(self) -> None:
        try:
            while self._pending:
                self._pending.pop(0).result()
        finally:
            for future in self._pending:
                future.cancel()
            self._pending.clear()
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None

    def commit(self) -> None:
        if self._parts == 0:
            self.finish(self._buffer.getvalue())
        else:
            if self._buffer.tell():
                self._flush_part()
            self._wait_parts()
            self.finish(None)
        self._done = True

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        self._buffer = io.BytesIO()
        try:
            self._wait_parts()
        except Exception:  # the write already failed; the parts are discarded below
            pass
        if self._parts:
            self.discard()

    # subclasses
    def begin(self) -> None:
        """Called once before the first part (e.g. to create a multipart upload)."""

    def upload_part(self, data: bytes, index: int) -> None:
        """Upload part ``index`` (thread-safe: parts may finish in any order)."""
        raise NotImplementedError

    def finish(self, small: bytes | None) -> None:
        """Complete the upload; ``small`` is the whole payload when it never filled a part, else ``None``."""
        raise NotImplementedError

    def discard(self) -> None:
        """Abandon the uploaded parts (e.g. abort the multipart upload)."""
        raise NotImplementedError

"""Lists that feed mapped tasks, stored in chunks so a mapped task instance loads only the chunk it maps over.

Airflow resolves ``task.expand(x=upstream())`` by pulling the whole upstream list in every map index and
indexing it. For a list this backend offloaded, each map index would then read and deserialize the full list.
Instead, such a list is written as up to :data:`MAX_CHUNKS` chunk objects; reading it for expansion returns a
lazy :class:`ResultSequence`, and any other reader gets the plain list back.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Sequence
from types import FrameType
from typing import Any

from airflow_results_provider.core.callers import called_from
from airflow_results_provider.core.rows import chunk_key
from airflow_results_provider.exceptions import ResultIntegrityError, ResultNotFoundError
from airflow_results_provider.xcom._envelope import describe, missing_value_hint

__all__ = ["MAX_CHUNKS", "ResultSequence", "chunk_key", "resolving_for_expansion", "write_chunks"]

log = logging.getLogger(__name__)

#: At most this many chunk objects per list.
MAX_CHUNKS = 64


def write_chunks(result: Any, base_key: str, value: list, context: dict[str, Any]) -> dict[str, Any]:
    """Write ``value`` as chunks under ``base_key``; return the envelope fields describing them."""
    length = len(value)
    chunk_len = max(1, math.ceil(length / MAX_CHUNKS))
    shas: list[str] = []
    size = 0
    for index, start in enumerate(range(0, length, chunk_len)):
        part = result.copy()
        part.location = chunk_key(base_key, index, result.serializer.extension)
        written = part.write(value[start : start + chunk_len], **context)
        shas.append(written.metadata["sha256"])
        size += written.metadata["size"]
    return {
        "kind": "sequence",
        "length": length,
        "chunk_len": chunk_len,
        "chunks": shas,
        "size": size,
        "sha256": hashlib.sha256("".join(shas).encode()).hexdigest(),
    }


class ResultSequence(Sequence):
    """A read-only list stored in chunks: indexing loads (and verifies) only the chunk that holds the item."""

    def __init__(self, envelope: dict[str, Any], result: Any, base_key: str) -> None:
        self._envelope = envelope
        self._result = result
        self._base_key = base_key
        self._chunk_len = int(envelope["chunk_len"])
        self._cache: tuple[int, list] | None = None

    def __len__(self) -> int:
        return int(self._envelope["length"])

    def _chunk(self, index: int) -> list:
        if self._cache is not None and self._cache[0] == index:
            return self._cache[1]
        from airflow_results_provider.results.lineage import reported_once

        location = chunk_key(self._base_key, index, self._result.serializer.extension)
        try:
            # Verified against the envelope's digest of this chunk before a byte of it is deserialized;
            # lineage names the list, not the chunk.
            with reported_once("input", self._result, self._base_key):
                read = self._result.read(location, sha256=self._envelope["chunks"][index])
        except ResultNotFoundError as exc:
            raise ResultNotFoundError(
                f"XCom value of {describe(self._envelope)} is missing a chunk: {exc}{missing_value_hint(self._envelope)}"
            ) from exc
        except ResultIntegrityError as exc:
            raise ResultIntegrityError(
                f"Chunk {index} of the XCom value of {describe(self._envelope)} does not match its envelope: {exc}"
            ) from exc
        log.info(
            "Loaded chunk %s of %s of %s",
            index + 1,
            len(self._envelope["chunks"]),
            self._envelope.get("location"),
        )
        self._cache = (index, read.value)
        return read.value

    def __getitem__(self, item: Any) -> Any:
        if isinstance(item, slice):
            return [self[i] for i in range(*item.indices(len(self)))]
        index = item.__index__()
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("XCom sequence index out of range")
        return self._chunk(index // self._chunk_len)[index % self._chunk_len]

    def materialize(self) -> list:
        """The whole list, read chunk by chunk (each verified against the envelope)."""
        out: list = []
        for index in range(len(self._envelope["chunks"])):
            out.extend(self._chunk(index))
        self._cache = None
        return out

    def __repr__(self) -> str:
        return f"<ResultSequence of {len(self)} items at {self._envelope.get('location')}>"


def resolving_for_expansion(max_depth: int = 12) -> bool:
    """Whether the current XCom read comes from Airflow resolving a mapped task's expand arguments.

    Only then is a lazy sequence returned; every other reader gets a real list. If Airflow renames its
    internals this returns False, which is correct, only slower (see :mod:`.core.callers`).
    """
    return called_from(_is_expand_input_resolve, depth=max_depth, skip=1)


def _is_expand_input_resolve(frame: FrameType) -> bool:
    """Whether ``frame`` runs ``resolve`` of Airflow's ``expandinput.py`` (an expand input resolving)."""
    code = frame.f_code
    return code.co_name == "resolve" and code.co_filename.endswith("expandinput.py")

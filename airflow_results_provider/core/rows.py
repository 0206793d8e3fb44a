"""What XCom rows of this package hold: owners of stored payloads, row keys and chunk keys."""

from __future__ import annotations

#: Who wrote a stored payload: the XCom backend (deleted on purge/gc), a mixin checkpoint, or a target hit.
OWNER_XCOM = "xcom"
OWNER_CHECKPOINT = "checkpoint"
OWNER_TARGET = "target"
OWNERS = (OWNER_XCOM, OWNER_CHECKPOINT, OWNER_TARGET)

#: The XCom key of the "Result" extra link's row (Airflow's ``_link_<class name>``); it indexes checkpoints.
LINK_KEY = "_link_ResultLink"
#: Marks an XCom envelope (the JSON a Result-backed XCom row holds instead of the value) and its version.
ENVELOPE_MARKER = "__airflow_result__"
ENVELOPE_VERSION = 1


def chunk_key(base_key: str, index: int, extension: str = "") -> str:
    """The key of chunk ``index`` of a list stored in chunks under ``base_key``."""
    return f"{base_key}/part-{index:05d}" + (f".{extension}" if extension else "")

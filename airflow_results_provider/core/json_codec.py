"""The JSON codec: orjson where it gives exactly what the standard library gives, the standard library elsewhere.

orjson is ~5-10x faster than :mod:`json` both ways, but converts a few things silently where :mod:`json` (with
``allow_nan=False``) raises or keeps them apart: NaN and infinities become ``null``, enums and UUIDs their values,
and on reading, integers beyond 64 bits become floats. :func:`encode` and :func:`decode` detect exactly those
cases and fall back to :mod:`json`, so payloads and values are the ones :mod:`json` would give; the checks run in
C iterators (one pass per nesting level, no Python loop over elements), so a 100 MB value is walked once by
orjson and once by those iterators.
"""

from __future__ import annotations

import json
from functools import partial
from itertools import chain, compress
from math import isfinite
from operator import is_
from typing import Any

import orjson

#: Subclasses (str/int/dict/list), datetimes and dataclasses go to ``default`` (absent: an error), so only the
#: exact JSON types are encoded by orjson itself; dict keys must be exact ``str`` (no OPT_NON_STR_KEYS).
_OPTIONS = (
    orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
)

#: Types that survive a JSON round trip unchanged (what ``auto`` sends to JSON).
STRICT_TYPES = frozenset({dict, list, str, int, float, bool, type(None)})
#: Types :func:`json.dumps` encodes natively (tuples become lists).
JSON_TYPES = STRICT_TYPES | {tuple}

#: A run of this many digits may be an integer orjson reads as a float (beyond 64 bits).
_LONG_DIGITS = b"0" * 19
_DIGITS = bytes.maketrans(b"0123456789", b"0" * 10)
_SCAN_SLICE = 8 * 1024 * 1024


def encode(value: Any, types: frozenset[type] = JSON_TYPES) -> bytes | None:
    """``value`` as compact UTF-8 JSON when it holds only ``types`` (finite floats, str keys), else ``None``.

    ``None`` also for what orjson cannot encode but :mod:`json` might (ints beyond 64 bits, lone surrogates,
    str/int subclasses, nesting deeper than 255): callers then fall back to :mod:`json` or pickle.
    """
    try:
        data = orjson.dumps(value, option=_OPTIONS)
    except (orjson.JSONEncodeError, TypeError):
        return None
    # NaN and infinities are written as null: only a payload holding null needs its floats checked.
    return data if _holds_only(value, types, check_floats=b"null" in data) else None


def dumps(value: Any) -> bytes:
    """:func:`json.dumps` (``allow_nan=False``) as UTF-8, through orjson when that gives the same value.

    :raises TypeError, ValueError: as :func:`json.dumps` does.
    """
    data = encode(value)
    return data if data is not None else json.dumps(value, allow_nan=False).encode()


def decode(data: bytes | bytearray | memoryview, *, orjson_written: bool = False) -> Any:
    """:func:`json.loads`, through orjson unless the payload may hold an integer beyond 64 bits (a run of 19
    digits) or orjson refuses it (NaN literals, lone surrogates, a BOM: :mod:`json` decides those).

    ``orjson_written``: the payload is known to come from :func:`encode` (orjson refuses integers it cannot read
    back), so the scan for long integers is skipped. Wrongly set, it can only turn such an integer into a float.
    """
    if orjson_written or not _may_hold_long_int(data):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(bytes(data) if isinstance(data, memoryview) else data)


def _may_hold_long_int(data: bytes | bytearray | memoryview) -> bool:
    view = memoryview(data).cast("B")
    overlap = len(_LONG_DIGITS) - 1
    for start in range(0, len(view), _SCAN_SLICE):
        digits = bytes(view[max(0, start - overlap) : start + _SCAN_SLICE]).translate(_DIGITS)
        # A run of 19 digits holds two digits 9 apart at every phase mod 9: a phase without any is proof
        # there is none (cheap: ints of up to 8 digits never pass it), else search the run itself.
        if all(b"00" in digits[phase::9] for phase in range(9)) and _LONG_DIGITS in digits:
            return True
    return False


def _holds_only(value: Any, types: frozenset[type], *, check_floats: bool) -> bool:
    """Whether every object in ``value`` (containers: dict, list, tuple) has one of ``types`` and, with
    ``check_floats``, every float is finite. Breadth-first, one level at a time, in C iterators."""
    level = partial(iter, (value,))
    while True:
        kinds = set(map(type, level()))
        if not kinds <= types:
            return False
        if check_floats and float in kinds and not all(map(isfinite, _of_type(level, kinds, float))):
            return False
        dicts = list(_of_type(level, kinds, dict)) if dict in kinds else []
        sequences = list(chain.from_iterable(_of_type(level, kinds, k) for k in (list, tuple) if k in kinds))
        if not dicts and not sequences:
            return True
        if not dicts and len(sequences) == 1:
            level = partial(iter, sequences[0])  # one list (the usual top level): no chain around 10 M items
        else:
            level = partial(_children, dicts, sequences)


def _of_type(level: Any, kinds: set[type], kind: type) -> Any:
    if len(kinds) == 1:
        return level()
    return compress(level(), map(partial(is_, kind), map(type, level())))


def _children(dicts: list[dict], sequences: list[Any]) -> Any:
    return chain(chain.from_iterable(map(dict.values, dicts)), chain.from_iterable(sequences))

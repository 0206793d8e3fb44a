"""The stable hash's encoder: plain Python values here, numpy/pandas/pyarrow in :mod:`._stable_hash_columnar`.

The rules are documented in :mod:`airflow_results_provider.core.stable_hash`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import operator
import pathlib
import types
import uuid
from typing import Any

import orjson

from airflow_results_provider.core._stable_hash_columnar import encode_numpy, encode_pandas, encode_pyarrow
from airflow_results_provider.core._stable_hash_tokens import (
    FLUSH_AT,
    MAX_DEPTH,
    U64,
    Unhashable,
    class_name,
    float_bits,
    int_bytes,
    segment,
    too_deep,
    type_name,
    unhashable_detail,
)
from airflow_results_provider.core.stored_digest import StoredDigest

_EPOCH = dt.datetime(1, 1, 1)
_MICRO = dt.timedelta(microseconds=1)
_FLOAT_HEAD = b"float\x00" + U64.pack(8)
_TRUE = b"bool\x00" + U64.pack(1) + b"\x01"
_FALSE = b"bool\x00" + U64.pack(1) + b"\x00"
_first = operator.itemgetter(0)
_COLUMNAR = {"numpy": encode_numpy, "pandas": encode_pandas, "pyarrow": encode_pyarrow}


class Encoder:
    """Writes tokens to ``buf`` and flushes it to ``sink`` (a sha256; ``None`` keeps everything in ``buf``)."""

    __slots__ = ("active", "buf", "layouts", "sink")

    def __init__(self, sink: Any) -> None:
        self.sink = sink
        self.buf = bytearray()
        self.active: set[int] = set()  # ids of the containers on the current path (cycle detection)
        self.layouts: dict[tuple, tuple[tuple[bytes, Any], ...]] = {}  # all-str dict keys -> sorted encodings

    def hexdigest(self) -> str:
        self.flush()
        return self.sink.hexdigest()

    def flush(self) -> None:
        if self.sink is not None and self.buf:
            self.sink.update(self.buf)
            self.buf.clear()

    def token(self, tag: bytes, payload: bytes) -> None:
        """``tag`` (ending in NUL), the payload's length as 8 bytes, the payload."""
        self.buf += tag
        self.buf += U64.pack(len(payload))
        self.buf += payload

    def head(self, tag: bytes, count: int) -> None:
        """A container's ``tag`` and element count; its elements' tokens follow."""
        self.buf += tag
        self.buf += U64.pack(count)

    def raw(self, data: Any) -> None:
        """A large buffer, handed to sha256 without a copy into ``buf``."""
        if self.sink is None:
            self.buf += data
        else:
            self.flush()
            self.sink.update(data)

    def enter(self, value: Any, depth: int) -> int:
        """Mark a container as on the current path; refuse cycles and too deep nesting."""
        if depth >= MAX_DEPTH:
            raise too_deep(value)
        key = id(value)
        if key in self.active:
            raise Unhashable(type_name(value), "it contains itself (a reference cycle)")
        self.active.add(key)
        return key

    def sub_encoding(self, value: Any, depth: int) -> bytes:
        """The encoding of ``value`` on its own (to sort dict keys and set elements by)."""
        sub = Encoder(None)
        sub.active = self.active
        sub.encode(value, depth)
        return bytes(sub.buf)

    def nested(self, value: Any, depth: int, path: str) -> None:
        """Encode a part of a value; a failure names ``path`` (``['key']``, ``.field``)."""
        try:
            self.encode(value, depth + 1)
        except Unhashable as exc:
            exc.path.append(path)
            raise

    def encode(self, value: Any, depth: int) -> None:
        """Write ``value``'s tokens (exact builtin types first: they are most of the values)."""
        cls = type(value)
        if cls is str:
            raw = value.encode("utf-8", "surrogatepass")
            self.buf += b"str\x00" + U64.pack(len(raw)) + raw
        elif cls is int:
            raw = int_bytes(value)
            self.buf += b"int\x00" + U64.pack(len(raw)) + raw
        elif cls is float:
            self.buf += _FLOAT_HEAD + float_bits(value)
        elif value is None:
            self.buf += b"none\x00"
        elif cls is bool:
            self.buf += _TRUE if value else _FALSE
        elif cls is list or cls is tuple:
            self.sequence(value, depth, b"list" if cls is list else b"tuple")
        elif cls is dict:
            self.mapping(value, depth)
        elif cls.__module__.partition(".")[0] in _COLUMNAR:
            _COLUMNAR[cls.__module__.partition(".")[0]](self, value, depth)
        elif not self.scalar(value, depth):
            self.structured(value, cls, depth)
        if len(self.buf) > FLUSH_AT:
            self.flush()

    def scalar(self, value: Any, depth: int) -> bool:
        """Write a non-container value of a supported type (subclasses included); False if it is none of them."""
        if isinstance(value, enum.Enum):
            self.token(b"enum\x00", class_name(value))
            self.nested(value.value, depth, ".value")
        elif isinstance(value, (bytes, bytearray, memoryview)):
            view = memoryview(value)
            if not view.c_contiguous:
                view = memoryview(view.tobytes())
            self.head(b"bytes\x00", view.nbytes)
            self.raw(view.cast("B") if view.ndim != 1 or view.format != "B" else view)
        elif isinstance(value, str):  # unbound base methods: a subclass's overrides are not consulted
            self.token(b"str\x00", str.encode(value, "utf-8", "surrogatepass"))
        elif isinstance(value, int):
            self.token(b"int\x00", int_bytes(int.__int__(value)))
        elif isinstance(value, float):
            self.token(b"float\x00", float_bits(float.__float__(value)))
        elif isinstance(value, complex):
            self.token(b"complex\x00", float_bits(value.real) + float_bits(value.imag))
        elif isinstance(value, (dt.date, dt.time, dt.timedelta)):
            self.temporal(value)
        elif isinstance(value, decimal.Decimal):
            sign, digits, exponent = value.as_tuple()
            self.token(b"decimal\x00", f"{sign}:{''.join(map(str, digits))}:{exponent}".encode())
        elif isinstance(value, uuid.UUID):
            self.token(b"uuid\x00", value.bytes)
        elif isinstance(value, pathlib.PurePath):
            tag = b"path.windows\x00" if isinstance(value, pathlib.PureWindowsPath) else b"path.posix\x00"
            self.token(tag, str(value).encode("utf-8", "surrogateescape"))
        else:
            return False
        return True

    def structured(self, value: Any, cls: type, depth: int) -> None:
        """Write a container or record of a supported type, or raise :class:`Unhashable`."""
        if cls is StoredDigest:
            self.head(b"stored\x00", 4)
            for part in (value.algorithm, value.digest, value.serializer, tuple(value.parts)):
                self.encode(part, depth + 1)
        elif isinstance(value, tuple) and hasattr(cls, "_fields"):
            self.token(b"namedtuple\x00", class_name(value))
            self.fields(value, depth, [(name, getattr(value, name)) for name in cls._fields])
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            self.token(b"dataclass\x00", class_name(value))
            self.fields(value, depth, [(f.name, getattr(value, f.name)) for f in dataclasses.fields(value)])
        elif isinstance(value, (list, tuple)):
            self.sequence(value, depth, b"list" if isinstance(value, list) else b"tuple")
        elif isinstance(value, (dict, types.MappingProxyType)):
            self.mapping(value, depth)
        elif isinstance(value, (set, frozenset)):
            self.collection(value, depth)
        else:
            raise Unhashable(type_name(value), unhashable_detail(value))

    def temporal(self, value: dt.date | dt.time | dt.timedelta) -> None:
        """datetime (naive: wall time; aware: UTC instant + offset), date, time, timedelta, in microseconds."""
        if isinstance(value, dt.datetime):
            fields = (value.year, value.month, value.day, value.hour, value.minute, value.second)
            micros = (dt.datetime(*fields, value.microsecond) - _EPOCH) // _MICRO
            offset = value.utcoffset()
            if offset is None:
                self.token(b"datetime\x00", int_bytes(micros))
            else:
                self.token(
                    b"datetime.tz\x00", int_bytes(micros - offset // _MICRO) + int_bytes(offset // _MICRO)
                )
        elif isinstance(value, dt.date):
            self.token(b"date\x00", int_bytes(value.toordinal()))
        elif isinstance(value, dt.time):
            micros = ((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000 + value.microsecond
            offset = value.utcoffset()
            if offset is None:
                self.token(b"time\x00", int_bytes(micros))
            else:
                self.token(b"time.tz\x00", int_bytes(micros) + int_bytes(offset // _MICRO))
        else:
            self.token(b"timedelta\x00", int_bytes(value // _MICRO))

    def sequence(self, value: Any, depth: int, tag: bytes) -> None:
        """A list or tuple: count, then elements in order; plain ints as their JSON text."""
        if value and type(value[0]) is int:
            packed = _ints_json(value)
            if packed is not None:
                self.head(tag + b".ints\x00", len(packed))
                self.raw(packed)
                return
        key = self.enter(value, depth)
        self.head(tag + b"\x00", len(value))
        buf = self.buf  # flush() empties it in place
        index = 0
        try:
            for index, item in enumerate(value):  # noqa: B007 - index names the failing element
                leaf = _leaf_token(item)
                if leaf is None:
                    self.encode(item, depth + 1)
                else:
                    buf += leaf
                    if len(buf) > FLUSH_AT:
                        self.flush()
        except Unhashable as exc:
            exc.path.append(f"[{index}]")
            raise
        finally:
            self.active.discard(key)

    def mapping(self, value: Any, depth: int) -> None:
        """A mapping: count, then (key, value) pairs sorted by the key's encoding."""
        key = self.enter(value, depth)
        try:
            layout = self.layout(value, depth)
            self.head(b"dict\x00", len(layout))
            buf = self.buf
            item_key = None
            try:
                for encoded, item_key in layout:
                    buf += encoded
                    item = value[item_key]
                    leaf = _leaf_token(item)
                    if leaf is None:
                        self.encode(item, depth + 1)
                    else:
                        buf += leaf
            except Unhashable as exc:
                exc.path.append(segment(item_key))
                raise
        finally:
            self.active.discard(key)
        if len(self.buf) > FLUSH_AT:
            self.flush()

    def layout(self, value: Any, depth: int) -> tuple[tuple[bytes, Any], ...]:
        """A mapping's keys with their encodings, sorted by encoding. Records in a list mostly share their keys:
        the layout of all-``str`` keys is reused (the key tuple is only a lookup; its types are checked)."""
        keys = tuple(value)
        known = self.layouts.get(keys)
        if known is not None and operator.countOf(map(type, keys), str) == len(keys):
            return known
        entries = []
        for item_key in keys:
            encoded = _leaf_token(item_key)
            if encoded is None:
                try:
                    encoded = self.sub_encoding(item_key, depth + 1)
                except Unhashable as exc:
                    exc.path.append(f"{segment(item_key)} (its key)")
                    raise
            entries.append((encoded, item_key))
        entries.sort(key=_first)
        layout = tuple(entries)
        if len(self.layouts) < 1024 and operator.countOf(map(type, keys), str) == len(keys):
            self.layouts[keys] = layout
        return layout

    def collection(self, value: Any, depth: int) -> None:
        """A set or frozenset: count, then the elements' encodings sorted."""
        key = self.enter(value, depth)
        try:
            encoded = []
            for item in value:
                try:
                    encoded.append(self.sub_encoding(item, depth + 1))
                except Unhashable as exc:
                    exc.path.append(f"{{<{type_name(item)}>}}")
                    raise
            encoded.sort()
            self.head(b"set\x00", len(encoded))
            for item_bytes in encoded:
                self.buf += item_bytes
        finally:
            self.active.discard(key)

    def fields(self, value: Any, depth: int, pairs: list[tuple[str, Any]]) -> None:
        """A record's (field name, value) pairs in declaration order."""
        key = self.enter(value, depth)
        try:
            self.head(b"fields\x00", len(pairs))
            for name, item in pairs:
                self.encode(name, depth + 1)
                self.nested(item, depth, f".{name}")
        finally:
            self.active.discard(key)


def _ints_json(values: Any) -> bytes | None:
    """``values`` as JSON (``[1,-2,3]``: decimal digits and commas) when every element is a plain ``int`` in
    -2**63 .. 2**64-1, else ``None``."""
    if operator.countOf(map(type, values), int) != len(values):  # bools, IntEnums, numpy ints go the long way
        return None
    try:
        return orjson.dumps(values)
    except orjson.JSONEncodeError:
        return None


def _leaf_token(value: Any) -> bytes | None:
    """The token of a plain str, int, float, bool or None (what most dict keys are), else ``None``."""
    cls = type(value)
    if cls is str:
        raw = value.encode("utf-8", "surrogatepass")
        return b"str\x00" + U64.pack(len(raw)) + raw
    if cls is int:
        raw = int_bytes(value)
        return b"int\x00" + U64.pack(len(raw)) + raw
    if cls is float:
        return _FLOAT_HEAD + float_bits(value)
    if value is None:
        return b"none\x00"
    if cls is bool:
        return _TRUE if value else _FALSE
    return None

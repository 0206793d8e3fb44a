"""Constants and helpers shared by the stable hash encoder (:mod:`airflow_results_provider.core.stable_hash`)."""

from __future__ import annotations

import io
import math
import re
import struct
import sys
import types
from typing import Any

ENCODING_VERSION = 1
MAX_DEPTH = 200
PREFIX = b"airflow-results-provider stable_hash v%d\x00" % ENCODING_VERSION
FLUSH_AT = 1 << 16  # bytes buffered before they go to sha256 (many small updates are slow)
ARRAY_CHUNK = 1 << 20  # elements per float array slice checked for NaNs
U64 = struct.Struct(">Q")
F64 = struct.Struct(">d")
CANONICAL_NAN = F64.pack(math.nan)
LITTLE_ENDIAN = sys.byteorder == "little"
DAG_MODULE_PREFIX = re.compile(r"^unusual_prefix_[0-9a-f]+_")


class Unhashable(Exception):
    """Raised inside the encoder; containers add their path segment on the way out (no cost on success)."""

    def __init__(self, type_name: str, detail: str) -> None:
        super().__init__(type_name, detail)
        self.type_name = type_name
        self.detail = detail
        self.path: list[str] = []


def too_deep(value: Any) -> Unhashable:
    return Unhashable(type_name(value), f"nested too deeply (more than {MAX_DEPTH} levels)")


def type_name(value: Any) -> str:
    """``module.qualname`` of a value's class (or of a class), bare for builtins."""
    cls = value if isinstance(value, type) else type(value)
    module = DAG_MODULE_PREFIX.sub("", cls.__module__ or "")
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def class_name(value: Any) -> bytes:
    """``module.qualname`` of ``value``'s class without the ``unusual_prefix_<sha1>_`` of DAG-file modules."""
    cls = type(value)
    return f"{DAG_MODULE_PREFIX.sub('', cls.__module__ or '')}.{cls.__qualname__}".encode()


def segment(key: Any) -> str:
    """A path segment for a mapping key or column name: its repr for plain scalars, else its type."""
    if type(key) in (str, int, float, bool) or key is None:
        return f"[{key!r}]"
    return f"[<{type_name(key)}>]"


def int_bytes(number: int) -> bytes:
    """Two's complement big-endian, as few bytes as hold the sign."""
    return number.to_bytes((number.bit_length() + 8) // 8, "big", signed=True)


def float_bits(number: float) -> bytes:
    """IEEE-754 binary64 bits, big-endian; every NaN the same."""
    return F64.pack(number) if number == number else CANONICAL_NAN


def dtype_name(dtype: Any) -> str:
    """A numpy dtype's name, little-endian: ``<f8``, ``<M8[ns]``, ``|b1``; structured dtypes by their fields."""
    if dtype.fields is not None:
        return repr(dtype.newbyteorder("<").descr)
    return dtype.str if dtype.byteorder == "|" else dtype.newbyteorder("<").str


def unhashable_detail(value: Any) -> str:
    """Why a value of an unsupported type has no stable hash, in words its owner recognises."""
    if isinstance(value, (types.FunctionType, types.BuiltinFunctionType, types.MethodType, types.LambdaType)):
        return "a function's identity is not its behaviour (TASK_SOURCE keys the task's own code)"
    if isinstance(value, (types.GeneratorType, types.AsyncGeneratorType, types.CoroutineType)):
        return "a generator can be consumed only once"
    if isinstance(value, types.ModuleType):
        return "a module is not a value"
    if isinstance(value, type):
        return "a class is not a value"
    if isinstance(value, io.IOBase) or hasattr(value, "fileno"):
        return "an open file, socket or stream has no value of its own"
    return (
        "only JSON-like values, bytes, datetimes, Decimal, UUID, paths, enums, dataclasses, NamedTuples, numpy, "
        "pandas and pyarrow values have one (connections, hooks, clients and other objects do not)"
    )

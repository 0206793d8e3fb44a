"""numpy, pandas and pyarrow values for the stable hash, recognised by duck typing (none of them is imported).

Each function takes the encoder (:class:`~airflow_results_provider.core._stable_hash_encoder.Encoder`) and writes
the value's tokens through it: big buffers go to sha256 directly (no copies for C-contiguous data), object data
element by element through ``enc.encode``.
"""

from __future__ import annotations

import math
import operator
from array import array
from typing import Any

from airflow_results_provider.core._stable_hash_tokens import (
    ARRAY_CHUNK,
    LITTLE_ENDIAN,
    MAX_DEPTH,
    U64,
    Unhashable,
    dtype_name,
    segment,
    too_deep,
    type_name,
)

# pyarrow types (by their str) hashed from their buffers: values of a fixed width (to_numpy()) and strings/binaries
ARROW_VARIABLE_WIDTH = ("string", "binary", "large_string", "large_binary")
ARROW_FIXED_WIDTH = (
    "int",
    "uint",
    "halffloat",
    "float",
    "double",
    "bool",
    "timestamp",
    "date32",
    "date64",
    "duration",
)


def encode_numpy(enc: Any, value: Any, depth: int) -> None:
    """An ndarray (or memmap): dtype, shape, data; a numpy scalar: dtype and bytes."""
    if type(value).__name__ in ("ndarray", "memmap"):
        enc.token(b"numpy.ndarray\x00", dtype_name(value.dtype).encode())
        enc.head(b"shape\x00", value.ndim)
        for size in value.shape:
            enc.buf += U64.pack(size)
        ndarray_data(enc, value, depth)
    elif hasattr(value, "dtype") and getattr(value, "ndim", None) == 0 and hasattr(value, "reshape"):
        if value.dtype.kind == "O":
            raise Unhashable(type_name(value), "an object scalar")
        enc.token(b"numpy.scalar\x00", dtype_name(value.dtype).encode())
        ndarray_data(enc, value.reshape(1), depth)
    else:
        raise Unhashable(
            type_name(value), "only numpy arrays and scalars are hashed (not masked arrays, ...)"
        )


def ndarray_data(enc: Any, value: Any, depth: int) -> None:
    """An array's elements in C order: its little-endian buffer (every NaN the same), or each element for object
    and variable-width string arrays."""
    dtype = value.dtype
    flat = value.reshape(-1)  # a view when C-contiguous, else a C-order copy
    if dtype.kind in "OT":
        key = enc.enter(value, depth)
        index = 0
        try:
            for index, item in enumerate(flat.tolist()):  # noqa: B007 - index names the failing element
                enc.encode(item, depth + 1)
        except Unhashable as exc:
            exc.path.append(f"[{index}]")
            raise
        finally:
            enc.active.discard(key)
        return
    if dtype.byteorder == ">" or (dtype.byteorder == "=" and not LITTLE_ENDIAN):
        flat = flat.astype(dtype.newbyteorder("<"))
    if not flat.flags.c_contiguous:
        flat = flat.copy()
    if dtype.kind in "fc":
        for start in range(0, len(flat), ARRAY_CHUNK):
            part = flat[start : start + ARRAY_CHUNK]
            nans = part != part
            if nans.any():
                part = part.copy()
                part[nans] = math.nan
            enc.raw(part.view("u1"))
    elif flat.size:
        enc.raw(flat.view("u1"))


def encode_pandas(enc: Any, value: Any, depth: int) -> None:
    """DataFrame, Series, Index, Timestamp, Timedelta, NaT and NA."""
    name = type(value).__name__
    if name == "DataFrame":
        key = enc.enter(value, depth)
        try:
            enc.head(b"pandas.DataFrame\x00", value.shape[1])
            pandas_index(enc, value.columns, depth + 1, ".columns")
            pandas_index(enc, value.index, depth + 1, ".index")
            for position in range(value.shape[1]):
                column = value.iloc[:, position]
                pandas_values(enc, column, depth + 1, segment(column.name))
        finally:
            enc.active.discard(key)
    elif name == "Series":
        enc.buf += b"pandas.Series\x00"
        enc.nested(value.name, depth, ".name")
        pandas_index(enc, value.index, depth + 1, ".index")
        pandas_values(enc, value, depth + 1, "")
    elif hasattr(value, "nlevels") and hasattr(value, "get_level_values"):  # Index and its subclasses
        pandas_index(enc, value, depth + 1, "")
    elif name in ("Timestamp", "Timedelta"):  # a datetime / timedelta (any unit) plus its nanoseconds
        enc.buf += b"pandas.Timestamp\x00" if name == "Timestamp" else b"pandas.Timedelta\x00"
        enc.temporal(value)
        enc.token(b"ns\x00", bytes([value.nanosecond if name == "Timestamp" else value.nanoseconds]))
    elif name == "NaTType":
        enc.buf += b"pandas.NaT\x00"
    elif name == "NAType":
        enc.buf += b"pandas.NA\x00"
    else:
        raise Unhashable(type_name(value), "only pandas DataFrames, Series, Indexes, Timestamps, NaT and NA")


def pandas_index(enc: Any, index: Any, depth: int, path: str) -> None:
    """An Index: its names, then each level's dtype and values."""
    try:
        enc.head(b"pandas.Index\x00", index.nlevels)
        enc.encode(list(index.names), depth + 1)
        if index.nlevels == 1:
            pandas_values(enc, index, depth + 1, "")
        else:
            for level in range(index.nlevels):
                pandas_values(enc, index.get_level_values(level), depth + 1, f".levels[{level}]")
    except Unhashable as exc:
        exc.path.append(path)
        raise


def pandas_values(enc: Any, values: Any, depth: int, path: str) -> None:
    """A Series' or an Index's dtype, length and values (not its name or index)."""
    if depth >= MAX_DEPTH:
        raise too_deep(values)
    dtype = values.dtype
    kind = type(dtype).__name__
    enc.token(b"pandas.values\x00", str(dtype).encode())
    enc.buf += U64.pack(len(values))
    try:
        if type(dtype).__module__.partition(".")[0] == "numpy":
            ndarray_data(enc, values.to_numpy(), depth + 1)
        elif kind == "CategoricalDtype":
            categorical = values.array
            enc.encode(bool(categorical.ordered), depth + 1)
            pandas_index(enc, categorical.categories, depth + 1, ".categories")
            ndarray_data(enc, categorical.codes, depth + 1)
        elif kind == "DatetimeTZDtype":  # the UTC instants; str(dtype) named the unit and the zone
            ndarray_data(enc, values.array.asi8, depth + 1)
        elif kind == "ArrowDtype" or (kind == "StringDtype" and getattr(dtype, "storage", "") == "pyarrow"):
            arrow_column(enc, values.array.__arrow_array__(), depth + 1)
        elif (
            hasattr(dtype, "numpy_dtype") and dtype.numpy_dtype.kind in "biufc"
        ):  # masked: Int64, boolean, ...
            array = values.array
            ndarray_data(enc, array.isna(), depth + 1)
            zero = dtype.numpy_dtype.type(0)
            ndarray_data(enc, array.to_numpy(dtype=dtype.numpy_dtype, na_value=zero), depth + 1)
        else:
            ndarray_data(enc, values.array.to_numpy(dtype=object), depth + 1)
    except Unhashable as exc:
        exc.path.append(path)
        raise


def encode_pyarrow(enc: Any, value: Any, depth: int) -> None:
    """Table, RecordBatch, Array, ChunkedArray and scalars."""
    name = type(value).__name__
    if name in ("Table", "RecordBatch"):
        schema = value.schema
        enc.head(b"pyarrow.Table\x00" if name == "Table" else b"pyarrow.RecordBatch\x00", len(schema))
        for field in schema:
            enc.encode((field.name, str(field.type), bool(field.nullable)), depth + 1)
        enc.buf += U64.pack(value.num_rows)
        for position, field in enumerate(schema):
            try:
                arrow_column(enc, value.column(position), depth + 1)
            except Unhashable as exc:
                exc.path.append(segment(field.name))
                raise
    elif name == "ChunkedArray" or (name.endswith("Array") and hasattr(value, "to_pylist")):
        enc.buf += b"pyarrow.Array\x00"
        arrow_column(enc, value, depth + 1)
    elif name.endswith("Scalar") and hasattr(value, "as_py"):
        enc.token(b"pyarrow.Scalar\x00", str(value.type).encode())
        enc.nested(value.as_py(), depth, "")
    else:
        raise Unhashable(type_name(value), "only pyarrow Tables, RecordBatches, Arrays and scalars")


def arrow_column(enc: Any, column: Any, depth: int) -> None:
    """An Array or ChunkedArray logically: type, length, null count, validity, values. Chunk boundaries never
    show: fixed-width values stream as one buffer of the valid values, others element by element."""
    if depth >= MAX_DEPTH:
        raise too_deep(column)
    chunks = column.chunks if type(column).__name__ == "ChunkedArray" else [column]
    arrow_type = str(column.type)
    enc.token(b"arrow.column\x00", arrow_type.encode())
    enc.buf += U64.pack(len(column))
    enc.buf += U64.pack(column.null_count)
    if arrow_type.startswith(ARROW_FIXED_WIDTH) or arrow_type in ARROW_VARIABLE_WIDTH:
        if column.null_count:
            for chunk in chunks:
                ndarray_data(enc, chunk.is_valid().to_numpy(zero_copy_only=False), depth)
        valid_chunks = [chunk.drop_null() if chunk.null_count else chunk for chunk in chunks]
        if arrow_type in ARROW_VARIABLE_WIDTH:
            arrow_bytes(enc, valid_chunks, arrow_type.startswith("large_"))
        else:
            for valid in valid_chunks:
                ndarray_data(enc, valid.to_numpy(zero_copy_only=False), depth)
        return
    index = 0
    try:
        for chunk in chunks:
            for item in chunk.to_pylist():
                enc.encode(item, depth + 1)
                index += 1
    except Unhashable as exc:
        exc.path.append(f"[{index}]")
        raise


def arrow_bytes(enc: Any, chunks: list, large: bool) -> None:
    """Non-null string/binary values of every chunk: each value's byte length (int64), then all their bytes.
    Read from the chunks' offset and data buffers (Arrow's layout), without a Python object per value."""
    spans = []
    for chunk in chunks:
        if not len(chunk):
            continue
        _, offsets_buffer, data = chunk.buffers()
        offsets = memoryview(offsets_buffer).cast("q" if large else "i")[
            chunk.offset : chunk.offset + len(chunk) + 1
        ]
        lengths = array("q", map(operator.sub, offsets[1:], offsets[:-1]))
        if not LITTLE_ENDIAN:
            lengths.byteswap()
        enc.raw(lengths)
        spans.append((data, offsets[0], offsets[-1]))
    for data, start, end in spans:
        if end > start:
            enc.raw(memoryview(data)[start:end])

"""Stable, type-aware hashing of task inputs for cache keys.

:func:`digest_value` gives the hex sha256 of a canonical, type-tagged encoding of a value. The digest is the same
in every process and on every machine: it never depends on ``PYTHONHASHSEED`` (no ``hash()``), on object ids, on
dict insertion order, on pickle bytes (never used) or on ``repr()`` of arbitrary objects. The encoding is versioned
(``ENCODING_VERSION``) and pinned by golden digests in the tests: changing it changes every user's cache keys, so
it changes only with a new version. numpy, pandas and pyarrow values are recognised by duck typing (the module
of their type), so this module imports none of them.

Encoding
--------
Everything is streamed into one ``hashlib.sha256``, which first receives ``b"airflow-results-provider
stable_hash v1\\0"``. Each value is a *token*: an ASCII tag, a NUL byte, then (except for fixed-shape tokens
such as ``none``) an 8-byte big-endian length or element count, and the payload or the elements' tokens. Every
token delimits itself, so two different values cannot produce the same byte stream. The rules, by type:

- ``None``: tag ``none``.
- ``bool``: tag ``bool``, so ``True`` and ``1`` differ.
- ``int``: tag ``int``, two's complement big-endian, any size. ``1``, ``1.0``, ``True``, ``"1"`` and ``b"1"``
  all differ.
- ``float``: tag ``float``, the IEEE-754 binary64 bits. Every NaN is one canonical NaN; ``-0.0`` and ``0.0``
  differ (``str()`` tells them apart).
- ``complex``: tag ``complex``, the real and imaginary parts as two floats.
- ``str``: tag ``str``, UTF-8 (lone surrogates kept with ``surrogatepass``).
- ``bytes``, ``bytearray``, ``memoryview``: tag ``bytes``, the bytes. The three are equal by ``==`` and share
  the key.
- ``list``: tag ``list``, the count, the elements in order. A non-empty list of plain ``int`` in
  -2**63 .. 2**64-1 is hashed as its JSON text ``[1,2,3]`` (tag ``list.ints``): decimal digits, which no library
  version can change; fast.
- ``tuple``: tag ``tuple``. A tuple and a list with the same elements **differ**, as by ``==``.
- ``dict`` (subclasses, ``MappingProxyType``): tag ``dict``, the (key, value) pairs sorted by the key's
  encoding, so insertion order does not matter. A subclass's own state (a defaultdict's factory) is not seen.
- ``set``, ``frozenset``: tag ``set``, the elements' encodings sorted. A set and a frozenset share the key.
- ``datetime``: naive, tag ``datetime`` and microseconds since 0001-01-01 (the wall time). Aware, tag
  ``datetime.tz``, the UTC instant **and** the UTC offset: 12:00Z and 13:00+01:00 differ (one instant, another
  wall time) while two zones with the same offset at that instant agree. Naive and aware always differ.
  pendulum's and Airflow's ``DateTime`` hash as ``datetime``.
- ``date``: tag ``date``, the proleptic ordinal. ``time``: tag ``time``, microseconds since midnight, or
  ``time.tz`` with its UTC offset. ``timedelta``: tag ``timedelta``, total microseconds.
- ``Decimal``: tag ``decimal``, sign, digits and exponent exactly as stored, so ``Decimal("1.0")`` and
  ``Decimal("1.00")`` differ, like their ``str()``.
- ``uuid.UUID``: tag ``uuid``, its 16 bytes. ``pathlib.PurePath``: tag ``path.posix`` or ``path.windows``,
  ``str(path)``.
- ``enum.Enum``: tag ``enum``, the class's ``module.qualname`` and the member's value by these rules.
  IntEnum and StrEnum members are enums, not ints or strs.
- dataclass instance: tag ``dataclass``, ``module.qualname``, every field's (name, value) in declaration order.
  NamedTuple: tag ``namedtuple``, ``module.qualname``, (field name, value) pairs.
- :class:`~airflow_results_provider.core.stored_digest.StoredDigest`: tag ``stored``, its recorded algorithm,
  digest, serializer and parts. A stored upstream value is keyed by what its signed record states, never read.
- numpy ``ndarray``: tag ``numpy.ndarray``, the little-endian ``dtype.str`` (``dtype.descr`` for structured
  dtypes), the shape, the C-order data bytes (NaNs canonical). Object and variable-width string arrays go
  element by element by these rules. numpy scalar: tag ``numpy.scalar``, dtype and bytes (``np.int64(1)``
  differs from ``1``).
- pandas ``DataFrame``: tag ``pandas.DataFrame``, the columns (an Index), the index, then per column its dtype
  (``str(dtype)``, which names a datetime's unit and zone) and values: numpy-backed columns as buffers, object
  columns element by element, categoricals as categories + ordered + codes, nullable (masked) columns as mask
  + data, pyarrow-backed columns (pandas 3's ``str``) as pyarrow arrays. ``attrs`` and ``flags`` are not seen.
  ``Series``: tag ``pandas.Series``, name, index, dtype and values. ``Index``: tag ``pandas.Index``, names,
  each level's dtype and values (a ``RangeIndex`` hashes as its int64 values). ``Timestamp``, ``Timedelta``:
  tagged, by the ``datetime`` / ``timedelta`` rule plus their nanoseconds; ``NaT`` and ``NA`` tagged.
- pyarrow ``Table``, ``RecordBatch``: tag, the schema (field names, type strings, nullability; not its
  metadata), the row count, then each column *logically*: chunk boundaries never change the key. ``Array``,
  ``ChunkedArray``: tag, type string, length, null count, validity, values: fixed-width numeric and temporal
  types as numpy buffers of the valid values; strings and binaries (plain and large) as each valid value's byte
  length (int64) followed by all their bytes, read from Arrow's buffers; everything else element by element
  (``to_pylist``). Scalars: type string and ``as_py()``.

The golden digests of the tests are the same with pandas 2.3 and 3.1, numpy 2.2 and 2.5, pyarrow 24 and 26 and
Python 3.10 to 3.12. The key of a DataFrame does change when a pandas upgrade changes a column's *inferred*
dtype (pandas 3 infers ``str`` for strings where pandas 2 inferred ``object``, and ``datetime64[us]`` where it
inferred ``[ns]``): the dtype is part of the key, so that is a miss, never a wrong hit.

A class defined in a DAG file is named without the ``unusual_prefix_<sha1>_`` Airflow adds to the module name
(the prefix depends on the file's path, not on the code).

Anything else raises :class:`~airflow_results_provider.exceptions.UnhashableInputError` naming the argument and,
for nested values, the path to the offending part (``config['client']``, ``rows[3]``, ``point.x``): Airflow
connections, hooks, SDK clients, open files, sockets, locks, functions and lambdas, generators, modules, classes,
instances of arbitrary classes (even with ``__eq__``). Values nested deeper than :data:`MAX_DEPTH` levels and
reference cycles raise it too. Subclasses of ``str``, ``int``, ``float`` and ``bytes`` hash as their base value.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from airflow_results_provider.core._stable_hash_encoder import Encoder
from airflow_results_provider.core._stable_hash_tokens import (
    ENCODING_VERSION,
    MAX_DEPTH,
    PREFIX,
    Unhashable,
    type_name,
)
from airflow_results_provider.exceptions import UnhashableInputError

__all__ = ["ENCODING_VERSION", "MAX_DEPTH", "digest_inputs", "digest_value"]


def digest_value(value: Any, *, argument: str) -> str:
    """Hex sha256 (64 chars) of a canonical, type-tagged encoding of ``value`` (the rules: this module's doc).

    :param value: the input value.
    :param argument: the input's name, for error messages.
    :raises UnhashableInputError: the value, or a part of it named by its path (``config['client']``,
        ``rows[3]``), has no stable hash, is nested deeper than :data:`MAX_DEPTH` levels or contains itself.
    """
    encoder = Encoder(hashlib.sha256(PREFIX))
    try:
        encoder.encode(value, 0)
    except Unhashable as exc:
        path = exc.path[::-1]
        if len(path) > 12:  # a value nested 200 levels deep: the start and the end of its path
            path = [*path[:8], "...", *path[-3:]]
        raise UnhashableInputError(argument + "".join(path), exc.type_name, exc.detail) from None
    except RecursionError:
        raise UnhashableInputError(argument, type_name(value), "nested too deeply") from None
    return encoder.hexdigest()


def digest_inputs(inputs: Mapping[str, Any]) -> dict[str, str]:
    """``{name: digest_value(value, argument=name)}`` for each input.

    :raises UnhashableInputError: as :func:`digest_value`, for the first input that has no stable hash.
    """
    return {name: digest_value(value, argument=name) for name, value in inputs.items()}

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
stable_hash v1\\0"``. Each value is a *token*: an ASCII tag, a NUL byte, an 8-byte big-endian length (or element
count for a container) and the payload (or the elements' tokens). Every token delimits itself, so two different
values cannot produce the same byte stream. The rules, by type:

========================== ==============================================================================
value                      what the key sees
========================== ==============================================================================
``None``                   tag ``none``
``bool``                   tag ``bool``: ``True`` and ``1`` differ
``int``                    tag ``int``, two's complement big-endian, any size; ``1``, ``1.0``, ``True``,
                           ``"1"`` and ``b"1"`` all differ
``float``                  tag ``float``, IEEE-754 binary64 bits. Every NaN is one canonical NaN; ``-0.0``
                           and ``0.0`` differ (``str()`` tells them apart)
``complex``                tag ``complex``: real and imaginary part as two floats
``str``                    tag ``str``, UTF-8 (lone surrogates kept via ``surrogatepass``)
bytes, bytearray,          tag ``bytes``, the bytes: the three types are equal by ``==`` and share the key
memoryview
``list``                   tag ``list`` + count + elements in order. A non-empty list of plain ``int`` in
                           -2**63 .. 2**64-1 is its JSON text ``[1,2,3]`` (tag ``list.ints``): decimal
                           digits, so no library version can change it - fast
``tuple``                  tag ``tuple``: a tuple and a list with the same elements **differ**, as by ``==``
``dict`` (and subclasses,  tag ``dict``: (key, value) pairs sorted by the key's encoding, so insertion order
``MappingProxyType``)      does not matter; a subclass's own attributes (a defaultdict's factory) are not seen
set, frozenset             tag ``set``: elements sorted by their encoding; set and frozenset share the key
``datetime``               naive: tag ``datetime`` + microseconds since 0001-01-01 (wall time). Aware (tag
                           ``datetime.tz``): the UTC instant **and** the UTC offset, so 12:00Z and
                           13:00+01:00 differ (the same instant, a different wall time) while two zones
                           with the same offset at that instant agree. Naive and aware always differ.
                           pendulum / Airflow's ``DateTime`` hash like ``datetime``
``date``                   tag ``date`` + proleptic ordinal
``time``                   naive: tag ``time`` + microseconds since midnight; aware: tag ``time.tz`` + the
                           same + its UTC offset
``timedelta``              tag ``timedelta`` + total microseconds
``Decimal``                tag ``decimal`` + sign, digits, exponent exactly as stored: ``Decimal("1.0")``
                           and ``Decimal("1.00")`` differ (like their ``str()``)
``uuid.UUID``              tag ``uuid`` + its 16 bytes
``pathlib.PurePath``       tag ``path.posix`` / ``path.windows`` + ``str(path)``
``enum.Enum``              tag ``enum`` + ``module.qualname`` of the class + the member's value (encoded by
                           these rules). IntEnum/StrEnum members are enums, not ints/strs
dataclass instance         tag ``dataclass`` + ``module.qualname`` + every field (name, value) in
                           declaration order
NamedTuple                 tag ``namedtuple`` + ``module.qualname`` + (field name, value) pairs
:class:`StoredDigest`      tag ``stored`` + its recorded algorithm, digest, serializer and parts: a stored
                           upstream value is keyed by the digest its signed record states, never read
numpy ``ndarray``          tag ``numpy.ndarray`` + little-endian ``dtype.str`` (``dtype.descr`` for
                           structured dtypes) + shape + the C-order data bytes (NaNs canonical). Object
                           and variable-width string arrays: element by element by these rules
numpy scalar               tag ``numpy.scalar`` + dtype + its bytes (``np.int64(1)`` differs from ``1``)
pandas ``DataFrame``       tag ``pandas.DataFrame`` + columns (an Index) + index + per column its dtype
                           (``str(dtype)``, which names a datetime's unit and tz) and values: numpy-backed
                           columns as buffers, object columns element by element, categoricals as
                           categories + ordered + codes, nullable (masked) columns as mask + data,
                           pyarrow-backed columns as pyarrow arrays. ``attrs``/``flags`` are not seen
pandas ``Series``          tag ``pandas.Series`` + name + index + dtype and values as above
pandas ``Index``           tag ``pandas.Index`` + names + each level's dtype and values (a ``RangeIndex``
                           hashes as its int64 values); ``Timestamp``/``Timedelta`` as ns integers (+ tz),
                           ``NaT``/``NA`` tagged
pyarrow ``Table``,         tag + schema (field names, type strings, nullability; schema metadata is not
``RecordBatch``            seen) + row count + per column its values *logically*: chunk boundaries never
                           change the key
pyarrow ``Array``,         tag + type string + length + null count + validity + values: fixed-width
``ChunkedArray``, scalar   numeric/temporal types as numpy buffers of the valid values, everything else
                           element by element (``to_pylist``)
========================== ==============================================================================

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

"""Value helpers shared by every layer: the one "no value" sentinel and equality that works for arrays."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final


class _Nothing:
    """The type of :data:`NOTHING`: falsy, one instance, a readable repr."""

    _instance: _Nothing | None = None

    def __new__(cls) -> _Nothing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "NOTHING"

    def __reduce__(self) -> str:
        return "NOTHING"


#: "No value here" where ``None`` is a legitimate value: a cache or target miss, an argument not given.
NOTHING: Final[Any] = _Nothing()


def values_equal(a: Any, b: Any) -> bool:
    """``a == b`` that also works for numpy arrays and DataFrames (element-wise, all equal), also inside
    dicts, lists and tuples."""
    if a is b:
        return True
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(values_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(values_equal, a, b))
    try:
        return bool(a == b)
    except Exception:  # numpy arrays, DataFrames: ambiguous truth values
        try:
            return bool((a == b).all())
        except Exception:
            return False

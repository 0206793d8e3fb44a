"""Serializer labels: the name a serializer records in metadata and envelopes, and the serializer it means.

Every serializer has a ``label`` (``pickle``, ``json``, ``datetime``, ``pandas-parquet``, ``zstd+json`` ...);
:func:`serializer_from_label` rebuilds the serializer that reads a payload from the label stored beside it.
"""

from __future__ import annotations

import importlib
from typing import Any

from airflow_results_provider.exceptions import SerializationError


def serializer_from_label(label: str) -> Any:
    """Rebuild a serializer from the label recorded in metadata (``pickle``, ``json``, ``zstd+json`` ...)."""
    from airflow_results_provider.serializers import (
        CompressedSerializer,
        DateTimeSerializer,
        JSONSerializer,
        PandasSerializer,
        PickleSerializer,
    )

    simple = {"pickle": PickleSerializer, "json": JSONSerializer, "datetime": DateTimeSerializer}
    if label in simple:
        return simple[label]()
    if label.startswith("pandas-"):
        return PandasSerializer(label.removeprefix("pandas-"))
    if "+" in label:
        codec, inner = label.split("+", 1)
        if codec != "custom":
            return CompressedSerializer(serializer_from_label(inner), format=codec)
    if ":" in label:  # module:Class of a user serializer with a no-argument constructor
        module, _, name = label.partition(":")
        try:
            return getattr(importlib.import_module(module), name)()
        except Exception as exc:
            raise SerializationError(f"Serializer {label!r} cannot be rebuilt: {exc}") from exc
    raise SerializationError(
        f"Serializer {label!r} cannot be rebuilt from its label; give your serializer a label of the form "
        "'module:Class' (no-argument constructor) to read its payloads through XCom"
    )

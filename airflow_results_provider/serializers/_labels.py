"""Serializer labels: the name a serializer records in metadata and envelopes, and the serializer it means.

Every serializer has a ``label`` (``pickle``, ``json``, ``datetime``, ``pandas-parquet``, ``zstd+json`` ...);
:func:`serializer_from_label` rebuilds the built-in serializer that reads a payload from the label stored beside
it. Labels come from XCom rows and stores, which are untrusted: the table is fixed, nothing is imported.
"""

from __future__ import annotations

from typing import Any

from airflow_results_provider.exceptions import SerializationError
from airflow_results_provider.serializers.compressed_serializer import CODECS


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
        if codec in CODECS:  # the built-in codec table only: a label never names a module to import
            return CompressedSerializer(serializer_from_label(inner), format=codec)
    raise SerializationError(
        f"Serializer {label!r} is not a built-in serializer: only built-in serializers are rebuilt from a "
        "recorded label (a label never names code to import)"
    )


def is_builtin_label(label: str) -> bool:
    """Whether :func:`serializer_from_label` can rebuild ``label``."""
    try:
        serializer_from_label(label)
    except (SerializationError, ValueError, TypeError):
        return False
    return True

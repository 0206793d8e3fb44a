"""Serializers: turn values into bytes (or streams) and back."""

from __future__ import annotations

from airflow_results_provider.serializers.base import Serializer
from airflow_results_provider.serializers.compressed_serializer import CompressedSerializer
from airflow_results_provider.serializers.datetime_serializer import DateTimeSerializer
from airflow_results_provider.serializers.json_serializer import JSONSerializer
from airflow_results_provider.serializers.pandas_serializer import PandasSerializer
from airflow_results_provider.serializers.pickle_serializer import PickleSerializer

__all__ = [
    "CompressedSerializer",
    "DateTimeSerializer",
    "JSONSerializer",
    "PandasSerializer",
    "PickleSerializer",
    "Serializer",
]

"""The cloud handlers' payload format: base64-encoded cloudpickle under ``YYYY/M/D/<uuid>.prefect_result``
(Prefect's date prefix, not zero-padded)."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from typing import Any


def new_key() -> str:
    now = dt.datetime.now(dt.timezone.utc)
    return f"{now.year}/{now.month}/{now.day}/{uuid.uuid4()}.prefect_result"


def encode(value: Any) -> bytes:
    import cloudpickle

    return base64.b64encode(cloudpickle.dumps(value))


def decode(data: bytes | str) -> Any:
    from airflow_results_provider.serializers.pickle_serializer import PickleSerializer

    # PickleSerializer reads the base64 text of legacy handlers (the one place that decodes it).
    return PickleSerializer().deserialize(data.encode() if isinstance(data, str) else data)

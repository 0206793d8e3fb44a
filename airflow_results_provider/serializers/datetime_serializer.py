"""DateTimeSerializer: datetimes and dates as ISO 8601 text."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from airflow_results_provider.serializers.base import Serializer


class DateTimeSerializer(Serializer):
    """Serializes ``datetime.datetime`` / ``datetime.date`` (pendulum included) as ISO 8601 text.

    Time zone offsets survive the round trip; a pendulum DateTime comes back as an aware ``datetime``.

    .. code-block:: python

        LocalResult(location="{dag_id}/last_run.txt", serializer=DateTimeSerializer())
    """

    name: ClassVar[str] = "datetime"
    extension: ClassVar[str] = "txt"

    @property
    def loads_code(self) -> bool:
        """False: ISO 8601 text runs no code."""
        return False

    def serialize(self, value: Any) -> bytes:
        """``value.isoformat()`` as bytes. :raises SerializationError: ``value`` is not a datetime or date."""
        if not isinstance(value, (dt.datetime, dt.date)):
            raise self._error("serialize", TypeError("expected a datetime or date"), value)
        return value.isoformat().encode()

    def deserialize(self, value: bytes) -> Any:
        """A ``date`` from ``YYYY-MM-DD`` text, else a ``datetime`` (a trailing ``Z`` read as UTC)."""
        try:
            text = value.decode().strip()
            if len(text) == 10:
                return dt.date.fromisoformat(text)
            return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except Exception as exc:
            raise self._error("deserialize", exc) from exc

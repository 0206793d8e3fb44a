"""InlineResult (alias PrefectResult): the location *is* the JSON text of the value."""

from __future__ import annotations

import hashlib
from typing import Any

from airflow_results_provider.core.metadata import build_metadata
from airflow_results_provider.exceptions import InvalidLocationError, ResultTooLargeError, SerializationError
from airflow_results_provider.results.base import Result
from airflow_results_provider.serializers.base import Serializer
from airflow_results_provider.serializers.datetime_serializer import DateTimeSerializer
from airflow_results_provider.serializers.json_serializer import JSONSerializer
from airflow_results_provider.templating.context import build_location_context


class InlineResult(Result):
    """Keeps small JSON-able values inline: the location is the value's JSON text, nothing is stored elsewhere.

    Like Prefect's ``PrefectResult``, it needs no storage and is shown verbatim in the UI. Values whose
    JSON text exceeds ``max_bytes`` (default ``[results] inline_max_bytes``) raise
    :class:`ResultTooLargeError`.

    .. code-block:: python

        written = InlineResult().write({"rows": 3})
        assert written.location == '{"rows": 3}'
    """

    persistent = False

    def __init__(
        self,
        value: Any = None,
        location: str | None = None,
        serializer: Serializer | None = None,
        max_bytes: int | None = None,
    ) -> None:
        super().__init__(value=value, location=location, serializer=serializer or JSONSerializer())
        self.max_bytes = max_bytes

    @property
    def serializer(self) -> Serializer:
        """A JSON or DateTime serializer: the location is the value's text (Prefect: TypeError otherwise)."""
        return self.__dict__["serializer"]

    @serializer.setter
    def serializer(self, value: Serializer) -> None:
        if not isinstance(value, (JSONSerializer, DateTimeSerializer)):
            raise TypeError(
                f"{type(self).__name__} only supports JSONSerializer or DateTimeSerializer, got {type(value).__name__}"
            )
        self.__dict__["serializer"] = value

    def _limit(self) -> int:
        if self.max_bytes is not None:
            return self.max_bytes
        from airflow_results_provider import config

        return config.inline_max_bytes()

    def format(self, **context: Any) -> Result:
        # The location is data, not a template: nothing to render.
        return self.copy()

    def write(self, value_: Any, **context: Any) -> Result:
        data = self.serializer.serialize(value_)
        limit = self._limit()
        if len(data) > limit:
            variables = build_location_context(context)
            task = variables.get("task_full_name") or variables.get("task_id") or "<no task>"
            raise ResultTooLargeError(
                f"{type(self).__name__}: the value of task {task} is {len(data)} bytes of JSON, over the "
                f"{limit} byte limit ([results] inline_max_bytes). Use a storage Result such as LocalResult or "
                "S3Result for values this large."
            )
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SerializationError(f"{type(self).__name__} needs a text serializer such as JSON") from exc
        new = self.copy()
        new.value = value_
        new.location = text
        new.metadata = self._metadata(text, data, value=value_, context=build_location_context(context))
        return new

    def read(self, location: str, *, sha256: str | None = None) -> Result:
        self._check_location(location)
        new = self.copy()
        new.location = location
        new.value = self.serializer.deserialize(location.encode("utf-8"))
        new.metadata = self._metadata(location, location.encode("utf-8"))
        return new

    def _metadata(self, text: str, data: bytes, **written: Any) -> dict[str, Any]:
        """The metadata of the inline payload ``text`` (``data``: its bytes); ``written``: value and context."""
        return build_metadata(
            result_type=type(self).__name__,
            uri=text,
            serializer=self.serializer.label,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            **written,
        )

    def exists(self, location: str | None = None, **context: Any) -> bool:
        # Nothing is stored anywhere: a location "exists" when it is readable JSON text.
        location = self.location if location is None else location
        if not isinstance(location, str):
            return False
        try:
            self.serializer.deserialize(location.encode("utf-8"))
        except SerializationError:
            return False
        return True

    def delete(self, location: str) -> bool:
        return False

    def uri(self, location: str) -> str:
        return location

    def _check_location(self, location: str) -> None:
        if not isinstance(location, str):
            raise InvalidLocationError(f"{type(self).__name__}: the location must be JSON text")


#: Prefect 1.x name of :class:`InlineResult`.
PrefectResult = InlineResult

"""JSONSerializer: UTF-8 JSON text."""

from __future__ import annotations

import io
import json
from typing import IO, Any, ClassVar

from airflow_results_provider.serializers.base import Serializer

_SLICE = 4 * 1024 * 1024


class JSONSerializer(Serializer):
    """Serializes JSON-able values as UTF-8 JSON text.

    .. code-block:: python

        LocalResult(dir="/data", location="{dag_id}/{task_name}.json", serializer=JSONSerializer())
    """

    name: ClassVar[str] = "json"
    extension: ClassVar[str] = "json"

    @property
    def loads_code(self) -> bool:
        return False

    def serialize(self, value: Any) -> bytes:
        try:
            return json.dumps(value, allow_nan=False).encode()
        except Exception as exc:
            raise self._error("serialize", exc, value) from exc

    def deserialize(self, value: bytes) -> Any:
        try:
            return json.loads(value)
        except Exception as exc:
            raise self._error("deserialize", exc) from exc

    def dump(self, value: Any, fileobj: IO[bytes]) -> None:
        # json.dump() streams through the pure-Python encoder (~5x slower than the C one-shot encoder):
        # encode in one shot, then write the text in slices so no full bytes copy is made.
        try:
            text = json.dumps(value, allow_nan=False)
        except Exception as exc:
            raise self._error("serialize", exc, value) from exc
        wrapper = io.TextIOWrapper(fileobj, encoding="utf-8", write_through=False)
        try:
            for start in range(0, len(text), _SLICE):
                wrapper.write(text[start : start + _SLICE])
        finally:
            wrapper.flush()
            wrapper.detach()

    def load(self, fileobj: IO[bytes]) -> Any:
        return self.deserialize(fileobj.read())

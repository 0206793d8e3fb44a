"""JSONSerializer: UTF-8 JSON text."""

from __future__ import annotations

import json
from typing import IO, Any, ClassVar

from airflow_results_provider.core import json_codec as _json
from airflow_results_provider.serializers.base import Serializer

_SLICE = 8 * 1024 * 1024


class JSONSerializer(Serializer):
    """Serializes JSON-able values as UTF-8 JSON text.

    .. code-block:: python

        LocalResult(dir="/data", location="{dag_id}/{task_name}.json", serializer=JSONSerializer())
    """

    name: ClassVar[str] = "json"
    extension: ClassVar[str] = "json"
    #: Set by the XCom backend for payloads it encoded with orjson (every integer fits in 64 bits): reading
    #: skips the scan for longer ones.
    orjson_written: bool = False

    @property
    def loads_code(self) -> bool:
        """False: JSON runs no code."""
        return False

    def serialize(self, value: Any) -> bytes:
        """``json.dumps(value)`` as UTF-8 (no NaN or infinities)."""
        # json.dumps' own text (Prefect's JSONSerializer.serialize, PrefectResult locations); files get the
        # compact text of dump(), which reads back to the same value.
        try:
            return json.dumps(value, allow_nan=False).encode()
        except Exception as exc:
            raise self._error("serialize", exc, value) from exc

    def deserialize(self, value: bytes) -> Any:
        """The value of the JSON text ``value``."""
        try:
            return _json.decode(value, orjson_written=self.orjson_written)
        except Exception as exc:
            raise self._error("deserialize", exc) from exc

    def dump(self, value: Any, fileobj: IO[bytes]) -> None:
        """Write ``value`` as compact JSON to ``fileobj``."""
        # orjson encodes in one shot (the standard library where orjson would differ, see _json); the bytes
        # are written in slices of one view, so no second full copy is made.
        try:
            data = _json.dumps(value)
        except Exception as exc:
            raise self._error("serialize", exc, value) from exc
        _write_slices(data, fileobj)

    def load(self, fileobj: IO[bytes]) -> Any:
        """The value of the JSON text read from ``fileobj``."""
        return self.deserialize(fileobj.read())


class EncodedJSONSerializer(JSONSerializer):
    """A :class:`JSONSerializer` handed the payload of one value already encoded (the XCom backend encodes
    once to choose between JSON and pickle): :meth:`dump` writes those bytes for that value, once."""

    def __init__(self, value: Any, data: bytes) -> None:
        self._encoded: tuple[Any, bytes] | None = (value, data)

    def dump(self, value: Any, fileobj: IO[bytes]) -> None:
        """Write the bytes handed over when ``value`` is that value (once), else encode it like the parent."""
        encoded, self._encoded = self._encoded, None
        if encoded is not None and encoded[0] is value:
            _write_slices(encoded[1], fileobj)
            self.orjson_written = True
        else:
            super().dump(value, fileobj)

    def __eq__(self, other: object) -> bool:
        return type(other) in (JSONSerializer, EncodedJSONSerializer)

    def __hash__(self) -> int:
        return hash(JSONSerializer)


def _write_slices(data: bytes, fileobj: IO[bytes]) -> None:
    view = memoryview(data)
    for start in range(0, len(view), _SLICE):
        fileobj.write(view[start : start + _SLICE])

"""PickleSerializer: cloudpickle, streamed with protocol 5; reads base64 pickles of legacy handlers."""

from __future__ import annotations

import base64
import binascii
import pickle
from typing import IO, Any, ClassVar

from airflow_results_provider.core.streams import peek_reader
from airflow_results_provider.serializers.base import Serializer

_PROTO_OPCODE = pickle.PROTO[0]


class PickleSerializer(Serializer):
    """Serializes any Python object with cloudpickle (the default serializer of every Result).

    Payloads written by Prefect 0.x result handlers (base64-encoded cloudpickle text) are read too.

    .. code-block:: python

        LocalResult(dir="/data", serializer=PickleSerializer())
    """

    name: ClassVar[str] = "pickle"
    extension: ClassVar[str] = "pkl"

    def serialize(self, value: Any) -> bytes:
        """The cloudpickle bytes of ``value`` (highest protocol)."""
        import cloudpickle

        try:
            return cloudpickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise self._error("serialize", exc, value) from exc

    def deserialize(self, value: bytes) -> Any:
        """Unpickle ``value``, base64-decoding it first when it is a legacy handler's text."""
        try:
            if value[:1] != bytes([_PROTO_OPCODE]):
                value = _maybe_base64(value)
            return pickle.loads(value)
        except Exception as exc:
            raise self._error("deserialize", exc) from exc

    def dump(self, value: Any, fileobj: IO[bytes]) -> None:
        """Pickle ``value`` straight into ``fileobj`` with cloudpickle."""
        import cloudpickle

        try:
            # Protocol 5 writes large bytes/buffers straight to the file, without an in-memory copy.
            cloudpickle.dump(value, fileobj, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise self._error("serialize", exc, value) from exc

    def load(self, fileobj: IO[bytes]) -> Any:
        """Unpickle a value from ``fileobj`` (a legacy base64 payload is read whole and decoded)."""
        try:
            head, reader = peek_reader(fileobj, 1)
            if head != bytes([_PROTO_OPCODE]):
                return pickle.loads(_maybe_base64(reader.read()))
            return pickle.load(reader)
        except Exception as exc:
            raise self._error("deserialize", exc) from exc


def _maybe_base64(data: bytes) -> bytes:
    """Decode the base64 text legacy handlers wrote; return ``data`` unchanged if it is not base64."""
    try:
        return base64.b64decode(data.strip(), validate=True)
    except (binascii.Error, ValueError):
        return data

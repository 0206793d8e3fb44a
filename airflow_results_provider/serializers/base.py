"""Serializer base class: bytes primitives plus streaming defaults."""

from __future__ import annotations

import io
from typing import IO, Any, ClassVar

from airflow_results_provider.exceptions import SerializationError


class Serializer:
    """Turns values into bytes and back.

    Subclasses implement :meth:`serialize` and :meth:`deserialize`; serializers built for big values also
    override the streaming pair :meth:`dump` / :meth:`load`, which by default go through the bytes methods.
    Serializers are immutable configuration: equal when of the same type with the same attributes.

    .. code-block:: python

        class UpperSerializer(Serializer):
            name = "upper"

            def serialize(self, value):
                return value.upper().encode()

            def deserialize(self, value):
                return value.decode()
    """

    name: ClassVar[str] = "base"
    #: File extension hint (without dot) for default locations and UI; "" when there is none.
    extension: ClassVar[str] = ""

    @property
    def loads_code(self) -> bool:
        """Whether loading a payload can run code (pickle): such payloads are verified before a byte is loaded.
        True unless a serializer says otherwise."""
        return True

    @property
    def label(self) -> str:
        """Name recorded in metadata and envelopes (e.g. ``pickle``, ``pandas-parquet``, ``zstd+json``)."""
        return self.name

    def serialize(self, value: Any) -> bytes:
        """Serialize ``value`` to bytes. :raises SerializationError: when the value cannot be serialized."""
        raise NotImplementedError

    def deserialize(self, value: bytes) -> Any:
        """Rebuild a value from bytes. :raises SerializationError: when the payload cannot be read."""
        raise NotImplementedError

    def dump(self, value: Any, fileobj: IO[bytes]) -> None:
        """Stream ``value`` into the binary file object ``fileobj``."""
        fileobj.write(self.serialize(value))

    def load(self, fileobj: IO[bytes]) -> Any:
        """Read a value from the binary file object ``fileobj``."""
        return self.deserialize(fileobj.read())

    def _error(self, action: str, exc: BaseException, value: Any = None) -> SerializationError:
        what = f" a {type(value).__module__}.{type(value).__qualname__}" if action == "serialize" else ""
        return SerializationError(
            f"{type(self).__name__} ({self.name}) could not {action}{what}: {type(exc).__name__}: {exc}"
        )

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash(type(self))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


class StreamingSerializer(Serializer):
    """A serializer written as the streaming pair :meth:`dump` / :meth:`load` (which subclasses implement);
    the bytes methods go through them."""

    def serialize(self, value: Any) -> bytes:
        """The bytes :meth:`dump` writes for ``value``."""
        buffer = io.BytesIO()
        self.dump(value, buffer)
        return buffer.getvalue()

    def deserialize(self, value: bytes) -> Any:
        """The value :meth:`load` reads from ``value``."""
        return self.load(io.BytesIO(value))

    def dump(self, value: Any, fileobj: IO[bytes]) -> None:
        """Stream ``value`` into ``fileobj`` (subclasses implement it)."""
        raise NotImplementedError

    def load(self, fileobj: IO[bytes]) -> Any:
        """Read a value from ``fileobj`` (subclasses implement it)."""
        raise NotImplementedError

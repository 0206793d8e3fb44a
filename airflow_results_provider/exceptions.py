"""Errors raised by airflow-results-provider. Every one derives from :class:`ResultError`."""

from __future__ import annotations


class ResultError(Exception):
    """Base class of every error this package raises on purpose."""


class ResultNotImplementedError(ResultError, NotImplementedError):
    """The Result class has no storage for this operation (e.g. the base ``Result``)."""


class ResultNotFoundError(ResultError, FileNotFoundError):
    """No stored result at the given location."""


class ResultIntegrityError(ResultError, ValueError):
    """The stored payload does not match the checksum recorded when it was written."""


class LocationTemplateError(ResultError, ValueError):
    """A location template could not be rendered (missing variable, bad syntax)."""


class LocationCollisionError(ResultError, FileExistsError):
    """Two task instances (e.g. two map indexes) would share one location."""


class InvalidLocationError(ResultError, ValueError):
    """A location is not acceptable for this Result (escapes its base directory, empty, ...)."""


class SerializationError(ResultError, ValueError):
    """A value could not be serialized or a payload could not be deserialized."""


class ResultWriteError(ResultError, OSError):
    """Storing a payload failed (disk full, read-only file system, permission denied, store unreachable); the
    location holds a whole value with its metadata: the previous one, or the new one when the store applied the
    write but its answer was lost."""


class ResultConfigError(ResultError, ValueError):
    """A ``[results]`` option has an invalid value (names the option and the value)."""


class UntrustedEnvelopeError(ResultIntegrityError):
    """An XCom row that looks like a Result envelope fails the checks a reader makes before touching storage
    (signature, identity, store, key, serializer): nothing was read, imported or unpickled."""


class UntrustedAssetEventError(ResultIntegrityError):
    """An asset event handed to ``load_result`` fails the checks made before touching storage (a producer's
    signature over its ``extra``, the asset it was emitted for, the producing task, store, key, serializer):
    nothing was read, imported or unpickled."""


class UnsignedRecordError(ResultIntegrityError):
    """A stored record whose serializer can run code (pickle) is not signed, for this kind of record and this
    location, with the deployment's key: it was not loaded. For a target or cache this is a miss."""


class ResultNotWritableError(ResultError, ValueError):
    """This Result type cannot be written (``ConstantResult``, ``SecretResult``)."""


class ResultTooLargeError(ResultError, ValueError):
    """A value is too large for this Result type (``InlineResult``)."""


def missing_extra_error(
    what: str, extra: str, exc: ImportError | None = None, error: type[ResultError] = ResultError
) -> ResultError:
    """The error for a feature whose optional dependency is not installed, with the command that fixes it."""
    cause = f" ({exc})" if exc is not None else ""
    return error(f"{what} needs the '{extra}' extra: pip install 'airflow-results-provider[{extra}]'{cause}")


__all__ = [
    "InvalidLocationError",
    "LocationCollisionError",
    "LocationTemplateError",
    "ResultConfigError",
    "ResultError",
    "ResultIntegrityError",
    "ResultNotFoundError",
    "ResultNotImplementedError",
    "ResultNotWritableError",
    "ResultTooLargeError",
    "ResultWriteError",
    "SerializationError",
    "UntrustedAssetEventError",
    "UntrustedEnvelopeError",
    "missing_extra_error",
]


class UnhashableInputError(ResultError, TypeError):
    """A task input cannot be hashed stably for a cache key (a connection, hook, client, open file, lambda or an
    arbitrary object): the message names the argument and how to exclude it (``cache_policy=INPUTS - "name"``).
    Never a silent always-miss, never a hash of pickle bytes."""

    def __init__(self, argument: str, value_type: str, detail: str = "") -> None:
        self.argument = argument
        self.value_type = value_type
        hint = (
            f'exclude it from the key with cache_policy=INPUTS - "{argument.split(".")[0].split("[")[0]}" '
            "(or a custom cache_key_fn)"
        )
        super().__init__(
            f"Cannot compute a stable cache key: input {argument!r} is a {value_type}, which has no stable "
            f"hash{': ' + detail if detail else ''}; {hint}"
        )


class CacheClaimTimeoutError(ResultError, TimeoutError):
    """A task waited for another task instance computing the same cache key longer than its timeout."""

"""ResultHandlerResult: a Result that writes and reads through a legacy result handler."""

from __future__ import annotations

from typing import Any

from airflow_results_provider.core.metadata import build_metadata
from airflow_results_provider.core.preview import make_preview
from airflow_results_provider.exceptions import ResultError
from airflow_results_provider.results.base import Result
from airflow_results_provider.templating.context import build_location_context


class ResultHandlerResult(Result):
    """Wraps a custom :class:`~airflow_results_provider.result_handlers.ResultHandler`.

    ``write`` returns a Result whose location is the handler's reference; ``read(reference)`` calls the
    handler. Handlers cannot tell whether a value exists, so targets (and ``exists``) are refused.
    """

    def __init__(self, result_handler: Any, value: Any = None) -> None:
        if not (
            callable(getattr(result_handler, "write", None))
            and callable(getattr(result_handler, "read", None))
        ):
            raise TypeError(
                f"ResultHandlerResult needs a handler with write() and read(), got {result_handler!r}"
            )
        super().__init__(value=value)
        self.result_handler = result_handler

    persistent = False

    def format(self, **context: Any) -> Result:
        return self.copy()

    def write(self, value_: Any, **context: Any) -> Result:
        new = self.copy()
        new.value = value_
        new.location = self.result_handler.write(value_)
        new.metadata = build_metadata(
            result_type=type(self).__name__,
            uri=str(new.location),
            serializer=type(self.result_handler).__name__,
            value=value_,
            context=build_location_context(context),
        )
        return new

    def read(self, location: Any, *, sha256: str | None = None) -> Result:
        new = self.copy()
        new.location = location
        new.value = self.result_handler.read(location)
        new.metadata = build_metadata(result_type=type(self).__name__, uri=str(location))
        return new

    def exists(self, location: Any = None, **context: Any) -> bool:
        raise ResultError(
            f"{type(self.result_handler).__name__} is a result handler: handlers cannot tell whether a value "
            "exists, so targets need a Result (e.g. LocalResult, S3Result) instead of result_handler="
        )

    def delete(self, location: str) -> bool:
        return False

    def uri(self, location: str) -> str:
        return str(location)

    def __repr__(self) -> str:
        return f"<ResultHandlerResult({type(self.result_handler).__name__}): {make_preview(self.value, 80)}>"

"""SecretResultHandler: reads secrets from Airflow Variables or Connections; never stores anything."""

from __future__ import annotations

from typing import Any

from airflow_results_provider.result_handlers.result_handler import ResultHandler


class SecretResultHandler(ResultHandler):
    """``read(name)`` returns the Airflow Variable (or, with ``kind="connection"``, the Connection) ``name``;
    ``write`` returns the name and stores nothing."""

    def __init__(self, name: str, kind: str = "variable") -> None:
        if kind not in ("variable", "connection"):
            raise ValueError("SecretResultHandler kind must be 'variable' or 'connection'")
        self.name = name
        self.kind = kind

    def write(self, result: Any) -> str:
        return self.name

    def read(self, name: str) -> Any:
        from airflow_results_provider.results.secret_result import SecretResult

        return SecretResult(**{self.kind: self.name}).read(name or self.name).value

    def _as_result(self) -> tuple[Any, str]:
        """The Result that replaces this handler, and how to spell it (for the deprecation warning)."""
        from airflow_results_provider.results.secret_result import SecretResult

        return SecretResult(**{self.kind: self.name}), f"SecretResult({self.kind}={self.name!r})"

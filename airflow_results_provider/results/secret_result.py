"""SecretResult: a value read from an Airflow Variable or Connection, never persisted."""

from __future__ import annotations

from typing import Any

from airflow_results_provider.core.metadata import build_metadata
from airflow_results_provider.core.values import NOTHING
from airflow_results_provider.exceptions import ResultNotFoundError, ResultNotWritableError
from airflow_results_provider.results.base import Result


class SecretResult(Result):
    """Reads a secret from an Airflow Variable (``variable=``) or Connection (``connection=``).

    The value is masked in task logs as soon as it is read, shown as ``***`` in ``repr`` and previews,
    never written anywhere and never pickled with the Result.

    :param variable: Variable key (the value as stored; JSON-decoded only with ``deserialize_json=True``).
    :param connection: Connection id (the ``airflow.sdk.Connection`` object is returned).

    .. code-block:: python

        api_key = SecretResult(variable="vendor_api_key").read().value
    """

    persistent = False

    def __init__(
        self,
        variable: str | None = None,
        connection: str | None = None,
        deserialize_json: bool = False,
        **kwargs: Any,
    ) -> None:
        if "serializer" in kwargs:
            raise ValueError("Can't pass a serializer to a SecretResult: secrets are never serialized.")
        if (variable is None) == (connection is None):
            raise ValueError("SecretResult needs exactly one of variable= or connection=")
        self.variable = variable
        self.connection = connection
        self.deserialize_json = deserialize_json
        super().__init__(location=variable or connection, **kwargs)

    @property
    def _kind(self) -> str:
        return "Variable" if self.variable is not None else "Connection"

    def format(self, **context: Any) -> Result:
        return self.copy()

    def _fetch(self, name: str) -> Any:
        if self.variable is not None:
            from airflow.sdk import Variable

            value = Variable.get(name, default=NOTHING, deserialize_json=self.deserialize_json)
            if value is NOTHING:
                raise ResultNotFoundError(f"SecretResult: Airflow Variable {name!r} is not defined")
            return value
        from airflow.sdk import Connection
        from airflow.sdk.exceptions import AirflowNotFoundException

        try:
            return Connection.get(name)
        except AirflowNotFoundException as exc:
            raise ResultNotFoundError(f"SecretResult: Airflow Connection {name!r} is not defined") from exc

    def read(self, location: str | None = None, *, sha256: str | None = None) -> Result:
        name = location or self.variable or self.connection
        value = self._fetch(name)
        from airflow.sdk.log import mask_secret

        if self.variable is not None:
            for secret in _leaves(value):
                mask_secret(secret)
        else:
            for secret in (value.password, value.get_uri() if value.password else None):
                if secret:
                    mask_secret(secret)
        new = self.copy()
        new.location = name
        new.value = value
        new.metadata = build_metadata(result_type=type(self).__name__, uri=self.uri(name), preview="***")
        return new

    def write(self, value_: Any, **context: Any) -> Result:
        raise ResultNotWritableError(
            "Cannot write values to SecretResult types: secrets are never persisted."
        )

    def exists(self, location: Any = None, **context: Any) -> bool:
        try:
            self._fetch(location or self.variable or self.connection)
        except ResultNotFoundError:
            return False
        return True

    def delete(self, location: str) -> bool:
        return False

    def uri(self, location: str) -> str:
        return f"airflow-{self._kind.lower()}:{location}"

    def __getstate__(self) -> dict[str, Any]:
        # The secret itself is never pickled (a copy keeps it: copy() does not pickle).
        return {**super().__getstate__(), "value": None}

    def __eq__(self, other: object) -> bool:
        # Two SecretResults are the same configuration whether or not the secret has been read.
        return (
            type(self) is type(other)
            and (self.variable, self.connection, self.deserialize_json)
            == (other.variable, other.connection, other.deserialize_json)  # type: ignore[attr-defined]
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: ***>" if self.value is not None else f"<{type(self).__name__}>"


def _leaves(value: Any) -> list[str]:
    """Every string (and number) inside a Variable's value: all of it is secret, whatever the key names."""
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    if isinstance(value, (list, tuple)):
        return [leaf for item in value for leaf in _leaves(item)]
    if value is None or isinstance(value, bool):
        return []
    return [str(value)]

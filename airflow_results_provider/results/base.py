"""The Result base class: Prefect 1.x's contract (``value``, ``location``, ``serializer``; ``format``, ``read``,
``write``, ``exists``) and nothing about storage.

A Prefect-style subclass overrides ``read``/``write``/``exists`` as it did in Prefect; a store author subclasses
:class:`~airflow_results_provider.results.storage.StorageResult` and implements its storage protocol instead.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from airflow_results_provider.core.preview import make_preview
from airflow_results_provider.core.values import values_equal
from airflow_results_provider.exceptions import (
    ResultNotImplementedError,
)
from airflow_results_provider.serializers.base import Serializer
from airflow_results_provider.templating.context import build_location_context
from airflow_results_provider.templating.filters import default_location
from airflow_results_provider.templating.render import is_jinja, render_location

log = logging.getLogger(__name__)

Location = str | Callable[..., str]


class Result:
    """A value and the place it is (or will be) stored, with Prefect 1.x's Result interface.

    ``location`` is a template (Jinja ``{{ ... }}`` or ``str.format`` ``{...}``) or a callable receiving the
    template variables as keyword arguments; :meth:`format` renders it. The base class stores nothing:
    ``read``, ``write``, ``exists`` and ``delete`` raise :class:`ResultNotImplementedError` (Prefect's abstract
    interface). Storing Results derive from :class:`~airflow_results_provider.results.storage.StorageResult`.

    .. code-block:: python

        result = LocalResult(dir="/data", location="{flow_name}/{task_name}.pkl")
        written = result.write({"rows": 3}, flow_name="etl", task_name="extract")
        assert result.read(written.location).value == {"rows": 3}
    """

    #: Attributes never pickled (clients, hooks): recreated lazily after unpickling, shared by copies.
    _transient: ClassVar[tuple[str, ...]] = ()
    #: Whether values are stored somewhere a later process finds them by location (False for inline,
    #: constant, secret and handler-backed Results: checkpoints, loops and caches then use the default store).
    persistent: ClassVar[bool] = True

    def __init__(
        self,
        value: Any = None,
        location: Location | None = None,
        serializer: Serializer | None = None,
    ) -> None:
        if serializer is None:
            from airflow_results_provider.serializers.pickle_serializer import PickleSerializer

            serializer = PickleSerializer()
        if not isinstance(serializer, Serializer):
            raise TypeError(f"serializer must be a Serializer, got {type(serializer).__name__}")
        if location is not None and not (isinstance(location, str) or callable(location)):
            raise TypeError(f"location must be a string or a callable, got {type(location).__name__}")
        if callable(location):
            # Prefect: a callable location is kept private and ``location`` stays None until formatted, so two
            # Results (or a Result and its pickled copy) compare equal whatever the callable's identity.
            self._formatter = location
            location = None
        self.value = value
        self.location = location
        self.serializer = serializer
        self.metadata: dict[str, Any] | None = None

    # ------------------------------------------------------------------ Prefect contract

    def copy(self) -> Result:
        """A shallow copy; mutable configuration (dicts, lists) and metadata are copied too. Transient attributes
        (a connected client) are shared, not re-created: copies are made per chunk and per write. Not pickling:
        a value that is never pickled is still copied."""
        new = object.__new__(type(self))
        for key, item in self.__dict__.items():
            mutable = isinstance(item, (dict, list)) and key != "value" and key not in self._transient
            new.__dict__[key] = copy.copy(item) if mutable else item
        return new

    def from_value(self, value: Any) -> Result:
        """A copy of this Result holding ``value`` and no location."""
        new = self.copy()
        new.location = None
        new.value = value
        new.metadata = None
        return new

    def format(self, **context: Any) -> Result:
        """A copy with the location rendered from ``context``; this Result is not changed.

        The one way a location gets rendered: subclasses whose location is not a template (inline, constant,
        secret) override it, and everything else (``write``, ``exists``, checkpoints) goes through it.

        :raises LocationTemplateError: a template variable is missing (named, with the available ones).
        """
        variables = build_location_context(context)
        new = self.copy()
        location = self.location if self.location is not None else self.__dict__.get("_formatter")
        if location is None:
            rendered = default_location(variables, extension=self.serializer.extension)
        elif callable(location):
            rendered = str(location(**variables))
        else:
            rendered = render_location(location, variables)
        self._check_location(rendered)
        new.location = rendered
        return new

    def write(self, value_: Any, **context: Any) -> Result:
        """Store ``value_`` at the location rendered from ``context``; a new Result holding value and location.

        :raises ResultNotImplementedError: this class has no storage (implement it, or use a storing Result).
        """
        raise ResultNotImplementedError(self._not_implemented("write"))

    def read(self, location: str, *, sha256: str | None = None) -> Result:
        """A new Result holding the value stored at ``location`` (already rendered). ``sha256``, when given,
        is the digest the payload must have (e.g. from a signed XCom envelope); Results that keep no payload
        ignore it.

        :raises ResultNotImplementedError: this class has no storage.
        """
        raise ResultNotImplementedError(self._not_implemented("read"))

    def exists(self, location: Location | None = None, **context: Any) -> bool:
        """Whether a value is stored at ``location`` (rendered with ``context``).

        :raises ResultNotImplementedError: this class has no storage.
        """
        raise ResultNotImplementedError(self._not_implemented("exists"))

    def delete(self, location: str) -> bool:
        """Delete the value stored at ``location``; ``False`` if nothing was there.

        :raises ResultNotImplementedError: this class has no storage.
        """
        raise ResultNotImplementedError(self._not_implemented("delete"))

    def uri(self, location: str) -> str:
        """The full URL of ``location`` (``file:///...``, ``s3://bucket/key``)."""
        raise ResultNotImplementedError(self._not_implemented("uri"))

    def store_spec(self) -> str | None:
        """A store spec (see :mod:`~airflow_results_provider.results.registry`) that can read this Result's
        locations in another process, or ``None`` when there is none (inline, constant, secret results)."""
        return None

    def _check_location(self, location: str) -> None:
        """Raise :class:`InvalidLocationError` when ``location`` is not acceptable for this store."""

    # ------------------------------------------------------------------ helpers

    def _not_implemented(self, operation: str) -> str:
        return (
            f"{type(self).__name__} has no storage to {operation}: use a storage Result such as LocalResult, "
            "S3Result or InlineResult, or implement the storage hooks in a subclass"
        )

    def _with_location(self, location: Location) -> Result:
        new = self.copy()
        new.location = location
        return new

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for key in self._transient:
            state.pop(key, None)
        return state

    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other):
            return False
        mine = {k: v for k, v in self.__dict__.items() if not k.startswith("_") and k != "metadata"}
        theirs = {k: v for k, v in other.__dict__.items() if not k.startswith("_") and k != "metadata"}
        if mine.keys() != theirs.keys():
            return False
        return all(values_equal(mine[k], theirs[k]) for k in mine)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {make_preview(self.value, 120)}>"


def _needs_render(location: Location | None, context: Mapping[str, Any]) -> bool:
    if location is None:
        return bool(context)
    if callable(location):
        return True
    return is_jinja(location) or "{" in location

"""What ResultMixin operators hand to Airflow's display serializers: large rendered template fields, abridged.

After rendering, Airflow serializes every template field for the "Rendered Template" view: it walks the whole
value in Python, runs the secrets masker over all of it and only then truncates the text to
``[core] max_templated_field_length``. For a TaskFlow argument holding a 100 MB XCom value that is most of the
task's run time. A ResultMixin operator's template fields are data descriptors that give those two serializers
(the task runner's and the serialized-DAG one that ``dag.test()`` uses) an abridged stand-in of about the
display size, with the same shape, so the masker still sees the keys it masks; every other reader, the task's
own ``execute`` included, gets the real value.
"""

from __future__ import annotations

from typing import Any

from airflow_results_provider.core.callers import called_from
from airflow_results_provider.core.preview import abridge

RENDERED = "_results_rendered"

#: (module, function) of the code that reads template fields only to display them.
_DISPLAY_SERIALIZERS = frozenset(
    {
        ("airflow.sdk.execution_time.task_runner", "_serialize_rendered_fields"),
        ("airflow.serialization.serialized_objects", "_serialize_node"),
    }
)


def display_limit() -> int:
    """``[core] max_templated_field_length``: how much of a value Airflow displays."""
    from airflow.sdk.configuration import conf

    return conf.getint("core", "max_templated_field_length", fallback=4096)


class AbridgedForDisplay:
    """A template field stored in the instance ``__dict__`` like a plain attribute, read abridged only by
    Airflow's display serializers and only once the task has rendered its templates."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        try:
            value = obj.__dict__[self.name]
        except KeyError:
            raise AttributeError(self.name) from None
        limit = obj.__dict__.get(RENDERED)  # the display limit, set once the templates are rendered
        if limit and called_from(_DISPLAY_SERIALIZERS, depth=1, skip=1):
            return abridge(value, limit, per_item=True)
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self.name] = value


def abridge_template_fields_for_display(cls: type) -> None:
    """Make ``cls``'s template fields :class:`AbridgedForDisplay` (fields some class defines as a class
    attribute, a property say, are left alone)."""
    for name in getattr(cls, "template_fields", ()) or ():
        if isinstance(name, str) and name.isidentifier() and not any(name in k.__dict__ for k in cls.__mro__):
            setattr(cls, name, AbridgedForDisplay(name))

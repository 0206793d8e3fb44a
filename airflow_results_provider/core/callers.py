"""The one place in this package that looks at Airflow's call stack.

Two decisions depend on who is reading a value, and Airflow offers no hook for either: whether an XCom read
comes from Airflow resolving a mapped task's ``expand()`` arguments (then a chunked list is returned lazily,
see :mod:`airflow_results_provider.xcom._sequence`), and whether a template field is read by Airflow's display
serializers (then it is abridged, see :mod:`airflow_results_provider.operators._rendered_fields`). Both ask
:func:`called_from` whether one of Airflow's functions is among the callers.

The checks name Airflow internals (modules, functions, file names). When Airflow renames them, the checks
return False, which is correct, only slower (every map index reads the whole list) or less abridged (the
"Rendered Template" view serializes the full value). Nothing here imports Airflow.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Collection
from types import FrameType

FramePredicate = Callable[[FrameType], bool]


def called_from(
    match: Collection[tuple[str, str]] | FramePredicate,
    *,
    depth: int,
    skip: int = 0,
) -> bool:
    """Whether one of the calling frames matches ``match``.

    Frames are counted from the function that calls :func:`called_from` (frame 0): the first ``skip`` frames
    are passed over, then at most ``depth`` frames are looked at, innermost first.

    :param match: ``(module __name__, function name)`` pairs (a frame matches when its globals' ``__name__``
        and its code's name are one of them), or a predicate called with each frame.
    :param depth: how many frames to look at.
    :param skip: how many frames to pass over first (1 starts at the caller of the function asking).
    :return: True as soon as a frame matches; False when none of the ``depth`` frames does or the stack ends.
    """
    predicate = match if callable(match) else None
    frame: FrameType | None = sys._getframe(1)
    for _ in range(skip):
        if frame is None:
            return False
        frame = frame.f_back
    for _ in range(depth):
        if frame is None:
            return False
        hit = predicate(frame) if predicate is not None else _names(frame) in match
        if hit:
            return True
        frame = frame.f_back
    return False


def _names(frame: FrameType) -> tuple[str | None, str]:
    """The ``(module __name__, function name)`` of ``frame``."""
    return frame.f_globals.get("__name__"), frame.f_code.co_name

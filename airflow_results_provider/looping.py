"""Looping tasks: the ``Loop`` signal (Prefect's ``LOOP``)."""

from __future__ import annotations

from typing import Any


class Loop(Exception):
    """Raise from a task body to run it again with ``task_loop_count + 1`` and ``task_loop_result = result``.

    Every iteration's ``result`` is checkpointed, so a retry resumes from the last finished iteration.

    .. code-block:: python

        @task.result()
        def fib(n, task_loop_count=1, task_loop_result=None):
            a, b = task_loop_result or (0, 1)
            if task_loop_count >= n:
                return a
            raise Loop(result=(b, a + b), message=f"iteration {task_loop_count}")
    """

    def __init__(self, message: str | None = None, *, result: Any = None) -> None:
        super().__init__(message or "loop")
        self.message = message
        self.result = result


#: Prefect 1.x's name.
LOOP = Loop

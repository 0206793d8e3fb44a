"""Checkpointing (internal): the decisions behind ``ResultMixin`` / ``@task.result``.

- :mod:`.options` — what a task asked for, validated; where its bookkeeping lives
- :mod:`.checkpointer` — one execution: target lookup, run, checkpoint write
- :mod:`.cache` — ``cache_for`` / ``cache_validator`` entries
- :mod:`.loops` — ``raise Loop(...)``: per-iteration checkpoints and resume
"""

from __future__ import annotations

from airflow_results_provider._checkpointing.checkpointer import TaskCheckpointer
from airflow_results_provider._checkpointing.options import OPTION_NAMES, CheckpointOptions
from airflow_results_provider.core.values import NOTHING

__all__ = [
    "NOTHING",
    "OPTION_NAMES",
    "CheckpointOptions",
    "TaskCheckpointer",
]

"""Result classes: where a task's value is stored and how it is found again."""

from __future__ import annotations

from airflow_results_provider.results.base import Result
from airflow_results_provider.results.constant_result import ConstantResult
from airflow_results_provider.results.inline_result import InlineResult, PrefectResult
from airflow_results_provider.results.local_result import LocalResult
from airflow_results_provider.results.secret_result import SecretResult

__all__ = [
    "ConstantResult",
    "InlineResult",
    "LocalResult",
    "PrefectResult",
    "Result",
    "SecretResult",
]

"""Operator adapters: :class:`ResultMixin`."""

from __future__ import annotations

from airflow_results_provider.operators.mixin import ResultMixin

__all__ = ["ResultMixin"]

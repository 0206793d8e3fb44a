"""Location templating: context building, rendering, filters and default locations."""

from __future__ import annotations

from airflow_results_provider.templating.context import build_location_context, task_run_id
from airflow_results_provider.templating.filters import default_location, path_safe
from airflow_results_provider.templating.render import render_location

__all__ = ["build_location_context", "default_location", "path_safe", "render_location", "task_run_id"]

"""The Results plugin: a FastAPI app under ``/results`` (JSON API and server-rendered pages) and its views in the
Airflow UI: Browse → Results, a "Result" tab on task instances and a "Results" tab on DAG runs.

Registered through the ``airflow.plugins`` entry point (the provider-info ``plugins`` key is not loaded under
lazy provider discovery). No ``appbuilder_*`` views: they need the FAB provider.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from airflow_results_provider import config
from airflow_results_provider.index.references import TI_TAB_ROUTE

URL_PREFIX = "/results"


def _views(base: str) -> list[dict[str, str]]:
    root = f"{base}{URL_PREFIX}"
    return [
        {"name": "Results", "href": f"{root}/", "category": "browse", "url_route": "results"},
        {
            "name": "Result",
            "href": f"{root}/ti/{{DAG_ID}}/{{RUN_ID}}/{{TASK_ID}}/{{MAP_INDEX}}",
            "destination": "task_instance",
            "url_route": TI_TAB_ROUTE,
        },
        {
            "name": "Results",
            "href": f"{root}/run/{{DAG_ID}}/{{RUN_ID}}",
            "destination": "dag_run",
            "url_route": "run-results",
        },
    ]


class ResultsPlugin(AirflowPlugin):
    """Inspect stored results: list, detail and previews, for the DAGs whose XComs the user may read."""

    name = "results"

    # Properties: every Airflow process loads plugins; only the API server builds the app (and reads them).
    @property  # type: ignore[override]
    def fastapi_apps(self) -> list[dict[str, object]]:
        app = self.__dict__.get("_app")
        if app is None:
            from airflow_results_provider.plugins.app import create_app

            app = self.__dict__["_app"] = create_app()
        return [{"app": app, "url_prefix": URL_PREFIX, "name": "Results"}]

    @property  # type: ignore[override]
    def external_views(self) -> list[dict[str, str]]:
        return _views(config.api_base_path())

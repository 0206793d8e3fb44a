"""The package is an Airflow provider: listed by the CLI, with a [results] config section and defaults."""

from __future__ import annotations

import pytest

from airflow_results_provider.get_provider_info import get_provider_info
from tests.conftest import airflow_env, run_airflow

pytestmark = pytest.mark.airflow


def test_provider_info_is_well_formed():
    info = get_provider_info()
    assert info["package-name"] == "airflow-results-provider"
    options = info["config"]["results"]["options"]
    for name in ("checkpointing", "default_result", "local_dir", "inline_max_bytes"):
        assert options[name]["description"], name
        assert "default" in options[name], name
    assert options["signing_key"]["sensitive"] is True


def test_airflow_providers_list_shows_the_package(airflow_db):
    proc = run_airflow("providers", "list", "-o", "plain")
    assert proc.returncode == 0, proc.stderr
    assert "airflow-results-provider" in proc.stdout


def test_config_default_and_env_override(airflow_db):
    default = run_airflow("config", "get-value", "results", "checkpointing")
    assert default.returncode == 0, default.stderr
    assert default.stdout.strip() == "True"
    off = run_airflow(
        "config",
        "get-value",
        "results",
        "checkpointing",
        env=airflow_env(AIRFLOW__RESULTS__CHECKPOINTING="False"),
    )
    assert off.returncode == 0, off.stderr
    assert off.stdout.strip() == "False"
    limit = run_airflow("config", "get-value", "results", "inline_max_bytes")
    assert limit.stdout.strip() == "65536"

"""No hidden state: config.clear_cache() resets every cache of the package, and the checkpoint → XCom hand-off
holds nothing a push will not consume."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import airflow_results_provider
from airflow_results_provider import config
from airflow_results_provider.results import LocalResult
from airflow_results_provider.xcom import handoff


def package_caches() -> dict[str, object]:
    """Every functools cache at module level in the package (every module imported)."""
    caches = {}
    for info in pkgutil.walk_packages(airflow_results_provider.__path__, "airflow_results_provider."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                callable(getattr(value, "cache_clear", None))
                and getattr(value, "__module__", None) == info.name
            ):
                caches[f"{info.name}.{name}"] = value
    return caches


def test_clear_cache_resets_every_cache_of_the_package(tmp_path):
    caches = package_caches()
    assert len(caches) >= 20, sorted(caches)  # the [results] options and the caches beside them
    for cache in caches.values():  # fill those that take no argument
        try:
            cache()
        except TypeError:
            pass
        except Exception:  # e.g. an option whose value is invalid here: nothing cached, nothing to clear
            pass
    from airflow_results_provider.results.registry import result_from_spec
    from airflow_results_provider.templating import render_location

    result_from_spec(tmp_path.as_uri())
    render_location("{{ dag_id }}/x", {"dag_id": "d"})
    assert any(c.cache_info().currsize for c in caches.values())
    config.clear_cache()
    left = {name: c.cache_info().currsize for name, c in caches.items() if c.cache_info().currsize}
    assert left == {}, f"caches clear_cache() does not reset: {left}"


@pytest.fixture
def our_backend(monkeypatch):
    monkeypatch.setenv("AIRFLOW__CORE__XCOM_BACKEND", "airflow_results_provider.xcom.ResultXComBackend")
    config.clear_cache()
    yield
    monkeypatch.delenv("AIRFLOW__CORE__XCOM_BACKEND")
    config.clear_cache()


def test_the_hand_off_holds_nothing_no_push_will_consume(our_backend, tmp_path):
    written = LocalResult(dir=str(tmp_path), location="v.pkl").write({"big": "value"})
    variables = {"dag_id": "d", "task_id": "t", "run_id": "r", "map_index": None}
    value = written.value
    handoff.remember_checkpoint(variables, value, written, will_push=False)  # do_xcom_push=False
    assert handoff._slot == []
    handoff.remember_checkpoint(variables, value, written)
    assert handoff.take_checkpoint("d", "t", "r", -1, value) is written
    assert handoff._slot == []  # consumed
    handoff.remember_checkpoint(variables, value, written)
    other = {**variables, "task_id": "u"}
    handoff.remember_checkpoint(other, [1], written)  # the next task replaces what the last one left
    assert handoff.take_checkpoint("d", "t", "r", -1, value) is None
    assert len(handoff._slot) == 1
    config.clear_cache()
    assert handoff._slot == []

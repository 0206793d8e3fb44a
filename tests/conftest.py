"""Test session setup.

Airflow reads its configuration at import time, so AIRFLOW_HOME and friends are set here, at the top of
the first conftest, before any test module imports airflow. The metadata DB is a SQLite file in a
temporary AIRFLOW_HOME, migrated once per session by the ``airflow_db`` fixture.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.dag_runner import DagRunner

ROOT = Path(__file__).resolve().parents[1]
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="results-tests-airflow-home-"))
_DAGS_FOLDER = _AIRFLOW_HOME / "dags"
_DAGS_FOLDER.mkdir()

os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(_DAGS_FOLDER)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}"
os.environ["AIRFLOW__RESULTS__LOCAL_DIR"] = str(_AIRFLOW_HOME / "results")
os.environ.pop("AIRFLOW__RESULTS__CHECKPOINTING", None)
# Every component of a deployment shares [api] secret_key (XCom envelopes and stored records are signed with a
# key derived from it); Airflow 3.2 otherwise makes up one per process.
os.environ.setdefault("AIRFLOW__API__SECRET_KEY", secrets.token_hex(16))

# The storage servers, one session fixture each for every test directory (imports tests.conftest: after ROOT).
from tests.storage_servers import azure_server, gcs_server, s3_server  # noqa: E402, F401


def airflow_env(**overrides: str) -> dict[str, str]:
    """Environment for an Airflow CLI subprocess of this test session."""
    env = dict(os.environ)
    env.update(overrides)
    return env


def run_airflow(
    *args: str, env: dict[str, str] | None = None, timeout: int = 300
) -> subprocess.CompletedProcess:
    """Run the ``airflow`` CLI of this virtualenv and return the completed process (output captured)."""
    airflow = Path(sys.executable).with_name("airflow")
    return subprocess.run(
        [str(airflow), *args],
        env=env or airflow_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    return _AIRFLOW_HOME


@pytest.fixture(scope="session")
def dags_folder() -> Path:
    return _DAGS_FOLDER


@pytest.fixture(scope="session")
def airflow_db(airflow_home: Path) -> Path:
    """A migrated SQLite metadata DB (``airflow db migrate`` once per session)."""
    proc = run_airflow("db", "migrate")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return airflow_home / "airflow.db"


@pytest.fixture(autouse=True)
def _fresh_config_cache():
    from airflow_results_provider import config

    config.clear_cache()
    yield
    config.clear_cache()


#: Test modules that share one session-scoped service: pytest-xdist runs each set on one worker, so the
#: service starts once (an ``airflow standalone`` costs a minute of CPU).
SHARED_WORKER_MODULES = {
    "xcom_standalone": (
        "tests/e2e/test_standalone_checkpointing.py",
        "tests/e2e/test_standalone_xcom_backend.py",
        "tests/e2e/test_standalone_xcom_security.py",
        "tests/e2e/test_standalone_assets.py",
    ),
}
_SHARED_GROUP = {module: group for group, modules in SHARED_WORKER_MODULES.items() for module in modules}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """``--dist loadfile`` (scripts/test.sh): a module's tests stay on one worker, so module-scoped services
    (a standalone, the Celery stack) start once, and the modules of :data:`SHARED_WORKER_MODULES` count as one.
    (Not ``--dist loadgroup``: pytest-xdist 3.8 renames node ids in a way pytest 9.2 ignores.)"""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SharedServiceScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return _SHARED_GROUP.get(module, module)

    return SharedServiceScheduling(config, log)


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def dag_runner(airflow_db: Path, dags_folder: Path) -> DagRunner:
    return DagRunner(dags_folder)


@pytest.fixture
def results_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh ``[results] local_dir`` for this test."""
    path = tmp_path / "results"
    monkeypatch.setenv("AIRFLOW__RESULTS__LOCAL_DIR", str(path))
    from airflow_results_provider import config

    config.clear_cache()
    return path


def payload_files(root: Path) -> list[str]:
    """Relative paths of the payload files under ``root`` (metadata sidecars left out)."""
    if not root.exists():
        return []
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and not p.name.endswith(".meta.json")
    )

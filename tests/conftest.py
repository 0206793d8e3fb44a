"""Test session setup.

Airflow reads its configuration at import time, so AIRFLOW_HOME and friends are set here, at the top of
the first conftest, before any test module imports airflow. The metadata DB is a SQLite file in a
temporary AIRFLOW_HOME, migrated once per session by the ``airflow_db`` fixture.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

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


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)


class DagRunner:
    """Write DAG files into the session's dags folder and run them with ``dag.test()`` in this process."""

    def __init__(self, dags_folder: Path) -> None:
        self.dags_folder = dags_folder

    def load(self, source: str, dag_id: str, **substitutions: object):
        """Write ``source`` (``__NAME__`` placeholders substituted) as ``<dag_id>.py`` and parse it."""
        from airflow.dag_processing.dagbag import DagBag

        for key, value in substitutions.items():
            source = source.replace(f"__{key.upper()}__", str(value))
        path = self.dags_folder / f"{dag_id}.py"
        path.write_text(source)
        bag = DagBag(dag_folder=str(path))
        assert not bag.import_errors, bag.import_errors
        dag = bag.get_dag(dag_id)
        assert dag is not None, f"{dag_id} not in {list(bag.dags)}"
        return dag

    def run(self, dag, **kwargs):
        """One DAG run; returns ``(dag_run, {task_id or (task_id, map_index): state})``."""
        run = dag.test(**kwargs)
        return run, self.states(run)

    @staticmethod
    def states(run) -> dict:
        from airflow.utils.session import create_session

        with create_session() as session:
            run = session.merge(run)
            out = {}
            for ti in run.get_task_instances(session=session):
                key = ti.task_id if ti.map_index < 0 else (ti.task_id, ti.map_index)
                out[key] = str(ti.state.value if hasattr(ti.state, "value") else ti.state)
            return out

    def clear_and_resume(self, dag, run, task_ids: list[str]):
        """Clear ``task_ids`` in ``run`` (same run id) and run what is left, as a scheduler would."""
        from airflow.models.dagrun import DagRun
        from airflow.models.taskinstance import clear_task_instances
        from airflow.sdk.definitions.dag import _run_task
        from airflow.serialization.serialized_objects import DagSerialization
        from airflow.utils.session import create_session
        from airflow.utils.state import DagRunState, TaskInstanceState

        with create_session() as session:
            dr = session.query(DagRun).filter_by(dag_id=run.dag_id, run_id=run.run_id).one()
            dr.dag = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
            tis = [ti for ti in dr.get_task_instances(session=session) if ti.task_id in task_ids]
            clear_task_instances(tis, session, dag_run_state=DagRunState.RUNNING)
            session.commit()
            while dr.state == DagRunState.RUNNING:
                session.expire_all()
                schedulable, _ = dr.update_state(session=session)
                for ti in schedulable:
                    ti.try_number += 1
                    ti.state = TaskInstanceState.SCHEDULED
                session.commit()
                scheduled = [
                    ti
                    for ti in dr.get_task_instances(session=session)
                    if ti.state == TaskInstanceState.SCHEDULED
                ]
                if not scheduled and dr.state == DagRunState.RUNNING:
                    raise AssertionError(f"run stuck: {self.states(dr)}")
                for ti in scheduled:
                    try:
                        _run_task(ti=ti, task=dag.task_dict[ti.task_id], run_triggerer=True)
                    except Exception:  # dag.test logs and goes on; states tell the outcome
                        pass
        return dr, self.states(dr)


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

"""`airflow standalone` (api-server, scheduler with LocalExecutor, dag-processor, triggerer) on free loopback ports."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT

#: Seconds an API request may take before the test fails.
REQUEST_TIMEOUT = float(os.environ.get("RESULTS_E2E_REQUEST_TIMEOUT", "180"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Standalone:
    """A running ``airflow standalone`` with its own AIRFLOW_HOME, dags folder and results dir."""

    def __init__(self, home: Path, extra_env: dict[str, str], base_path: str = "") -> None:
        self.home = home
        self.dags = home / "dags"
        self.results = home / "results"
        self.dags.mkdir(parents=True)
        port = free_port()
        self.origin = f"http://127.0.0.1:{port}"
        #: Everything is served under ``[api] base_url``; with ``base_path`` that URL has a path.
        self.base = self.origin + base_path
        #: Bearer token sent with every request (set when the auth manager needs logins).
        self.token: str | None = None
        venv_bin = str(Path(sys.executable).parent)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
            "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}",  # standalone starts `airflow <component>`
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base}/execution/",
            "AIRFLOW__API__BASE_URL": f"{self.base}/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "3",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__RESULTS__LOCAL_DIR": str(self.results),
            # The deployment's shared secret: values the tests write beside it (targets) are signed with it.
            "AIRFLOW__API__SECRET_KEY": os.environ["AIRFLOW__API__SECRET_KEY"],
            **extra_env,
        }
        self.log = open(home / "standalone.log", "w")  # noqa: SIM115 - closed in stop()
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = float(os.environ.get("RESULTS_E2E_START_TIMEOUT", "600"))) -> None:
        """Start ``airflow standalone`` and wait until its scheduler and DAG processor are healthy (a loaded
        2-core machine takes minutes: Airflow 3.4's API server alone took 3.5 min under a load of 14)."""
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("airflow")), "standalone"],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"airflow standalone exited:\n{self.tail()}")
            try:
                health = self.get("/api/v2/monitor/health")
                if all(health.get(c, {}).get("status") == "healthy" for c in ("scheduler", "dag_processor")):
                    return
            except OSError:
                pass
            time.sleep(1)
        raise RuntimeError(f"airflow standalone not healthy after {timeout} s:\n{self.tail()}")

    def stop(self) -> None:
        """Stop every process of the standalone: SIGTERM to its process group, then SIGKILL to whatever of the
        group is left after 30 s (a dag-processor outlived its parent and kept running after a CI run)."""
        if self.proc:
            group = self.proc.pid
            if self.proc.poll() is None:
                _signal_group(group, signal.SIGTERM)
            deadline = time.monotonic() + 30
            # poll() reaps the leader, so a zombie leader does not count as a live member
            while (self.proc.poll() is None or _signal_group(group, 0)) and time.monotonic() < deadline:
                time.sleep(0.5)
            _signal_group(group, signal.SIGKILL)
            self.proc.wait()
        self.log.close()

    def tail(self, n: int = 60) -> str:
        self.log.flush()
        return "\n".join((self.home / "standalone.log").read_text(errors="replace").splitlines()[-n:])

    def request(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        # A generous limit: on 2 busy cores (CI runs the matrix legs beside it) the API server answered a GET
        # in more than 30 s.
        with urllib.request.urlopen(req, timeout=REQUEST_TIMEOUT) as response:
            return json.loads(response.read() or b"{}")

    def get(self, path: str) -> dict:
        return self.request("GET", path)

    def add_dag(self, source: Path, dag_id: str, timeout: float = 120) -> None:
        shutil.copy(source, self.dags / source.name)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.get(f"/api/v2/dags/{dag_id}")
                return
            except OSError:
                time.sleep(1)
        raise RuntimeError(f"{dag_id} was not parsed in {timeout} s:\n{self.tail()}")

    def run_dag(self, dag_id: str, timeout: float = 180, conf: dict | None = None) -> dict:
        run = self.request(
            "POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf or {}}
        )
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run['dag_run_id']}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.get(path)
            if run["state"] in ("success", "failed"):
                return run
            time.sleep(1)
        raise RuntimeError(f"run of {dag_id} still {run['state']} after {timeout} s:\n{self.tail()}")

    def task_states(self, dag_id: str, run_id: str) -> dict:
        tis = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        return {
            ti["task_id"] if ti["map_index"] < 0 else (ti["task_id"], ti["map_index"]): ti["state"]
            for ti in tis
        }

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        logs = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        return (logs / f"attempt={try_number}.log").read_text()

    def failure_report(self, dag_id: str, run_id: str) -> str:
        """The states of a run's tasks and the error lines of each failed task's log (for an assertion message
        pytest prints in full), plus the standalone's own output."""
        states = self.task_states(dag_id, run_id)
        lines = [f"{dag_id} {run_id}: {states}"]
        for task, state in states.items():
            if state == "success" or not isinstance(task, str):
                continue
            try:
                log = self.task_log(dag_id, run_id, task).splitlines()
            except OSError as exc:
                lines.append(f"--- {task}: no log ({exc})")
                continue
            errors = [line for line in log if '"level":"error"' in line or '"level":"critical"' in line]
            lines.append(f"--- {task} ({state}), error lines (else the last 15):")
            lines.extend((errors or log[-15:])[-15:])
        lines.append("--- standalone output:")
        lines.append(self.tail())
        return "\n".join(lines)


def _signal_group(group: int, signum: int) -> bool:
    """Send ``signum`` to process group ``group``; whether any process of it was there (0 only checks)."""
    try:
        os.killpg(group, signum)
    except ProcessLookupError:
        return False
    return True


XCOM_BACKEND = "airflow_results_provider.xcom.ResultXComBackend"


@contextlib.contextmanager
def _standalones():
    started: list[Standalone] = []

    def start(base_path: str = "", prepare=None, **extra_env: str) -> Standalone:
        """``prepare(instance)`` runs before ``airflow standalone`` starts (e.g. ``airflow teams sync``)."""
        instance = Standalone(Path(tempfile.mkdtemp(prefix="results-standalone-")), extra_env, base_path)
        started.append(instance)
        if prepare is not None:
            prepare(instance)
        instance.start()
        return instance

    try:
        yield start
    finally:
        for instance in started:
            instance.stop()
            shutil.rmtree(instance.home, ignore_errors=True)


@pytest.fixture(scope="module")
def standalone_factory():
    """Start standalones with their own configuration; they stop at the end of the module."""
    with _standalones() as start:
        yield start


#: Copied into the plugins folder of :func:`xcom_standalone` (see its docstring).
ACL_AUTH_MANAGER = Path(__file__).with_name("acl_auth_manager.py")


def _install_acl_auth_manager(instance: Standalone) -> None:
    plugins = instance.home / "plugins"
    plugins.mkdir(exist_ok=True)
    shutil.copy(ACL_AUTH_MANAGER, plugins / ACL_AUTH_MANAGER.name)


@pytest.fixture(scope="session")
def xcom_standalone():
    """One ``airflow standalone`` with the Result XCom backend (the deployment the README recommends), shared
    by the end-to-end tests that need no other configuration: each startup costs a minute of CPU. Tests give
    their DAGs their own ids. Its auth manager is SimpleAuthManager (a request without a token is the anonymous
    admin's) but for the user ``dagreader``, who may read DAGs and not most of their XComs
    (``tests/e2e/acl_auth_manager.py``, installed as a plugin)."""
    with _standalones() as start:
        yield start(prepare=_install_acl_auth_manager, AIRFLOW__CORE__XCOM_BACKEND=XCOM_BACKEND)


EXAMPLE_DAGS = ROOT / "example_dags"

"""A CeleryExecutor deployment on loopback, started once for the module: Redis (broker), PostgreSQL (metadata DB,
a throwaway cluster), moto_server (S3: ``default_result`` and ``xcom_result``), ``airflow scheduler``,
``dag-processor``, ``api-server`` and two ``airflow celery worker`` processes serving the queues ``worker1`` and
``worker2``.

Each worker runs in its own mount namespace with a private tmpfs on the same path, which is its AIRFLOW_HOME, dags
folder, logs and ``[results] local_dir``: identical configuration, disjoint disks, as on two machines. The test
reads a worker's files through ``/proc/<pid>/root``. Where mount namespaces are not available, the workers get
separate directories instead (and the LocalResult checks are skipped, since a file would then be visible to both).
"""

from __future__ import annotations

import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import Standalone, free_port
from tests.storage_servers import _wait_for_port

DAGS_SOURCE = Path(__file__).parent / "dags"
WORKER_CONFIG = Path(__file__).parent / "worker_config"
BUCKET = "celery-e2e"
QUEUES = ("worker1", "worker2")
DAG_IDS = ("celery_chain", "celery_retry", "celery_loop", "celery_xcom_map", "celery_local")
VENV_BIN = Path(sys.executable).parent


def kill_tree(pid: int, sig: int = signal.SIGKILL) -> None:
    """Send ``sig`` to ``pid`` and all its descendants (task processes may sit in other process groups)."""
    import psutil

    try:
        parent = psutil.Process(pid)
        procs = [*parent.children(recursive=True), parent]
    except psutil.NoSuchProcess:
        return
    for proc in procs:
        try:
            proc.send_signal(sig)
        except psutil.NoSuchProcess:
            pass


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
    if proc.poll() is not None:
        kill_tree(proc.pid)
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        pass
    kill_tree(proc.pid)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(10)


def _namespaces_work() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "--", "true"], capture_output=True, check=False
    )
    return probe.returncode == 0


def _postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    which = shutil.which("postgres") or shutil.which("initdb")
    if which:
        return Path(which).parent
    pytest.fail("PostgreSQL is not installed: run bash scripts/bootstrap.sh (Debian package postgresql)")


class Worker:
    def __init__(self, name: str, queue: str, scratch: Path, private: bool) -> None:
        self.name, self.queue, self.scratch, self.private = name, queue, scratch, private
        self.celery_name = f"{name}@{socket.gethostname()}"
        self.proc: subprocess.Popen | None = None

    def path(self, relative: str = "") -> Path:
        """A path on this worker's disk, as the test sees it."""
        if self.private:
            assert self.proc is not None and self.proc.poll() is None, f"{self.name} is not running"
            return Path(f"/proc/{self.proc.pid}/root{self.scratch}") / relative
        return self.scratch / relative

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class CeleryStack(Standalone):
    """The REST helpers of :class:`Standalone` (request, get, run_dag, task_states) over a Celery deployment."""

    #: ``[core] simple_auth_manager_all_admins``: the REST API needs no token.
    token: str | None = None

    def __init__(self, root: Path, s3_endpoint: str) -> None:
        self.root = root
        self.home = root / "control"
        self.dags = self.home / "dags"
        self.dags.mkdir(parents=True)
        self.logs = root / "process-logs"
        self.logs.mkdir()
        self.private = _namespaces_work()
        self.procs: dict[str, subprocess.Popen] = {}
        self.expected_dead: set[str] = set()
        self.pg_dir = Path(tempfile.mkdtemp(prefix="results-celery-pg-"))
        self.pg_port, self.redis_port, port = free_port(), free_port(), free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.broker_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.db_url = f"postgresql+psycopg2://airflow@127.0.0.1:{self.pg_port}/airflow"
        scratch = root / "worker-scratch"
        self.workers = {
            name: Worker(
                name,
                queue,
                scratch if self.private else scratch / name,
                self.private,
            )
            for name, queue in zip(("w1", "w2"), QUEUES)
        }
        for worker in self.workers.values():
            worker.scratch.mkdir(parents=True, exist_ok=True)
        aws = {
            "conn_type": "aws",
            "login": "testing",
            "password": "testing",
            "extra": {"endpoint_url": s3_endpoint, "region_name": "us-east-1"},
        }
        self.env = {
            # Bytecode caching on: without it every Airflow process compiles Airflow anew (seconds each).
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith("AIRFLOW") and k != "PYTHONDONTWRITEBYTECODE"
            },
            "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}",
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__PARALLELISM": "16",
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "16",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base}/execution/",
            "AIRFLOW__CORE__XCOM_BACKEND": "airflow_results_provider.xcom.ResultXComBackend",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.db_url,
            "AIRFLOW__CELERY__BROKER_URL": self.broker_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://airflow@127.0.0.1:{self.pg_port}/airflow",
            "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "86400",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__RESULTS__DEFAULT_RESULT": f"s3://{BUCKET}/checkpoints",
            "AIRFLOW__RESULTS__XCOM_RESULT": f"s3://{BUCKET}",
            "AIRFLOW__RESULTS__SIGNING_KEY": secrets.token_hex(16),
            "AIRFLOW__RESULTS__LOCAL_DIR": str(self.home / "results"),
            "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(aws),
            "AWS_EC2_METADATA_DISABLED": "true",
            "E2E_BUCKET": BUCKET,
        }

    # ------------------------------------------------------------------ processes

    def _popen(
        self, name: str, cmd: list[str], env: dict[str, str] | None = None, **kwargs
    ) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - the child holds it; closed on exit
        proc = subprocess.Popen(
            cmd,
            env=env or self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            **kwargs,
        )
        log.close()
        self.procs[name] = proc
        return proc

    def _start_postgres(self) -> None:
        bin_dir = _postgres_bin()
        as_user: dict = {}
        if os.geteuid() == 0:  # the server refuses to run as root
            shutil.chown(self.pg_dir, "postgres", "postgres")
            as_user = {"user": "postgres", "group": "postgres"}
        data = self.pg_dir / "data"
        subprocess.run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "airflow",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            cwd=self.pg_dir,
            **as_user,
        )
        self._popen(
            "postgres",
            [
                str(bin_dir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(self.pg_port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={self.pg_dir}",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ],
            cwd=self.pg_dir,
            **as_user,
        )

    def _create_database(self) -> None:
        import psycopg2

        deadline = time.monotonic() + 60
        while True:
            try:
                conn = psycopg2.connect(
                    host="127.0.0.1", port=self.pg_port, user="airflow", dbname="postgres"
                )
                break
            except psycopg2.OperationalError:
                if time.monotonic() > deadline or self.procs["postgres"].poll() is not None:
                    raise RuntimeError(f"PostgreSQL did not start:\n{self.tail('postgres')}") from None
                time.sleep(0.2)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE airflow")
        conn.close()

    def _start_worker(self, worker: Worker) -> None:
        scratch = str(worker.scratch)
        env = {
            **self.env,
            "AIRFLOW_HOME": scratch,
            "AIRFLOW__CORE__DAGS_FOLDER": f"{scratch}/dags",
            "AIRFLOW__RESULTS__LOCAL_DIR": f"{scratch}/results",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "E2E_WORKER": worker.name,
            "E2E_SCRATCH": scratch,
            "E2E_DAGS_SOURCE": str(DAGS_SOURCE),
            "E2E_WORKER_CONFIG": str(WORKER_CONFIG),
        }
        setup = (
            'mkdir -p "$E2E_SCRATCH/dags" "$E2E_SCRATCH/config" && cp "$E2E_DAGS_SOURCE"/*.py "$E2E_SCRATCH/dags/" '
            '&& cp "$E2E_WORKER_CONFIG"/*.py "$E2E_SCRATCH/config/" && exec "$0" "$@"'
        )
        if worker.private:
            setup = f'mount -t tmpfs -o size=256m results-e2e "$E2E_SCRATCH" && {setup}'
            prefix = ["unshare", "--mount", "--propagation", "private", "--"]
        else:
            prefix = []
        cmd = [
            *prefix,
            "sh",
            "-c",
            setup,
            str(VENV_BIN / "airflow"),
            "celery",
            "worker",
            "--queues",
            worker.queue,
            "--concurrency",
            "3",
            "--celery-hostname",
            worker.celery_name,
            "--skip-serve-logs",
            "--without-mingle",
            "--without-gossip",
        ]
        worker.proc = self._popen(worker.name, cmd, env)

    def mark(self, what: str) -> None:
        with open(self.logs / "phases.log", "a") as out:
            out.write(f"{time.monotonic() - self.t0:6.1f}s {what}\n")

    def start(self, timeout: float = 240) -> None:
        self.t0 = time.monotonic()
        for source in DAGS_SOURCE.glob("*.py"):
            shutil.copy(source, self.dags / source.name)
        self._start_postgres()
        self._popen(
            "redis",
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.root),
            ],
        )
        self._create_database()
        self.mark("postgres up")
        _wait_for_port(self.redis_port, self.procs["redis"], "redis-server")
        # The workers only need to reach the DB, so they start (import Airflow and Celery) during the migration;
        # the other components refuse an unmigrated DB.
        airflow = str(VENV_BIN / "airflow")
        migrate = self._popen("db-migrate", [airflow, "db", "migrate"])
        self.expected_dead.add("db-migrate")
        for worker in self.workers.values():
            self._start_worker(worker)
        assert migrate.wait(timeout) == 0, self.tail("db-migrate")
        self.mark("db migrated")
        for component in ("api-server", "scheduler", "dag-processor"):
            self._popen(component, [airflow, component])
        deadline = time.monotonic() + timeout
        self.wait_healthy(deadline)
        self.mark("healthy")
        for dag_id in DAG_IDS:
            self.wait_for(lambda d=dag_id: self._dag_exists(d), deadline, f"DAG {dag_id} parsed")
        self.mark("dags parsed")
        self.wait_for(
            lambda: self.ping() == {w.celery_name for w in self.workers.values()}, deadline, "workers"
        )
        self.mark("workers ready")

    def wait_healthy(self, deadline: float) -> None:
        def healthy() -> bool:
            try:
                health = self.get("/api/v2/monitor/health")
            except OSError:
                return False
            return all(health.get(c, {}).get("status") == "healthy" for c in ("scheduler", "dag_processor"))

        self.wait_for(healthy, deadline, "scheduler and dag-processor healthy")

    def _dag_exists(self, dag_id: str) -> bool:
        try:
            self.get(f"/api/v2/dags/{dag_id}")
            return True
        except OSError:
            return False

    def wait_for(self, check, deadline: float, what: str) -> None:
        while not check():
            for name, proc in self.procs.items():
                if proc.poll() is not None and name not in self.expected_dead:
                    raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.tail(name)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}:\n{self.tail('scheduler')}")
            time.sleep(0.5)

    def stop(self) -> None:
        """SIGTERM to every process at once, SIGKILL to whatever (and whichever child) is left after 5 s."""
        procs = list(self.procs.items())
        for name, proc in procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGINT if name == "postgres" else signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 5
        for _, proc in procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for _, proc in procs:
            kill_tree(proc.pid)
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for _, proc in procs:
            proc.wait(10)
        shutil.rmtree(self.pg_dir, ignore_errors=True)

    def tail(self, name: str = "scheduler", n: int = 60) -> str:
        path = self.logs / f"{name}.log"
        if not path.exists():
            return ""
        return f"--- {name}.log\n" + "\n".join(path.read_text(errors="replace").splitlines()[-n:])

    # ------------------------------------------------------------------ celery routing

    def celery(self):
        if not hasattr(self, "_celery"):
            from celery import Celery

            self._celery = Celery(broker=self.broker_url)
        return self._celery

    def ping(self) -> set[str]:
        replies = self.celery().control.ping(timeout=1.0)
        return {name for reply in replies for name in reply}

    def serve(self, queue: str, by: str) -> None:
        """Make worker ``by`` the only one consuming ``queue`` (celery remote control, like
        ``airflow celery add-queue`` / ``remove-queue``)."""
        control = self.celery().control
        for worker in self.workers.values():
            if not worker.alive:
                continue
            if worker.name == by:
                control.add_consumer(queue, destination=[worker.celery_name], reply=True, timeout=5)
            else:
                control.cancel_consumer(queue, destination=[worker.celery_name], reply=True, timeout=5)
        deadline = time.monotonic() + 20

        def routed() -> bool:
            active = self.celery().control.inspect(timeout=1.0).active_queues() or {}
            consumers = {name for name, queues in active.items() if any(q["name"] == queue for q in queues)}
            return consumers == {self.workers[by].celery_name}

        self.wait_for(routed, deadline, f"{queue} served by {by} only")

    def reset_routing(self) -> None:
        for worker in self.workers.values():
            if worker.alive:
                self.serve(worker.queue, worker.name)

    # ------------------------------------------------------------------ runs

    def trigger(self, dag_id: str) -> str:
        run = self.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": {}})
        return run["dag_run_id"]

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 180) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            run = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
            if run["state"] in ("success", "failed"):
                return run
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"run {run_id} of {dag_id} still {run['state']} after {timeout} s:\n"
                    + "\n".join(self.tail(n, 30) for n in ("scheduler", "w1", "w2"))
                )
            time.sleep(0.5)

    def run_ok(self, dag_id: str, run_id: str, timeout: float = 180) -> bool | str:
        """Wait for the run; True if it succeeded, else the end of every failed task's log (for the assert)."""
        if self.wait_run(dag_id, run_id, timeout)["state"] == "success":
            return True
        out = []
        for ti in self.task_instances(dag_id, run_id):
            if ti["state"] != "success":
                rel = f"logs/dag_id={dag_id}/run_id={run_id}/task_id={ti['task_id']}"
                if ti["map_index"] >= 0:
                    rel += f"/map_index={ti['map_index']}"
                for worker in self.workers.values():
                    log = worker.path(rel) if worker.alive else None
                    for path in sorted(log.glob("attempt=*.log")) if log and log.exists() else []:
                        out.append(f"--- {worker.name}: {path.name} of {ti['task_id']} ({ti['state']})")
                        out.extend(path.read_text(errors="replace").splitlines()[-40:])
        return "\n".join(out) or f"{dag_id} {run_id} failed; no task logs found\n{self.tail()}"

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100"
        return self.get(path)["task_instances"]

    def tries(self, dag_id: str, run_id: str, task_id: str) -> list[dict]:
        """Every try of a task instance (REST ``/tries``): try_number, state, queue, hostname, pid."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/tries"
        return self.get(path)["task_instances"]

    def worker_log(
        self, worker: str, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index=None
    ) -> str:
        rel = f"logs/dag_id={dag_id}/run_id={run_id}/task_id={task_id}"
        if map_index is not None:
            rel += f"/map_index={map_index}"
        return self.workers[worker].path(f"{rel}/attempt={try_number}.log").read_text()

    # ------------------------------------------------------------------ metadata DB

    def query(self, sql: str, *params) -> list[tuple]:
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.pg_port, user="airflow", dbname="airflow")
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall()
        finally:
            conn.close()

    def xcom_rows(self, dag_id: str, run_id: str, task_id: str | None = None) -> dict:
        sql = (
            "SELECT task_id, map_index, value FROM xcom WHERE dag_id=%s AND run_id=%s AND key='return_value'"
        )
        params: list = [dag_id, run_id]
        if task_id:
            sql += " AND task_id=%s"
            params.append(task_id)
        rows = {}
        for task, index, value in self.query(sql, *params):
            rows[task if index < 0 else (task, index)] = (
                json.loads(value) if isinstance(value, str) else value
            )
        return rows


@pytest.fixture(scope="module")
def celery_stack(s3_server):
    for tool in ("redis-server",):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed: run bash scripts/bootstrap.sh")
    s3_server.create_bucket(Bucket=BUCKET)
    stack = CeleryStack(Path(tempfile.mkdtemp(prefix="results-celery-")), s3_server.endpoint)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        if os.environ.get("E2E_CELERY_KEEP"):  # debugging: keep process logs (worker disks are gone)
            print(f"kept {stack.root}")
        else:
            shutil.rmtree(stack.root, ignore_errors=True)

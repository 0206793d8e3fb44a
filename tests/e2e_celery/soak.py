"""The soak of issue 21 ("stores that survive faults"): many runs of ``soak_pipeline`` (tests/e2e_celery/dags/
soak_dags.py) on the Celery stack of tests/e2e_celery/conftest.py (PostgreSQL, Redis, two Celery workers, the
scheduler, dag-processor and api-server, S3 on moto_server, the Result XCom backend, mixin checkpoints on S3) while a
Celery worker is SIGKILLed (its whole process tree) mid-task at random intervals and restarted a few seconds later.
Half of the kills (``--aim``) wait for a commit in flight (a ``<key>.lock`` lease in the bucket) and kill the worker
running it; the workers' S3 writes are slowed down by up to ``--store-delay`` s each so that commits last long enough
to be hit.

Afterwards it checks:

1. every successful task instance's return value reads back through the XCom backend (the envelope's signature and
   sha256, a pickle's signed record) and equals what the task computes (``soak_dags.expected``); a checkpoint or
   target row is also read through its Result alone (the sidecar's digest and signature);
2. ``airflow results gc --grace 0s`` (a dry run) would delete no live data: 0 expired results, and each orphan it
   lists (payloads of killed tries) is one no successful row refers to; with ``--collect`` it then runs with ``-y``
   and every value is read again;
3. no temporary objects are left in the bucket: open multipart uploads (``list_multipart_uploads``), ``*.lock``
   commit leases, sidecars of live values still marked ``pending``;
4. every failed try is one a kill took down, and no task log says a stored record was unusable.

``bash scripts/soak.sh --runs 30 --kill-every 40 --seed 1`` (or ``python -m tests.e2e_celery.soak``) starts its own
moto_server and stack; tests/e2e_celery/test_soak.py runs a short soak on the suite's fixtures. ``verify`` is the
subcommand the driver runs inside the deployment's configuration (a subprocess with the stack's environment).

Nothing is imported from the test suite at module level: ``tests.conftest`` rewrites the Airflow environment of the
process that imports it, which the ``verify`` subprocess must not see.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DAG_FILE = Path(__file__).parent / "dags" / "soak_dags.py"
DAG_ID = "soak_pipeline"
#: Tasks per run: 7 plus the mapped consume's map indexes (soak_dags.MAPPED).
TASKS_PER_RUN = 7 + 4
TERMINAL = ("success", "failed")
SOAK_BUCKET = "results-soak"
#: Task-log warnings that mean a stored record was unusable after a kill (work lost or redone): findings. Others,
#: such as "metadata is newer than the payload (interrupted write?)", are the commit protocol recovering as designed.
#: Info lines of the task logs that show a try recovering what an earlier try stored (counted in the report).
RECOVERY_EVENTS = {
    "Result found at task target": "target hits",
    "Resuming the loop at iteration": "loop resumes",
}
LOST_WORK_SIGNS = ("unusable", "unreadable", "not signed", "corrupt", "stayed locked", "not a cache entry")


@dataclasses.dataclass
class Settings:
    runs: int = 30
    kill_every: float = 45.0
    seed: int = 1
    #: Stop killing after this many kills (None: as long as runs are in flight).
    max_kills: int | None = None
    #: Seconds between a kill and the restart of the worker (uniform in this range).
    restart_delay: tuple[float, float] = (2.0, 6.0)
    #: Distinct ``slot`` params: the runs of one slot share ``targeted``'s target.
    slots: int = 3
    max_active_runs: int = 3
    #: A task body sleeps this long (uniform), seconds.
    sleep: tuple[float, float] = (1.0, 4.0)
    heartbeat_timeout: int = 12
    #: Share of the kills aimed at a commit in flight (a ``.lock`` lease in the bucket), the others at random.
    aim: float = 0.5
    #: Each S3 write request of a task waits up to this long (seconds, soak_dags._slow_store), so commits last
    #: long enough for kills to land in them.
    store_delay: float = 0.4
    #: Aim only at leases whose key contains this (e.g. ``/targets/``); "" for any.
    aim_at: str = ""
    #: Give up waiting for the runs after this long (default: 300 s + 60 s per run).
    timeout: float | None = None
    #: After the dry run, also run ``airflow results gc -y --grace 0s`` and verify every value again.
    collect: bool = False


# ================================================================================================== the stack


def soak_env(settings: Settings, root: Path) -> dict[str, str]:
    """What the soak changes in the stack's environment (every component, the workers included)."""
    return {
        # Kills must be noticed fast: the supervisor heartbeats every 2 s, the scheduler fails a try whose last
        # heartbeat is older than heartbeat_timeout, and requeues a task that a kill left queued after 120 s.
        "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "2",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(settings.heartbeat_timeout),
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "120",
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "10",
        # Task logs outside the workers' private tmpfs, which a kill takes away.
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(root / "task-logs"),
        "SOAK_SLEEP": ",".join(str(s) for s in settings.sleep),
        "SOAK_MAX_ACTIVE_RUNS": str(settings.max_active_runs),
        "SOAK_STORE_DELAY": str(settings.store_delay),
    }


def make_stack(root: Path, s3_endpoint: str, settings: Settings, bucket: str = SOAK_BUCKET) -> Any:
    """A :class:`~tests.e2e_celery.conftest.CeleryStack` (not started) configured for the soak, its stores in
    ``bucket`` (a bucket of its own: gc and the temp-object checks look at the whole bucket).

    Records and envelopes are signed with the key derived from ``[api] secret_key`` (the stack gives every
    component the same one), not with an explicit ``[results] signing_key``."""
    from tests.e2e_celery.conftest import CeleryStack

    stack = CeleryStack(root, s3_endpoint)
    stack.env.pop("AIRFLOW__RESULTS__SIGNING_KEY", None)
    stack.env.update(soak_env(settings, root))
    stack.env.update(
        {
            "AIRFLOW__RESULTS__DEFAULT_RESULT": f"s3://{bucket}/checkpoints",
            "AIRFLOW__RESULTS__XCOM_RESULT": f"s3://{bucket}",
            "E2E_BUCKET": bucket,
        }
    )
    return stack


def wait_for_dag(stack: Any, timeout: float = 180) -> None:
    stack.wait_for(lambda: stack._dag_exists(DAG_ID), time.monotonic() + timeout, f"DAG {DAG_ID} parsed")


# ================================================================================================== the soak


@dataclasses.dataclass
class Kill:
    at: float
    worker: str
    celery_tasks: int
    #: (task_id, map_index, run_id, try_number) of every try the kill took down.
    tries: list[tuple[str, int, str, int]]
    #: The commit lease (``<key>.lock``) seen just before an aimed kill.
    aimed: str | None = None


class Soak:
    """Runs the soak on a started stack whose S3 bucket ``bucket`` ``s3`` (a boto3 client) reaches."""

    def __init__(self, stack: Any, s3: Any, bucket: str, settings: Settings, out=print) -> None:
        self.stack, self.s3, self.bucket, self.settings = stack, s3, bucket, settings
        self.rng = random.Random(settings.seed)
        self.out = out
        self.kills: list[Kill] = []
        self.restarts: dict[str, float] = {}
        self.runs: dict[str, int] = {}  # run id -> slot
        self.stale_leases: set[str] = set()  # tokens of the leases aimed kills left behind

    # ---------------------------------------------------------------------------------------- driving

    def run(self) -> dict[str, Any]:
        s = self.settings
        started = time.monotonic()
        self.t0 = started
        self.started_utc = dt.datetime.now(dt.timezone.utc)
        for number in range(s.runs):
            slot = number % s.slots
            run = self.stack.request(
                "POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": None, "conf": {"slot": slot}}
            )
            self.runs[run["dag_run_id"]] = slot
        self.out(f"soak: triggered {s.runs} runs of {DAG_ID} (max {s.max_active_runs} at a time)")
        deadline = started + (s.timeout or 300 + 60 * s.runs)
        next_kill = started + self._interval()
        mode: str | None = None  # the next kill's: "aim" or "random"
        aim_until: float | None = None  # while set: waiting for a commit in flight to kill
        states: dict[str, str] = {}
        last_report = last_poll = 0.0
        while True:
            now = time.monotonic()
            if now - last_poll >= 1.0 or aim_until is None:
                last_poll = now
                states = self._run_states()
            done = sum(1 for st in states.values() if st in TERMINAL)
            if done == len(self.runs):
                break
            if now > deadline:
                raise RuntimeError(
                    f"soak: {len(self.runs) - done} run(s) unfinished after {now - started:.0f} s: "
                    f"{ {r: st for r, st in states.items() if st not in TERMINAL} }\n"
                    + "\n".join(self.stack.tail(n, 30) for n in ("scheduler", "w1", "w2"))
                )
            self._restart_due(now)
            if now >= next_kill and (s.max_kills is None or len(self.kills) < s.max_kills):
                if mode is None:  # aim this kill at a commit (a .lock lease in the bucket) or not
                    mode = "aim" if self.rng.random() < s.aim else "random"
                    aim_until = now + 20.0 if mode == "aim" else None
                if aim_until is not None and now < aim_until:
                    killed = self._kill_in_commit()
                else:
                    aim_until = None  # no commit caught in time: any running task will do
                    killed = self._kill_one()
                if killed:
                    next_kill, aim_until, mode = time.monotonic() + self._interval(), None, None
                elif aim_until is None:
                    next_kill = time.monotonic() + 1.0  # nothing running on a live worker yet
            if now - last_report > 30:
                last_report = now
                self.out(
                    f"soak: {now - started:5.0f} s  {done}/{len(self.runs)} runs done, {len(self.kills)} kill(s)"
                )
            time.sleep(0.5 if aim_until is None else 0.1)
        self.soak_seconds = time.monotonic() - started
        for name in list(self.restarts):  # every worker back before checking (and before stop())
            self._restart(name)
        self.out(f"soak: all runs finished after {self.soak_seconds:.0f} s; checking")
        report = self.check(states)
        report["wall_seconds"]["soak"] = round(self.soak_seconds, 1)
        report["wall_seconds"]["checks"] = round(time.monotonic() - started - self.soak_seconds, 1)
        return report

    def _interval(self) -> float:
        return self.settings.kill_every * self.rng.uniform(0.5, 1.5)

    def _run_states(self) -> dict[str, str]:
        states: dict[str, str] = {}
        offset = 0
        while True:
            page = self.stack.get(f"/api/v2/dags/{DAG_ID}/dagRuns?limit=100&offset={offset}")
            for run in page["dag_runs"]:
                states[run["dag_run_id"]] = run["state"]
            offset += len(page["dag_runs"])
            if not page["dag_runs"] or offset >= page["total_entries"]:
                return states

    def _lease_tokens(self) -> set[str]:
        tokens = set()
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            for item in page.get("Contents", []):
                if item["Key"].endswith(".lock"):
                    try:
                        body = self.s3.get_object(Bucket=self.bucket, Key=item["Key"])["Body"].read()
                        tokens.add(json.loads(body).get("token"))
                    except Exception:  # released meanwhile
                        pass
        return tokens

    def _kill_in_commit(self) -> bool:
        """Kill the worker running a task that holds a commit lease (``<key>.lock``) right now, if any: a lease
        that has not expired and that no earlier kill left behind."""
        locks = [
            item["Key"]
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
            for item in page.get("Contents", [])
            if item["Key"].endswith(".lock")
        ]
        for key in locks:
            try:
                lease = json.loads(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
            except Exception:  # released meanwhile
                continue
            if lease.get("token") in self.stale_leases or lease.get("expires", 0) < time.time():
                continue
            if self.settings.aim_at and self.settings.aim_at not in key:
                continue
            # <checkpoints|xcom>/<dag>/<run>/<task>/... or checkpoints/<dag>/targets/slot-<n>.pkl.lock
            parts = key.split("/")
            task_id = "targeted" if parts[2:3] == ["targets"] else (parts[3] if len(parts) > 3 else "")
            worker = self._worker_of(task_id)
            if worker and self._kill_one(only=worker, aimed=key):
                self.stale_leases.add(lease.get("token"))
                return True
        return False

    def _worker_of(self, task_id: str) -> str | None:
        """The worker serving the queue ``task_id`` is pinned to."""
        rows = self.stack.query(
            "SELECT DISTINCT queue FROM task_instance WHERE dag_id = %s AND task_id = %s", DAG_ID, task_id
        )
        queues = {q for (q,) in rows}
        return next((w.name for w in self.stack.workers.values() if w.queue in queues), None)

    def _kill_one(self, only: str | None = None, aimed: str | None = None) -> bool:
        """SIGKILL the process tree of a live worker (``only`` that one) that is running tasks; False when none
        is. ``aimed``: the lease whose commit the kill aims at."""
        import psutil

        from tests.e2e_celery.conftest import kill_tree

        stack = self.stack
        if self.restarts or not all(w.alive for w in stack.workers.values()):
            return False
        names = {w.celery_name: w for w in stack.workers.values()}
        try:
            active = stack.celery().control.inspect(destination=list(names), timeout=1.0).active() or {}
        except Exception:
            return False
        busy = sorted(
            names[n].name
            for n, tasks in active.items()
            if tasks and n in names and only in (None, names[n].name)
        )
        if len(active) < len(names) or not busy:  # a worker still starting up, or nothing to kill
            return False
        # Only a worker all of whose Celery tasks are running task instances: a kill of a task that has not
        # started yet (still queued in the DB) leaves it queued until [scheduler] task_queued_timeout, which is
        # Airflow's recovery, not the stores'.
        candidates = []
        for name in busy:
            ids = [t["id"] for t in active[stack.workers[name].celery_name]]
            states = stack.query("SELECT state FROM task_instance WHERE external_executor_id = ANY(%s)", ids)
            if states and all(state == "running" for (state,) in states):
                candidates.append(name)
        if not candidates:
            return False
        worker = stack.workers[self.rng.choice(candidates)]
        ids = [t["id"] for t in active[worker.celery_name]]
        try:
            pids = [p.pid for p in psutil.Process(worker.proc.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            pids = []
        stack.expected_dead.add(worker.name)
        kill_tree(worker.proc.pid, signal.SIGKILL)
        worker.proc.wait(10)
        at = time.monotonic() - self.t0
        rows = stack.query(
            "SELECT task_id, map_index, run_id, try_number FROM task_instance "
            "WHERE dag_id = %s AND (external_executor_id = ANY(%s) OR pid = ANY(%s))",
            DAG_ID,
            ids,
            pids or [-1],
        )
        tries = sorted((t, m, r, n) for t, m, r, n in rows)
        self.stale_leases |= self._lease_tokens()  # a lease held now may be one the kill left behind
        self.kills.append(Kill(round(at, 1), worker.name, len(ids), tries, aimed))
        delay = self.rng.uniform(*self.settings.restart_delay)
        self.restarts[worker.name] = time.monotonic() + delay
        shown = (
            ", ".join(f"{t}{f'[{m}]' if m >= 0 else ''} try {n}" for t, m, _, n in tries) or "none in the DB"
        )
        self.out(
            f"soak: {at:5.0f} s  kill #{len(self.kills)}: SIGKILL {worker.name} ({len(pids)} processes, "
            f"{len(ids)} Celery task(s): {shown}){f' while {aimed} was held' if aimed else ''}; restart in "
            f"{delay:.1f} s"
        )
        return True

    def _restart_due(self, now: float) -> None:
        for name, when in list(self.restarts.items()):
            if now >= when:
                self._restart(name)

    def _restart(self, name: str) -> None:
        worker = self.stack.workers[name]
        self.stack._start_worker(worker)
        self.stack.expected_dead.discard(name)
        self.restarts.pop(name, None)

    # ---------------------------------------------------------------------------------------- checking

    def check(self, states: dict[str, str]) -> dict[str, Any]:
        stack = self.stack
        tis = stack.query(
            "SELECT task_id, map_index, run_id, try_number, state FROM task_instance WHERE dag_id = %s",
            DAG_ID,
        )
        history = stack.query(
            "SELECT task_id, map_index, run_id, try_number, state FROM task_instance_history WHERE dag_id = %s",
            DAG_ID,
        )
        killed = {tuple(t) for k in self.kills for t in k.tries}
        ((requeued,),) = stack.query(
            "SELECT count(*) FROM log WHERE dag_id = %s AND event = 'stuck in queued reschedule'", DAG_ID
        )
        findings: list[str] = []
        unexplained = []
        for task_id, map_index, run_id, try_number, state in sorted(history):
            if (task_id, map_index, run_id, try_number) not in killed:
                unexplained.append(
                    {
                        "task": task_id,
                        "map_index": map_index,
                        "run_id": run_id,
                        "try": try_number,
                        "state": state,
                        "log": self._log_tail(run_id, task_id, map_index, try_number),
                    }
                )
        for item in unexplained:
            findings.append(
                f"try {item['try']} of {item['task']}[{item['map_index']}] in {item['run_id']} ended "
                f"{item['state']} without a kill: {item['log'][-600:]}"
            )
        failed_tis = [
            {"task": t, "map_index": m, "run_id": r, "try": n, "state": st}
            for t, m, r, n, st in tis
            if st != "success"
        ]
        for ti in failed_tis:
            log = self._log_tail(ti["run_id"], ti["task"], ti["map_index"], ti["try"])
            findings.append(
                f"{ti['task']}[{ti['map_index']}] of {ti['run_id']} ended {ti['state']} (try {ti['try']}): "
                f"{log[-600:]}"
            )

        verify = self._verify()
        if verify.get("errors"):
            findings.extend(f"value check: {e}" for e in verify["errors"])
        gc_cli = self._gc_cli()
        if gc_cli["expired"] != 0:
            findings.append(
                f"airflow results gc would delete {gc_cli['expired']} expired result(s): {gc_cli}"
            )
        if verify["gc"]["orphans_referenced"]:
            findings.append(f"gc lists live payloads as orphans: {verify['gc']['orphans_referenced']}")
        if verify["gc"]["orphans"] != gc_cli["orphans"]:
            findings.append(
                f"airflow results gc counted {gc_cli['orphans']} orphan(s), the in-process gc {verify['gc']['orphans']}"
            )
        temp = self._temp_objects()
        open_uploads: dict[str, int] = {}
        for upload in temp["multipart_uploads"]:  # all older than the run's end: no writer is left running
            open_uploads[upload["key"]] = open_uploads.get(upload["key"], 0) + 1
        for key, count in open_uploads.items():
            findings.append(f"{count} multipart upload(s) left open: s3://{self.bucket}/{key}")
        for key in temp["locks"]:
            findings.append(f"commit lease left behind: s3://{self.bucket}/{key}")
        for key in temp["pending_sidecars_referenced"]:
            findings.append(f"a live value's sidecar is still pending: s3://{self.bucket}/{key}")

        warnings, recoveries = self._scan_logs()
        for text, count in warnings.items():
            if any(sign in text for sign in LOST_WORK_SIGNS):
                findings.append(f"{count} x task log: {text}")
        collected = None
        if self.settings.collect:
            collected = self._gc_cli(delete=True)
            again = self._verify()
            collected["values_after"] = again["values"]
            collected["errors_after"] = again["errors"]
            findings.extend(f"after gc -y: {e}" for e in again["errors"])

        run_states = {st: sum(1 for v in states.values() if v == st) for st in sorted(set(states.values()))}
        return {
            "command": None,
            "settings": {
                k: (list(v) if isinstance(v, tuple) else v)
                for k, v in dataclasses.asdict(self.settings).items()
            },
            "runs": {"total": len(self.runs), **run_states},
            "tasks": {
                "task_instances": len(tis),
                "success": sum(1 for *_, st in tis if st == "success"),
                "not_success": len(failed_tis),
                "tries": len(tis) + len(history),
            },
            "kills": {
                "count": len(self.kills),
                "tries_killed": len(killed),
                "aimed": sum(1 for k in self.kills if k.aimed),
                "detail": [dataclasses.asdict(k) for k in self.kills],
            },
            "retries": {
                "count": len(history),
                "of_killed_tries": len(history) - len(unexplained),
                "unexplained": len(unexplained),
                "requeued_stuck_in_queued": requeued,
            },
            "failures": failed_tis,
            "values": verify["values"],
            "gc": {"cli": gc_cli, "in_process": verify["gc"], "collected": collected},
            "temp_objects": temp,
            "log_warnings": warnings,
            "recoveries": recoveries,
            "findings": findings,
            "wall_seconds": {},
        }

    def _log_tail(self, run_id: str, task_id: str, map_index: int, try_number: int) -> str:
        rel = Path(f"dag_id={DAG_ID}") / f"run_id={run_id}" / f"task_id={task_id}"
        if map_index >= 0:
            rel /= f"map_index={map_index}"
        path = Path(self.stack.env["AIRFLOW__LOGGING__BASE_LOG_FOLDER"]) / rel / f"attempt={try_number}.log"
        if not path.exists():
            return "(no log)"
        lines = path.read_text(errors="replace").splitlines()
        errors = [
            line for line in lines if '"level":"error"' in line or "Traceback" in line or "Error" in line
        ]
        return "\n".join((errors or lines)[-8:])

    def _scan_logs(self) -> tuple[dict[str, int], dict[str, int]]:
        """Warnings and errors in every try's task log, counted by message (numbers and digests blanked), and the
        recovery paths the tries took (:data:`RECOVERY_EVENTS`)."""
        base = Path(self.stack.env["AIRFLOW__LOGGING__BASE_LOG_FOLDER"]) / f"dag_id={DAG_ID}"
        counts: dict[str, int] = {}
        recoveries = dict.fromkeys(RECOVERY_EVENTS.values(), 0)
        for path in base.rglob("attempt=*.log"):
            for line in path.read_text(errors="replace").splitlines():
                if not line.startswith("{") or '"level":"debug"' in line:
                    continue
                if '"level":"info"' in line:
                    for start, name in RECOVERY_EVENTS.items():
                        if f'"event":"{start}' in line:
                            recoveries[name] += 1
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if event.get("level") not in ("warning", "error", "critical"):
                    continue
                text = f"{event.get('level')} {event.get('logger', '')}: {str(event.get('event'))[:200]}"
                text = re.sub(r"manual__[^ ,/'\"]+|[0-9a-f]{8,}|\d+", "#", text)
                counts[text] = counts.get(text, 0) + 1
        return dict(sorted(counts.items(), key=lambda item: -item[1])), recoveries

    def _verify(self) -> dict[str, Any]:
        """Run :func:`verify_main` in the deployment's configuration (a subprocess with the stack's env)."""
        work = Path(tempfile.mkdtemp(prefix="soak-verify-"))
        try:
            (work / "in.json").write_text(
                json.dumps({"runs": self.runs, "pg_port": self.stack.pg_port, "dag_id": DAG_ID})
            )
            env = {**self.stack.env, "PYTHONPATH": str(ROOT)}
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "tests.e2e_celery.soak",
                    "verify",
                    str(work / "in.json"),
                    str(work / "out.json"),
                ],
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            if proc.returncode != 0 or not (work / "out.json").exists():
                raise RuntimeError(
                    f"soak verify failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
                )
            return json.loads((work / "out.json").read_text())
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _gc_cli(self, delete: bool = False) -> dict[str, Any]:
        """``airflow results gc --grace 0s`` (``-y`` when ``delete``) in the deployment's configuration."""
        args = [str(Path(sys.executable).with_name("airflow")), "results", "gc", "--grace", "0s"]
        if delete:
            args.append("-y")
        proc = subprocess.run(
            args,
            env=self.stack.env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        found = re.search(
            r"(?:Would delete|Deleted) (\d+) expired result\(s\).*? and (\d+) orphan\(s\)", proc.stdout
        )
        return {
            "command": " ".join(["airflow", *args[1:]]),
            "exit_code": proc.returncode,
            "expired": int(found.group(1)) if found else None,
            "orphans": int(found.group(2)) if found else None,
            "output": proc.stdout.strip()[-4000:],
            "stderr": proc.stderr.strip()[-2000:] if proc.returncode else "",
        }

    def _temp_objects(self) -> dict[str, Any]:
        """Open multipart uploads, ``*.lock`` leases and ``pending`` sidecars left in the bucket."""
        s3, bucket = self.s3, self.bucket
        uploads = []
        kwargs: dict[str, Any] = {"Bucket": bucket}
        while True:
            page = s3.list_multipart_uploads(**kwargs)
            for upload in page.get("Uploads", []):
                uploads.append({"key": upload["Key"], "initiated": str(upload.get("Initiated"))})
            if not page.get("IsTruncated"):
                break
            kwargs.update(KeyMarker=page["NextKeyMarker"], UploadIdMarker=page["NextUploadIdMarker"])
        keys = [
            item["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for item in page.get("Contents", [])
        ]
        locks = sorted(k for k in keys if k.endswith(".lock"))
        keys_in_use, prefixes = self._referenced_keys()
        pending = []
        for key in keys:
            if key.endswith(".meta.json"):
                meta = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
                if meta.get("pending"):
                    pending.append(key)
        return {
            "objects": len(keys),
            "payloads": sum(1 for k in keys if not k.endswith((".meta.json", ".lock"))),
            "multipart_uploads": uploads,
            "locks": locks,
            "pending_sidecars": pending,
            "pending_sidecars_referenced": [
                k
                for k in pending
                if k.removesuffix(".meta.json") in keys_in_use or k.startswith(prefixes or ("\0",))
            ],
        }

    def _referenced_keys(self) -> tuple[set[str], tuple[str, ...]]:
        """The bucket keys the XCom rows of successful tasks refer to, and the prefixes of their chunked lists."""
        rows = self.stack.query(
            "SELECT x.value FROM xcom x JOIN task_instance t ON x.dag_id = t.dag_id AND x.run_id = t.run_id "
            "AND x.task_id = t.task_id AND x.map_index = t.map_index "
            "WHERE x.dag_id = %s AND x.key = 'return_value' AND t.state = 'success'",
            DAG_ID,
        )
        keys, prefixes = set(), []
        for (value,) in rows:
            value = _row_value(value)
            if isinstance(value, dict) and value.get("__airflow_result__"):
                key = value["location"].split("://", 1)[1].split("/", 1)[1]
                keys.add(key)
                if value.get("kind") == "sequence":
                    prefixes.append(f"{key}/")
        return keys, tuple(prefixes)


def _row_value(value: Any) -> Any:
    """An XCom row's value as the Task SDK would see it (a JSON string column is decoded when it is JSON)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


# ================================================================================================== verify


def verify_main(in_path: str, out_path: str) -> None:
    """Inside the deployment's configuration: read every successful task's value, and gc's dry run in-process."""
    import hashlib
    import importlib.util
    from types import SimpleNamespace

    import psycopg2

    from airflow_results_provider import index
    from airflow_results_provider.results.registry import result_from_spec
    from airflow_results_provider.xcom.backend import ResultXComBackend, _pulling

    spec = importlib.util.spec_from_file_location("soak_dags", DAG_FILE)
    dags = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dags)

    job = json.loads(Path(in_path).read_text())
    dag_id = job["dag_id"]
    conn = psycopg2.connect(host="127.0.0.1", port=job["pg_port"], user="airflow", dbname="airflow")
    with conn.cursor() as cur:
        cur.execute(
            "SELECT t.run_id, t.task_id, t.map_index, x.value FROM task_instance t LEFT JOIN xcom x "
            "ON x.dag_id = t.dag_id AND x.run_id = t.run_id AND x.task_id = t.task_id AND x.map_index = t.map_index "
            "AND x.key = 'return_value' WHERE t.dag_id = %s AND t.state = 'success' ORDER BY 1, 2, 3",
            (dag_id,),
        )
        rows = cur.fetchall()
    conn.close()

    errors: list[str] = []
    counts = {"rows": 0, "envelopes": 0, "inline": 0, "checkpoint_reads": 0, "bytes_read": 0, "by_owner": {}}
    referenced: set[str] = set()
    prefixes: list[str] = []
    expected_by_run = {run_id: dags.expected(run_id, slot) for run_id, slot in job["runs"].items()}
    for run_id, task_id, map_index, raw in rows:
        label = f"{task_id}{f'[{map_index}]' if map_index >= 0 else ''} of {run_id}"
        if raw is None:
            errors.append(f"{label} succeeded but has no return_value row")
            continue
        counts["rows"] += 1
        value = _row_value(raw)
        try:
            with _pulling(
                dag_id=dag_id, task_id=task_id, run_id=run_id, map_index=map_index, xcom_key="return_value"
            ):
                got = ResultXComBackend.deserialize_value(SimpleNamespace(value=value, key="return_value"))
        except Exception as exc:
            errors.append(f"{label}: the XCom backend cannot read it: {type(exc).__name__}: {exc}")
            continue
        want = expected_by_run.get(run_id, {}).get(task_id)
        if task_id == "consume" and want is not None:
            want = want[map_index]
        if task_id == "big" and isinstance(got, bytes):
            counts["bytes_read"] += len(got)
            got = hashlib.sha256(got).hexdigest()
        if task_id == "produce":
            got = list(got)
        if got != want:
            errors.append(f"{label}: read {str(got)[:200]!r}, expected {str(want)[:200]!r}")
        if not (isinstance(value, dict) and value.get("__airflow_result__")):
            counts["inline"] += 1
            continue
        counts["envelopes"] += 1
        owner = value.get("owner", "?")
        counts["by_owner"][owner] = counts["by_owner"].get(owner, 0) + 1
        referenced.add(value["location"])
        if value.get("kind") == "sequence":
            prefixes.append(value["location"] + "/")
        if owner in ("checkpoint", "target"):
            # The checkpoint alone, through its Result: the digest its sidecar names, the record's signature.
            try:
                read = result_from_spec(value["store"]).read(value["key"]).value
            except Exception as exc:
                errors.append(
                    f"{label}: its {owner} at {value['location']} does not read: {type(exc).__name__}: {exc}"
                )
                continue
            counts["checkpoint_reads"] += 1
            if read != want:
                errors.append(f"{label}: its {owner} holds {str(read)[:200]!r}, expected {str(want)[:200]!r}")

    from airflow.utils.session import create_session

    orphans: list[dict[str, Any]] = []
    with create_session() as session:
        plan = index.gc(
            session,
            stores=index.configured_stores(),
            grace=dt.timedelta(0),
            dry_run=True,
            on_delete=lambda uri, size: orphans.append({"uri": uri, "size": size}),
        )
    live = [
        o["uri"] for o in orphans if o["uri"] in referenced or o["uri"].startswith(tuple(prefixes) or ("\0",))
    ]
    result = {
        "values": counts,
        "errors": errors,
        "gc": {
            "expired": plan.records,
            "orphans": plan.orphans,
            "orphan_bytes": plan.orphan_bytes,
            "scanned": plan.scanned,
            "kept_unowned": plan.kept_unowned,
            "errors": plan.errors,
            "orphan_list": orphans,
            "orphans_referenced": live,
            "stores": list(index.configured_stores()),
        },
    }
    Path(out_path).write_text(json.dumps(result, indent=2, default=str))


# ================================================================================================== reporting


def summary(report: dict[str, Any]) -> str:
    r = report
    kills = r["kills"]
    gc = r["gc"]
    temp = r["temp_objects"]
    lines = [
        "==================== soak summary ====================",
        f"command:   {r.get('command')}",
        f"runs:      {r['runs']['total']} ({', '.join(f'{k} {v}' for k, v in r['runs'].items() if k != 'total')})",
        f"tasks:     {r['tasks']['task_instances']} task instances, {r['tasks']['success']} succeeded, "
        f"{r['tasks']['tries']} tries",
        f"kills:     {kills['count']} SIGKILLs of a worker's process tree ({kills['aimed']} aimed at a commit in "
        f"flight), {kills['tries_killed']} tries taken down",
        f"retries:   {r['retries']['count']} ({r['retries']['of_killed_tries']} of killed tries, "
        f"{r['retries']['unexplained']} unexplained); {r['retries']['requeued_stuck_in_queued']} requeued after "
        "task_queued_timeout",
        f"failures:  {len(r['failures'])} task instance(s) not successful",
        f"values:    {r['values']['rows']} rows read through the XCom backend ({r['values']['envelopes']} envelopes "
        f"{r['values']['by_owner']}, {r['values']['inline']} inline), {r['values']['checkpoint_reads']} "
        f"checkpoints/targets read through their Result, {r['values']['bytes_read'] / 2**20:.0f} MiB of offloaded bytes",
        f"gc:        `{gc['cli']['command']}`: {gc['cli']['expired']} expired, {gc['cli']['orphans']} orphan(s) "
        f"(in-process: {gc['in_process']['orphans']} orphans, {gc['in_process']['kept_unowned']} unowned kept, "
        f"{len(gc['in_process']['orphans_referenced'])} referenced by a successful row, scanned "
        f"{gc['in_process']['scanned']})",
    ]
    for orphan in gc["in_process"]["orphan_list"][:10]:
        lines.append(f"           orphan {orphan['uri']} ({orphan['size']} bytes)")
    if gc.get("collected"):
        c = gc["collected"]
        lines.append(
            f"gc -y:     deleted {c['expired']} expired, {c['orphans']} orphan(s); afterwards "
            f"{c['values_after']['rows']} rows read again, {len(c['errors_after'])} error(s)"
        )
    lines += [
        f"temp:      {len(temp['multipart_uploads'])} open multipart upload(s), {len(temp['locks'])} .lock lease(s), "
        f"{len(temp['pending_sidecars'])} pending sidecar(s) ({len(temp['pending_sidecars_referenced'])} of live "
        f"values); {temp['objects']} objects, {temp['payloads']} payloads in the bucket",
        f"recovered: {', '.join(f'{v} {k}' for k, v in r['recoveries'].items())}",
        f"warnings:  {sum(r['log_warnings'].values())} warning/error lines in the task logs",
        *(f"  {count:4d} x {text}" for text, count in list(r["log_warnings"].items())[:15]),
        f"findings:  {len(r['findings'])}",
        *(f"  - {f}" for f in r["findings"]),
        f"wall time: {r['wall_seconds']}",
        "=======================================================",
    ]
    return "\n".join(lines)


#: Known findings (docs/reliability.md) a caller may tolerate: leftovers of writers killed mid-commit that nothing
#: ever cleans up (the store's lifecycle rule aside). The long soak tolerates none: they are reported as violations.
LEASE_LEAK = "lease-leak"  # finding 2: a .lock lease (and a pending sidecar beside it) no later write breaks
MULTIPART_LEAK = "multipart-leak"  # finding 3: an open multipart upload of a killed writer


def invariant_violations(report: dict[str, Any], tolerate: tuple[str, ...] = ()) -> list[str]:
    """What breaks the soak's invariants (the script exits 1 when there is any).

    ``tolerate``: known findings not counted (:data:`LEASE_LEAK`, :data:`MULTIPART_LEAK`); a pending sidecar of a
    live value is tolerated with :data:`LEASE_LEAK` only where the lease of its killed writer is left beside it."""
    bad = []
    if report["values"]["rows"] == 0:
        bad.append("no value was read")
    bad += [f"value: {e}" for e in report["findings"] if e.startswith(("value check", "after gc -y"))]
    gc = report["gc"]
    if gc["cli"]["exit_code"] != 0 or gc["cli"]["expired"] != 0:
        bad.append(f"gc: {gc['cli']}")
    if gc["in_process"]["orphans_referenced"] or gc["in_process"]["errors"]:
        bad.append(f"gc: {gc['in_process']['orphans_referenced']} {gc['in_process']['errors']}")
    temp = report["temp_objects"]
    if temp["multipart_uploads"] and MULTIPART_LEAK not in tolerate:
        bad.append(f"open multipart uploads: {temp['multipart_uploads']}")
    if temp["locks"] and LEASE_LEAK not in tolerate:
        bad.append(f"commit leases left: {temp['locks']}")
    pending = temp["pending_sidecars_referenced"]
    if LEASE_LEAK in tolerate:
        locks = set(temp["locks"])
        pending = [k for k in pending if k.removesuffix(".meta.json") + ".lock" not in locks]
    if pending:
        bad.append(f"sidecars of live values still pending: {pending}")
    return bad


# ================================================================================================== main


def parse_args(argv: list[str]) -> tuple[Settings, argparse.Namespace]:
    parser = argparse.ArgumentParser(prog="soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--kill-every", type=float, default=45.0, help="mean seconds between kills (0: none)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-kills", type=int, default=None)
    parser.add_argument("--slots", type=int, default=3)
    parser.add_argument("--max-active-runs", type=int, default=3)
    parser.add_argument("--heartbeat-timeout", type=int, default=12)
    parser.add_argument("--aim", type=float, default=0.5, help="share of kills aimed at a commit in flight")
    parser.add_argument(
        "--store-delay", type=float, default=0.4, help="max seconds each S3 write waits first"
    )
    parser.add_argument("--aim-at", default="", help="aim only at leases whose key contains this (/targets/)")
    parser.add_argument("--sleep", default="1,4", help="low,high seconds a task body sleeps")
    parser.add_argument("--timeout", type=float, default=None)
    parser.add_argument("--collect", action="store_true", help="also run gc -y and read every value again")
    parser.add_argument("--report", help="write the report as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the process logs")
    args = parser.parse_args(argv)
    low, high = (float(x) for x in args.sleep.split(","))
    settings = Settings(
        runs=args.runs,
        kill_every=args.kill_every,
        seed=args.seed,
        max_kills=0 if args.kill_every <= 0 else args.max_kills,
        slots=args.slots,
        max_active_runs=args.max_active_runs,
        heartbeat_timeout=args.heartbeat_timeout,
        aim=args.aim,
        store_delay=args.store_delay,
        aim_at=args.aim_at,
        sleep=(low, high),
        timeout=args.timeout,
        collect=args.collect,
    )
    return settings, args


def main(argv: list[str]) -> int:
    if argv[:1] == ["verify"]:
        verify_main(*argv[1:3])
        return 0
    settings, args = parse_args(argv)
    command = "bash scripts/soak.sh " + " ".join(argv)
    os.chdir(ROOT)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import tests.conftest as suite  # its temporary AIRFLOW_HOME is removed below
    from tests import local_servers

    wall = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="results-soak-"))
    port = local_servers.free_port()
    endpoint = local_servers.s3_endpoint(port)
    moto_log = open(root / "moto.log", "w")  # noqa: SIM115 - closed below
    moto = local_servers.start(local_servers.moto_command(port), "moto_server", port, moto_log)
    stack = None
    code = 1
    try:
        s3 = local_servers.s3_client(endpoint)
        s3.create_bucket(Bucket=SOAK_BUCKET)
        stack = make_stack(root / "stack", endpoint, settings)
        print(f"soak: starting the Celery stack in {root} (logs: {stack.logs})")
        stack.start()
        wait_for_dag(stack)
        startup = time.monotonic() - wall
        print(f"soak: stack up after {startup:.0f} s")
        report = Soak(stack, s3, SOAK_BUCKET, settings).run()
        report["command"] = command
        report["wall_seconds"]["startup"] = round(startup, 1)
        report["wall_seconds"]["total"] = round(time.monotonic() - wall, 1)
        print(summary(report))
        if args.report:
            Path(args.report).write_text(json.dumps(report, indent=2, default=str))
        violations = invariant_violations(report)
        for violation in violations:
            print(f"INVARIANT VIOLATED: {violation}")
        code = 1 if violations else 0
    finally:
        if stack is not None:
            stack.stop()
        local_servers.stop(moto)
        moto_log.close()
        if args.keep or code:
            print(f"soak: logs kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(suite._AIRFLOW_HOME, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

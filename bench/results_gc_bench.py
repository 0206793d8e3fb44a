"""`airflow results gc` scanning a store of N stored results (payload + metadata sidecar each), of which the
metadata DB references 1 in 100: wall time and peak RSS of the dry run and of the deleting run, each in a fresh
process (RSS before the scan is printed too, to show what the scan adds).

    .venv/bin/python bench/results_gc_bench.py [--objects 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Every process of a benchmark is one deployment: one signing key (Airflow makes one up per process).
os.environ.setdefault("AIRFLOW__API__SECRET_KEY", "bench-deployment-key")

CHILD = r"""
import json, resource, sys, time
from argparse import Namespace
from airflow_results_provider.cli import commands
from airflow_results_provider import index
from airflow.utils.session import create_session
with create_session() as session:  # warm: imports and the DB connection
    list(index.iter_records(session, index.Filters(), order_newest=True, limit=1))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
commands.gc_results(Namespace(store=[sys.argv[1]], older_than=None, keep_last=None, no_orphans=False,
                              include_checkpoints=False, yes=sys.argv[2] == "yes", grace="0s"))
elapsed = time.perf_counter() - start
print(json.dumps({"seconds": elapsed, "rss_before_mb": before / 1024,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def populate(store: Path, objects: int, env: dict[str, str]) -> None:
    """N payloads the XCom backend wrote (signed sidecars saying ``owner: xcom``), 1 in 100 referenced by an
    XCom envelope row: the other 99 are orphans."""
    code = r"""
import hashlib, json, sys
from pathlib import Path
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session
from airflow_results_provider import config
from airflow_results_provider.core.signing import sign_record
from airflow_results_provider.xcom._envelope import build_envelope
store, n = Path(sys.argv[1]), int(sys.argv[2])
key = config.envelope_signing_key()
rows = []
for i in range(n):
    d = store / "xcom" / f"dag{i % 50}" / f"run{i // 1000}"
    d.mkdir(parents=True, exist_ok=True)
    payload = b'{"i": %d}' % i
    (d / f"t{i}.json").write_bytes(payload)
    uri, digest = (d / f"t{i}.json").as_uri(), hashlib.sha256(payload).hexdigest()
    meta = {"result": "LocalResult", "location": uri, "serializer": "json", "size": len(payload), "sha256": digest,
            "owner": "xcom"}
    meta["signature"] = sign_record(kind="result", uri=uri, serializer="json", owner="xcom", digests=[digest],
                                    signing_key=key)
    (d / f"t{i}.json.meta.json").write_text(json.dumps(meta))
    if i % 100 == 0:
        rel = str((d / f"t{i}.json").relative_to(store))
        rows.append(build_envelope(metadata=meta, store=store.as_uri(), key=rel, owner="xcom", dag_id=f"dag{i % 50}",
                                   task_id=f"t{i}", run_id="r", map_index=-1, xcom_key="return_value", signing_key=key))
with create_session() as session:
    from sqlalchemy import insert, text
    session.execute(text("PRAGMA foreign_keys=OFF"))  # rows without DAG runs: only the index matters here
    session.execute(insert(XComModel.__table__), [
        {"dag_run_id": 1, "task_id": r["task_id"], "map_index": -1, "key": "return_value", "dag_id": r["dag_id"],
         "run_id": "r", "value": json.dumps(r), "timestamp": __import__("datetime").datetime.now(__import__("datetime").timezone.utc)} for r in rows])
"""
    subprocess.run([sys.executable, "-c", code, str(store), str(objects)], env=env, check=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=100_000)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="results-gc-bench-"))
    store = home / "store"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__API__SECRET_KEY": "bench",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    }
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    start = time.perf_counter()
    populate(store, args.objects, env)
    print(f"{args.objects:,} stored results written in {time.perf_counter() - start:.1f} s")
    for mode in ("dry-run", "yes"):
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, store.as_uri(), mode],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        lines = proc.stdout.strip().splitlines()
        stats = json.loads(lines[-1])
        summary = next(line for line in lines if line.startswith(("Would delete", "Deleted")))
        print(
            f"gc {mode:8} {stats['seconds']:6.1f} s, peak RSS {stats['peak_rss_mb']:.0f} MB "
            f"(before the scan {stats['rss_before_mb']:.0f} MB): {summary}"
        )


if __name__ == "__main__":
    main()

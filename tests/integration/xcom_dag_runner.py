"""Run DAGs with dag.test() in a fresh process, so the XCom backend configured through environment variables
is picked up before Airflow is imported. Prints one JSON line: {dag_id: [{"run_id", "states"}, ...]}.

    python -m tests.integration.xcom_dag_runner DAG_FILE STEP [STEP ...]

A STEP is ``run:<dag_id>`` (a new dag.test run) or ``clear:<dag_id>:<task_id>[,<task_id>]`` (clear those
tasks in the last run of that DAG and run what is left, as a scheduler would).
"""

from __future__ import annotations

import json
import sys


def bytes_read() -> int:
    """Bytes this process has read through read() calls so far (``rchar`` of /proc/self/io: files, sockets,
    pipes; dag.test runs every task in this process)."""
    with open("/proc/self/io") as io:
        return next(int(line.split()[1]) for line in io if line.startswith("rchar:"))


def main() -> None:
    from airflow.dag_processing.dagbag import DagBag

    from tests.dag_runner import DagRunner

    dag_file, steps = sys.argv[1], sys.argv[2:]
    bag = DagBag(dag_folder=dag_file)
    if bag.import_errors:
        raise SystemExit(f"import errors: {bag.import_errors}")
    runner = DagRunner(dags_folder=None)  # type: ignore[arg-type]
    out: dict[str, list] = {}
    last = {}
    for step in steps:
        action, dag_id, *rest = step.split(":")
        dag = bag.get_dag(dag_id)
        read_before = bytes_read()
        if action == "run":
            run, states = runner.run(dag)
        else:
            run, states = runner.clear_and_resume(dag, last[dag_id], rest[0].split(","))
        last[dag_id] = run
        out.setdefault(dag_id, []).append(
            {
                "run_id": run.run_id,
                "bytes_read": bytes_read() - read_before,
                "states": {str(k) if isinstance(k, str) else f"{k[0]}[{k[1]}]": v for k, v in states.items()},
            }
        )
    print("RESULT-JSON " + json.dumps(out))


if __name__ == "__main__":
    main()

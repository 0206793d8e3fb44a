"""Run the example DAGs (all, or those named as arguments) twice with ``dag.test()`` in one process and report what the second run skipped.

Called by ``scripts/demo.sh`` with AIRFLOW_HOME and the dags folder already set in the environment.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main() -> int:
    from airflow.dag_processing.dagbag import DagBag

    summary = open(os.environ.get("RESULTS_DEMO_SUMMARY", "/dev/stdout"), "w")  # noqa: SIM115

    def say(*args, file=None):  # the summary goes apart from Airflow's task logs
        print(*args, file=summary if file is None else file, flush=True)

    work_log = Path(os.environ["RESULTS_DEMO_WORK_LOG"])
    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        for path, error in bag.import_errors.items():
            say(f"import error in {path}:\n{error}", file=sys.stderr)
        return 1
    ok = True
    for dag_id in sys.argv[1:] or sorted(bag.dag_ids):
        dag = bag.get_dag(dag_id)
        for attempt in (1, 2):
            work_log.write_text("")
            run = dag.test()
            executed = [line for line in work_log.read_text().splitlines() if line]
            states = {ti.task_id: ti.state for ti in run.get_task_instances()}
            say(f"{dag_id} run {attempt}: state={run.state} tasks={states}")
            say(
                f"    tasks that did the work: {executed or 'none (every value came from its target or the cache)'}"
            )
            ok &= str(run.state) == "success"
            if attempt == 2 and executed:
                say("    expected the second run to find every result at its target", file=sys.stderr)
                ok = False
    results = Path(os.environ["AIRFLOW__RESULTS__LOCAL_DIR"])
    payloads = sorted(p for p in results.rglob("*") if p.is_file() and not p.name.endswith(".meta.json"))
    say(f"\n{len(payloads)} results on disk under {results} (each with a .meta.json sidecar), e.g.:")
    for path in payloads[:: max(1, len(payloads) // 12)]:
        say(f"    {path.relative_to(results)}  ({path.stat().st_size} bytes)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

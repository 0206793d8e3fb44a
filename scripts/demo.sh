#!/usr/bin/env bash
# The demo: install, make an embedded SQLite Airflow home under .demo/, run the example DAGs twice with
# dag.test() and show that the second run found every result at its target and skipped the work.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/bootstrap.sh"
DEMO="$ROOT/.demo"
rm -rf "$DEMO"
mkdir -p "$DEMO/airflow_home"
export AIRFLOW_HOME="$DEMO/airflow_home"
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/example_dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="sqlite:///$DEMO/airflow_home/airflow.db"
export AIRFLOW__RESULTS__LOCAL_DIR="$DEMO/results"
export RESULTS_DEMO_WORK_LOG="$DEMO/work.log"
echo "==> airflow db migrate (SQLite in $AIRFLOW_HOME)" >&2
"$ROOT/.venv/bin/airflow" db migrate >"$DEMO/db-migrate.log" 2>&1 || { cat "$DEMO/db-migrate.log"; exit 1; }
echo "==> running the example DAGs twice" >&2
export RESULTS_DEMO_SUMMARY="$DEMO/summary.txt"
status=0
"$ROOT/.venv/bin/python" "$ROOT/scripts/demo_run.py" "$@" >"$DEMO/dag-test.log" 2>&1 || status=$?
echo "==> task log lines about targets (full log: .demo/dag-test.log)" >&2
grep -o "Result found at task target [^ ]*" "$DEMO/dag-test.log" | sed 's/^/    /' || true
echo
cat "$DEMO/summary.txt"
if [ "$status" -ne 0 ]; then tail -40 "$DEMO/dag-test.log"; fi
exit "$status"

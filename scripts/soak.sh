#!/usr/bin/env bash
# The soak of issue 21 (docs/reliability.md): many runs of soak_pipeline on the Celery stack of tests/e2e_celery
# (PostgreSQL, Redis, two Celery workers, S3 on moto_server, the Result XCom backend) while a worker is SIGKILLed
# mid-task at random intervals and restarted; then every value, gc's dry run and the bucket's temp objects are
# checked. Options (tests/e2e_celery/soak.py): --runs N --kill-every SECONDS --seed S [--max-kills K] [--collect]
# [--report FILE] [--keep]. Exits 1 when an invariant is violated.
#   bash scripts/soak.sh --runs 30
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# The virtualenv, Redis and PostgreSQL (scripts/bootstrap.sh installs what is missing).
if [ ! -x .venv/bin/python ] || ! command -v redis-server >/dev/null 2>&1 \
  || ! compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; then
  bash scripts/bootstrap.sh
fi
exec .venv/bin/python -m tests.e2e_celery.soak "$@"

#!/usr/bin/env bash
# The whole test suite: lint, format check, pytest (unit + integration + e2e + release), then the version
# matrix (scripts/matrix.sh). Extra args go to pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest "$@"
# The version matrix (README, "Supported versions") after the whole suite; a run with pytest arguments is a
# partial one and skips it unless RESULTS_MATRIX=1 (RESULTS_MATRIX=0 always skips it).
if [ "${RESULTS_MATRIX:-$([ $# -eq 0 ] && echo 1 || echo 0)}" = 1 ]; then
  exec bash scripts/matrix.sh
fi

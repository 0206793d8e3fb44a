#!/usr/bin/env bash
# The whole test suite: lint, format check, pytest (unit + integration + e2e + release) on pytest-xdist
# workers, then the version matrix (scripts/matrix.sh), whose virtualenvs are built while pytest runs.
# Extra args go to pytest. RESULTS_TEST_WORKERS sets the number of xdist workers (default 3: on 2 cores a
# third worker fills the time the others spend waiting for services; 0 runs in one process).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
# The matrix (README, "Supported versions") runs after the whole suite; a run with pytest arguments is a
# partial one and skips it unless RESULTS_MATRIX=1 (RESULTS_MATRIX=0 always skips it).
matrix="${RESULTS_MATRIX:-$([ $# -eq 0 ] && echo 1 || echo 0)}"
if [ "$matrix" = 1 ]; then
  mkdir -p .venv-matrix
  bash scripts/matrix.sh setup >.venv-matrix/setup.log 2>&1 &
  setup_pid=$!
fi
.venv/bin/ruff check .
.venv/bin/ruff format --check .
# The layers and import contracts of pyproject.toml ([tool.importlinter]; docs/architecture.md).
.venv/bin/lint-imports --no-cache
workers="${RESULTS_TEST_WORKERS:-3}"
xdist=()
[ "$workers" = 0 ] || xdist=(-n "$workers" --dist loadfile)
.venv/bin/python -m pytest "${xdist[@]}" --durations=20 "$@"
if [ "$matrix" = 1 ]; then
  if ! wait "$setup_pid"; then
    cat .venv-matrix/setup.log >&2
    echo "matrix: building the virtualenvs failed" >&2
    exit 1
  fi
  exec bash scripts/matrix.sh run
fi

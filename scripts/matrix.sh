#!/usr/bin/env bash
# Version matrix (README, "Supported versions"): the unit tests and the dag.test integration layer on the
# minimum supported Airflow and on the newest, on the oldest and on the newest supported Python. Each leg is a
# uv virtualenv under .venv-matrix/<leg>, created here and reused while its stamp (inputs' hash) matches.
#
#   leg              Python  dependencies
#   airflow-floor    3.10    requirements/matrix/airflow-floor.txt: the Airflow floor of pyproject.toml with
#                            the dependency versions of its release day (what Airflow's constraints gave then)
#   python-newest    3.13    requirements/constraints.txt: the newest Airflow, as the main .venv (unit tests)
#   airflow-newest   3.12    the newest Airflow the registry serves, pre-releases allowed (NEWEST_AIRFLOW, today
#                            3.4.0b2), resolved without constraints; also runs the Results UI standalone e2e
#   (main .venv)     3.11    the newest Airflow; run by scripts/test.sh before this script
#
#   bash scripts/matrix.sh                 # every leg
#   bash scripts/matrix.sh airflow-floor   # one leg
#   bash scripts/matrix.sh setup [LEG...]  # only build (or reuse) the legs' virtualenvs
#   bash scripts/matrix.sh run [LEG...]    # only run the legs (their virtualenvs must be built)
#   bash scripts/matrix.sh lock            # re-resolve requirements/matrix/airflow-floor.txt
# RESULTS_MATRIX_TESTS overrides the test paths (space separated), RESULTS_MATRIX_TIMEOUT a leg's pytest time
# limit in seconds (default 1800). Needs .venv (scripts/bootstrap.sh) for uv,
# and the interpreters python3.10 and python3.13 (on PATH or under pyenv: uv cannot download Pythons here).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
UV="$ROOT/.venv/bin/uv"
MATRIX_DIR="$ROOT/.venv-matrix"
FLOOR_LOCK="requirements/matrix/airflow-floor.txt"
# The floor and the day after its release on PyPI (dependencies are resolved as of that day).
FLOOR_AIRFLOW="3.2.2"
FLOOR_RELEASED="2026-05-30"
# The newest Airflow the registry serves (pre-releases allowed for this leg only): raise it with each release.
NEWEST_AIRFLOW="3.4.0b2"
# Deselected in the legs until it is fixed: on the floor leg (Python 3.10), under load, a forked writer died
# and the parent waited on its Barrier forever (twice in 3 runs; it passes alone). The main suite still runs it.
DESELECT=(--deselect tests/unit/security/test_crash_safety.py::test_concurrent_writers_leave_one_writers_payload_with_its_metadata)
read -r -a TESTS <<<"${RESULTS_MATRIX_TESTS:-tests/unit tests/integration/test_checkpointing_dags.py tests/integration/test_xcom_backend.py tests/integration/test_large_values_display.py tests/integration/test_results_cli.py tests/integration/test_native_loops.py tests/integration/test_xcom_backend_loops.py tests/integration/test_cache_policies_dags.py}"
# the newest Airflow also runs the Results UI under `airflow standalone`
NEWEST_EXTRA_TESTS=(tests/e2e/test_standalone_results_ui.py)

find_python() { # find_python 3.10 -> path of a python3.10 interpreter
  local minor="$1" candidate
  for candidate in "$(command -v "python$minor" || true)" \
    "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$minor".*/bin/"python$minor" \
    /root/.pyenv/versions/"$minor".*/bin/"python$minor" /usr/bin/"python$minor"; do
    # (a pyenv shim on PATH exists but fails when that version is not selected: run it to be sure)
    if [ -n "$candidate" ] && [ -x "$candidate" ] && "$candidate" -c '' >/dev/null 2>&1; then
      echo "$candidate"
      return 0
    fi
  done
  echo "matrix: no python$minor interpreter found (PATH, pyenv)" >&2
  return 1
}

leg_python() {
  case "$1" in
    airflow-floor) echo 3.10 ;;
    python-newest) echo 3.13 ;;
    airflow-newest) echo 3.12 ;;
    *) echo "matrix: unknown leg $1" >&2 && return 1 ;;
  esac
}

lock_floor() {
  local py
  py="$(find_python 3.10)"
  mkdir -p "$(dirname "$FLOOR_LOCK")"
  "$UV" pip compile --quiet pyproject.toml requirements/matrix.in --extra pandas --extra compression \
    --constraint <(echo "apache-airflow==$FLOOR_AIRFLOW") --exclude-newer "$FLOOR_RELEASED" \
    --no-annotate --python "$py" --custom-compile-command "bash scripts/matrix.sh lock" --output-file "$FLOOR_LOCK"
  echo "matrix: wrote $FLOOR_LOCK (apache-airflow==$FLOOR_AIRFLOW as of $FLOOR_RELEASED)" >&2
}

setup_leg() { # setup_leg <leg>: create or reuse .venv-matrix/<leg>
  local leg="$1" minor py venv stamp
  minor="$(leg_python "$leg")"
  py="$(find_python "$minor")"
  venv="$MATRIX_DIR/$leg"
  stamp="$(cat "$0" pyproject.toml requirements/matrix-e2e.in requirements/matrix.in requirements/constraints.txt "$FLOOR_LOCK" \
    <("$py" -VV) | sha256sum | cut -c1-16)"
  if [ -f "$venv/.stamp-$stamp" ]; then
    return 0
  fi
  echo "==> matrix: creating $venv ($("$py" -V))" >&2
  rm -rf "$venv"
  "$UV" venv --quiet --python "$py" "$venv"
  case "$leg" in
    airflow-floor)
      # the lock's versions; a dependency added to pyproject.toml since the last `lock` still installs
      # (unpinned) until the lock is refreshed
      "$UV" pip install --quiet --python "$venv/bin/python" -c "$FLOOR_LOCK" -r requirements/matrix.in \
        -e ".[pandas,compression]"
      ;;
    python-newest) # the checkout, editable: its entry points register the provider and its config
      "$UV" pip install --quiet --python "$venv/bin/python" -c requirements/constraints.txt \
        -r requirements/matrix.in -e ".[pandas,compression]"
      ;;
    airflow-newest)
      "$UV" pip install --quiet --python "$venv/bin/python" --prerelease=allow "apache-airflow==$NEWEST_AIRFLOW" \
        -r requirements/matrix.in -r requirements/matrix-e2e.in -e ".[pandas,compression]"
      ;;
  esac
  touch "$venv/.stamp-$stamp"
}

run_leg() { # run_leg <leg> <log>: pytest of TESTS in the leg's venv, output to <log>
  local leg="$1" log="$2" venv="$MATRIX_DIR/$1" tests=("${TESTS[@]}")
  if [ -z "${RESULTS_MATRIX_TESTS:-}" ]; then
    case "$leg" in
      airflow-newest) tests+=("${NEWEST_EXTRA_TESTS[@]}") ;;
      # the main .venv's Airflow on the newest Python: what the Python version can change is unit-level
      python-newest) tests=(tests/unit) ;;
    esac
  fi
  {
    echo "==> matrix leg $leg: $("$venv/bin/python" -V), apache-airflow $("$venv/bin/python" -c \
      'import importlib.metadata as m; print(m.version("apache-airflow"))')"
    # a hung test fails its leg instead of blocking CI
    timeout --kill-after=30 "${RESULTS_MATRIX_TIMEOUT:-1800}" \
      "$venv/bin/python" -m pytest -q -p no:cacheprovider "${DESELECT[@]}" "${tests[@]}"
  } >"$log" 2>&1
}

if [ "${1:-}" = lock ]; then
  lock_floor
  exit 0
fi

action=all
case "${1:-}" in
  setup | run) action="$1" && shift ;;
esac
LEGS=("$@")
[ ${#LEGS[@]} -gt 0 ] || LEGS=(airflow-floor python-newest airflow-newest)
if [ "$action" != run ]; then
  for leg in "${LEGS[@]}"; do
    setup_leg "$leg"
  done
fi
[ "$action" != setup ] || exit 0

# The legs run side by side (each has its own AIRFLOW_HOME from tests/conftest.py), but airflow-newest starts
# when the others are done: its `airflow standalone` e2e timed out on 2 cores shared with two other legs. Logs are
# shown in order.
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
declare -A pids started
for leg in "${LEGS[@]}"; do
  if [ "$leg" = airflow-newest ]; then
    for other in "${!pids[@]}"; do
      wait "${pids[$other]}" 2>/dev/null || true
    done
  fi
  started[$leg]=$SECONDS
  run_leg "$leg" "$logs/$leg.log" &
  pids[$leg]=$!
done
failed=()
summary=()
for leg in "${LEGS[@]}"; do
  rc=0
  wait "${pids[$leg]}" || rc=$?
  cat "$logs/$leg.log"
  summary+=("matrix leg $leg: $([ $rc -eq 0 ] && echo passed || echo "FAILED (exit $rc)") in $((SECONDS - started[$leg]))s")
  [ $rc -eq 0 ] || failed+=("$leg")
done
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "matrix: failed legs: ${failed[*]}" >&2
  exit 1
fi

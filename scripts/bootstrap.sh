#!/usr/bin/env bash
# Create (or reuse) the project virtualenv in .venv with Airflow, this package and the test tools.
# Needs only python3. Installs with uv (fetched from PyPI), pinned by requirements/constraints.txt.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${RESULTS_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"

# System packages the end-to-end Celery suite starts (tests/e2e_celery): Redis as the broker, PostgreSQL as
# the metadata DB. Installed from Debian's packages only when missing; their services are not started here.
missing_debs=()
command -v redis-server >/dev/null 2>&1 || missing_debs+=(redis-server)
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || missing_debs+=(postgresql)
# Headless Chromium and its WebDriver for the Results UI test (tests/e2e/test_standalone_results_ui.py).
command -v chromium >/dev/null 2>&1 || missing_debs+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing_debs+=(chromium-driver)
if [ ${#missing_debs[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "==> installing ${missing_debs[*]} (apt-get)" >&2
    $SUDO apt-get update -qq >&2
    policy_rc=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then  # do not start the packages' system services
      policy_rc=/usr/sbin/policy-rc.d
      printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy_rc" >/dev/null
      $SUDO chmod +x "$policy_rc"
    fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing_debs[@]}" >&2
    [ -z "$policy_rc" ] || $SUDO rm -f "$policy_rc"
  else
    echo "==> warning: ${missing_debs[*]} missing and no apt-get: tests/e2e_celery will fail" >&2
  fi
fi

if [ ! -x "$PY" ]; then
  echo "==> creating virtualenv $VENV" >&2
  if ! python3 -m venv "$VENV" 2>/dev/null; then
    # Debian's python3 without python3-venv: fall back to uv's own venv.
    rm -rf "$VENV"
    python3 -m pip install --quiet --user uv
    python3 -m uv venv --quiet --seed "$VENV"
  fi
fi

stamp_src="$(cat "$ROOT/pyproject.toml" "$ROOT/requirements/constraints.txt" | sha256sum | cut -c1-16)"
stamp="$VENV/.bootstrap-$stamp_src"
if [ ! -f "$stamp" ]; then
  echo "==> installing airflow-results-provider and its test tools (uv)" >&2
  if [ ! -x "$VENV/bin/uv" ]; then
    "$PY" -m pip install --quiet --disable-pip-version-check uv
  fi
  "$VENV/bin/uv" pip install --quiet --python "$PY" \
    -c "$ROOT/requirements/constraints.txt" -e "$ROOT[dev]"
  rm -f "$VENV"/.bootstrap-*
  touch "$stamp"
fi

# Azurite (the Azure Blob emulator the tests start) comes from npm into ./node_modules.
if command -v npm >/dev/null 2>&1 && [ ! -x "$ROOT/node_modules/.bin/azurite-blob" ]; then
  echo "==> installing Azurite (npm)" >&2
  npm install --silent --no-audit --no-fund --no-save --prefix "$ROOT" azurite@3.37.0 >&2
fi

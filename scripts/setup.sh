#!/usr/bin/env bash
# Set up everything idiflow needs on a fresh Debian machine: a virtualenv with the package and its
# test tools, and (with --system) the Debian packages the tests use (PostgreSQL, chromium).
set -euo pipefail
cd "$(dirname "$0")/.."

want_system=0
for arg in "$@"; do [ "$arg" = "--system" ] && want_system=1; done

if [ "$want_system" = 1 ]; then
  need=()
  command -v /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
  [ -x /usr/bin/chromium ] || need+=(chromium)
  [ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
  fc-list 2>/dev/null | grep -qi "noto.*cjk\|wqy" || need+=(fonts-noto-cjk)
  if [ ${#need[@]} -gt 0 ]; then
    echo "==> installing Debian packages: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PY" -m venv .venv
fi
echo "==> installing Python packages"
.venv/bin/pip install -q --disable-pip-version-check -e ".[test]" 2>&1 | grep -v "^WARNING: Location" || true
if [ -f web/static/package.json ] && command -v npm >/dev/null 2>&1; then
  echo "==> installing front-end assets (npm)"
  (cd web/static && npm install --no-audit --no-fund --silent >/dev/null)
fi

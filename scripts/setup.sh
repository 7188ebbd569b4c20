#!/usr/bin/env bash
# Set up everything idiflow needs on a fresh Debian machine: a virtualenv with the package and its
# test tools, and (with --system) the Debian packages the tests use (PostgreSQL, chromium).
set -euo pipefail
cd "$(dirname "$0")/.."

want_system=0
for arg in "$@"; do [ "$arg" = "--system" ] && want_system=1; done

if [ "$want_system" = 1 ]; then
  need=()
  # The tests start their own PostgreSQL server with initdb/pg_ctl (tests/pg.py); they never use the
  # cluster Debian's package may create and start on port 5432.
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
  [ -x /usr/bin/chromium ] || need+=(chromium)
  [ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
  fc-list 2>/dev/null | grep -qi "noto.*cjk\|wqy" || need+=(fonts-noto-cjk)
  if [ ${#need[@]} -gt 0 ]; then
    echo "==> installing Debian packages: ${need[*]}"
    sudo=()
    if [ "$(id -u)" != 0 ]; then
      command -v sudo >/dev/null 2>&1 || { echo "setup.sh: need root (or sudo) to apt-get install ${need[*]}" >&2; exit 1; }
      sudo=(sudo)
    fi
    apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get)
    "${apt[@]}" update -qq >/dev/null
    "${apt[@]}" install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PY" -m venv .venv
fi
echo "==> installing Python packages"
if ! pip_log=$(.venv/bin/pip install -q --disable-pip-version-check -e ".[test]" 2>&1); then
  echo "$pip_log" >&2
  echo "setup.sh: pip install failed" >&2
  exit 1
fi
printf '%s\n' "$pip_log" | grep -v "^WARNING: Location\|^$" || true
if [ -f web/static/package.json ] && command -v npm >/dev/null 2>&1; then
  echo "==> installing front-end assets (npm)"
  (cd web/static && npm install --no-audit --no-fund --silent >/dev/null)
fi
echo "==> compiling message catalogs (Flask-Babel)"
.venv/bin/pybabel -q compile -d web/translations -f || echo "setup.sh: pybabel compile failed; the app compiles its catalogs at start" >&2

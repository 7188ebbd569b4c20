#!/usr/bin/env bash
# Set up everything (Python packages, PostgreSQL, chromium), then run the lint and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --system
# The suite starts its own PostgreSQL (tests/pg.py) and runs every database test on SQLite and PostgreSQL.
# Without PostgreSQL binaries those runs are skipped, except under CI=true (.ci/run), where they fail.
echo "==> PostgreSQL binaries: $(compgen -G '/usr/lib/postgresql/*/bin' | sort -V | tail -1 || echo 'none')"
echo "==> ruff"
.venv/bin/ruff check engine handlers web tests bench
echo "==> pytest"
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"

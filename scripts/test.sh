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
.venv/bin/python -m pytest -p no:cacheprovider "$@"
if [ $# -eq 0 ]; then
    # Each process keeps committed workflows for the next unit of work (engine/live.py), so most engine tests
    # above run on kept ones; these run again rebuilding every workflow from its row, as after a restart.
    echo "==> pytest: engine, timer and concurrency tests again, nothing kept in memory (IDIFLOW_LIVE_CACHE_MB=0)"
    IDIFLOW_LIVE_CACHE_MB=0 .venv/bin/python -m pytest -p no:cacheprovider -q tests/test_engine_*.py \
        tests/test_timers*.py tests/test_claim_concurrency.py tests/test_concurrency.py tests/test_policy_lifecycle.py
fi

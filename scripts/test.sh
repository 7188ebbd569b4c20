#!/usr/bin/env bash
# Set up everything (Python packages, PostgreSQL, chromium), then run the lint and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --system
echo "==> ruff"
.venv/bin/ruff check engine handlers web tests bench
echo "==> pytest"
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"

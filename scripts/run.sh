#!/usr/bin/env bash
# Set up, then start idiflow on its embedded default: a SQLite file, demo data, deployed diagrams.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export IDIFLOW_DATABASE_URL=${IDIFLOW_DATABASE_URL:-sqlite:///var/idiflow.db}
.venv/bin/idiflow init-db
.venv/bin/idiflow demo --if-empty
PORT=${PORT:-5000}
echo "==> idiflow is starting: open http://127.0.0.1:${PORT}/"
exec .venv/bin/idiflow serve --host 127.0.0.1 --port "$PORT"

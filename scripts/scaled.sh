#!/usr/bin/env bash
# Scaled mode: idiflow on PostgreSQL with N gunicorn web workers and M `idiflow worker` timer sweepers.
#
#   bash scripts/scaled.sh [--web N] [--workers M] [--threads T] [--port P] [--demo] [--no-setup]
#
# --threads T: threads per web worker (default 4: a request waiting on PostgreSQL leaves the core to another).
#
# IDIFLOW_DATABASE_URL=postgresql://user:pass@host:5432/db   use that database (migrated first), or leave it
#   unset and a local PostgreSQL cluster is created in var/pg (bound to 127.0.0.1, port IDIFLOW_PG_PORT,
#   default 55432) and started; it is stopped again when this script stops.
# Migrations run first (`idiflow init-db`); the diagrams in workflows/ are deployed (unchanged ones stay
# at their version); --demo seeds the demo data instead (`idiflow demo --if-empty`).
# Ctrl-C (or SIGTERM) stops everything. An `idiflow worker` that dies is restarted; gunicorn restarts its
# own web workers. Metrics of every process: http://127.0.0.1:P/metrics. Logs: one JSON object per line.
# IDIFLOW_WORKER_ARGS: options for each `idiflow worker` (see `idiflow worker --help`).
# Pid files for tooling (bench/faults.py): var/run/gunicorn.pid, var/run/worker-<i>.pid (IDIFLOW_RUN_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

WEB=${IDIFLOW_WEB_WORKERS:-2}
WORKERS=${IDIFLOW_WORKERS:-2}
PORT=${IDIFLOW_PORT:-8000}
THREADS=${IDIFLOW_WEB_THREADS:-4}
DEMO=0
SETUP=1
while [ $# -gt 0 ]; do
  case "$1" in
    --web) WEB=$2; shift 2 ;;
    --workers) WORKERS=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --demo) DEMO=1; shift ;;
    --no-setup) SETUP=0; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "scaled.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

say() { echo "==> $*" >&2; }

sudo_cmd=()
[ "$(id -u)" = 0 ] || sudo_cmd=(sudo)

# --- PostgreSQL ------------------------------------------------------------------------------------
PG_STARTED=0
PG_DIR=${IDIFLOW_PG_DIR:-$ROOT/var/pg}
PG_PORT=${IDIFLOW_PG_PORT:-55432}
pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -n "$dir" ] && [ -x "$dir/initdb" ] && echo "$dir"
}
as_pg() {  # initdb and postgres refuse to run as root: run them as the postgres user then
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [ -z "${IDIFLOW_DATABASE_URL:-}" ]; then
  if [ -z "$(pg_bin)" ]; then
    say "installing PostgreSQL (Debian package)"
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      postgresql >/dev/null
  fi
  BIN=$(pg_bin)
  mkdir -p "$PG_DIR"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$PG_DIR" && chmod 700 "$PG_DIR"
  if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -w "$PG_DIR"; then
    # A checkout under a private directory (mode 700 somewhere above it): the postgres user cannot reach
    # var/pg there, so the cluster lives in the postgres user's own directory instead.
    fallback=/var/lib/postgresql/idiflow-$PG_PORT
    say "the postgres user cannot reach $PG_DIR (a parent directory is private); using $fallback"
    rmdir "$PG_DIR" 2>/dev/null || true
    PG_DIR=$fallback
    mkdir -p "$PG_DIR" && chown postgres:postgres "$PG_DIR" && chmod 700 "$PG_DIR"
  fi
  if [ ! -f "$PG_DIR/data/PG_VERSION" ]; then
    say "creating a PostgreSQL cluster in $PG_DIR/data (127.0.0.1:$PG_PORT)"
    as_pg "$BIN/initdb" -D "$PG_DIR/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
      --no-instructions >/dev/null
  fi
  # The settings live in idiflow.conf, rewritten at every start (so a cluster made by an older scaled.sh
  # gets today's). Durability stays on (fsync, synchronous_commit, full_page_writes: the fault tests count
  # on every acknowledged write surviving); the rest trims CPU: rare checkpoints write fewer full-page
  # images to the WAL, no JIT compilation for the metrics' counting queries, index-friendly costs, and
  # an eager autovacuum: the timer and inbox tables are queues (rows leave their index range as they are
  # fired or completed), and until vacuum every scan steps over the dead entries of all of them.
  grep -q "^include_if_exists = 'idiflow.conf'" "$PG_DIR/data/postgresql.conf" \
    || printf "\n# idiflow scaled mode (scripts/scaled.sh)\ninclude_if_exists = 'idiflow.conf'\n" \
      >>"$PG_DIR/data/postgresql.conf"
  cat >"$PG_DIR/data/idiflow.conf" <<EOF
# written by scripts/scaled.sh at every start: edit there
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_DIR'
max_connections = 200
shared_buffers = 128MB
timezone = 'Asia/Shanghai'
checkpoint_timeout = 15min
max_wal_size = 2GB
wal_buffers = 16MB
jit = off
random_page_cost = 1.1
effective_cache_size = 1GB
autovacuum_naptime = 5s
autovacuum_vacuum_scale_factor = 0.01
autovacuum_vacuum_cost_limit = 2000
EOF
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$PG_DIR/data/idiflow.conf"; fi
  if ! as_pg "$BIN/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1; then
    say "starting PostgreSQL"
    as_pg "$BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 start >/dev/null
    PG_STARTED=1
  fi
  if ! as_pg "$BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = 'idiflow'" | grep -q 1; then
    as_pg "$BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres idiflow
  fi
  export IDIFLOW_DATABASE_URL="postgresql://postgres@127.0.0.1:$PG_PORT/idiflow"
fi
case "$IDIFLOW_DATABASE_URL" in
  postgresql*) ;;
  *) echo "scaled.sh: IDIFLOW_DATABASE_URL must be a postgresql:// URL (SQLite is the embedded mode)" >&2
     exit 2 ;;
esac

# --- Python packages, schema, diagrams -------------------------------------------------------------
if [ "$SETUP" = 1 ] || [ ! -x .venv/bin/gunicorn ]; then
  bash scripts/setup.sh
fi
IDIFLOW=.venv/bin/idiflow
say "migrating the schema (idiflow init-db)"
$IDIFLOW init-db
if [ "$DEMO" = 1 ]; then
  $IDIFLOW demo --if-empty
else
  # A diagram that no longer deploys must not keep the platform down: a process owner fixes it in the studio.
  $IDIFLOW deploy workflows --user scaled.sh --note "scripts/scaled.sh start" >/dev/null \
    || say "WARNING: workflows/ did not deploy (see above); the versions deployed before stay in use"
fi

# --- the processes ---------------------------------------------------------------------------------
RUN_DIR=${IDIFLOW_RUN_DIR:-$ROOT/var/run}
mkdir -p "$RUN_DIR"
mkdir -p "$ROOT/var"
if [ ! -s "$ROOT/var/secret_key" ]; then  # every web worker must sign login cookies with the same key
  (umask 077; .venv/bin/python -c 'import secrets; print(secrets.token_hex(32))' >"$ROOT/var/secret_key")
fi
export IDIFLOW_SECRET_KEY=${IDIFLOW_SECRET_KEY:-$(cat "$ROOT/var/secret_key")}
export IDIFLOW_LOG_FORMAT=${IDIFLOW_LOG_FORMAT:-json}
export PROMETHEUS_MULTIPROC_DIR=${PROMETHEUS_MULTIPROC_DIR:-$ROOT/var/prometheus}
rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
export IDIFLOW_BIND="127.0.0.1:$PORT" IDIFLOW_WEB_WORKERS="$WEB" IDIFLOW_WEB_THREADS="$THREADS"
export IDIFLOW_GUNICORN_PID="$RUN_DIR/gunicorn.pid"

STOPPING=0
GUNICORN_PID=
declare -a WORKER_PIDS=()

stop_all() {
  STOPPING=1
  say "stopping"
  [ -n "$GUNICORN_PID" ] && kill -TERM "$GUNICORN_PID" 2>/dev/null || true
  for pid in "${WORKER_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -f "$RUN_DIR"/worker-*.pid
  if [ "$PG_STARTED" = 1 ]; then
    as_pg "$BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null || true
  fi
}
trap 'stop_all; exit 0' INT TERM

start_worker() {  # $1: index
  # shellcheck disable=SC2086 # IDIFLOW_WORKER_ARGS holds several options, e.g. "--lease 10 --poll 0.5"
  IDIFLOW_SCHEDULER=0 $IDIFLOW worker ${IDIFLOW_WORKER_ARGS:-} &
  WORKER_PIDS[$1]=$!
  echo "${WORKER_PIDS[$1]}" >"$RUN_DIR/worker-$1.pid"
}

say "starting $WEB web worker(s) on http://127.0.0.1:$PORT/ and $WORKERS timer worker(s)"
.venv/bin/gunicorn -c web/gunicorn_conf.py 'web:create_app()' &
GUNICORN_PID=$!
for ((i = 1; i <= WORKERS; i++)); do start_worker "$i"; done

for _ in $(seq 1 120); do
  if .venv/bin/python - "$PORT" <<'EOF' 2>/dev/null; then break; fi
import sys, urllib.request
sys.exit(0 if urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/readyz", timeout=2).status == 200 else 1)
EOF
  kill -0 "$GUNICORN_PID" 2>/dev/null || { echo "scaled.sh: gunicorn exited" >&2; stop_all; exit 1; }
  sleep 0.5
done
say "idiflow (scaled) is ready: http://127.0.0.1:$PORT/  (metrics /metrics, readiness /readyz)"
echo "ready http://127.0.0.1:$PORT/"

# Supervise: restart a dead timer worker (its leased timers are taken over when the lease expires).
while [ "$STOPPING" = 0 ]; do
  if ! kill -0 "$GUNICORN_PID" 2>/dev/null; then
    echo "scaled.sh: gunicorn exited; stopping" >&2
    stop_all
    exit 1
  fi
  for ((i = 1; i <= WORKERS; i++)); do
    if ! kill -0 "${WORKER_PIDS[$i]}" 2>/dev/null; then
      wait "${WORKER_PIDS[$i]}" 2>/dev/null || true
      say "timer worker $i (pid ${WORKER_PIDS[$i]}) exited; restarting it"
      start_worker "$i"
    fi
  done
  sleep 1 &
  wait $! || true
done

"""gunicorn settings for scaled mode: `gunicorn -c web/gunicorn_conf.py 'web:create_app()'`.

Read from the environment (scripts/scaled.sh sets them):
- IDIFLOW_BIND (default 127.0.0.1:8000), IDIFLOW_WEB_WORKERS (default 2), IDIFLOW_WEB_THREADS (default 1:
  sync workers; more selects gthread workers, which keep connections alive),
- PROMETHEUS_MULTIPROC_DIR: where every process writes its metric samples (required for /metrics to show
  all workers; scaled.sh empties it at start),
- IDIFLOW_LOG_FORMAT (json by default here), IDIFLOW_HANDLER_MODULES (extra modules that register
  service-task handlers, imported in the master so every worker inherits them).
The web workers never run the timer sweeper (IDIFLOW_SCHEDULER=0): `idiflow worker` processes do.
"""

from __future__ import annotations

import importlib
import logging
import os

bind = os.environ.get("IDIFLOW_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("IDIFLOW_WEB_WORKERS", "2"))
threads = int(os.environ.get("IDIFLOW_WEB_THREADS", "1"))
worker_class = "gthread" if threads > 1 else "sync"
# Sync workers answer one request at a time; the backlog holds the rest (loopback clients reconnect cheaply).
backlog = 2048
keepalive = 5
timeout = int(os.environ.get("IDIFLOW_WEB_TIMEOUT", "30"))
graceful_timeout = 10
max_requests = 0
accesslog = os.environ.get("IDIFLOW_ACCESS_LOG") or None  # off: one line per request costs throughput
errorlog = "-"
loglevel = os.environ.get("IDIFLOW_LOG_LEVEL", "info")
pidfile = os.environ.get("IDIFLOW_GUNICORN_PID") or None
proc_name = "idiflow-web"
# The workers' heartbeat touches a file on every loop turn: keep it in memory where there is a tmpfs.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
control_socket_disable = True  # one fixed socket path per user would clash between two platforms
raw_env = ["IDIFLOW_SCHEDULER=0"]
os.environ["IDIFLOW_SCHEDULER"] = "0"


def on_starting(server) -> None:
    """In the master, before forking: logging, the metrics folder, extra handler modules."""
    from engine import logging_setup

    # The application's loggers at WARNING unless asked (alembic and friends chatter at INFO).
    logging_setup.configure(os.environ.get("IDIFLOW_APP_LOG_LEVEL", "warning").upper(),
                            fmt=os.environ.get("IDIFLOW_LOG_FORMAT", "json"), role="web")
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        os.makedirs(folder, exist_ok=True)
    else:
        logging.getLogger("idiflow.gunicorn").warning(
            "PROMETHEUS_MULTIPROC_DIR is not set: /metrics shows only the worker that answers the scrape")
    for name in filter(None, (m.strip() for m in os.environ.get("IDIFLOW_HANDLER_MODULES", "").split(","))):
        importlib.import_module(name)


def child_exit(server, worker) -> None:
    """A worker died (or was killed): retire its live-gauge files; its counters stay in the totals."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)

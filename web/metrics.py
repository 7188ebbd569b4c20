"""Prometheus metrics at /metrics: requests, task completions, timers, incidents, sweeper, queue depths.

Counters and histograms live in prometheus_client. Under gunicorn (scaled mode) every web worker and
every `idiflow worker` writes its samples to files in PROMETHEUS_MULTIPROC_DIR (set before the processes
start; scripts/scaled.sh does), and /metrics adds them up, so one scrape of any web worker shows the
whole platform. Without that variable the process's own registry is served (embedded mode).
Queue depths are not kept in memory: they are read from the database at scrape time, so they are right
whichever process changed the rows.
"""

from __future__ import annotations

import functools
import logging
import os
import time

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from engine import clock, live, runtime, timers
from engine.models import HumanTask, Incident, Timer

from .db import database

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0)
LAG_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 15.0, 60.0, 300.0, 3600.0)
#: Views that complete a human task, with the statuses that mean it was completed.
COMPLETING_VIEWS = {"api.tasks.complete": ("api", range(200, 300)),
                    "taskpage.complete": ("page", range(300, 400))}

REQUESTS = Counter("idiflow_http_requests_total", "HTTP requests by route, method and status",
                   ["method", "endpoint", "status"])
LATENCY = Histogram("idiflow_http_request_duration_seconds", "HTTP request latency by route",
                    ["method", "endpoint"], buckets=LATENCY_BUCKETS)
TASK_COMPLETIONS = Counter("idiflow_task_completions_total", "Human tasks completed over HTTP", ["channel"])
TIMER_FIRES = Counter("idiflow_timer_fires_total", "Timers handled by sweepers, by outcome", ["outcome"])
TIMER_LAG = Histogram("idiflow_timer_lag_seconds", "Time from a timer's due time to its firing",
                      buckets=LAG_BUCKETS)
SWEEP_BATCH = Histogram("idiflow_sweeper_batch_seconds", "Duration of one sweeper batch (claim, fire, retry)")
SWEEP_CLAIMED = Counter("idiflow_sweeper_claimed_total", "Timers claimed by sweeper batches")
INCIDENTS = Counter("idiflow_incidents_total", "Failures recorded as incidents (service tasks, timers)",
                    ["kind"])
INCIDENT_RETRIES = Counter("idiflow_incident_retries_total", "Incidents retried automatically by sweepers")

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def serve_metrics() -> Response:
    """GET /metrics: the Prometheus text format (all processes in multiprocess mode)."""
    body = generate_latest(process_registry()) + generate_latest(depth_registry(current_app))
    return Response(body, mimetype=CONTENT_TYPE_LATEST)


def process_registry() -> CollectorRegistry:
    """The registry to expose: every process's files in multiprocess mode, else this process's own."""
    if not os.environ.get(MULTIPROC_ENV):
        from prometheus_client import REGISTRY

        return REGISTRY
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


class QueueDepths:
    """A collector that counts open tasks, due and leased timers and open incidents at scrape time."""

    def __init__(self, app: Flask):
        self.factory = database(app).session_factory

    def collect(self):
        with self.factory() as session:
            now = clock.now()
            tasks = GaugeMetricFamily("idiflow_open_tasks", "Open human tasks by lane", labels=["lane"])
            for lane, count in session.execute(select(HumanTask.lane, func.count()).where(
                    HumanTask.status == "open").group_by(HumanTask.lane)):
                tasks.add_metric([lane or ""], count)
            due = session.scalar(select(func.count()).select_from(Timer).where(
                Timer.status == "waiting", Timer.due_at <= now)) or 0
            leased = session.scalar(select(func.count()).select_from(Timer)
                                    .where(Timer.status == "leased")) or 0
            oldest = session.scalar(select(func.min(Timer.due_at)).where(Timer.status == "waiting",
                                                                        Timer.due_at <= now))
            incidents = session.scalar(select(func.count()).select_from(Incident).where(
                Incident.status == "open")) or 0
        yield tasks
        yield GaugeMetricFamily("idiflow_due_timers", "Waiting timers whose due time has passed", value=due)
        yield GaugeMetricFamily("idiflow_leased_timers", "Timers leased to a sweeper right now", value=leased)
        yield GaugeMetricFamily("idiflow_due_timer_backlog_seconds", "Age of the oldest due, unfired timer",
                                value=(now - clock.ensure_utc(oldest)).total_seconds() if oldest else 0.0)
        yield GaugeMetricFamily("idiflow_open_incidents", "Incidents waiting for a retry", value=incidents)
        # This process's kept workflows (engine/live.py); in scaled mode, the worker that answered the scrape.
        kept = live.CACHE
        pid = [str(os.getpid())]
        for name, help_text, value in (
                ("idiflow_live_workflows", "Workflows kept in memory for their next unit of work", len(kept)),
                ("idiflow_live_workflow_bytes", "Estimated memory of the kept workflows", kept.used),
                ("idiflow_live_workflow_hits", "Units of work that took a kept workflow", kept.hits),
                ("idiflow_live_workflow_misses", "Units of work that rebuilt their workflow from the database",
                 kept.misses)):
            family = GaugeMetricFamily(name, help_text, labels=["pid"])
            family.add_metric(pid, value)
            yield family


def depth_registry(app: Flask) -> CollectorRegistry:
    """A registry holding only the app's queue-depth collector (built per scrape; it costs nothing)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(app.extensions["idiflow_metrics"])
    return registry


def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


def _observe(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    if started is None:
        return response
    rule = request.url_rule
    endpoint = rule.rule if rule is not None else "unmatched"
    status = response.status_code
    LATENCY.labels(request.method, endpoint).observe(time.perf_counter() - started)
    REQUESTS.labels(request.method, endpoint, str(status)).inc()
    completing = COMPLETING_VIEWS.get(request.endpoint or "")
    if completing is not None and status in completing[1]:
        TASK_COMPLETIONS.labels(completing[0]).inc()
    return response


def _observe_failure(exc: BaseException | None) -> None:
    # An exception no error handler turned into a response never reaches after_request: count it as a 500.
    if exc is not None and "metrics_started" in g:
        started = g.pop("metrics_started")
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        LATENCY.labels(request.method, endpoint).observe(time.perf_counter() - started)
        REQUESTS.labels(request.method, endpoint, "500").inc()


def _count_incident(kind: str) -> None:
    INCIDENTS.labels(kind).inc()


def instrument_engine() -> None:
    """Meter the sweeper's batches and count incidents in this process (idempotent; web and worker)."""
    original = timers.Sweeper.run_once
    if getattr(original, "metered", False):
        return

    @functools.wraps(original)
    def run_once(self: timers.Sweeper) -> timers.SweepStats:
        started = time.perf_counter()
        stats = original(self)
        SWEEP_BATCH.observe(time.perf_counter() - started)
        SWEEP_CLAIMED.inc(stats.claimed)
        for outcome in ("fired", "skipped", "failed"):
            if getattr(stats, outcome):
                TIMER_FIRES.labels(outcome).inc(getattr(stats, outcome))
        for lag_ms in stats.lags_ms:
            TIMER_LAG.observe(lag_ms / 1000)
        if stats.retried_incidents:
            INCIDENT_RETRIES.inc(stats.retried_incidents)
        return stats

    run_once.metered = True
    timers.Sweeper.run_once = run_once
    if _count_incident not in runtime.INCIDENT_LISTENERS:  # the engine calls it for every incident it records
        runtime.INCIDENT_LISTENERS.append(_count_incident)


def init_app(app: Flask) -> None:
    """Time every request, serve /metrics, meter the engine in this process."""
    app.extensions["idiflow_metrics"] = QueueDepths(app)
    app.before_request(_start_timer)
    app.after_request(_observe)
    app.teardown_request(_observe_failure)
    app.register_blueprint(bp)
    instrument_engine()


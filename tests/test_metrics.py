"""/metrics: request counts and latency by route, task completions, timer fires and lag, incidents,
sweeper batches, queue depths read from the database, and sums across processes (gunicorn mode)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from web_factories import close_app, gen_api_app, token_headers

from engine import db, definitions, handler, instances, live, services, timers
from web.db import database

ROOT = Path(__file__).resolve().parent.parent
FLOWS = ROOT / "bench" / "flows"
API = "/api/v1"


def flow_bundle(*names: str) -> dict[str, str]:
    """bench/flows diagrams and their forms."""
    files = {name: (FLOWS / name).read_text() for name in names}
    for form in (FLOWS / "forms").glob("*.json"):
        files[f"forms/{form.name}"] = form.read_text()
    return files


@pytest.fixture
def app(db_url):
    app = gen_api_app(db_url)
    with db.unit_of_work(database(app).session_factory) as session:
        definitions.deploy(session, flow_bundle("bench_case.bpmn", "bench_flaky.bpmn"), "tester")
    yield app
    close_app(app)


@pytest.fixture
def headers(app):
    return token_headers(app, "uma", "underwriter")


def scrape(client) -> dict[tuple[str, tuple], float]:
    """Samples of /metrics as {(name, sorted labels): value}."""
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.mimetype == "text/plain"
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(r.get_data(as_text=True)) for s in family.samples}


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def start_cases(app, n: int, process: str = "bench_case") -> list[int]:
    with db.unit_of_work(database(app).session_factory) as session:
        return [instances.start_instance(session, process, {}, "tester").id for _ in range(n)]


def test_requests_are_counted_by_route_method_and_status_with_latency(app, headers):
    client = app.test_client()
    before = scrape(client)
    for _ in range(3):
        assert client.get(f"{API}/tasks", headers=headers).status_code == 200
    assert client.get(f"{API}/tasks").status_code == 401
    after = scrape(client)
    route = dict(method="GET", endpoint="/api/v1/tasks")
    assert value(after, "idiflow_http_requests_total", **route, status="200") - \
        value(before, "idiflow_http_requests_total", **route, status="200") == 3
    assert value(after, "idiflow_http_requests_total", **route, status="401") - \
        value(before, "idiflow_http_requests_total", **route, status="401") == 1
    assert value(after, "idiflow_http_request_duration_seconds_count", **route) - \
        value(before, "idiflow_http_request_duration_seconds_count", **route) == 4


def test_task_completions_and_open_task_depth(app, headers):
    client = app.test_client()
    start_cases(app, 3)
    before = scrape(client)
    assert value(before, "idiflow_open_tasks", lane="underwriter") == 3
    items = client.get(f"{API}/tasks", headers=headers).json["items"]
    done = {"data": {"approved": True}}
    r = client.post(f"{API}/tasks/{items[0]['id']}/complete", json=done, headers=headers)
    assert r.status_code == 200, r.json
    refused = client.post(f"{API}/tasks/{items[0]['id']}/complete", json={"data": {"approved": True}},
                          headers=headers)
    assert refused.status_code >= 400  # a second completion is not counted
    after = scrape(client)
    assert value(after, "idiflow_task_completions_total", channel="api") - \
        value(before, "idiflow_task_completions_total", channel="api") == 1
    assert value(after, "idiflow_open_tasks", lane="underwriter") == 2


def test_kept_workflows_of_this_process_are_shown(app, headers):
    """A completion over HTTP takes the workflow its start kept (engine/live.py) and keeps the new one."""
    client = app.test_client()
    live.CACHE.clear()
    start_cases(app, 2)
    pid = str(os.getpid())
    before = scrape(client)
    assert value(before, "idiflow_live_workflows", pid=pid) == 2
    assert value(before, "idiflow_live_workflow_bytes", pid=pid) > 0
    item = client.get(f"{API}/tasks", headers=headers).json["items"][0]
    r = client.post(f"{API}/tasks/{item['id']}/complete", json={"data": {"approved": True}}, headers=headers)
    assert r.status_code == 200, r.json
    after = scrape(client)
    assert value(after, "idiflow_live_workflow_hits", pid=pid) - value(before, "idiflow_live_workflow_hits",
                                                                        pid=pid) == 1
    assert value(after, "idiflow_live_workflow_misses", pid=pid) == value(before, "idiflow_live_workflow_misses",
                                                                          pid=pid)
    assert value(after, "idiflow_live_workflows", pid=pid) == 2  # waiting for its timer: kept again


def test_timer_fires_lag_sweeper_batches_and_due_depth(app, headers, fixed_clock):
    client = app.test_client()
    start_cases(app, 2)
    for task in client.get(f"{API}/tasks", headers=headers).json["items"]:
        client.post(f"{API}/tasks/{task['id']}/complete", json={"data": {"approved": True}}, headers=headers)
    fixed_clock.advance(dt.timedelta(seconds=3))
    before = scrape(client)
    assert value(before, "idiflow_due_timers") == 2
    assert value(before, "idiflow_due_timer_backlog_seconds") >= 2
    stats = timers.Sweeper(database(app).session_factory, "metrics-test").run_once()
    assert stats.fired == 2
    after = scrape(client)
    assert value(after, "idiflow_timer_fires_total", outcome="fired") - \
        value(before, "idiflow_timer_fires_total", outcome="fired") == 2
    lag = "idiflow_timer_lag_seconds"
    assert value(after, f"{lag}_count") - value(before, f"{lag}_count") == 2
    assert value(after, f"{lag}_sum") - value(before, f"{lag}_sum") >= 4
    assert value(after, "idiflow_sweeper_batch_seconds_count") - \
        value(before, "idiflow_sweeper_batch_seconds_count") == 1
    assert value(after, "idiflow_due_timers") == 0


_FAILING = {"on": True}


@handler("bench.flaky")  # registered at import so the fault diagram deploys; re-registered per test below
def _flaky(_ctx) -> dict:
    """The fault diagram's service: fails while switched on."""
    if _FAILING["on"]:
        raise ConnectionError("downstream is down (metrics test)")
    return {"ok": True}


@pytest.fixture
def flaky_handler():
    """Register this module's bench.flaky for one test (bench/faults.py registers its own under that name)."""
    previous = services.registered().get("bench.flaky")
    handler("bench.flaky")(_flaky)
    yield
    if previous is not None:
        handler(previous.operator, previous.description, previous.params)(previous.func)


def test_incidents_are_counted_and_open_ones_shown(app, headers, fixed_clock, flaky_handler):
    client = app.test_client()
    start_cases(app, 1, "bench_flaky")
    task = client.get(f"{API}/tasks", headers=headers).json["items"][0]
    client.post(f"{API}/tasks/{task['id']}/complete", json={"data": {"approved": True}}, headers=headers)
    fixed_clock.advance(dt.timedelta(seconds=2))
    before = scrape(client)
    _FAILING["on"] = True
    try:
        timers.Sweeper(database(app).session_factory, "metrics-test").run_once()
    finally:
        _FAILING["on"] = False
    after = scrape(client)
    assert value(after, "idiflow_incidents_total", kind="service") - \
        value(before, "idiflow_incidents_total", kind="service") == 1
    assert value(after, "idiflow_open_incidents") == 1


_CHILD = """
import os, sys
from web import metrics
metrics.TASK_COMPLETIONS.labels("api").inc(int(sys.argv[1]))
metrics.TIMER_LAG.observe(0.5)
"""

_READER = """
from prometheus_client import generate_latest
from web import metrics
print(generate_latest(metrics.process_registry()).decode())
"""


def test_multiprocess_mode_sums_every_process(tmp_path):
    """Two processes (a web worker and an `idiflow worker`, say) write; a third one's scrape adds them up."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    for count in ("3", "4"):
        subprocess.run([sys.executable, "-c", _CHILD, count], env=env, check=True, cwd=ROOT, timeout=60)
    out = subprocess.run([sys.executable, "-c", _READER], env=env, check=True, cwd=ROOT, timeout=60,
                         capture_output=True, text=True).stdout
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(out) for s in family.samples}
    assert samples[("idiflow_task_completions_total", (("channel", "api"),))] == 7
    assert samples[("idiflow_timer_lag_seconds_count", ())] == 2

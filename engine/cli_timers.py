"""`idiflow clock`, `idiflow timers` and `idiflow worker`: the simulated clock, pending timers, the sweeper.

Registered on the main group by engine/cli.py (`register(main)`); the commands get the CLI's Runtime
(database URL, session factory) as the click context object.
"""

from __future__ import annotations

from typing import Any

import click

from . import clock, scheduler, timers


def _show(info: dict[str, Any]) -> None:
    click.echo(f"{info['mode']} clock: {info['now_local']} ({info['timezone']}), {info['now_utc']} UTC")


def _echo_fired(fired: list[timers.FireResult]) -> None:
    done = [f for f in fired if f.outcome == "fired"]
    for f in done:
        due = clock.to_local(f.due_at).isoformat()
        click.echo(f"  fired {f.task_name} of instance {f.instance_id}, due {due}")
    failed = [f for f in fired if f.outcome == "failed"]
    for f in failed:
        click.echo(f"  FAILED {f.task_name} of instance {f.instance_id}: {f.error}", err=True)
    tail = f", {len(failed)} failed (see incidents)" if failed else ""
    click.echo(f"{len(done)} timer(s) fired{tail}.")


@click.group("clock", invoke_without_command=True)
@click.pass_context
def clock_group(ctx: click.Context) -> None:
    """Show or move the clock (moving needs the simulated clock; production refuses it)."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(show)


@clock_group.command()
@click.pass_obj
def show(rt) -> None:
    """Show the engine's time, in Asia/Shanghai and UTC."""
    with rt.work(write=False) as session:
        _show(clock.describe(session))


@clock_group.command()
@click.option("--start", default=None, help="Start time (ISO; naive = Asia/Shanghai). Default: now.")
@click.option("--user", "actor", default="cli", show_default=True)
@click.pass_obj
def simulate(rt, start: str | None, actor: str) -> None:
    """Switch this database to the simulated clock (demo and sandbox only)."""
    with rt.work() as session:
        clock.simulate(session, clock.parse_when(start) if start else None, actor)
        info = clock.describe(session)
    _show(info)


@clock_group.command("system")
@click.option("--user", "actor", default="cli", show_default=True)
@click.pass_obj
def system_time(rt, actor: str) -> None:
    """Switch this database back to the system clock."""
    with rt.work() as session:
        clock.use_system_time(session, actor)
        info = clock.describe(session)
    _show(info)


@clock_group.command()
@click.argument("duration")
@click.option("--user", "actor", default="cli", show_default=True)
@click.pass_obj
def advance(rt, duration: str, actor: str) -> None:
    """Move the simulated clock forward by DURATION (P2Y, P30D, 2y, 3mo, 10d, 12h), firing what falls due."""
    try:
        delta = clock.parse_delta(duration)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None
    with rt.work() as session:
        fired = clock.advance(session, delta, actor)
        info = clock.describe(session)
    _echo_fired(fired)
    _show(info)


@clock_group.command("advance-to")
@click.argument("when")
@click.option("--user", "actor", default="cli", show_default=True)
@click.pass_obj
def advance_to(rt, when: str, actor: str) -> None:
    """Move the simulated clock to WHEN (ISO; naive = Asia/Shanghai), firing due timers in order."""
    try:
        target = clock.parse_when(when)
    except ValueError as err:
        raise click.BadParameter(f"'{when}' is not an ISO date or date-time: {err}") from None
    with rt.work() as session:
        fired = clock.advance_to(session, target, actor)
        info = clock.describe(session)
    _echo_fired(fired)
    _show(info)


@clock_group.command("next")
@click.option("--user", "actor", default="cli", show_default=True)
@click.pass_obj
def next_timer(rt, actor: str) -> None:
    """Jump the simulated clock to the next due timer and fire it."""
    with rt.work() as session:
        fired = clock.next(session, actor)
        info = clock.describe(session)
    if not fired:
        click.echo("No timer is waiting.")
    else:
        _echo_fired(fired)
    _show(info)


@click.command("timers")
@click.option("--status", default="pending", show_default=True,
              help="pending (waiting or leased), waiting, leased, fired, cancelled, failed, or all.")
@click.option("--instance", "instance_id", type=int, default=None)
@click.option("--limit", default=50, show_default=True)
@click.pass_obj
def timers_command(rt, status: str, instance_id: int | None, limit: int) -> None:
    """List timers by due date (shown in Asia/Shanghai)."""
    with rt.work(write=False) as session:
        rows = timers.list_timers(session, None if status == "all" else status, instance_id, limit=limit)
        now = clock.now()
    click.echo(f"now: {clock.to_local(now).isoformat()}")
    headers = ["due (Asia/Shanghai)", "instance", "task", "kind", "status", "id"]
    lines = [[clock.to_local(r.due_at).strftime("%Y-%m-%d %H:%M:%S"), r.instance_id, r.task_name, r.kind,
              r.status, r.id] for r in rows]
    widths = [max([len(h), *(len(str(line[i])) for line in lines)]) for i, h in enumerate(headers)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    for line in lines:
        click.echo("  ".join(str(v).ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())
    if not lines:
        click.echo("(none)")


@click.command("worker")
@click.option("--poll", "poll_seconds", default=scheduler.POLL_SECONDS, show_default=True,
              help="Seconds between checks of the timer table.")
@click.option("--batch", default=200, show_default=True, help="Timers claimed per batch.")
@click.option("--lease", "lease_seconds", default=timers.LEASE_SECONDS, show_default=True,
              help="Seconds before a crashed worker's timers are taken over.")
@click.option("--max-seconds", default=None, type=float, help="Stop after this long (tests, cron).")
@click.pass_obj
def worker_command(rt, poll_seconds: float, batch: int, lease_seconds: float,
                   max_seconds: float | None) -> None:
    """Run the timer sweeper until SIGTERM/SIGINT (scaled mode: one or more beside the web app)."""
    from web import metrics  # an entry point may reach into web; the engine itself never does

    metrics.instrument_engine()  # samples reach /metrics through PROMETHEUS_MULTIPROC_DIR (scaled mode)
    click.echo(f"worker {timers.default_owner()} polling every {poll_seconds}s; Ctrl-C stops.")
    worker = scheduler.run_worker(rt.factory, max_seconds=max_seconds, poll_seconds=poll_seconds, batch=batch,
                                  lease_seconds=lease_seconds)
    t = worker.totals
    click.echo(f"worker stopped: {t.fired} fired, {t.failed} failed, "
               f"{t.retried_incidents} incident(s) retried.")


def register(group: click.Group) -> None:
    """Add the clock, timers and worker commands to the `idiflow` group."""
    group.add_command(clock_group)
    group.add_command(timers_command)
    group.add_command(worker_command)

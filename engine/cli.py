"""The `idiflow` command line: schema, deploy, run and inspect processes, accounts, the web server.

The CLI is an entry point, not part of the engine's import graph (`import engine` never loads it): it
registers the domain (`handlers`) and reaches into `web` for accounts and `serve`, always inside the
command that needs them, so the engine itself still never imports Flask.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from . import clock, db, definitions, incidents, instances, logging_setup, tasks
from .cli_timers import register as register_timer_commands
from .errors import DefinitionInvalid, EngineError, FormInvalid
from .models import HumanTask

WORKFLOWS_DIR = Path(__file__).resolve().parent.parent / "workflows"
DEPLOYABLE = (".bpmn", ".dmn", ".json")


class EngineErrorsGroup(click.Group):
    """A group whose commands report engine errors as one clear message and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DefinitionInvalid as err:
            _print_problems(err)
            ctx.exit(1)
        except FormInvalid as err:
            click.echo(f"error: the form data has {len(err.errors)} invalid field(s):", err=True)
            for name, message in err.to_dict()["fields"].items():
                click.echo(f"  - {name}: {message}", err=True)
            ctx.exit(1)
        except EngineError as err:
            click.echo(f"error: {err.message}", err=True)
            ctx.exit(1)


class Runtime:
    """The database of one CLI run, opened on first use."""

    def __init__(self, url: str):
        self.url = url
        self._engine: Engine | None = None
        self._factory: sessionmaker[Session] | None = None
        self._previous_clock: clock.Clock | None = None

    @property
    def factory(self) -> sessionmaker[Session]:
        if self._factory is None:
            self._engine = db.make_engine(self.url)
            self._factory = db.make_session_factory(self._engine)
            # The database's clock (simulated in demo/sandbox), so CLI, web and workers agree on "now".
            self._previous_clock = clock.configure(self._engine)
        return self._factory

    def work(self, write: bool = True):
        """One unit of work: a session committed once at the end."""
        return db.unit_of_work(self.factory, write=write)

    def close(self) -> None:
        if self._previous_clock is not None:
            clock.install(self._previous_clock)
        if self._engine is not None:
            self._engine.dispose()


def _print_problems(err: DefinitionInvalid) -> None:
    click.echo(f"The bundle was rejected with {len(err.problems)} problem(s):", err=True)
    for problem in err.problems:
        click.echo(f"  - {problem}", err=True)


def _json_option(value: str | None, what: str) -> dict[str, Any]:
    if not value:
        return {}
    try:
        data = json.loads(value)
    except ValueError as err:
        raise click.BadParameter(f"{what} is not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise click.BadParameter(f"{what} must be a JSON object, e.g. '{{\"amount\": 7}}'.")
    return data


def _table(rows: Iterable[Iterable[Any]], headers: list[str]) -> None:
    rows = [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in rows:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    if not rows:
        click.echo("(none)")


@click.group(cls=EngineErrorsGroup)
@click.option("--db", "db_url", envvar="IDIFLOW_DATABASE_URL", default=db.DEFAULT_URL, show_default=True,
              help="Database URL (or IDIFLOW_DATABASE_URL).")
@click.option("-v", "--verbose", is_flag=True, help="Log at INFO level.")
@click.pass_context
def main(ctx: click.Context, db_url: str, verbose: bool) -> None:
    """idiflow: BPMN workflows for inherent defects insurance."""
    # Text on a terminal; IDIFLOW_LOG_FORMAT=json for one JSON object per line (scaled mode).
    logging_setup.configure(logging.INFO if verbose else logging.WARNING, role=ctx.invoked_subcommand)
    import handlers  # noqa: F401 - registers the IDI roles and service-task handlers

    for module in filter(None, (m.strip() for m in os.environ.get("IDIFLOW_HANDLER_MODULES", "").split(","))):
        importlib.import_module(module)  # site-specific handlers (web/gunicorn_conf.py does the same)
    runtime = Runtime(db_url)
    ctx.obj = runtime
    ctx.call_on_close(runtime.close)


pass_runtime = click.make_pass_decorator(Runtime)


@main.command("init-db")
@pass_runtime
def init_db(rt: Runtime) -> None:
    """Create or upgrade the database schema (Alembic migrations)."""
    engine = db.make_engine(rt.url)
    try:
        db.upgrade(engine)
    finally:
        engine.dispose()
    click.echo(f"Database schema is up to date ({db.database_url(rt.url)}).")


def collect_files(paths: Iterable[str]) -> dict[str, bytes]:
    """Deployable files (*.bpmn, *.dmn, form *.json) named by their path below each given folder."""
    files: dict[str, bytes] = {}
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for found in sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in DEPLOYABLE):
                files[found.relative_to(path).as_posix()] = found.read_bytes()
        elif path.is_file():
            files[path.name] = path.read_bytes()
        else:
            raise click.BadParameter(f"{raw} is neither a file nor a folder.", param_hint="PATH")
    return files


def deploy_files(rt: Runtime, files: dict[str, bytes], actor: str, note: str = "") -> None:
    """Deploy a bundle in one unit of work and print what each process became."""
    with rt.work() as session:
        deployed = definitions.deploy(session, files, actor, note)
    for d in deployed:
        click.echo(f"{d.process_id}: version {d.version}" + ("" if d.created else " (unchanged)"))


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--user", "actor", default="cli", show_default=True, help="Who deploys (audit trail).")
@click.option("--note", default="", help="A note stored with the deployment.")
@pass_runtime
def deploy(rt: Runtime, paths: tuple[str, ...], actor: str, note: str) -> None:
    """Deploy BPMN, DMN and form files or folders as new versions (exit 1 with the problems)."""
    files = collect_files(paths)
    if not files:
        raise click.UsageError("No .bpmn, .dmn or .json files found in the given paths.")
    deploy_files(rt, files, actor, note)


@main.command("definitions")
@pass_runtime
def list_definitions(rt: Runtime) -> None:
    """List the newest version of every deployed process."""
    with rt.work(write=False) as session:
        rows = definitions.list_latest(session)
    _table([(r.process_id, r.version, r.name, r.deployed_at.isoformat(timespec="seconds"), r.deployed_by)
            for r in rows], ["PROCESS", "VERSION", "NAME", "DEPLOYED", "BY"])


@main.command()
@click.argument("process_id")
@click.option("--data", default=None, help="Start data as a JSON object.")
@click.option("--key", "business_key", default=None, help="Business key (policy no, claim no).")
@click.option("--title", default="", help="A title for the case.")
@click.option("--user", "actor", default="cli", show_default=True)
@pass_runtime
def start(rt: Runtime, process_id: str, data: str | None, business_key: str | None, title: str,
          actor: str) -> None:
    """Start an instance of the newest version of PROCESS_ID."""
    with rt.work() as session:
        row = instances.start_instance(session, process_id, _json_option(data, "--data"), actor,
                                       business_key=business_key, title=title)
        mine = list(session.scalars(select(HumanTask).where(HumanTask.instance_id == row.id,
                                                            HumanTask.status == "open")))
    click.echo(f"instance {row.id} ({row.process_id}) is {row.status}")
    for t in mine:
        click.echo(f"  waiting: task {t.id} '{t.title}' in lane {t.lane}")


@main.command("tasks")
@click.option("--lane", default=None)
@click.option("--assignee", default=None)
@click.option("--limit", default=50, show_default=True)
@pass_runtime
def list_tasks(rt: Runtime, lane: str | None, assignee: str | None, limit: int) -> None:
    """List open tasks, soonest due first."""
    with rt.work(write=False) as session:
        rows = tasks.list_tasks(session, lanes=[lane] if lane else None, assignee=assignee, limit=limit)
    _table([(t.id, t.instance_id, t.title, t.lane, t.assignee, t.business_key, t.due_at) for t in rows],
           ["TASK", "INSTANCE", "TITLE", "LANE", "ASSIGNEE", "KEY", "DUE"])


@main.command()
@click.argument("task_id")
@click.option("--data", default=None, help="Form data as a JSON object.")
@click.option("--user", "actor", required=True, help="Who completes the task.")
@pass_runtime
def complete(rt: Runtime, task_id: str, data: str | None, actor: str) -> None:
    """Complete a task with form data (validated against its form)."""
    with rt.work() as session:
        row = tasks.complete_task(session, task_id, _json_option(data, "--data"), actor)
        status = instances.get_instance(session, row.instance_id).status
    click.echo(f"task {row.id} completed by {actor}; instance {row.instance_id} is {status}")


@main.command("instances")
@click.option("--process", "process_id", default=None)
@click.option("--status", default=None)
@click.option("--limit", default=50, show_default=True)
@pass_runtime
def list_instances(rt: Runtime, process_id: str | None, status: str | None, limit: int) -> None:
    """List instances, newest first."""
    with rt.work(write=False) as session:
        rows, total = instances.list_instances(session, process_id=process_id, status=status, limit=limit)
    _table([(r.id, r.process_id, r.business_key, r.status, "yes" if r.has_incident else "",
             r.started_at.isoformat(timespec="seconds")) for r in rows],
           ["ID", "PROCESS", "KEY", "STATUS", "INCIDENT", "STARTED"])
    click.echo(f"{len(rows)} of {total}")


@main.command("incidents")
@click.option("--all", "show_all", is_flag=True, help="Resolved incidents too.")
@pass_runtime
def list_incidents(rt: Runtime, show_all: bool) -> None:
    """List incidents (open ones unless --all)."""
    with rt.work(write=False) as session:
        rows = incidents.list_incidents(session, None if show_all else "open")
    _table([(i.id, i.instance_id, i.task_name, i.status, i.attempts, i.message.splitlines()[0][:80])
            for i in rows], ["ID", "INSTANCE", "TASK", "STATUS", "ATTEMPTS", "ERROR"])


@main.command()
@click.argument("incident_id", type=int)
@click.option("--user", "actor", default="cli", show_default=True)
@pass_runtime
def retry(rt: Runtime, incident_id: int, actor: str) -> None:
    """Run an incident's failed task again."""
    with rt.work() as session:
        row = incidents.retry_incident(session, incident_id, actor)
    click.echo(f"incident {row.id} is {row.status} after {row.attempts} attempt(s)")


@main.command("create-user")
@click.argument("username")
@click.option("--role", "roles", multiple=True, required=True, help="A role key; repeat for several.")
@click.option("--password", default=None, help="A password for the web login.")
@pass_runtime
def create_user(rt: Runtime, username: str, roles: tuple[str, ...], password: str | None) -> None:
    """Create a user with roles."""
    from web.accounts import AccountError
    from web.accounts import create_user as add_user

    try:
        with rt.work() as session:
            user = add_user(session, username, list(roles), password)
    except AccountError as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"user {user.username} created with roles {', '.join(user.roles)}")


@main.command("create-token")
@click.argument("username")
@click.option("--label", default="cli", show_default=True)
@pass_runtime
def create_token(rt: Runtime, username: str, label: str) -> None:
    """Create an API token for USERNAME and print it (it is shown only once)."""
    from web.accounts import find_user
    from web.auth_tokens import issue_token

    with rt.work() as session:
        user = find_user(session, username)
        if user is None:
            raise click.ClickException(f"No user named '{username}'; create it with `idiflow create-user`.")
        token = issue_token(session, user, label)
    click.echo(token)


@main.command()
@click.option("--if-empty", is_flag=True, help="Do nothing when users (and, if seedable, projects) exist.")
@click.option("--workflows", "workflows_dir", default=str(WORKFLOWS_DIR), show_default=True,
              type=click.Path(file_okay=False))
@pass_runtime
def demo(rt: Runtime, if_empty: bool, workflows_dir: str) -> None:
    """Demo users (one per IDI role), an administrator token, workflows/ deployed, and demo projects."""
    from handlers import demo as demo_data
    from handlers.roles import IDI_ROLES
    from web.accounts import create_user as add_user
    from web.auth_tokens import issue_token
    from web.models import User

    files = collect_files([workflows_dir]) if Path(workflows_dir).is_dir() else {}
    seedable = "idi_policy.bpmn" in files  # the demo projects need the IDI lifecycle
    with rt.work() as session:
        seeded = demo_data.is_seeded(session)
        if if_empty and session.scalar(select(User.id).limit(1)) is not None and (seeded or not seedable):
            click.echo("demo: users exist already; nothing to do")
            return
        existing = set(session.scalars(select(User.username)))
        for role in IDI_ROLES:
            if role not in existing:
                add_user(session, role, [role], f"demo-{role}", display_name=IDI_ROLES[role])
                click.echo(f"user {role:<18} password demo-{role}")
        admin = session.scalars(select(User).where(User.username == "administrator")).one()
        token = issue_token(session, admin, "demo")
    click.echo(f"administrator API token: {token}")
    if not any(name.endswith(".bpmn") for name in files):
        return
    try:
        if seedable and not seeded:
            _seed_demo(rt, files)
        else:
            deploy_files(rt, files, "demo", "demo deployment")
    except DefinitionInvalid as err:
        # The server should still start, so that a process owner can fix the diagram in the modeler.
        _print_problems(err)


def _seed_demo(rt: Runtime, files: dict[str, bytes]) -> None:
    """Deploy and replay the demo projects (handlers/demo.py) in one unit of work; print what it made."""
    from handlers import demo as demo_data
    from web.models import User

    started = time.perf_counter()
    with rt.work() as session:
        summary = demo_data.seed(session, files)
        owner = session.scalars(select(User).where(User.username == "owner")).first()
        if owner is not None and not (owner.attributes or {}).get("units"):
            owner.attributes = {**(owner.attributes or {}), "units": summary.owner_units}
        engineer = session.scalars(select(User).where(User.username == "risk_engineer")).first()
        if engineer is not None and not (engineer.attributes or {}).get("agency_code"):
            # the risk engineer acts for agency A1 and sees its engaged projects (web/permissions.py)
            engineer.attributes = {**(engineer.attributes or {}),
                                   "agency_code": demo_data.cat.AGENCIES["A1"]["party"]["credit_code"]}
    for project_no, status in summary.projects.items():
        click.echo(f"project {project_no}  policy {status or 'none (refused: out of scope)'}")
    for claim_no in summary.claims:
        click.echo(f"claim {claim_no}")
    for note in summary.notes:
        click.echo(f"note: {note}")
    click.echo(f"demo data seeded in {time.perf_counter() - started:.1f} s; {summary.timers_fired} timers "
               f"fired; the simulated clock is at {demo_data.DEMO_TODAY.date().isoformat()}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@pass_runtime
def serve(rt: Runtime, host: str, port: int) -> None:
    """Run the web app and API (waitress if installed, else Werkzeug's threaded server)."""
    from web import create_app

    app = create_app({"IDIFLOW_DATABASE_URL": rt.url})
    try:
        import waitress
    except ImportError:
        click.echo(f"serving on http://{host}:{port}/ (Werkzeug)", err=True)
        app.run(host=host, port=port, threaded=True, use_reloader=False)
    else:
        click.echo(f"serving on http://{host}:{port}/ (waitress)", err=True)
        waitress.serve(app, host=host, port=port)


register_timer_commands(main)  # idiflow clock / timers / worker (engine/cli_timers.py)

if __name__ == "__main__":
    sys.exit(main())

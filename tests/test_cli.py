"""The `idiflow` command line: schema, deploy, run a case to its end, accounts, demo data."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from conftest import BPMN_DIR

from engine import db, definitions
from engine.cli import main
from handlers.roles import IDI_ROLES
from web.auth_tokens import hash_token
from web.models import ApiToken, User


@pytest.fixture
def idiflow(db_url):
    """Run `idiflow --db <fresh database> ARGS...`; the schema is created first."""
    runner = CliRunner()

    def _run(*args: str, expect: int = 0):
        result = runner.invoke(main, ["--db", db_url, *args], catch_exceptions=False)
        assert result.exit_code == expect, result.output
        return result

    _run("init-db")
    yield _run
    definitions.clear_cache()


@pytest.fixture
def read_db(db_url):
    """A read-only session on the CLI's database."""
    engine = db.make_engine(db_url)
    with db.make_session_factory(engine)() as session:
        yield session
    engine.dispose()


def simple_folder(folder):
    """A folder holding simple.bpmn and forms/review.schema.json."""
    (folder / "forms").mkdir(parents=True)
    (folder / "simple.bpmn").write_text((BPMN_DIR / "simple.bpmn").read_text())
    form = "review.schema.json"
    (folder / "forms" / form).write_text((BPMN_DIR / "forms" / form).read_text())
    return folder


def test_init_db_is_repeatable(idiflow):
    assert "up to date" in idiflow("init-db").output


def test_deploy_folder_then_run_a_case_to_its_end(idiflow, tmp_path):
    folder = simple_folder(tmp_path / "bundle")
    assert idiflow("deploy", str(folder)).output.strip() == "simple: version 1"
    assert "(unchanged)" in idiflow("deploy", str(folder)).output
    assert re.search(r"simple\s+1\s+Simple review", idiflow("definitions").output)

    started = idiflow("start", "simple", "--data", '{"amount": 9}', "--key", "K-CLI").output
    assert "instance 1 (simple) is running" in started
    task_id = re.search(r"task (\S+) 'Review'", started).group(1)
    assert task_id in idiflow("tasks", "--lane", "reviewer").output

    refused = idiflow("complete", task_id, "--data", '{"approved": "yes"}', "--user", "bob", expect=1)
    assert "approved" in refused.output and "invalid field" in refused.output
    done = idiflow("complete", task_id, "--data", '{"approved": true}', "--user", "bob").output
    assert "instance 1 is completed" in done
    again = idiflow("complete", task_id, "--data", '{"approved": true}', "--user", "bob", expect=1)
    assert "already completed by bob" in again.output
    assert re.search(r"1\s+simple\s+K-CLI\s+completed", idiflow("instances").output)


def test_deploy_with_lint_problems_prints_them_and_exits_1(idiflow, tmp_path):
    bad = tmp_path / "bad.bpmn"
    bad.write_text((BPMN_DIR / "simple.bpmn").read_text().replace('name="reviewer"', 'name="nobody_role"'))
    result = idiflow("deploy", str(bad), str(BPMN_DIR / "forms" / "review.schema.json"), expect=1)
    assert "rejected with" in result.output and "nobody_role" in result.output
    assert "(none)" in idiflow("definitions").output


def test_bad_json_option_is_a_usage_error(idiflow):
    assert idiflow("start", "simple", "--data", "{not json", expect=2).exit_code == 2


def test_unknown_process_and_incident_exit_1_with_a_message(idiflow):
    assert "No deployed process 'nope'" in idiflow("start", "nope", expect=1).output
    assert "No incident with id 42" in idiflow("retry", "42", expect=1).output


def test_create_user_and_token_stores_only_the_hash(idiflow, read_db):
    assert "created with roles underwriter" in idiflow("create-user", "uma", "--role", "underwriter").output
    token = idiflow("create-token", "uma").output.strip()
    assert len(token) >= 40
    row = read_db.query(ApiToken).one()
    assert row.token_hash == hash_token(token)
    assert "Unknown role" in idiflow("create-user", "x", "--role", "astronaut", expect=1).output
    assert "already exists" in idiflow("create-user", "uma", "--role", "owner", expect=1).output
    assert "No user named" in idiflow("create-token", "ghost", expect=1).output


def test_demo_creates_a_user_per_role_and_an_admin_token_once(idiflow, read_db, tmp_path):
    empty = tmp_path / "no_workflows"
    empty.mkdir()
    output = idiflow("demo", "--if-empty", "--workflows", str(empty)).output
    assert "password demo-underwriter" in output
    token = re.search(r"administrator API token: (\S+)", output).group(1)
    users = {u.username: u.roles for u in read_db.query(User)}
    assert users == {role: [role] for role in IDI_ROLES}
    admin_id = read_db.query(User.id).filter(User.username == "administrator").scalar()
    owner_id = read_db.query(ApiToken.user_id).filter(ApiToken.token_hash == hash_token(token)).scalar()
    assert owner_id == admin_id
    assert "nothing to do" in idiflow("demo", "--if-empty", "--workflows", str(empty)).output
    assert read_db.query(ApiToken).count() == 1


def test_demo_deploys_the_workflows_folder(idiflow, tmp_path):
    folder = simple_folder(tmp_path / "workflows")
    assert "simple: version 1" in idiflow("demo", "--workflows", str(folder)).output

"""Deploy: content-hashed versions, idempotent redeploys, version lists, instances pinned to their version."""

from __future__ import annotations

from conftest import bundle, commit
from sqlalchemy import func, select

from engine import definitions, instances, tasks
from engine.models import Deployment, ProcessDefinition


def _count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def _review_bundle(title: str = "Review the case") -> dict[str, str]:
    files = bundle("eng_review.bpmn")
    files["eng_review.bpmn"] = files["eng_review.bpmn"].replace('name="Review the case"', f'name="{title}"')
    return files


def test_first_deploy_creates_version_1(session):
    """A new process id is stored as version 1 with its source, spec and forms."""
    [result] = definitions.deploy(session, _review_bundle(), "owner")
    commit(session)
    assert (result.process_id, result.version, result.created) == ("eng_review", 1, True)
    row = session.get(ProcessDefinition, result.definition_id)
    assert 'id="Task_review"' in definitions.source(session, row)
    assert set(row.forms) == {"eng_decision.schema.json"}
    assert row.deployed_by == "owner"


def test_changed_content_is_a_new_version_and_versions_are_listed(session):
    """Each changed diagram becomes the next version; versions() lists them newest first."""
    definitions.deploy(session, _review_bundle("Review the case"), "owner")
    [second] = definitions.deploy(session, _review_bundle("Review the claim"), "owner")
    [third] = definitions.deploy(session, _review_bundle("Review it again"), "owner")
    commit(session)
    assert (second.version, second.created, third.version, third.created) == (2, True, 3, True)
    assert [v.version for v in definitions.versions(session, "eng_review")] == [3, 2, 1]
    [latest] = [d for d in definitions.list_latest(session) if d.process_id == "eng_review"]
    assert latest.version == 3
    assert definitions.resolve(session, "eng_review").version == 3
    assert definitions.resolve(session, "eng_review", 1).version == 1


def test_same_content_twice_is_not_a_new_version(session):
    """Redeploying identical content returns the existing version and stores nothing new."""
    [first] = definitions.deploy(session, _review_bundle(), "owner")
    [again] = definitions.deploy(session, _review_bundle(), "someone-else")
    commit(session)
    assert (again.version, again.created, again.definition_id) == (1, False, first.definition_id)
    assert _count(session, ProcessDefinition) == 1
    assert _count(session, Deployment) == 1


def test_changed_form_schema_is_a_new_version(session):
    """A version is the diagram plus its forms: changing a used form schema makes a new version."""
    definitions.deploy(session, _review_bundle(), "owner")
    files = _review_bundle()
    files["forms/eng_decision.schema.json"] = files["forms/eng_decision.schema.json"].replace(
        '"maxLength": 20', '"maxLength": 40')
    [result] = definitions.deploy(session, files, "owner")
    commit(session)
    assert (result.version, result.created) == (2, True)
    assert session.get(ProcessDefinition, result.definition_id).forms["eng_decision.schema.json"][
        "properties"]["comment"]["maxLength"] == 40


def test_unchanged_process_in_a_bundle_keeps_its_version(session):
    """In a bundle only the processes whose content changed get a new version."""
    files = {**_review_bundle(), **bundle("eng_gateway.bpmn")}
    definitions.deploy(session, files, "owner")
    files["eng_review.bpmn"] = _review_bundle("Review the claim")["eng_review.bpmn"]
    results = {r.process_id: r for r in definitions.deploy(session, files, "owner")}
    commit(session)
    assert (results["eng_review"].version, results["eng_review"].created) == (2, True)
    assert (results["eng_gateway"].version, results["eng_gateway"].created) == (1, False)


def test_running_instances_stay_on_the_version_they_started_with(session):
    """An instance started on v1 keeps v1's diagram after v2 is deployed; new instances take v2."""
    [v1] = definitions.deploy(session, _review_bundle("Review the case"), "owner")
    old = instances.start_instance(session, "eng_review", {}, "alice")
    commit(session)
    [v2] = definitions.deploy(session, _review_bundle("Review the claim"), "owner")
    new = instances.start_instance(session, "eng_review", {}, "alice")
    commit(session)
    definitions.clear_cache()

    assert (old.definition_id, new.definition_id) == (v1.definition_id, v2.definition_id)
    titles = {t.instance_id: t.title for t in tasks.list_tasks(session, lanes=["reviewer"])}
    assert titles == {old.id: "Review the case", new.id: "Review the claim"}
    [old_task] = [t for t in tasks.list_tasks(session) if t.instance_id == old.id]
    tasks.complete_task(session, old_task.id, {"approved": True}, "bob")
    commit(session)
    assert instances.get_instance(session, old.id).status == "completed"
    assert instances.get_instance(session, old.id).definition_id == v1.definition_id


def test_start_a_named_older_version(session):
    """start_instance(version=1) runs version 1 even when a newer one exists."""
    definitions.deploy(session, _review_bundle("Review the case"), "owner")
    definitions.deploy(session, _review_bundle("Review the claim"), "owner")
    inst = instances.start_instance(session, "eng_review", {}, "alice", version=1)
    commit(session)
    [task] = [t for t in tasks.list_tasks(session) if t.instance_id == inst.id]
    assert task.title == "Review the case"

"""Hostile uploads: every file in tests/hostile is refused at deploy with a clear error and nothing stored.

Scripts and expressions are refused again at run time (defence in depth) if they ever reach the engine.
"""

from __future__ import annotations

import builtins
from pathlib import Path

import pytest
from conftest import bundle
from sqlalchemy import func, select

from engine import definitions
from engine.errors import DefinitionInvalid, ScriptRejected, UnsafeInput
from engine.models import AuditEvent, Deployment, ProcessDefinition
from engine.parsing import MAX_BUNDLE_BYTES, MAX_FILE_BYTES
from engine.scripts import RestrictedEnvironment, RestrictedScriptEngine

HOSTILE = Path(__file__).parent / "hostile"

#: corpus file -> (error class, words the problem must contain, element the problem must name)
CASES = {
    "malformed.bpmn": (UnsafeInput, ["not well-formed XML"], None),
    "xxe_file.bpmn": (UnsafeInput, ["DOCTYPE", "XXE"], None),
    "xxe_http.bpmn": (UnsafeInput, ["DOCTYPE", "XXE"], None),
    "xxe_utf16.bpmn": (UnsafeInput, ["DTD"], None),
    "external_dtd.bpmn": (UnsafeInput, ["DOCTYPE"], None),
    "billion_laughs.bpmn": (UnsafeInput, ["entity-expansion"], None),
    "quadratic_blowup.bpmn": (UnsafeInput, ["entity-expansion"], None),
    "script_import.bpmn": (DefinitionInvalid, ["__import__"], "Script_hostile"),
    "subclass_walk.bpmn": (DefinitionInvalid, ["__subclasses__", "__class__"], "Script_hostile"),
    "open_passwd.bpmn": (DefinitionInvalid, ["open"], "Script_hostile"),
    "getattr_dunder.bpmn": (DefinitionInvalid, ["getattr"], "Script_hostile"),
    "format_escape.bpmn": (DefinitionInvalid, [".format()", "__class__"], "Script_hostile"),
    "globals_escape.bpmn": (DefinitionInvalid, ["globals"], "Script_hostile"),
    "condition_import.bpmn": (DefinitionInvalid, ["__import__"], "Flow_hostile"),
    "timer_import.bpmn": (DefinitionInvalid, ["__import__"], "Event_hostile_timer"),
}


def _stored(session) -> tuple[int, int, int]:
    return tuple(session.scalar(select(func.count()).select_from(m))
                 for m in (Deployment, ProcessDefinition, AuditEvent))


def test_every_corpus_file_has_a_case():
    assert sorted(p.name for p in HOSTILE.iterdir()) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_file_is_rejected_and_nothing_is_stored(session, name):
    """Deployed next to a valid diagram, the hostile file sinks the whole bundle with a problem naming it."""
    error, words, element = CASES[name]
    files = {**bundle("eng_review.bpmn"), name: (HOSTILE / name).read_bytes()}
    with pytest.raises(error) as caught:
        definitions.deploy(session, files, "mallory")
    session.flush()
    assert _stored(session) == (0, 0, 0)
    [problem] = [p for p in caught.value.problems if p.file == name]
    assert problem.element == element and problem.fix
    for word in words:
        assert word in problem.message, problem
    assert caught.value.to_dict()["problems"][0]["file"] == name


def test_oversized_file_is_rejected_before_parsing(session):
    padding = "<!-- " + "x" * MAX_FILE_BYTES + " -->"
    files = {**bundle("eng_review.bpmn")}
    files["eng_review.bpmn"] = files["eng_review.bpmn"].replace("<bpmn:process", padding + "<bpmn:process", 1)
    with pytest.raises(UnsafeInput) as caught:
        definitions.deploy(session, files, "mallory")
    [problem] = caught.value.problems
    assert problem.file == "eng_review.bpmn" and "limit" in problem.message
    assert _stored(session) == (0, 0, 0)


def test_oversized_bundle_is_rejected(session):
    count = MAX_BUNDLE_BYTES // MAX_FILE_BYTES + 1
    files = {f"part{i}.bpmn": b" " * (MAX_FILE_BYTES - 1) for i in range(count)}
    with pytest.raises(UnsafeInput, match="bundle"):
        definitions.deploy(session, files, "mallory")
    assert _stored(session) == (0, 0, 0)


def test_unknown_file_types_are_rejected(session):
    files = {**bundle("eng_review.bpmn"), "payload.py": "import os"}
    with pytest.raises(DefinitionInvalid) as caught:
        definitions.deploy(session, files, "mallory")
    assert [p.file for p in caught.value.problems] == ["payload.py"]
    assert _stored(session) == (0, 0, 0)


@pytest.mark.parametrize("source", [
    "__import__('os').system('id')",
    "().__class__.__base__.__subclasses__()",
    "open('/etc/passwd').read()",
    "getattr((), '__class__')",
    "'{0.__class__}'.format(1)",
])
def test_restricted_environment_refuses_escapes_at_run_time(source):
    """Defence in depth: code handed straight to the environment (no lint) is refused before it runs."""
    env = RestrictedEnvironment()
    with pytest.raises(ScriptRejected):
        env.evaluate(source, {})
    with pytest.raises(ScriptRejected):
        env.execute(f"result = {source}", {})
    with pytest.raises(ScriptRejected):
        RestrictedScriptEngine().validate(source)


def test_task_data_cannot_replace_the_guards():
    """Data keys named like a guard or __builtins__ do not switch the guards off or reach real builtins."""
    env = RestrictedEnvironment()
    context = {"items": [1, 2], "_getiter_": lambda _: [99], "__builtins__": builtins.__dict__}
    assert env.evaluate("sum([i for i in items])", context) == 3
    with pytest.raises(NameError, match="exit"):
        env.evaluate("exit", context)
    env.execute("total = sum([i for i in items])", context)
    assert context["total"] == 3


def test_ordinary_business_script_still_runs():
    env = RestrictedEnvironment()
    context = {"rates": [0.9, 1.1], "base": 100}
    env.execute("premium = round(base * sum(r for r in rates) / len(rates), 2)\n"
                "label = f'{premium:.2f}'", context)
    assert (context["premium"], context["label"]) == (100.0, "100.00")

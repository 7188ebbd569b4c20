"""Studio drafts: a diagram edited in the browser, checked by the engine's deploy lint, then deployed."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine import clock, definitions, parsing
from engine.db import Base
from engine.errors import DefinitionInvalid, NotFound, Problem
from engine.models import Deployment, ProcessDefinition, UTCDateTime, intpk


class StudioDraft(Base):
    """One draft of one process diagram; `problems` holds the last lint result."""

    __tablename__ = "studio_draft"
    __table_args__ = (Index("ix_studio_draft_process", "process_id", "updated_at"),)

    id: Mapped[intpk]
    process_id: Mapped[str] = mapped_column(String(200))
    file_name: Mapped[str] = mapped_column(String(200))
    bpmn_xml: Mapped[str] = mapped_column(Text)
    base_definition_id: Mapped[int | None] = mapped_column(ForeignKey("process_definition.id"))
    problems: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    checked: Mapped[bool] = mapped_column(Boolean, default=False)
    deployed_definition_id: Mapped[int | None] = mapped_column(ForeignKey("process_definition.id"))
    #: decision tables edited with the diagram: file name in the deployment -> DMN XML
    dmn_files: Mapped[dict[str, str] | None] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    version_id: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version_id}


class DraftNotFound(NotFound):
    """No draft with that id."""


def get_draft(session: Session, draft_id: int) -> StudioDraft:
    """One draft by id."""
    draft = session.get(StudioDraft, draft_id)
    if draft is None:
        raise DraftNotFound(f"No studio draft with id {draft_id}; open the process again to start one.")
    return draft


def list_drafts(session: Session, process_id: str | None = None) -> list[StudioDraft]:
    """Drafts not yet deployed, newest first."""
    query = select(StudioDraft).where(StudioDraft.deployed_definition_id.is_(None))
    if process_id:
        query = query.where(StudioDraft.process_id == process_id)
    return list(session.scalars(query.order_by(StudioDraft.updated_at.desc())))


def start_draft(session: Session, definition_id: int, actor: str) -> StudioDraft:
    """A new draft holding the deployed BPMN of one version."""
    base = session.get(ProcessDefinition, definition_id)
    if base is None:
        raise DraftNotFound(f"No process definition with id {definition_id}.")
    now = clock.now()
    files = session.get(Deployment, base.deployment_id).files
    draft = StudioDraft(process_id=base.process_id, file_name=base.source_file,
                        bpmn_xml=definitions.source(session, base), base_definition_id=base.id, problems=[],
                        dmn_files={n: x for n, x in sorted(files.items()) if n.endswith(".dmn")},
                        checked=False, created_by=actor, created_at=now, updated_by=actor, updated_at=now)
    session.add(draft)
    session.flush()
    return draft


def new_draft(session: Session, process_id: str, xml: str, actor: str) -> StudioDraft:
    """A draft of a process that was never deployed."""
    now = clock.now()
    draft = StudioDraft(process_id=process_id, file_name=f"{process_id}.bpmn", bpmn_xml=xml,
                        base_definition_id=None, problems=[], checked=False, created_by=actor, created_at=now,
                        updated_by=actor, updated_at=now)
    session.add(draft)
    session.flush()
    return draft


def known_forms(session: Session, draft: StudioDraft | None = None) -> dict[str, str]:
    """Form schemas a draft may name: its base deployment's files plus every latest version's forms."""
    import json

    forms: dict[str, str] = {}
    for latest in definitions.list_latest(session):
        for name, schema in (latest.forms or {}).items():
            forms.setdefault(name, json.dumps(schema, ensure_ascii=False))
    base_id = draft.base_definition_id if draft else None
    base = session.get(ProcessDefinition, base_id) if base_id else None
    if base is None and draft is not None:
        base = session.scalars(select(ProcessDefinition)
                               .where(ProcessDefinition.process_id == draft.process_id)
                               .order_by(ProcessDefinition.version.desc()).limit(1)).first()
    if base is not None:
        for name, content in session.get(Deployment, base.deployment_id).files.items():
            if name.endswith(".json"):
                forms[name.replace("\\", "/").rsplit("/", 1)[-1]] = content
    return forms


def decision(draft: StudioDraft, name: str) -> str:
    """The DMN XML of one decision-table file of a draft."""
    found = (draft.dmn_files or {}).get(name)
    if found is None:
        known = ", ".join(sorted(draft.dmn_files or {})) or "none"
        raise DraftNotFound(f"Draft {draft.id} has no decision file '{name}' (it has: {known}).")
    return found


def save_decision(session: Session, draft: StudioDraft, name: str, xml: str, actor: str) -> list[dict]:
    """Store new XML for one of the draft's decision tables, then lint the whole draft."""
    decision(draft, name)
    parsing.parse_xml(xml.encode("utf-8"), name)  # hardened parse first: UnsafeInput for DTDs, entities, size
    draft.dmn_files = {**(draft.dmn_files or {}), name: xml}
    draft.updated_by, draft.updated_at = actor, clock.now()
    session.flush()
    return check(session, draft)


def with_decisions(session: Session, rows: list[ProcessDefinition]) -> set[int]:
    """The ids of the versions among `rows` whose deployment holds decision tables."""
    deployments = {row.deployment_id for row in rows}
    holding = {d.id for d in session.scalars(select(Deployment).where(Deployment.id.in_(deployments)))
               if any(name.endswith(".dmn") for name in d.files)}
    return {row.id for row in rows if row.deployment_id in holding}


def bundle(session: Session, draft: StudioDraft) -> dict[str, str]:
    """The deploy bundle of a draft: its BPMN, its decision tables and the forms it may use."""
    files = {draft.file_name: draft.bpmn_xml, **(draft.dmn_files or {})}
    files.update({f"forms/{name}": content for name, content in known_forms(session, draft).items()})
    return files


def check(session: Session, draft: StudioDraft) -> list[dict]:
    """Run the engine's full deploy checks on the draft without storing anything; remember the problems."""
    savepoint = session.begin_nested()
    try:
        definitions.deploy(session, bundle(session, draft), draft.updated_by, note="studio lint")
        problems: list[dict] = []
    except DefinitionInvalid as err:
        problems = [p.to_dict() for p in err.problems]
    finally:
        savepoint.rollback()
    draft.problems, draft.checked = problems, True
    session.flush()
    return problems


def save(session: Session, draft: StudioDraft, xml: str, actor: str) -> list[dict]:
    """Store new XML for a draft and lint it."""
    draft.bpmn_xml, draft.updated_by, draft.updated_at = xml, actor, clock.now()
    session.flush()
    return check(session, draft)


def deploy(session: Session, draft: StudioDraft, actor: str, note: str = "") -> definitions.DeployedVersion:
    """Deploy a draft as the next version of its process (DefinitionInvalid lists what to fix)."""
    results = definitions.deploy(session, bundle(session, draft), actor,
                                 note=note or f"studio draft {draft.id}")
    mine = [r for r in results if r.process_id == draft.process_id]
    if not mine:
        raise DefinitionInvalid([Problem(draft.file_name, None, f"The draft defines no executable process "
                                         f"'{draft.process_id}'.", "Keep the process id of the draft.")])
    draft.deployed_definition_id = mine[0].definition_id
    draft.updated_at, draft.updated_by = clock.now(), actor
    session.flush()
    return mine[0]

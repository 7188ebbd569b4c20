"""Deploy bundles of BPMN, DMN and form files as content-hashed versions; cache parsed specs."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import jsonschema
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.exceptions import SpiffWorkflowException
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import audit, clock, lint, live, serialization
from .errors import DefinitionInvalid, DefinitionNotFound, Problem, UnsafeInput
from .models import Deployment, ProcessDefinition
from .parsing import MAX_BUNDLE_BYTES, EngineParser, parse_xml

FORM_SUFFIXES = (".json",)


@dataclass
class DeployedVersion:
    """What a deploy did for one process: its version and whether it is new."""

    process_id: str
    version: int
    definition_id: int
    created: bool


@dataclass
class LoadedDefinition:
    """A version's parsed spec, ready to run (shared, read-only)."""

    id: int
    process_id: str
    version: int
    name: str
    spec: Any
    subprocess_specs: dict
    forms: dict[str, dict]
    user_tasks: dict[str, dict] = field(default_factory=dict)


def _as_bytes(content: bytes | str) -> bytes:
    return content.encode("utf-8") if isinstance(content, str) else content


def _basename(name: str) -> str:
    return name.replace("\\", "/").rsplit("/", 1)[-1]


def _load_forms(files: dict[str, bytes]) -> tuple[dict[str, dict], list[Problem]]:
    forms, problems = {}, []
    for name, data in files.items():
        if not name.endswith(FORM_SUFFIXES):
            continue
        try:
            schema = json.loads(data.decode("utf-8"))
            jsonschema.validators.validator_for(schema).check_schema(schema)
        except (ValueError, UnicodeDecodeError) as err:
            problems.append(Problem(name, None, f"The form file is not valid JSON: {err}", "Fix the JSON syntax."))
            continue
        except jsonschema.SchemaError as err:
            problems.append(Problem(name, "/".join(map(str, err.path)) or None,
                                    f"The form is not a valid JSON Schema: {err.message}",
                                    "Fix the schema (see json-schema.org)."))
            continue
        forms[_basename(name)] = schema
    return forms, problems


def _latest(session: Session, process_id: str) -> ProcessDefinition | None:
    return session.scalars(
        select(ProcessDefinition).where(ProcessDefinition.process_id == process_id)
        .order_by(ProcessDefinition.version.desc()).limit(1)
    ).first()


def _called_ids(tree) -> set[str]:
    return {c.get("calledElement") for c in tree.getroot().iterfind(".//bpmn:callActivity", lint.NS)
            if c.get("calledElement")}


def _process_ids(tree) -> set[str]:
    return {p.get("id") for p in tree.getroot().iterfind(".//bpmn:process", lint.NS)}


def deploy(session: Session, files: dict[str, bytes | str], actor: str, note: str = "") -> list[DeployedVersion]:
    """Parse, lint and store a bundle; each changed process gets a new version. All or nothing."""
    raw = {name: _as_bytes(content) for name, content in files.items()}
    total = sum(len(v) for v in raw.values())
    if total > MAX_BUNDLE_BYTES:
        raise UnsafeInput([Problem("(bundle)", None, f"The bundle is {total:,} bytes; the limit is "
                                   f"{MAX_BUNDLE_BYTES:,}.", "Deploy fewer or smaller files.")])
    unknown = [n for n in raw if not n.endswith((".bpmn", ".dmn", *FORM_SUFFIXES))]
    if unknown:
        raise DefinitionInvalid([Problem(n, None, "Unknown file type.", "Bundles hold .bpmn, .dmn and "
                                         ".json (form schema) files.") for n in unknown])
    bpmn_trees = {n: parse_xml(d, n) for n, d in raw.items() if n.endswith(".bpmn")}
    dmn_trees = {n: parse_xml(d, n) for n, d in raw.items() if n.endswith(".dmn")}
    if not bpmn_trees:
        raise DefinitionInvalid([Problem("(bundle)", None, "The bundle has no BPMN file.", "Add a .bpmn file.")])
    forms, problems = _load_forms(raw)

    in_bundle = set().union(*(_process_ids(t) for t in bpmn_trees.values()))
    called = set().union(*(_called_ids(t) for t in bpmn_trees.values())) - in_bundle
    extra_sources: dict[str, bytes] = {}
    # Called processes come from their latest deployed versions, transitively: Spiff needs the whole call
    # tree (a policy calls an inspection, which calls a rectification) to build the subprocess specs.
    pending, seen = sorted(called, reverse=True), set(in_bundle)
    while pending:
        process_id = pending.pop()
        if process_id in seen:
            continue
        seen.add(process_id)
        prior = _latest(session, process_id)
        if prior is not None:
            dep = session.get(Deployment, prior.deployment_id)
            source = _as_bytes(dep.files[prior.source_file])
            extra_sources[f"(deployed){prior.source_file}"] = source
            pending += sorted(_called_ids(parse_xml(source, prior.source_file)) - seen, reverse=True)
            for name, content in dep.files.items():
                if name.endswith(FORM_SUFFIXES) and _basename(name) not in forms:
                    forms[_basename(name)] = json.loads(content)
    known_ids = in_bundle | {pid for pid in called if any(pid in _process_ids(parse_xml(d, n))
                                                          for n, d in extra_sources.items())}
    for name, tree in bpmn_trees.items():
        problems += lint.lint_bpmn(name, tree, forms, known_ids)
    for name, tree in dmn_trees.items():
        problems += lint.lint_dmn(name, tree)
    if problems:
        raise DefinitionInvalid(problems)

    parser = EngineParser()
    specs = {}
    try:
        for name, tree in bpmn_trees.items():
            parser.add_bpmn_xml(tree, name)
        for name, data in extra_sources.items():
            parser.add_bpmn_xml(parse_xml(data, name), name)
        for name, tree in dmn_trees.items():
            parser.add_dmn_xml(tree.getroot(), name)
        for process_id in sorted(in_bundle & set(parser.get_process_ids())):
            specs[process_id] = (parser.get_spec(process_id), parser.get_subprocess_specs(process_id))
    except ValidationException as err:
        raise DefinitionInvalid([Problem(err.file_name or "(bundle)", err.id or None, str(err).split("\n")[0],
                                         "Fix the element in the modeler.", err.line_number or None)]) from None
    except SpiffWorkflowException as err:
        raise DefinitionInvalid([Problem("(bundle)", None, str(err), "Fix the diagram in the modeler.")]) from None

    now = clock.now()
    deployment: Deployment | None = None
    results = []
    source_of = {pid: name for name, tree in bpmn_trees.items() for pid in _process_ids(tree)}
    for process_id, (spec, subs) in specs.items():
        spec_json = serialization.dump_specs(spec, subs)
        used_forms = {f: forms[f] for f in sorted(_forms_used(spec, subs)) if f in forms}
        digest = hashlib.sha256((spec_json + json.dumps(used_forms, sort_keys=True)).encode()).hexdigest()
        latest = _latest(session, process_id)
        if latest is not None and latest.content_hash == digest:
            results.append(DeployedVersion(process_id, latest.version, latest.id, False))
            continue
        if deployment is None:
            deployment = Deployment(bundle_hash=_bundle_hash(raw), deployed_at=now, deployed_by=actor,
                                    files={n: d.decode("utf-8") for n, d in raw.items()}, note=note)
            session.add(deployment)
            session.flush()
        version = (latest.version + 1) if latest else 1
        row = ProcessDefinition(
            process_id=process_id, version=version, name=spec.description or process_id, content_hash=digest,
            deployment_id=deployment.id, source_file=source_of[process_id], spec_json=spec_json,
            forms=used_forms, serializer_version=serialization.SERIALIZER_VERSION, deployed_at=now,
            deployed_by=actor)
        session.add(row)
        session.flush()
        results.append(DeployedVersion(process_id, version, row.id, True))
        audit.record(session, actor, "deploy", data={"process_id": process_id, "version": version,
                                                     "hash": digest[:12]})
    return results


def _bundle_hash(raw: dict[str, bytes]) -> str:
    h = hashlib.sha256()
    for name in sorted(raw):
        h.update(name.encode() + b"\0" + raw[name] + b"\0")
    return h.hexdigest()


def _forms_used(spec, subprocess_specs) -> set[str]:
    used = set()
    for s in [spec, *subprocess_specs.values()]:
        for task_spec in s.task_specs.values():
            props = (getattr(task_spec, "extensions", None) or {}).get("properties", {})
            if props.get("formJsonSchemaFilename"):
                used.add(_basename(props["formJsonSchemaFilename"]))
    return used


_CACHE: OrderedDict[tuple[int, int], LoadedDefinition] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 256


def load(session: Session, definition_id: int) -> LoadedDefinition:
    """The parsed spec of one version, parsed once per process and cached."""
    bind = session.get_bind()
    bind = getattr(bind, "engine", bind)  # a session held on a connection (db.SessionFactory)
    key = (getattr(bind, "cache_key", None) or str(bind.url), definition_id)
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    row = session.get(ProcessDefinition, definition_id)
    if row is None:
        raise DefinitionNotFound(f"No process definition with id {definition_id}.")
    spec, subs = serialization.load_specs(row.spec_json)
    loaded = LoadedDefinition(row.id, row.process_id, row.version, row.name, spec, subs, row.forms)
    with _CACHE_LOCK:
        _CACHE[key] = loaded
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return loaded


def resolve(session: Session, process_id: str, version: int | None = None) -> ProcessDefinition:
    """The definition row for a process id (latest version unless one is given)."""
    query = select(ProcessDefinition).where(ProcessDefinition.process_id == process_id)
    if version is not None:
        query = query.where(ProcessDefinition.version == version)
    row = session.scalars(query.order_by(ProcessDefinition.version.desc()).limit(1)).first()
    if row is None:
        what = f"version {version} of '{process_id}'" if version else f"'{process_id}'"
        raise DefinitionNotFound(f"No deployed process {what}. Deploy it first (idiflow deploy).",
                                 process_id=process_id)
    return row


def list_latest(session: Session) -> list[ProcessDefinition]:
    """The newest version of every deployed process."""
    newest = (select(ProcessDefinition.process_id, func.max(ProcessDefinition.version).label("v"))
              .group_by(ProcessDefinition.process_id).subquery())
    return list(session.scalars(
        select(ProcessDefinition).join(newest, (ProcessDefinition.process_id == newest.c.process_id)
                                       & (ProcessDefinition.version == newest.c.v))
        .order_by(ProcessDefinition.process_id)))


def versions(session: Session, process_id: str) -> list[ProcessDefinition]:
    """Every version of one process, newest first."""
    return list(session.scalars(select(ProcessDefinition).where(ProcessDefinition.process_id == process_id)
                                .order_by(ProcessDefinition.version.desc())))


def source(session: Session, definition: ProcessDefinition) -> str:
    """The BPMN XML a version was deployed from."""
    return session.get(Deployment, definition.deployment_id).files[definition.source_file]


def clear_cache() -> None:
    """Forget parsed specs (tests that reuse ids across databases), and the workflows kept on them."""
    with _CACHE_LOCK:
        _CACHE.clear()
    live.CACHE.clear()

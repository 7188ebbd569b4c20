"""The OpenAPI 3 description of /api/v1, kept as data beside the views (a test checks it covers them)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from .access import public

bp = Blueprint("openapi", __name__)

ERROR = {"$ref": "#/components/schemas/Error"}
STR, INT, BOOL, OBJ = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}, {"type": "object"}
#: path parameters that are integers (the others are strings)
INT_PARAMS = {"instance_id", "incident_id", "inspection_id", "notice_id"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "Bad request", 401: "No or bad token", 403: "Wrong role", 404: "Not found",
            409: "Conflict (already done, changed concurrently, database busy)", 422: "Invalid input"}
    return {str(c): {"description": text[c], **_json(ERROR)} for c in codes}


def operation(summary: str, tag: str, ok: int = 200, ok_schema: dict | None = None, body: dict | None = None,
              query: tuple[str, ...] = (), errors: tuple[int, ...] = (), auth: bool = True,
              special: dict[int, dict] | None = None) -> dict[str, Any]:
    """One operation: summary, parameters, body and responses (401 added when a token is needed)."""
    responses = {str(ok): {"description": "OK", **_json(ok_schema or OBJ)},
                 **_errors(*((401,) if auth else ()), *errors),
                 **{str(code): response for code, response in (special or {}).items()}}
    op: dict[str, Any] = {"summary": summary, "tags": [tag], "responses": responses}
    if query:
        op["parameters"] = [{"name": q, "in": "query", "required": False, "schema": {"type": "string"}}
                            for q in query]
    if body is not None:
        op["requestBody"] = {"required": True, **_json(body)}
    if not auth:
        op["security"] = []
    return op


def _obj(**props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props}


#: path (OpenAPI syntax) -> method -> operation. Add an entry here with every new endpoint.
DEPLOYED = _obj(deployed={"type": "array", "items": _obj(process_id=STR, version=INT, definition_id=INT,
                                                           created=BOOL)})
PROBLEMS = {"description": "The bundle was refused; `problems` lists file, element, line, message, fix",
            **_json({"allOf": [ERROR, _obj(problems={"type": "array", "items": OBJ})]})}
FIELDS = {"description": "The form data was refused; `fields` maps each invalid field to its message",
          **_json({"allOf": [ERROR, _obj(fields=OBJ)]})}
ITEMS = _obj(items={"type": "array", "items": OBJ}, limit=INT, offset=INT)
PAGE = ("limit", "offset")

def _download(summary: str, tag: str, mimetype: str) -> dict[str, Any]:
    op = operation(summary, tag, errors=(403, 404))
    op["responses"]["200"] = {"description": "OK", "content": {mimetype: {"schema": STR}}}
    return op


_PARTY = _obj(credit_code=STR, name=STR, qualification_grade=STR, credit_grade=STR, group_parent_code=STR,
              related_parties={"type": "array", "items": _obj(credit_code=STR, relation=STR)})
#: Statistics and quarterly reports (web/api/statistics.py): LG-PLAT, DEC-REPORT.
PERIOD = ("quarter", "start", "end", "district")
STATISTICS_PATHS: dict[str, dict[str, dict[str, Any]]] = {
    "/statistics": {
        "get": operation("Every dashboard figure for a period (quarter=2027Q2, or start and end local dates) "
                         "and optional district; state figures as of the period's end", "statistics",
                         query=PERIOD, errors=(400, 403)),
    },
    "/statistics/cases": {
        "get": operation("The cases behind one figure (figure=claims.by_category.5)", "statistics",
                         query=("figure", *PERIOD, *PAGE), errors=(400, 403, 404)),
    },
    "/reports": {
        "get": operation("Quarterly reports to the authority, newest first", "statistics", ok_schema=ITEMS,
                         errors=(403,)),
    },
    "/reports/{report_no}": {
        "get": operation("One quarterly report with its figures and lines", "statistics", errors=(403, 404)),
    },
    "/reports/{report_no}/{kind}": {
        "get": _download("The report as xlsx or pdf", "statistics", "application/octet-stream"),
    },
}
#: The IDI domain (web/api/projects, policies, agencies, inspections, notices). Writes are process steps.
DOMAIN_PATHS: dict[str, dict[str, dict[str, Any]]] = {
    "/projects": {
        "get": operation("Projects with status and phase (the policy's status); developers and "
                         "contractors see their own", "projects", ok_schema=ITEMS,
                         query=("status", "phase", *PAGE), errors=(403,)),
        "post": operation("Register a project (developer): starts its policy lifecycle; out of scope is "
                          "refused with the reason (LG-SCOPE) and the quote is computed (DEC-RATE)",
                          "projects",
                          ok=201, body=_obj(project_no=STR, project=_obj(
                              name=STR, address=STR, district=STR, in_longgang=BOOL, project_type=STR,
                              construction_cost=STR, contract_no=STR, idi_clause_present=BOOL,
                              permit_applied_on=STR, units={"type": "array", "items": STR},
                              parties=_obj(developer=_PARTY, contractor=_PARTY, designer=_PARTY,
                                           supervisor=_PARTY))),
                          errors=(400, 403, 409), special={422: FIELDS}),
    },
    "/projects/{project_no}": {
        "get": operation("One project: parties, flags, policy, stored cover dates, inspections with "
                         "findings, major-risk reports copied to the authority, open tasks", "projects",
                         errors=(403, 404)),
    },
    "/projects/{project_no}/completion": {
        "post": operation("Completion acceptance passed on C (authority_officer, developer): the cover "
                          "dates are computed and stored (LG-COV-START, DEC-DATES)", "projects",
                          body=_obj(completion_date=STR, record_no=STR), errors=(400, 403, 404, 409)),
    },
    "/projects/{project_no}/inspections": {
        "get": operation("The project's inspections with graded findings and rectification orders",
                         "inspections", errors=(403, 404)),
    },
    "/inspections/{inspection_id}": {
        "get": operation("One inspection report (DEC-RM-LOOP, LG-RM-MAJOR)", "inspections",
                         errors=(403, 404)),
    },
    "/rectifications": {
        "get": operation("Rectification orders by deadline, with escalations", "inspections", ok_schema=ITEMS,
                         query=("status", "project_no", *PAGE), errors=(403,)),
    },
    "/policies/{policy_no}": {
        "get": operation("One policy: quote with each factor, status history, payments, cover dates, agency "
                         "engagements, exemptions, cancellations, notices", "policies", errors=(403, 404)),
    },
    "/policies/{policy_no}/review": {
        "post": operation("Accept or decline the risk (underwriter)", "policies",
                          body=_obj(review_decision={"type": "string", "enum": ["accept", "decline"]},
                                    review_note=STR),
                          errors=(400, 403, 404, 409), special={422: FIELDS}),
    },
    "/policies/{policy_no}/sign": {
        "post": operation("Sign the policy (developer); refused once the permit was applied for "
                          "(LG-BIND-PREPERMIT): the answer shows status `refused` and the reason", "policies",
                          body=_obj(permit_status={"type": "string", "enum": ["not_applied", "applied"]},
                                    permit_applied_on=STR),
                          errors=(400, 403, 404, 409), special={422: FIELDS}),
    },
    "/policies/{policy_no}/payments": {
        "post": operation("A premium payment arrived (underwriter); only one payment of the full premium "
                          "makes the policy effective (LG-BIND-LUMPSUM)", "policies", ok=201,
                          body=_obj(amount=STR, reference=STR), errors=(400, 403, 404, 409)),
    },
    "/policies/{policy_no}/agency": {
        "post": operation("Appoint a risk management agency (underwriter); an unregistered or affiliated "
                          "agency is refused with the reason (LG-RM-REG, LG-RM-INDEP)", "policies",
                          body=_obj(agency_code=STR), errors=(400, 403, 404, 409), special={422: FIELDS}),
    },
    "/policies/{policy_no}/exemption": {
        "post": operation("Request (or decline) the maintenance-fund exemption (developer); the authority "
                          "decides it as a task (LG-FUND-EXEMPT)", "policies",
                          body=_obj(request_exemption=BOOL), errors=(400, 403, 404, 409)),
    },
    "/policies/{policy_no}/cancellation": {
        "post": operation("Ask to cancel the policy (developer); refused once exempted (LG-FUND-NOCANCEL)",
                          "policies", ok=201, body=_obj(reason=STR), errors=(400, 403, 404, 409)),
    },
    "/policies/{policy_no}/notices": {
        "get": operation("The policy's notices (告知书), one per unit, with their delivery", "notices",
                         errors=(403, 404)),
    },
    "/policies/{policy_no}/notices/delivery": {
        "post": operation("Record the units whose notices were handed over (developer; LG-NOTICE-DELIVER)",
                          "notices", body=_obj(delivered_on=STR, units={"type": "array", "items": STR},
                                               recipient=STR),
                          errors=(400, 403, 404, 409), special={422: FIELDS}),
    },
    "/notices/{notice_id}/html": {
        "get": _download("A notice as a printable HTML page (LG-NOTICE)", "notices", "text/html"),
    },
    "/notices/{notice_id}/pdf": {
        "get": _download("A notice as a PDF in Chinese, downloaded (LG-NOTICE)", "notices",
                         "application/pdf"),
    },
    "/agencies": {
        "get": operation("Risk management agencies with their registration status (LG-RM-REG)", "agencies",
                         ok_schema=ITEMS),
    },
    "/agencies/{credit_code}": {
        "get": operation("One agency: registrations and engagements", "agencies", errors=(404,)),
    },
    "/agencies/registrations": {
        "post": operation("An agency applies for registration (risk_engineer); the authority decides it as a "
                          "task", "agencies", ok=201, body=_obj(agency=_PARTY), errors=(400, 403, 409),
                          special={422: FIELDS}),
    },
}

#: path (OpenAPI syntax) -> method -> operation. Add an entry here with every new endpoint.
PATHS: dict[str, dict[str, dict[str, Any]]] = {
    "/definitions": {
        "get": operation("The newest version of every deployed process", "definitions", ok_schema=ITEMS),
        "post": operation("Deploy a bundle of .bpmn, .dmn and form .json files (process_owner); JSON "
                          "{files: {name: text}} or multipart with repeated `files` parts", "definitions",
                          ok=201, ok_schema=DEPLOYED, errors=(400, 403), special={422: PROBLEMS},
                          body=_obj(files={"type": "object", "additionalProperties": STR}, note=STR)),
    },
    "/definitions/{process_id}/versions": {
        "get": operation("Every version of one process, newest first", "definitions", ok_schema=ITEMS,
                         errors=(404,)),
    },
    "/instances": {
        "get": operation("Instances, newest first, with the total count", "instances", ok_schema=ITEMS,
                         query=("process_id", "status", "business_key", "has_incident", *PAGE)),
        "post": operation("Start a process and run it to its first wait state", "instances", ok=201,
                          body=_obj(process_id=STR, data=OBJ, business_key=STR, title=STR, version=INT),
                          errors=(400, 404, 422)),
    },
    "/instances/{instance_id}": {
        "get": operation("One instance with its variables, open tasks, incidents and history", "instances",
                         errors=(404,)),
    },
    "/instances/{instance_id}/cancel": {
        "post": operation("Cancel a running instance (process_owner)", "instances", body=_obj(reason=STR),
                          errors=(403, 404, 409)),
    },
    "/tasks": {
        "get": operation("Open tasks; without lane or assignee, those of the caller's roles", "tasks",
                         ok_schema=ITEMS, query=("lane", "assignee", "business_key", "process_id", "status",
                                                 *PAGE)),
    },
    "/tasks/{task_id}": {
        "get": operation("One task with the JSON Schema of its form", "tasks", errors=(404,)),
    },
    "/tasks/{task_id}/complete": {
        "post": operation("Complete a task with form data (the task's lane role)", "tasks",
                          body=_obj(data=OBJ), errors=(400, 403, 404, 409), special={422: FIELDS}),
    },
    "/tasks/{task_id}/claim": {
        "post": operation("Claim an open task (the task's lane role)", "tasks", errors=(403, 404, 409)),
    },
    "/tasks/{task_id}/unclaim": {
        "post": operation("Give a claimed task back to its lane", "tasks", errors=(403, 404, 409)),
    },
    "/messages": {
        "post": operation("Deliver a message to the instance waiting for it", "messages",
                          body=_obj(name=STR, business_key=STR, correlation=STR, payload=OBJ),
                          errors=(400, 404, 409)),
    },
    "/incidents": {
        "get": operation("Incidents, newest first", "incidents", ok_schema=ITEMS,
                         query=("status", "instance_id", "limit")),
    },
    "/incidents/{incident_id}/retry": {
        "post": operation("Run an incident's failed task again", "incidents", errors=(404, 409)),
    },
    "/clock": {
        "get": operation("The engine's time (UTC and Asia/Shanghai), simulated or system, and the next due "
                         "timer", "clock"),
    },
    "/clock/advance": {
        "post": operation("Move the simulated clock forward by an ISO duration (P2Y) or 2y/3mo/10d/12h, "
                          "firing due timers in order (process_owner, administrator; not in production)",
                          "clock", body=_obj(duration=STR), errors=(400, 403, 409, 422)),
    },
    "/clock/advance-to": {
        "post": operation("Move the simulated clock to an ISO time (naive = Asia/Shanghai), firing due "
                          "timers in order (process_owner, administrator; not in production)", "clock",
                          body=_obj(when=STR), errors=(400, 403, 409, 422)),
    },
    "/clock/next": {
        "post": operation("Jump the simulated clock to the next due timer and fire it (process_owner, "
                          "administrator; not in production)", "clock", errors=(403, 409)),
    },
    "/timers": {
        "get": operation("Timers by due date with local (Asia/Shanghai) due times; status pending by "
                         "default, `all` for every one", "clock", ok_schema=ITEMS,
                         query=("status", "instance_id", *PAGE)),
    },
    "/claims": {
        "get": operation("Claims, newest first; owners see only their own reports", "claims", ok_schema=ITEMS,
                         query=("status", *PAGE)),
        "post": operation("Report a defect at any hour (owner, or claims staff for a hotline caller); "
                          "the claim number and the routing notice come back at once", "claims", ok=201,
                          body=_obj(policy_no=STR, unit=STR, category=INT, description=STR, channel=STR,
                                    reporter=STR, reported_at=STR),
                          errors=(400, 403, 404, 422)),
    },
    "/claims/{claim_no}": {
        "get": operation("One claim with its routing notice, history and SLA breaches", "claims",
                         errors=(403, 404)),
    },
    "/claims/{claim_no}/timeline": {
        "get": operation("A claim's status history, service levels (due date; running, met or breached), "
                         "breaches and open steps; owners see their own claims", "claims", errors=(403, 404)),
    },
    "/claims/{claim_no}/withdraw": {
        "post": operation("Withdraw a claim still waiting for its survey (the reporter, or claims staff for a "
                          "hotline caller)", "claims", body=_obj(reason=STR), errors=(400, 403, 404, 409)),
    },
    "/claims/{claim_no}/dispute": {
        "post": operation("The reporting owner disputes a rejection (kind coverage, LG-DSP-APPRAISAL) or the "
                          "offered repair or amount (kind amount, LG-DSP-AMOUNT)", "claims",
                          body=_obj(kind={"type": "string", "enum": ["coverage", "amount"]}, grounds=STR),
                          errors=(400, 403, 404, 409, 422)),
    },
    "/expert-bodies": {
        "get": operation("Registered appraisal and loss-assessment bodies with what each may be entrusted with "
                         "today (claims staff, authority officer)", "claims", query=("kind",), errors=(403, 422)),
        "post": operation("Register an appraisal body (qualification) or loss-assessment body (judicial-"
                          "appraisal licence) (claims_supervisor, authority_officer, administrator)", "claims",
                          ok=201, body=_obj(credit_code=STR, name=STR, qualification_no=STR,
                                            judicial_licence_no=STR, licence_valid_until=STR),
                          errors=(400, 403, 409, 422)),
    },
    **DOMAIN_PATHS,
    **STATISTICS_PATHS,
    "/openapi.json": {
        "get": operation("This document", "meta", auth=False),
    },
}



def path_parameters(path: str) -> list[dict[str, Any]]:
    """The `{name}` parameters of a path."""
    names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    return [{"name": n, "in": "path", "required": True, "schema": INT if n in INT_PARAMS else STR}
            for n in names]


def document() -> dict[str, Any]:
    """The whole OpenAPI document."""
    paths = {}
    for path, methods in PATHS.items():
        params = path_parameters(path)
        paths[path] = {m: ({**op, "parameters": params + op.get("parameters", [])} if params else op)
                       for m, op in methods.items()}
    return {
        "openapi": "3.0.3",
        "info": {"title": "idiflow API", "version": "1",
                 "description": "Deploy BPMN, start instances, work tasks, send messages, retry incidents. "
                                "Every answer is JSON; errors are {error, detail, ...}."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": {"type": "object", "required": ["error", "detail"],
                                  "properties": {"error": STR, "detail": STR}}},
        },
    }


@bp.get("/openapi.json")
@public
def serve_document():
    """GET /openapi.json: the OpenAPI document."""
    return jsonify(document())

"""Owners' defect reports: validate, store, number (CLM-YYYYMMDD-NNNN) and hand over to a claims process.

The claims process plugs in here: when `idi_claim` is deployed, the report goes through the claims centre's
front door (`handlers.intake.report_defect`, channel "portal"), which numbers the claim, matches the unit
to its policy and starts the process. Without it the report waits in `web_defect_report` with status
"received". Either way the owner gets the claim number at once (LG-CLM-CENTER), and `web_defect_report`
remembers who reported what, so an owner sees only their own claims.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine import clock, definitions
from engine.errors import DefinitionNotFound
from engine.models import HumanTask, ProcessInstance

from .case_models import CaseFile, DefectReport

CLAIMS_PROCESS = "idi_claim"
CLAIM_PREFIX = "CLM"
MAX_PHOTOS = 6
MAX_PHOTO_BYTES = 10 * 1024 * 1024
PHOTO_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp", "image/heic")

#: RULES.md section 2 (LG-COV-1 … LG-COV-8) in the words an owner uses
CATEGORIES = {
    1: _l("The building or part of it collapsed"),
    2: _l("The foundation is sinking unevenly"),
    3: _l("Balcony, canopy, eaves or outer wall collapsed or cracked"),
    4: _l("Cracks or bending in load-bearing walls, beams or columns"),
    5: _l("Leaks: roof, basement, outer walls, doors and windows, bathroom"),
    6: _l("Heating or air-conditioning system"),
    7: _l("Wiring, water pipes, drains or installed equipment"),
    8: _l("Decoration: plaster, ceilings, wall finishes"),
}
STATUS_LABELS = {
    "received": _l("Received"),
    "running": _l("Being handled"),
    "completed": _l("Closed"),
    "cancelled": _l("Withdrawn"),
}
#: DEC-ROUTE: who deals with the defect, in the owner's words (handlers.claims.apply_route)
ROUTE_LABELS = {
    "insurer": _l("Insurance claim"),
    "contractor": _l("Contractor warranty repair"),
    "expired": _l("Cover has expired"),
    "not_in_scope": _l("Not covered by the policy"),
}
#: the window the route was judged on, by route
WINDOW_LABELS = {
    "insurer": _l("Insurance period"),
    "expired": _l("Insurance period"),
    "contractor": _l("Contractor warranty period"),
}
#: the claim's history entries (handlers.claims.note) in the owner's words
CLAIM_STEPS = {
    "reported": _l("Report received"),
    "routed_insurer": _l("Handed to the insurer"),
    "routed_contractor": _l("Handed to the construction contractor for repair"),
    "routed_expired": _l("Judged after the end of cover"),
    "routed_not_in_scope": _l("Judged not covered"),
    "surveyed": _l("Surveyed"),
    "covered": _l("Coverage confirmed"),
    "rejection_notified": _l("Rejection notice sent"),
    "amount_disputed": _l("Amount disputed"),
    "appraisal_entrusted": _l("Appraisal body entrusted"),
    "appraised_covered": _l("Appraisal found the defect covered"),
    "loss_assessment_entrusted": _l("Loss assessor entrusted"),
    "agreed": _l("Settlement agreed"),
    "subrogation": _l("Recovery from the responsible party started"),
    "repair_ordered": _l("Repair ordered"),
    "repair_accepted": _l("Repair accepted"),
    "paid": _l("Paid"),
    "contractor_repaired": _l("Contractor confirmed the repair"),
    "closed": _l("Closed"),
}
#: whom an open step waits for, by lane
WAITING_FOR = {
    "claims_handler": _l("the claims handler"),
    "claims_supervisor": _l("the claims supervisor"),
    "contractor": _l("the construction contractor"),
    "repairer": _l("the repairer"),
    "appraiser": _l("the appraisal body"),
    "owner": _l("you"),
}


@dataclass
class Photo:
    """An uploaded photo, already read."""

    filename: str
    content_type: str
    content: bytes


def check(unit: str, category: str, description: str, photos: list[Photo]) -> dict[str, str]:
    """Errors by field name for a defect report; empty when it may be filed."""
    errors = {}
    if not unit.strip():
        errors["unit"] = str(_l("Tell us which unit (building, entrance, room)."))
    if not category.isdigit() or int(category) not in CATEGORIES:
        errors["category"] = str(_l("Choose what kind of defect it is."))
    if len(description.strip()) < 5:
        errors["description"] = str(_l("Describe the defect in a few words (at least 5 characters)."))
    elif len(description) > 4000:
        errors["description"] = str(_l("Keep the description under 4000 characters."))
    if len(photos) > MAX_PHOTOS:
        errors["photos"] = str(_l("Attach at most %(n)d photos.", n=MAX_PHOTOS))
    elif any(p.content_type not in PHOTO_TYPES for p in photos):
        errors["photos"] = str(_l("Photos must be JPEG, PNG, GIF, WebP or HEIC images."))
    elif any(len(p.content) > MAX_PHOTO_BYTES for p in photos):
        errors["photos"] = str(_l("Each photo may be at most 10 MB."))
    return errors


def next_claim_no(session: Session, today: dt.date) -> str:
    """The next free claim number of a local day, CLM-20290704-0001, -0002 … (free in the claim table too)."""
    stem = f"{CLAIM_PREFIX}-{today:%Y%m%d}-"
    columns = [DefectReport.claim_no]
    try:
        from handlers.claim_models import Claim

        columns.append(Claim.claim_no)
    except ImportError:  # the claims domain is optional
        pass
    numbers = [session.scalar(select(func.max(c)).where(c.startswith(stem))) for c in columns]
    last = max((n for n in numbers if n), default=None)
    return f"{stem}{int(last.rsplit('-', 1)[1]) + 1 if last else 1:04d}"


def claims_process_deployed(session: Session) -> bool:
    """True when a claims process is deployed to take reports over."""
    try:
        definitions.resolve(session, CLAIMS_PROCESS)
    except DefinitionNotFound:
        return False
    return True


def report(session: Session, reporter: str, unit: str, category: int, description: str,
           photos: list[Photo], contact_phone: str = "") -> DefectReport:
    """File a defect report: a claim number at once, photos on the case, the claims process started if any."""
    now = clock.now()
    routed = _through_claims_centre(session, reporter, unit, category, description)
    if routed is not None:
        claim_no, instance_id = routed
        row = DefectReport(claim_no=claim_no, reporter=reporter, unit=unit.strip(), category=category,
                           description=description.strip(), contact_phone=contact_phone.strip(),
                           status="running", reported_at=now, instance_id=instance_id)
        session.add(row)
        session.flush()
        _attach(session, row, photos, reporter, now)
        return row
    for _attempt in range(3):
        row = DefectReport(claim_no=next_claim_no(session, clock.to_local(now).date()), reporter=reporter,
                           unit=unit.strip(), category=category, description=description.strip(),
                           contact_phone=contact_phone.strip(), status="received", reported_at=now)
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
            break
        except IntegrityError:  # a concurrent report took the number (PostgreSQL); take the next one
            continue
    _attach(session, row, photos, reporter, now)
    return row


def _attach(session: Session, row: DefectReport, photos: list[Photo], reporter: str,
            now: dt.datetime) -> None:
    for photo in photos:
        session.add(CaseFile(case_key=row.claim_no, instance_id=row.instance_id, filename=photo.filename,
                             content_type=photo.content_type, size=len(photo.content), content=photo.content,
                             uploaded_by=reporter, uploaded_at=now))
    session.flush()


def _through_claims_centre(session: Session, reporter: str, unit: str, category: int,
                           description: str) -> tuple[str, int | None] | None:
    """Report through the claims domain when it and its process are there: (claim number, instance id)."""
    try:
        from handlers.claim_models import Claim
        from handlers.intake import report_defect
    except ImportError:
        return None
    if not claims_process_deployed(session):
        return None
    claim_no = report_defect(session, category, description.strip(), reporter, "portal", unit=unit.strip())
    instance_id = session.scalar(select(Claim.instance_id).where(Claim.claim_no == claim_no))
    return claim_no, instance_id


def reports_of(session: Session, reporter: str) -> list[DefectReport]:
    """One owner's reports, newest first."""
    return list(session.scalars(select(DefectReport).where(DefectReport.reporter == reporter)
                                .order_by(DefectReport.id.desc())))


def find(session: Session, claim_no: str) -> DefectReport | None:
    """A report by claim number."""
    return session.scalars(select(DefectReport).where(DefectReport.claim_no == claim_no)).first()


def progress(session: Session, row: DefectReport) -> dict:
    """Where a claim stands: status, the steps it waits on (whom, by when), when it ended, and the claims
    centre's routing and dated history when the claims domain holds the claim."""
    if row.instance_id is None:
        return {"status": row.status, "label": STATUS_LABELS.get(row.status, row.status), "waiting_on": [],
                "next": [], "ended_at": None, "claim": None}
    instance = session.get(ProcessInstance, row.instance_id)
    open_tasks = list(session.scalars(select(HumanTask).where(HumanTask.instance_id == row.instance_id,
                                                              HumanTask.status == "open")
                                      .order_by(HumanTask.created_at)))
    status = instance.status if instance else row.status
    return {"status": status, "label": STATUS_LABELS.get(status, status),
            "waiting_on": [t.title for t in open_tasks],
            "next": [{"title": t.title, "who": WAITING_FOR.get(t.lane or "", t.lane or ""), "due_at": t.due_at}
                     for t in open_tasks],
            "ended_at": instance.ended_at if instance else None, "claim": claim_facts(session, row.claim_no)}


def claim_facts(session: Session, claim_no: str) -> dict | None:
    """The claims centre's view of a claim: route, the dates it was judged on, its dated steps (or None)."""
    try:
        from handlers.claim_models import Claim
        from handlers.cover import ITEM_END
        from handlers.models import Policy
    except ImportError:  # the claims domain is optional
        return None
    claim = session.scalars(select(Claim).where(Claim.claim_no == claim_no)).first()
    if claim is None:
        return None
    policy = session.get(Policy, claim.policy_id)
    window = None
    if claim.route == "contractor":
        window = (policy.contractor_start, policy.contractor_end)
    elif claim.route in ("insurer", "expired") and claim.category in ITEM_END:
        window = (policy.cover_start, getattr(policy, ITEM_END[claim.category]))
    steps = [{"status": h.get("status", ""), "label": CLAIM_STEPS.get(h.get("status", ""), h.get("status", "")),
              "at": dt.datetime.fromisoformat(h["at"])} for h in claim.history or () if h.get("at")]
    return {"route": claim.route, "route_label": ROUTE_LABELS.get(claim.route, claim.route),
            "window_label": WINDOW_LABELS.get(claim.route, ""), "window": window,
            "coverage_date": claim.coverage_date, "policy_no": policy.policy_no, "steps": steps,
            "closed_at": claim.closed_at}

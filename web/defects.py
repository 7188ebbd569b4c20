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
    """Where a claim stands: status, the step it waits on, and when it ended."""
    if row.instance_id is None:
        return {"status": row.status, "label": STATUS_LABELS.get(row.status, row.status), "waiting_on": [],
                "ended_at": None}
    instance = session.get(ProcessInstance, row.instance_id)
    steps = list(session.scalars(select(HumanTask.title).where(HumanTask.instance_id == row.instance_id,
                                                               HumanTask.status == "open")))
    status = instance.status if instance else row.status
    return {"status": status, "label": STATUS_LABELS.get(status, status), "waiting_on": steps,
            "ended_at": instance.ended_at if instance else None}

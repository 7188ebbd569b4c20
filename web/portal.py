"""The owner portal: report a defect, get the claim number at once, follow the claim (phone-sized pages)."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine import audit, clock

from . import defects
from .auth import current_user, roles_required
from .case_models import CaseFile
from .db import get_session
from .pages import run_unit
from .permissions import OWNER_ROLE, may_view_claim
from .taskpage import clean_filename

bp = Blueprint("portal", __name__)


def _units(user) -> list[str]:
    units = (user.attributes or {}).get("units") or []
    return [str(u) for u in units] if isinstance(units, list) else []


@bp.get("/portal")
@roles_required(OWNER_ROLE)
def home():
    """My claims with their status and dates."""
    session, user = get_session(), current_user()
    reports = defects.reports_of(session, user.username)
    return render_template("portal/home.html", reports=reports,
                           progress={r.id: defects.progress(session, r) for r in reports},
                           categories=defects.CATEGORIES)


@bp.route("/portal/report", methods=["GET", "POST"])
@roles_required(OWNER_ROLE)
def report():
    """Report a defect: unit, what kind, what you see, photos."""
    user = current_user()
    if request.method == "GET":
        return render_template("portal/report.html", form={}, errors={}, units=_units(user),
                               categories=defects.CATEGORIES)
    form = request.form
    photos = [defects.Photo(clean_filename(f.filename), f.mimetype or "", f.read(defects.MAX_PHOTO_BYTES + 1))
              for f in request.files.getlist("photos") if f and f.filename]
    errors = defects.check(form.get("unit", ""), form.get("category", ""), form.get("description", ""),
                           photos)
    if errors:
        return render_template("portal/report.html", form=form, errors=errors, units=_units(user),
                               categories=defects.CATEGORIES), 422
    row, err = run_unit(lambda s: defects.report(s, user.username, form["unit"], int(form["category"]),
                                                 form["description"], photos, form.get("phone", "")))
    if isinstance(err, LookupError):  # the claims centre found no insured project listing the unit
        errors = {"unit": _("No insured project lists the unit %(unit)s. Write it as on your purchase contract "
                            "(building-room, e.g. 3-1202).", unit=form["unit"].strip())}
        return render_template("portal/report.html", form=form, errors=errors, units=_units(user),
                               categories=defects.CATEGORIES), 422
    if err is not None:  # the claims centre refused for another reason: say which
        errors = {"unit": _("The claims centre could not register this report: %(reason)s",
                            reason=err.message)}
        return render_template("portal/report.html", form=form, errors=errors, units=_units(user),
                               categories=defects.CATEGORIES), 422
    return redirect(url_for("portal.claim", claim_no=row.claim_no, new=1))


@bp.get("/portal/claims/<claim_no>")
@roles_required(OWNER_ROLE, "claims_handler", "claims_supervisor", "authority_officer")
def claim(claim_no: str):
    """One claim: its number, status, dates, photos and history."""
    session, user = get_session(), current_user()
    row = defects.find(session, claim_no)
    if row is None:
        abort(404)
    if not may_view_claim(session, user, row):
        abort(403)
    photos = session.query(CaseFile.id, CaseFile.filename).filter(CaseFile.case_key == row.claim_no).all()
    history = audit.history(session, row.instance_id) if row.instance_id else []
    return render_template("portal/claim.html", report=row, progress=defects.progress(session, row),
                           photos=photos, history=history, new=request.args.get("new") == "1",
                           category=defects.CATEGORIES.get(row.category, ""), now=clock.now())

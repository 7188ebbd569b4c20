"""The quarterly authority report table, and the indexes the statistics queries read (LG-PLAT, DEC-REPORT).

The indexes sit on other modules' tables; they are declared here, beside the queries that need them
(handlers/statistics.py), so that the models and the migration 0007_statistics agree.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Date, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base
from engine.models import UTCDateTime

from .claim_models import (
    Appraisal,
    Claim,
    ClaimPayment,
    CreditRecord,
    Decision,
    RepairOrder,
    SlaBreach,
    Subrogation,
    Survey,
)
from .models import Exemption, Inspection, Policy, Project, Rectification


class QuarterlyReport(Base):
    """One quarter's report to the construction authority: its figures, files and review trail."""

    __tablename__ = "idi_quarterly_report"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    report_no: Mapped[str] = mapped_column(String(40), unique=True)
    year: Mapped[int] = mapped_column(Integer)
    quarter: Mapped[int] = mapped_column(Integer)
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="generated")  # generated, submitted, received
    generated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    figures: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    xlsx: Mapped[bytes] = mapped_column(LargeBinary)
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    review_note: Mapped[str] = mapped_column(Text, default="")
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    submitted_by: Mapped[str] = mapped_column(String(200), default="")
    received_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    received_by: Mapped[str] = mapped_column(String(200), default="")
    reminders: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    instance_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


#: Range scans of the statistics (one per figure family), filtered by district through the project. They
#: cover the columns their queries read, so a family costs an index range scan plus primary-key lookups.
STATISTICS_INDEXES = (
    Index("ix_stat_project_district", Project.district, Project.id),
    Index("ix_stat_policy_signed", Policy.signed_at),
    Index("ix_stat_policy_project", Policy.project_id, Policy.id),
    Index("ix_stat_inspection_at", Inspection.inspected_at),
    Index(
        "ix_stat_rectification_due",
        Rectification.due_at,
        Rectification.issued_at,
        Rectification.closed_at,
        Rectification.finding_id,
    ),
    Index("ix_stat_exemption_requested", Exemption.requested_at),
    # covering: the claim figures group by category, route and outcome without reading the table
    Index(
        "ix_stat_claim_reported",
        Claim.reported_at,
        Claim.category,
        Claim.route,
        Claim.outcome,
        Claim.closed_at,
        Claim.policy_id,
    ),
    Index("ix_stat_survey_at", Survey.surveyed_at, Survey.claim_id),
    Index("ix_stat_decision_at", Decision.decided_at, Decision.claim_id),
    Index("ix_stat_repair_completed", RepairOrder.completed_at, RepairOrder.issued_at, RepairOrder.claim_id),
    Index("ix_stat_payment_at", ClaimPayment.paid_at, ClaimPayment.kind, ClaimPayment.amount, ClaimPayment.claim_id),
    Index("ix_stat_appraisal_decided", Appraisal.decided_at),
    Index("ix_stat_subrogation_opened", Subrogation.opened_at),
    Index("ix_stat_breach_at", SlaBreach.breached_at, SlaBreach.sla, SlaBreach.claim_id),
    Index("ix_stat_credit_recorded", CreditRecord.recorded_at),
)

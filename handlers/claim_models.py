"""Claims tables: the claim and its survey, decision, appraisal, loss assessment, repair, payment,
subrogation, credit feedback and SLA breaches (RULES.md sections 6-7, LG-CREDIT)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.db import Base
from engine.models import UTCDateTime

intpk = Annotated[int, mapped_column(Integer, primary_key=True, autoincrement=True)]
money = Annotated[Decimal, mapped_column(Numeric(18, 2))]
opt_money = Annotated[Decimal | None, mapped_column(Numeric(18, 2), nullable=True)]
ts = Annotated[dt.datetime, mapped_column(UTCDateTime)]
opt_ts = Annotated[dt.datetime | None, mapped_column(UTCDateTime, nullable=True)]
opt_date = Annotated[dt.date | None, mapped_column(Date, nullable=True)]
code = Annotated[str, mapped_column(String(64), default="")]
claim_fk = Annotated[int, mapped_column(ForeignKey("claim.id"), index=True)]


class Claim(Base):
    """A reported defect and its claim: routing, decision, agreed settlement and outcome (LG-CLM-CENTER)."""

    __tablename__ = "claim"
    __table_args__ = (Index("ix_claim_status", "status", "id"),)

    id: Mapped[intpk]
    claim_no: Mapped[str] = mapped_column(String(40), unique=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("idi_policy.id"), index=True)
    instance_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    unit: Mapped[str] = mapped_column(String(200), default="")
    category: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text, default="")
    reporter: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(30))
    reported_at: Mapped[ts]
    reported_on: Mapped[dt.date] = mapped_column(Date)
    coverage_date: Mapped[opt_date]
    manifested_on: Mapped[opt_date]
    route: Mapped[str] = mapped_column(String(30), default="")
    route_reason: Mapped[str] = mapped_column(Text, default="")
    notice: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(30), default="reported")
    outcome: Mapped[str] = mapped_column(String(30), default="")
    is_complex: Mapped[bool] = mapped_column(Boolean, default=False)
    responsible_party_code: Mapped[code]
    responsible_basis: Mapped[str] = mapped_column(String(20), default="")
    settlement_method: Mapped[str] = mapped_column(String(20), default="")
    agreed_amount: Mapped[opt_money]
    breach_count: Mapped[int] = mapped_column(Integer, default=0)
    closed_at: Mapped[opt_ts]
    updated_at: Mapped[ts]
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    breaches: Mapped[list[SlaBreach]] = relationship(back_populates="claim", order_by="SlaBreach.id")


class Survey(Base):
    """The claims handler's survey (查勘): findings, accepted evidence, exclusion, responsible unit."""

    __tablename__ = "claim_survey"

    id: Mapped[intpk]
    claim_id: Mapped[claim_fk]
    surveyed_at: Mapped[ts]
    surveyor: Mapped[str] = mapped_column(String(200))
    findings: Mapped[str] = mapped_column(Text, default="")
    evidence_accepted: Mapped[bool] = mapped_column(Boolean, default=False)
    manifested_on: Mapped[opt_date]
    exclusion: Mapped[str] = mapped_column(String(30), default="")
    responsible_party_code: Mapped[code]
    is_complex: Mapped[bool] = mapped_column(Boolean, default=False)


class Decision(Base):
    """The coverage decision and, for a rejection, the notice with its reasons (LG-COV-EXCL)."""

    __tablename__ = "claim_decision"

    id: Mapped[intpk]
    claim_id: Mapped[claim_fk]
    decided_at: Mapped[ts]
    decided_by: Mapped[str] = mapped_column(String(200))
    covered: Mapped[bool] = mapped_column(Boolean)
    exclusion: Mapped[str] = mapped_column(String(30), default="")
    reasons: Mapped[str] = mapped_column(Text, default="")
    notice_sent_at: Mapped[opt_ts]
    notice_text: Mapped[str] = mapped_column(Text, default="")


class ExpertBody(Base):
    """A third-party appraisal or loss-assessment body, with its qualification and judicial licence."""

    __tablename__ = "claim_expert_body"

    id: Mapped[intpk]
    credit_code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    qualification_no: Mapped[code]
    judicial_licence_no: Mapped[code]
    licence_valid_until: Mapped[opt_date]


class Appraisal(Base):
    """A jointly entrusted coverage appraisal and who pays its fee (LG-DSP-APPRAISAL)."""

    __tablename__ = "claim_appraisal"

    id: Mapped[intpk]
    claim_id: Mapped[claim_fk]
    body_id: Mapped[int] = mapped_column(ForeignKey("claim_expert_body.id"))
    jointly_entrusted_by: Mapped[list[str]] = mapped_column(JSON, default=list)
    entrusted_at: Mapped[ts]
    report_no: Mapped[code]
    result: Mapped[str] = mapped_column(String(20), default="")  # covered | not_covered
    fee: Mapped[opt_money]
    fee_payer: Mapped[str] = mapped_column(String(20), default="")  # insurer | owner
    responsible_party_code: Mapped[code]
    decided_at: Mapped[opt_ts]


class LossAssessment(Base):
    """A loss assessment by a body with a judicial-appraisal licence; its amount binds (LG-DSP-AMOUNT)."""

    __tablename__ = "claim_loss_assessment"

    id: Mapped[intpk]
    claim_id: Mapped[claim_fk]
    body_id: Mapped[int] = mapped_column(ForeignKey("claim_expert_body.id"))
    licence_no: Mapped[str] = mapped_column(String(64))
    entrusted_at: Mapped[ts]
    fee_payer: Mapped[str] = mapped_column(String(20), default="")  # insurer | owner | shared
    report_no: Mapped[code]
    assessed_amount: Mapped[opt_money]
    fee: Mapped[opt_money]
    decided_at: Mapped[opt_ts]


class RepairOrder(Base):
    """Repair by the insurer itself or an engaged third-party repair organisation (LG-CLM-PROC)."""

    __tablename__ = "claim_repair_order"

    id: Mapped[intpk]
    claim_id: Mapped[claim_fk]
    performer: Mapped[str] = mapped_column(String(20))  # insurer_self | third_party
    repair_org_code: Mapped[code]
    repair_org_name: Mapped[str] = mapped_column(String(300), default="")
    scope: Mapped[str] = mapped_column(Text, default="")
    issued_at: Mapped[ts]
    start_due_at: Mapped[ts]
    started_at: Mapped[opt_ts]
    completed_at: Mapped[opt_ts]
    cost: Mapped[opt_money]
    rework_count: Mapped[int] = mapped_column(Integer, default=0)
    accepted_at: Mapped[opt_ts]
    status: Mapped[str] = mapped_column(String(20), default="issued")


class ClaimPayment(Base):
    """Money the insurer paid on a claim: an indemnity to the owner or a repair bill."""

    __tablename__ = "claim_payment"

    id: Mapped[intpk]
    claim_id: Mapped[claim_fk]
    kind: Mapped[str] = mapped_column(String(20))  # indemnity | repair
    payee: Mapped[str] = mapped_column(String(300))
    amount: Mapped[money]
    paid_at: Mapped[ts]
    reference: Mapped[code]


class Subrogation(Base):
    """Subrogation against the unit responsible for the defect (LG-CLM-SUBRO)."""

    __tablename__ = "claim_subrogation"

    id: Mapped[intpk]
    claim_id: Mapped[claim_fk]
    against_party_code: Mapped[str] = mapped_column(String(64), index=True)
    basis: Mapped[str] = mapped_column(String(20))  # survey | appraisal
    amount_claimed: Mapped[money]
    amount_recovered: Mapped[money]
    liability_established: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default="open")
    opened_at: Mapped[ts]
    closed_at: Mapped[opt_ts]


class CreditRecord(Base):
    """Risk feedback for the construction-market credit evaluation, open to the authority (LG-CREDIT)."""

    __tablename__ = "claim_credit_record"

    id: Mapped[intpk]
    subject_code: Mapped[str] = mapped_column(String(64), index=True)
    event_type: Mapped[str] = mapped_column(String(60))
    claim_id: Mapped[int | None] = mapped_column(ForeignKey("claim.id"), nullable=True)
    evidence_ref: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    recorded_at: Mapped[ts]
    sent_to: Mapped[str] = mapped_column(String(60), default="authority_officer")


class SlaBreach(Base):
    """One missed service level (DEC-SLA), escalated to the claims supervisor; counted per claim."""

    __tablename__ = "claim_sla_breach"

    id: Mapped[intpk]
    claim_id: Mapped[claim_fk]
    sla: Mapped[str] = mapped_column(String(30), index=True)
    task_name: Mapped[str] = mapped_column(String(200))
    breached_at: Mapped[ts]
    escalated_to: Mapped[str] = mapped_column(String(60))
    claim: Mapped[Claim] = relationship(back_populates="breaches")

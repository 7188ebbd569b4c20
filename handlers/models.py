"""The IDI domain tables: parties, projects, policies, risk management, exemptions and notices."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.db import Base
from engine.models import UTCDateTime

intpk = Annotated[int, mapped_column(Integer, primary_key=True, autoincrement=True)]
money = Annotated[Decimal, mapped_column(Numeric(18, 2))]
ts = Annotated[dt.datetime, mapped_column(UTCDateTime)]
opt_ts = Annotated[dt.datetime | None, mapped_column(UTCDateTime, nullable=True)]
opt_date = Annotated[dt.date | None, mapped_column(Date, nullable=True)]
code = Annotated[str, mapped_column(String(64))]
name = Annotated[str, mapped_column(String(300))]


class Party(Base):
    """A legal person in the scheme: developer, contractor, designer, supervisor, agency or insurer."""

    __tablename__ = "idi_party"

    id: Mapped[intpk]
    credit_code: Mapped[code] = mapped_column(unique=True)
    name: Mapped[name]
    kind: Mapped[str] = mapped_column(String(30))
    qualification_grade: Mapped[str] = mapped_column(String(30), default="")
    credit_grade: Mapped[str] = mapped_column(String(10), default="")
    group_parent_code: Mapped[str] = mapped_column(String(64), default="")
    relations: Mapped[list[PartyRelation]] = relationship(
        back_populates="party", cascade="all, delete-orphan"
    )


class PartyRelation(Base):
    """A declared relation of a party to another (shareholder, subsidiary, common director …)."""

    __tablename__ = "idi_party_relation"

    id: Mapped[intpk]
    party_id: Mapped[int] = mapped_column(ForeignKey("idi_party.id"), index=True)
    related_code: Mapped[code] = mapped_column(index=True)
    relation: Mapped[str] = mapped_column(String(100))
    party: Mapped[Party] = relationship(back_populates="relations")


class AgencyRegistration(Base):
    """A risk management agency's registration with the Longgang authority (LG-RM-REG)."""

    __tablename__ = "idi_agency_registration"

    id: Mapped[intpk]
    party_id: Mapped[int] = mapped_column(ForeignKey("idi_party.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="applied")  # applied, registered, refused
    reg_no: Mapped[str] = mapped_column(String(64), default="")
    applied_at: Mapped[ts]
    decided_at: Mapped[opt_ts]
    reason: Mapped[str] = mapped_column(Text, default="")


class Project(Base):
    """A construction project registered for IDI (LG-SCOPE, LG-BIND-CONTRACT, LG-BIND-PREPERMIT)."""

    __tablename__ = "idi_project"

    id: Mapped[intpk]
    project_no: Mapped[code] = mapped_column(unique=True)
    name: Mapped[name]
    address: Mapped[str] = mapped_column(String(500), default="")
    district: Mapped[str] = mapped_column(String(100), default="")
    in_longgang: Mapped[bool] = mapped_column(Boolean)
    project_type: Mapped[str] = mapped_column(String(30))
    construction_cost: Mapped[money]
    developer_id: Mapped[int] = mapped_column(ForeignKey("idi_party.id"))
    contractor_id: Mapped[int] = mapped_column(ForeignKey("idi_party.id"))
    designer_id: Mapped[int | None] = mapped_column(ForeignKey("idi_party.id"), nullable=True)
    supervisor_id: Mapped[int | None] = mapped_column(ForeignKey("idi_party.id"), nullable=True)
    contract_no: Mapped[str] = mapped_column(String(64), default="")
    idi_clause_present: Mapped[bool] = mapped_column(Boolean, default=False)
    compliance_flag: Mapped[str] = mapped_column(Text, default="")
    permit_applied_on: Mapped[opt_date]
    permit_gate_open: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(30), default="registered")
    refusal_reason: Mapped[str] = mapped_column(Text, default="")
    completion_date: Mapped[opt_date]
    completion_record_no: Mapped[str] = mapped_column(String(64), default="")
    units: Mapped[list[str]] = mapped_column(JSON, default=list)
    registered_at: Mapped[ts]


class Policy(Base):
    """One IDI policy per project, with its premium and the cover dates stored once (DEC-DATES)."""

    __tablename__ = "idi_policy"

    id: Mapped[intpk]
    policy_no: Mapped[code] = mapped_column(unique=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("idi_project.id"), unique=True)
    insurer_name: Mapped[name]
    status: Mapped[str] = mapped_column(String(30), default="quoted")
    status_reason: Mapped[str] = mapped_column(Text, default="")
    premium_base: Mapped[money]
    rate: Mapped[Decimal] = mapped_column(Numeric(10, 6))
    premium: Mapped[money]
    quote: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    signed_at: Mapped[opt_ts]
    effective_at: Mapped[opt_ts]
    contractor_start: Mapped[opt_date]
    contractor_end: Mapped[opt_date]
    cover_start: Mapped[opt_date]
    end_items_1_4: Mapped[opt_date]
    end_item_5: Mapped[opt_date]
    end_items_6_8: Mapped[opt_date]
    fund_exempt: Mapped[bool] = mapped_column(Boolean, default=False)
    cancellable: Mapped[bool] = mapped_column(Boolean, default=True)
    cancelled_at: Mapped[opt_ts]
    status_history: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    project: Mapped[Project] = relationship()


class Payment(Base):
    """A premium payment received; only one payment of the full premium makes the policy effective."""

    __tablename__ = "idi_payment"

    id: Mapped[intpk]
    policy_id: Mapped[int] = mapped_column(ForeignKey("idi_policy.id"), index=True)
    amount: Mapped[money]
    paid_at: Mapped[ts]
    reference: Mapped[str] = mapped_column(String(100), default="")
    accepted: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text, default="")


class Engagement(Base):
    """The insurer's engagement of a risk management agency for one policy (LG-RM-HIRE/INDEP/REG)."""

    __tablename__ = "idi_engagement"

    id: Mapped[intpk]
    policy_id: Mapped[int] = mapped_column(ForeignKey("idi_policy.id"), index=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("idi_party.id"))
    status: Mapped[str] = mapped_column(String(20))  # refused, active
    reason: Mapped[str] = mapped_column(Text, default="")
    checked_at: Mapped[ts]
    plan_no: Mapped[str] = mapped_column(String(64), default="")
    plan_stages: Mapped[list[str]] = mapped_column(JSON, default=list)
    plan_filed_at: Mapped[opt_ts]


class Inspection(Base):
    """One inspection at a plan stage and its risk report (DEC-RM-LOOP, LG-RM-MAJOR)."""

    __tablename__ = "idi_inspection"

    id: Mapped[intpk]
    project_id: Mapped[int] = mapped_column(ForeignKey("idi_project.id"), index=True)
    engagement_id: Mapped[int] = mapped_column(ForeignKey("idi_engagement.id"))
    stage: Mapped[str] = mapped_column(String(40))
    report_no: Mapped[str] = mapped_column(String(64))
    inspected_at: Mapped[ts]
    has_major: Mapped[bool] = mapped_column(Boolean, default=False)
    authority_copy_due_at: Mapped[opt_ts]
    authority_copied_at: Mapped[opt_ts]
    authority_acknowledged_at: Mapped[opt_ts]
    findings: Mapped[list[Finding]] = relationship(back_populates="inspection", cascade="all, delete-orphan")


class Finding(Base):
    """A graded finding of a risk report."""

    __tablename__ = "idi_finding"

    id: Mapped[intpk]
    inspection_id: Mapped[int] = mapped_column(ForeignKey("idi_inspection.id"), index=True)
    item_no: Mapped[int]
    grade: Mapped[str] = mapped_column(String(20))  # serious, moderate, minor, observation
    major: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str] = mapped_column(Text)
    inspection: Mapped[Inspection] = relationship(back_populates="findings")


class Rectification(Base):
    """A rectification order for a graded finding, with its deadline and escalations (DEC-RM-LOOP)."""

    __tablename__ = "idi_rectification"

    id: Mapped[intpk]
    finding_id: Mapped[int] = mapped_column(ForeignKey("idi_finding.id"), unique=True)
    issued_at: Mapped[ts]
    due_at: Mapped[ts]
    status: Mapped[str] = mapped_column(String(20), default="open")  # open, submitted, closed
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    escalations: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    evidence: Mapped[str] = mapped_column(Text, default="")
    rechecks: Mapped[int] = mapped_column(Integer, default=0)
    closed_at: Mapped[opt_ts]


class Exemption(Base):
    """A maintenance-fund exemption request and the authority's decision (LG-FUND-EXEMPT)."""

    __tablename__ = "idi_exemption"

    id: Mapped[intpk]
    policy_id: Mapped[int] = mapped_column(ForeignKey("idi_policy.id"), index=True)
    requested_at: Mapped[ts]
    eligible: Mapped[bool] = mapped_column(Boolean)
    gaps: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default="requested")  # requested, approved, denied
    decided_at: Mapped[opt_ts]
    ref_no: Mapped[str] = mapped_column(String(64), default="")


class Notice(Base):
    """The 告知书 for one unit (LG-NOTICE) and its delivery at handover (LG-NOTICE-DELIVER)."""

    __tablename__ = "idi_notice"
    __table_args__ = (UniqueConstraint("policy_id", "unit_no", name="uq_notice_policy_unit"),)

    id: Mapped[intpk]
    policy_id: Mapped[int] = mapped_column(ForeignKey("idi_policy.id"), index=True)
    unit_no: Mapped[str] = mapped_column(String(64))
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    html: Mapped[str] = mapped_column(Text)
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    generated_at: Mapped[ts]
    delivered_on: Mapped[opt_date]
    delivered_by: Mapped[str] = mapped_column(String(200), default="")
    recipient: Mapped[str] = mapped_column(String(200), default="")


class CancellationRequest(Base):
    """A request to cancel a policy and its outcome (LG-FUND-NOCANCEL)."""

    __tablename__ = "idi_cancellation"

    id: Mapped[intpk]
    policy_id: Mapped[int] = mapped_column(ForeignKey("idi_policy.id"), index=True)
    requested_at: Mapped[ts]
    reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="requested")  # refused, approved
    outcome_reason: Mapped[str] = mapped_column(Text, default="")

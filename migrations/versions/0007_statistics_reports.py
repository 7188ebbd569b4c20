"""statistics and reports: the quarterly authority report table and the statistics indexes

Revision ID: 0007_statistics
Revises: 0004_web, 0005_claims, 0006_studio
"""

import sqlalchemy as sa
from alembic import op

import engine.models

revision = "0007_statistics"
down_revision = ("0004_web", "0005_claims", "0006_studio")
branch_labels = None
depends_on = None

#: (index, table, columns): the range scans of handlers/statistics.py (declared in handlers/report_models.py)
INDEXES = (
    ("ix_stat_project_district", "idi_project", ["district", "id"]),
    ("ix_stat_policy_signed", "idi_policy", ["signed_at"]),
    ("ix_stat_policy_project", "idi_policy", ["project_id", "id"]),
    ("ix_stat_inspection_at", "idi_inspection", ["inspected_at"]),
    ("ix_stat_rectification_due", "idi_rectification", ["due_at", "issued_at", "closed_at", "finding_id"]),
    ("ix_stat_exemption_requested", "idi_exemption", ["requested_at"]),
    (
        "ix_stat_claim_reported",
        "claim",
        ["reported_at", "category", "route", "outcome", "closed_at", "policy_id"],
    ),
    ("ix_stat_survey_at", "claim_survey", ["surveyed_at", "claim_id"]),
    ("ix_stat_decision_at", "claim_decision", ["decided_at", "claim_id"]),
    ("ix_stat_repair_completed", "claim_repair_order", ["completed_at", "issued_at", "claim_id"]),
    ("ix_stat_payment_at", "claim_payment", ["paid_at", "kind", "amount", "claim_id"]),
    ("ix_stat_appraisal_decided", "claim_appraisal", ["decided_at"]),
    ("ix_stat_subrogation_opened", "claim_subrogation", ["opened_at"]),
    ("ix_stat_breach_at", "claim_sla_breach", ["breached_at", "sla", "claim_id"]),
    ("ix_stat_credit_recorded", "claim_credit_record", ["recorded_at"]),
)


def upgrade() -> None:
    op.create_table(
        "idi_quarterly_report",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("report_no", sa.String(length=40), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("quarter", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("generated_at", engine.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", engine.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("xlsx", sa.LargeBinary(), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.Column("review_note", sa.Text(), nullable=False),
        sa.Column("submitted_at", engine.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("submitted_by", sa.String(length=200), nullable=False),
        sa.Column("received_at", engine.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("received_by", sa.String(length=200), nullable=False),
        sa.Column("reminders", sa.JSON(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("report_no"),
    )
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_table("idi_quarterly_report")

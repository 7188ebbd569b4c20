"""claims tables: claim, survey, decision, expert bodies, appraisal, loss assessment, repair, payment,
subrogation, credit feedback, SLA breaches

Revision ID: 0005_claims
Revises: 0003
Create Date: 2026-11-24 14:00:00
"""

from alembic import op
import sqlalchemy as sa
import engine.models


revision = '0005_claims'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('claim_expert_body',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('credit_code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('qualification_no', sa.String(length=64), nullable=False),
    sa.Column('judicial_licence_no', sa.String(length=64), nullable=False),
    sa.Column('licence_valid_until', sa.Date(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('credit_code')
    )
    op.create_table('claim',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('claim_no', sa.String(length=40), nullable=False),
    sa.Column('policy_id', sa.Integer(), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=True),
    sa.Column('unit', sa.String(length=200), nullable=False),
    sa.Column('category', sa.Integer(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('reporter', sa.String(length=200), nullable=False),
    sa.Column('channel', sa.String(length=30), nullable=False),
    sa.Column('reported_at', engine.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reported_on', sa.Date(), nullable=False),
    sa.Column('coverage_date', sa.Date(), nullable=True),
    sa.Column('manifested_on', sa.Date(), nullable=True),
    sa.Column('route', sa.String(length=30), nullable=False),
    sa.Column('route_reason', sa.Text(), nullable=False),
    sa.Column('notice', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=30), nullable=False),
    sa.Column('outcome', sa.String(length=30), nullable=False),
    sa.Column('is_complex', sa.Boolean(), nullable=False),
    sa.Column('responsible_party_code', sa.String(length=64), nullable=False),
    sa.Column('responsible_basis', sa.String(length=20), nullable=False),
    sa.Column('settlement_method', sa.String(length=20), nullable=False),
    sa.Column('agreed_amount', sa.Numeric(precision=18, scale=2), nullable=True),
    sa.Column('breach_count', sa.Integer(), nullable=False),
    sa.Column('closed_at', engine.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', engine.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('history', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['policy_id'], ['idi_policy.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('claim_no')
    )
    op.create_index(op.f('ix_claim_policy_id'), 'claim', ['policy_id'], unique=False)
    op.create_index('ix_claim_status', 'claim', ['status', 'id'], unique=False)
    op.create_table('claim_appraisal',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('claim_id', sa.Integer(), nullable=False),
    sa.Column('body_id', sa.Integer(), nullable=False),
    sa.Column('jointly_entrusted_by', sa.JSON(), nullable=False),
    sa.Column('entrusted_at', engine.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('report_no', sa.String(length=64), nullable=False),
    sa.Column('result', sa.String(length=20), nullable=False),
    sa.Column('fee', sa.Numeric(precision=18, scale=2), nullable=True),
    sa.Column('fee_payer', sa.String(length=20), nullable=False),
    sa.Column('responsible_party_code', sa.String(length=64), nullable=False),
    sa.Column('decided_at', engine.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['body_id'], ['claim_expert_body.id'], ),
    sa.ForeignKeyConstraint(['claim_id'], ['claim.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_claim_appraisal_claim_id'), 'claim_appraisal', ['claim_id'], unique=False)
    op.create_table('claim_credit_record',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('subject_code', sa.String(length=64), nullable=False),
    sa.Column('event_type', sa.String(length=60), nullable=False),
    sa.Column('claim_id', sa.Integer(), nullable=True),
    sa.Column('evidence_ref', sa.String(length=200), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('recorded_at', engine.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_to', sa.String(length=60), nullable=False),
    sa.ForeignKeyConstraint(['claim_id'], ['claim.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_claim_credit_record_subject_code'), 'claim_credit_record', ['subject_code'], unique=False)
    op.create_table('claim_decision',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('claim_id', sa.Integer(), nullable=False),
    sa.Column('decided_at', engine.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_by', sa.String(length=200), nullable=False),
    sa.Column('covered', sa.Boolean(), nullable=False),
    sa.Column('exclusion', sa.String(length=30), nullable=False),
    sa.Column('reasons', sa.Text(), nullable=False),
    sa.Column('notice_sent_at', engine.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('notice_text', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['claim_id'], ['claim.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_claim_decision_claim_id'), 'claim_decision', ['claim_id'], unique=False)
    op.create_table('claim_loss_assessment',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('claim_id', sa.Integer(), nullable=False),
    sa.Column('body_id', sa.Integer(), nullable=False),
    sa.Column('licence_no', sa.String(length=64), nullable=False),
    sa.Column('entrusted_at', engine.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('fee_payer', sa.String(length=20), nullable=False),
    sa.Column('report_no', sa.String(length=64), nullable=False),
    sa.Column('assessed_amount', sa.Numeric(precision=18, scale=2), nullable=True),
    sa.Column('fee', sa.Numeric(precision=18, scale=2), nullable=True),
    sa.Column('decided_at', engine.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['body_id'], ['claim_expert_body.id'], ),
    sa.ForeignKeyConstraint(['claim_id'], ['claim.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_claim_loss_assessment_claim_id'), 'claim_loss_assessment', ['claim_id'], unique=False)
    op.create_table('claim_payment',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('claim_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('payee', sa.String(length=300), nullable=False),
    sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('paid_at', engine.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reference', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['claim_id'], ['claim.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_claim_payment_claim_id'), 'claim_payment', ['claim_id'], unique=False)
    op.create_table('claim_repair_order',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('claim_id', sa.Integer(), nullable=False),
    sa.Column('performer', sa.String(length=20), nullable=False),
    sa.Column('repair_org_code', sa.String(length=64), nullable=False),
    sa.Column('repair_org_name', sa.String(length=300), nullable=False),
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('issued_at', engine.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('start_due_at', engine.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', engine.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('completed_at', engine.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cost', sa.Numeric(precision=18, scale=2), nullable=True),
    sa.Column('rework_count', sa.Integer(), nullable=False),
    sa.Column('accepted_at', engine.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['claim_id'], ['claim.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_claim_repair_order_claim_id'), 'claim_repair_order', ['claim_id'], unique=False)
    op.create_table('claim_sla_breach',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('claim_id', sa.Integer(), nullable=False),
    sa.Column('sla', sa.String(length=30), nullable=False),
    sa.Column('task_name', sa.String(length=200), nullable=False),
    sa.Column('breached_at', engine.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('escalated_to', sa.String(length=60), nullable=False),
    sa.ForeignKeyConstraint(['claim_id'], ['claim.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_claim_sla_breach_claim_id'), 'claim_sla_breach', ['claim_id'], unique=False)
    op.create_index(op.f('ix_claim_sla_breach_sla'), 'claim_sla_breach', ['sla'], unique=False)
    op.create_table('claim_subrogation',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('claim_id', sa.Integer(), nullable=False),
    sa.Column('against_party_code', sa.String(length=64), nullable=False),
    sa.Column('basis', sa.String(length=20), nullable=False),
    sa.Column('amount_claimed', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('amount_recovered', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('liability_established', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('opened_at', engine.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', engine.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['claim_id'], ['claim.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_claim_subrogation_against_party_code'), 'claim_subrogation', ['against_party_code'], unique=False)
    op.create_index(op.f('ix_claim_subrogation_claim_id'), 'claim_subrogation', ['claim_id'], unique=False)
    op.create_table('claim_survey',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('claim_id', sa.Integer(), nullable=False),
    sa.Column('surveyed_at', engine.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('surveyor', sa.String(length=200), nullable=False),
    sa.Column('findings', sa.Text(), nullable=False),
    sa.Column('evidence_accepted', sa.Boolean(), nullable=False),
    sa.Column('manifested_on', sa.Date(), nullable=True),
    sa.Column('exclusion', sa.String(length=30), nullable=False),
    sa.Column('responsible_party_code', sa.String(length=64), nullable=False),
    sa.Column('is_complex', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['claim_id'], ['claim.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_claim_survey_claim_id'), 'claim_survey', ['claim_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_claim_survey_claim_id'), table_name='claim_survey')
    op.drop_table('claim_survey')
    op.drop_index(op.f('ix_claim_subrogation_claim_id'), table_name='claim_subrogation')
    op.drop_index(op.f('ix_claim_subrogation_against_party_code'), table_name='claim_subrogation')
    op.drop_table('claim_subrogation')
    op.drop_index(op.f('ix_claim_sla_breach_sla'), table_name='claim_sla_breach')
    op.drop_index(op.f('ix_claim_sla_breach_claim_id'), table_name='claim_sla_breach')
    op.drop_table('claim_sla_breach')
    op.drop_index(op.f('ix_claim_repair_order_claim_id'), table_name='claim_repair_order')
    op.drop_table('claim_repair_order')
    op.drop_index(op.f('ix_claim_payment_claim_id'), table_name='claim_payment')
    op.drop_table('claim_payment')
    op.drop_index(op.f('ix_claim_loss_assessment_claim_id'), table_name='claim_loss_assessment')
    op.drop_table('claim_loss_assessment')
    op.drop_index(op.f('ix_claim_decision_claim_id'), table_name='claim_decision')
    op.drop_table('claim_decision')
    op.drop_index(op.f('ix_claim_credit_record_subject_code'), table_name='claim_credit_record')
    op.drop_table('claim_credit_record')
    op.drop_index(op.f('ix_claim_appraisal_claim_id'), table_name='claim_appraisal')
    op.drop_table('claim_appraisal')
    op.drop_index('ix_claim_status', table_name='claim')
    op.drop_index(op.f('ix_claim_policy_id'), table_name='claim')
    op.drop_table('claim')
    op.drop_table('claim_expert_body')

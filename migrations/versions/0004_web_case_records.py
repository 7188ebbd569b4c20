"""web case records: comments, files, owners' defect reports

Revision ID: 0004_web
Revises: 0002, 0003
Create Date: 2026-11-24 12:00:00
"""

from alembic import op
import sqlalchemy as sa
import engine.models


revision = '0004_web'
down_revision = ('0002', '0003')
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('web_case_comment',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('case_key', sa.String(length=200), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=True),
    sa.Column('author', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', engine.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_web_case_comment_case', 'web_case_comment', ['case_key', 'id'], unique=False)
    op.create_table('web_case_file',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('case_key', sa.String(length=200), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=True),
    sa.Column('filename', sa.String(length=300), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('uploaded_by', sa.String(length=200), nullable=False),
    sa.Column('uploaded_at', engine.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_web_case_file_case', 'web_case_file', ['case_key', 'id'], unique=False)
    op.create_table('web_defect_report',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('claim_no', sa.String(length=40), nullable=False),
    sa.Column('reporter', sa.String(length=200), nullable=False),
    sa.Column('unit', sa.String(length=200), nullable=False),
    sa.Column('category', sa.Integer(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('contact_phone', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=30), nullable=False),
    sa.Column('reported_at', engine.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('claim_no')
    )
    op.create_index('ix_web_defect_report_reporter', 'web_defect_report', ['reporter', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_web_defect_report_reporter', table_name='web_defect_report')
    op.drop_table('web_defect_report')
    op.drop_index('ix_web_case_file_case', table_name='web_case_file')
    op.drop_table('web_case_file')
    op.drop_index('ix_web_case_comment_case', table_name='web_case_comment')
    op.drop_table('web_case_comment')

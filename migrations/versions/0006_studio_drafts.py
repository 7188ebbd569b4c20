"""studio drafts: diagrams being edited in the browser before they are deployed

Revision ID: 0006_studio
Revises: 0002, 0003
"""

import sqlalchemy as sa
from alembic import op

import engine.models

revision = '0006_studio'
down_revision = ('0002', '0003')
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('studio_draft',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('process_id', sa.String(length=200), nullable=False),
    sa.Column('file_name', sa.String(length=200), nullable=False),
    sa.Column('bpmn_xml', sa.Text(), nullable=False),
    sa.Column('base_definition_id', sa.Integer(), nullable=True),
    sa.Column('problems', sa.JSON(), nullable=False),
    sa.Column('checked', sa.Boolean(), nullable=False),
    sa.Column('deployed_definition_id', sa.Integer(), nullable=True),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', engine.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.Column('updated_at', engine.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['base_definition_id'], ['process_definition.id']),
    sa.ForeignKeyConstraint(['deployed_definition_id'], ['process_definition.id']),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_studio_draft_process', 'studio_draft', ['process_id', 'updated_at'])


def downgrade() -> None:
    op.drop_index('ix_studio_draft_process', table_name='studio_draft')
    op.drop_table('studio_draft')

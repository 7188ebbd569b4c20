"""simulated clock shared by web, workers and CLI

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

import engine.models

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('clock_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mode', sa.String(length=20), nullable=False),
    sa.Column('now', engine.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', engine.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )


def downgrade() -> None:
    op.drop_table('clock_state')

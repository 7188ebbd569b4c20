"""timer.created_at (how long a timer has waited, for the cockpit heatmap) and studio_draft.dmn_files
(the decision tables a draft edits and deploys with its diagram)

Revision ID: 0008_studio_timers
Revises: 0007_statistics

Both columns are nullable: timers written before this migration have no known start of their wait (the
heatmap shows them uncoloured rather than guess), and older drafts carry no decision tables.
"""

import sqlalchemy as sa
from alembic import op

import engine.models

revision = "0008_studio_timers"
down_revision = "0007_statistics"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("timer") as batch:
        batch.add_column(sa.Column("created_at", engine.models.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("studio_draft") as batch:
        batch.add_column(sa.Column("dmn_files", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("studio_draft") as batch:
        batch.drop_column("dmn_files")
    with op.batch_alter_table("timer") as batch:
        batch.drop_column("created_at")

"""human_task: partial index (status, lane, created_at) WHERE due_at IS NULL for the undated inbox page

PostgreSQL does not treat `due_at IS NULL` as an equality, so ix_human_task_inbox cannot return the undated
tasks in created_at order and every inbox read sorted all open tasks of the lane.

Revision ID: 0010_inbox_undated_index
Revises: 0009_login_failures
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_inbox_undated_index"
down_revision = "0009_login_failures"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_human_task_inbox_undated", "human_task", ["status", "lane", "created_at"],
                    postgresql_where=sa.text("due_at IS NULL"), sqlite_where=sa.text("due_at IS NULL"))


def downgrade() -> None:
    op.drop_index("ix_human_task_inbox_undated", table_name="human_task")

"""web_login_failure: failed logins in the database, so the login throttle holds across gunicorn workers

Revision ID: 0009_login_failures
Revises: 0008_studio_timers
"""

import sqlalchemy as sa
from alembic import op

import engine.models

revision = "0009_login_failures"
down_revision = "0008_studio_timers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_login_failure",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("failed_at", engine.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_web_login_failure_key", "web_login_failure", ["username", "address", "failed_at"])
    op.create_index("ix_web_login_failure_at", "web_login_failure", ["failed_at"])


def downgrade() -> None:
    op.drop_index("ix_web_login_failure_at", table_name="web_login_failure")
    op.drop_index("ix_web_login_failure_key", table_name="web_login_failure")
    op.drop_table("web_login_failure")

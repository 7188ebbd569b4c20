"""The engine's tables: definitions, instances and their projections, incidents and the audit trail."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from .db import Base


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware UTC datetime")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)

    def bind_processor(self, dialect):
        """On SQLite, the text SQLAlchemy's DATETIME writes ('YYYY-MM-DD HH:MM:SS.ffffff', naive UTC), in one
        step instead of two (this runs for every timestamp of every insert)."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        utc, bind = dt.UTC, self.process_bind_param

        def process(value):
            if value is None or value.tzinfo is None:
                return bind(value, dialect)  # None, or the error for a naive datetime
            return value.astimezone(utc).replace(tzinfo=None).isoformat(" ", "microseconds")

        return process


intpk = Annotated[int, mapped_column(Integer, primary_key=True, autoincrement=True)]
ts = Annotated[dt.datetime, mapped_column(UTCDateTime)]
str64 = Annotated[str, mapped_column(String(64))]
str200 = Annotated[str, mapped_column(String(200))]


class Deployment(Base):
    """One accepted bundle of BPMN, DMN and form files, kept verbatim."""

    __tablename__ = "deployment"

    id: Mapped[intpk]
    bundle_hash: Mapped[str64] = mapped_column(index=True)
    deployed_at: Mapped[ts]
    deployed_by: Mapped[str200]
    files: Mapped[dict[str, str]] = mapped_column(JSON)
    note: Mapped[str] = mapped_column(Text, default="")


class ProcessDefinition(Base):
    """One deployed version of one executable process, with its parsed spec cached as JSON."""

    __tablename__ = "process_definition"
    __table_args__ = (Index("ix_definition_process_version", "process_id", "version", unique=True),)

    id: Mapped[intpk]
    process_id: Mapped[str200]
    version: Mapped[int]
    name: Mapped[str200]
    content_hash: Mapped[str64] = mapped_column(index=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployment.id"))
    source_file: Mapped[str200]
    spec_json: Mapped[str] = mapped_column(Text)
    forms: Mapped[dict[str, Any]] = mapped_column(JSON)
    serializer_version: Mapped[str] = mapped_column(String(16))
    deployed_at: Mapped[ts]
    deployed_by: Mapped[str200]


class ProcessInstance(Base):
    """A running or finished instance; `state` is Spiff's serialization without the spec."""

    __tablename__ = "process_instance"
    __table_args__ = (Index("ix_instance_status_process", "status", "process_id"),)

    id: Mapped[intpk]
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id"), index=True)
    process_id: Mapped[str200]
    business_key: Mapped[str | None] = mapped_column(String(200), index=True)
    title: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(20), default="running")
    has_incident: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(Text)
    serializer_version: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[ts]
    started_by: Mapped[str200]
    updated_at: Mapped[ts]
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    waiting: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    version_id: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version_id}


class HumanTask(Base):
    """Inbox projection of a READY user or manual task."""

    __tablename__ = "human_task"
    __table_args__ = (
        # (due_at, created_at) last: the inbox pages read these in order (engine.tasks.list_tasks).
        Index("ix_human_task_inbox", "status", "lane", "due_at", "created_at"),
        # The undated part of an inbox page: `due_at IS NULL` is no equality to PostgreSQL, so the index above
        # cannot give it created_at order; this partial index does (a sort of every open task otherwise).
        Index("ix_human_task_inbox_undated", "status", "lane", "created_at",
              postgresql_where=text("due_at IS NULL"), sqlite_where=text("due_at IS NULL")),
        Index("ix_human_task_assignee", "status", "assignee", "due_at", "created_at"),
        Index("ix_human_task_key", "business_key"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"), index=True)
    process_id: Mapped[str200]
    task_name: Mapped[str200]
    title: Mapped[str] = mapped_column(String(500), default="")
    lane: Mapped[str | None] = mapped_column(String(100))
    candidate_users: Mapped[list[str]] = mapped_column(JSON, default=list)
    assignee: Mapped[str | None] = mapped_column(String(200))
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    priority: Mapped[int] = mapped_column(Integer, default=50)
    form_ref: Mapped[str | None] = mapped_column(String(200))
    business_key: Mapped[str | None] = mapped_column(String(200))
    case_title: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(20), default="open")
    created_at: Mapped[ts]
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    completed_by: Mapped[str | None] = mapped_column(String(200))


class Timer(Base):
    """One waiting timer; `due_at` is the truth the sweeper reads."""

    __tablename__ = "timer"
    __table_args__ = (Index("ix_timer_due", "status", "due_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"), index=True)
    task_name: Mapped[str200]
    kind: Mapped[str] = mapped_column(String(20))
    expression: Mapped[str] = mapped_column(String(500), default="")
    attached_to: Mapped[str | None] = mapped_column(String(200))
    interrupting: Mapped[bool] = mapped_column(Boolean, default=True)
    due_at: Mapped[ts]
    status: Mapped[str] = mapped_column(String(20), default="waiting")
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    fired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    lag_ms: Mapped[int | None] = mapped_column(BigInteger)
    #: when the token started waiting here (the heatmap's "waiting since"); None on rows older than 0008
    created_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class MessageSubscription(Base):
    """A waiting message catch: message name and correlation value lead to the instance."""

    __tablename__ = "message_subscription"
    __table_args__ = (Index("ix_subscription_lookup", "message_name", "correlation_value"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"), index=True)
    task_name: Mapped[str200]
    message_name: Mapped[str200]
    correlation_value: Mapped[str | None] = mapped_column(String(200))
    business_key: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[ts]


class Incident(Base):
    """A failed service task or timer: the task waits until a retry succeeds."""

    __tablename__ = "incident"
    __table_args__ = (Index("ix_incident_retry", "status", "next_retry_at"),)

    id: Mapped[intpk]
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"), index=True)
    task_id: Mapped[str] = mapped_column(String(36))
    task_name: Mapped[str200]
    kind: Mapped[str] = mapped_column(String(20), default="service")
    error_type: Mapped[str200]
    message: Mapped[str] = mapped_column(Text)
    traceback: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    next_retry_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default="open")
    created_at: Mapped[ts]
    updated_at: Mapped[ts]
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(200))


class AuditEvent(Base):
    """Append-only history: who did what to which instance or task, when, with the data changed."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_instance", "instance_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    at: Mapped[ts]
    actor: Mapped[str200]
    action: Mapped[str] = mapped_column(String(40))
    instance_id: Mapped[int | None] = mapped_column(Integer)
    task_id: Mapped[str | None] = mapped_column(String(36))
    task_name: Mapped[str | None] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ClockState(Base):
    """The simulated clock every process reads (one row, id 1); no row or mode 'system' means wall time."""

    __tablename__ = "clock_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mode: Mapped[str] = mapped_column(String(20), default="system")
    now: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[ts]
    updated_by: Mapped[str200]

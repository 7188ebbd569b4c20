"""Tables of the case-worker web app: case comments, case files and owners' defect reports."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base
from engine.models import UTCDateTime, intpk


class CaseComment(Base):
    """A comment on a case; a case is a business key, or '#<instance id>' when there is none."""

    __tablename__ = "web_case_comment"
    __table_args__ = (Index("ix_web_case_comment_case", "case_key", "id"),)

    id: Mapped[intpk]
    case_key: Mapped[str] = mapped_column(String(200))
    instance_id: Mapped[int | None] = mapped_column(Integer)
    author: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class CaseFile(Base):
    """A file attached to a case (a photo, a scanned document); small files, kept in the database."""

    __tablename__ = "web_case_file"
    __table_args__ = (Index("ix_web_case_file_case", "case_key", "id"),)

    id: Mapped[intpk]
    case_key: Mapped[str] = mapped_column(String(200))
    instance_id: Mapped[int | None] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(300))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by: Mapped[str] = mapped_column(String(200))
    uploaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class DefectReport(Base):
    """An owner's defect report with its claim number; `instance_id` links the claims process once started."""

    __tablename__ = "web_defect_report"
    __table_args__ = (Index("ix_web_defect_report_reporter", "reporter", "id"),)

    id: Mapped[intpk]
    claim_no: Mapped[str] = mapped_column(String(40), unique=True)
    reporter: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(200))
    category: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text)
    contact_phone: Mapped[str] = mapped_column(String(40), default="")
    status: Mapped[str] = mapped_column(String(30), default="received")
    reported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    instance_id: Mapped[int | None] = mapped_column(Integer)

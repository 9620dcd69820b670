"""Tables of customer-data protection (migration 0004_privacy)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from api.database.core import Base, utcnow


class PiiMask(Base):
    """A call whose result was stored masked: where the numbers were said, and the clear original.

    A result without this row was stored before masking existed (or with QA_PII_MASKING off):
    it is masked when read (api.privacy.service.readable).
    """

    __tablename__ = "pii_masks"

    call_id: Mapped[str] = mapped_column(String(32), ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True)
    # [{kind, speaker, start, end}]: the numbers found (no digits), and the bleeped stretches [[start, end]]
    numbers: Mapped[list[Any]] = mapped_column(JSON, default=list)
    bleeped: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # The clear turns, events and scorecard; null when nothing was masked (the stored result is the original).
    clear: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class PiiAccess(Base):
    """One request for a clear original (transcript, events, scorecard, analysis, recording, call page):
    who, when, which call, from where, and whether it was granted. Kept when the call is deleted."""

    __tablename__ = "pii_access_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    call_id: Mapped[str] = mapped_column(String(64), index=True)
    resource: Mapped[str] = mapped_column(String(20))
    actor_kind: Mapped[str] = mapped_column(String(8))  # "key" (API key) | "user" (web UI)
    actor_id: Mapped[str] = mapped_column(String(64))
    actor_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    granted: Mapped[bool] = mapped_column(Boolean)
    client_ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    detail: Mapped[str] = mapped_column(String(200), default="")  # e.g. the byte range of a recording

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ColumnElement,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from api.database.core import Base, utcnow

STATUSES = ("queued", "processing", "done", "failed")
# Call.audio_format of a call submitted as a transcript (JSON) instead of a recording: it has no audio.
TRANSCRIPT_FORMAT = "transcript"


# Calls keep their flags and failed items as one text column, ",a,b," (empty: none), so a list
# filter is one LIKE on either database. These three functions are the only place that knows it.
def encode_tags(tags: Iterable[str]) -> str:
    tags = [t for t in tags if t]
    return "," + ",".join(tags) + "," if tags else ""


def decode_tags(stored: str | None) -> list[str]:
    return [t for t in (stored or "").split(",") if t]


def has_tag(column: Any, tag: str) -> ColumnElement[bool]:
    """A filter: the tag list in `column` (Call.flags, Call.failed_items) holds `tag`."""
    return column.contains(f",{tag},", autoescape=True)


class Call(Base):
    __tablename__ = "calls"
    __table_args__ = (
        UniqueConstraint("client_id", "external_id", name="uq_calls_client_external"),
        UniqueConstraint("client_id", "idempotency_key", name="uq_calls_client_idem"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(32), ForeignKey("api_keys.id"), index=True)
    external_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    status: Mapped[str] = mapped_column(String(16), index=True, default="queued")
    failure_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    failure_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # audio, content-addressed
    audio_sha256: Mapped[str] = mapped_column(String(64), index=True)
    audio_size: Mapped[int] = mapped_column(Integer)
    audio_format: Mapped[str] = mapped_column(String(20))
    audio_filename: Mapped[str] = mapped_column(String(300), default="")
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    # metadata from the client
    agent_id: Mapped[str | None] = mapped_column(String(200), index=True, nullable=True)
    agent_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    team: Mapped[str | None] = mapped_column(String(200), index=True, nullable=True)
    direction: Mapped[str | None] = mapped_column(String(16), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    connected_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    agent_channel: Mapped[str | None] = mapped_column(String(8), nullable=True)
    language: Mapped[str | None] = mapped_column(String(8), nullable=True)
    rubric: Mapped[str | None] = mapped_column(String(200), nullable=True)  # as requested
    call_date: Mapped[datetime] = mapped_column(DateTime, index=True)  # started_at, else received
    # summary of the scorecard, for lists and filters
    score: Mapped[float | None] = mapped_column(Float, index=True, nullable=True)
    score_max: Mapped[float | None] = mapped_column(Float, nullable=True)
    passed: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    fatal: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    flags: Mapped[str] = mapped_column(Text, default="")  # encode_tags()
    failed_items: Mapped[str] = mapped_column(Text, default="")  # encode_tags()
    rubric_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    rubric_version: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class Result(Base):
    """The engine's output; the primary key makes it exactly one per call."""

    __tablename__ = "results"

    call_id: Mapped[str] = mapped_column(String(32), ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True)
    call_info: Mapped[dict[str, Any]] = mapped_column(JSON)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    turns: Mapped[list[Any]] = mapped_column(JSON)
    events: Mapped[list[Any]] = mapped_column(JSON)
    scorecard: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Speech regions per party: with the turns, what a re-score needs instead of the audio.
    speech: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    analysis_s: Mapped[float] = mapped_column(Float)
    worker_id: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    rescored_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class StoredAudio(Base):
    """A recording in the content-addressed store and how many calls (or uploads under way) hold it.

    An upload counts itself in before it places the file; a delete counts itself out and takes
    the file away only when the count reaches 0, holding the row's lock until it commits. So a
    delete never removes bytes that another call (or an upload about to be acknowledged) needs.
    """

    __tablename__ = "stored_audio"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    refs: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

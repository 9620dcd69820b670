"""Who may use the service: API keys (REST clients and tools), web UI users and their login sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from api.database.core import Base, utcnow

# privacy_officer: reads every call, and alone may read the clear original (api/privacy), every access logged.
ROLES = ("client", "inspector", "supervisor", "admin", "privacy_officer")


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)  # sha256 hex of the key
    prefix: Mapped[str] = mapped_column(String(16))  # first characters, to tell keys apart in logs
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)  # None: never expires


USER_ROLES = ("inspector", "supervisor", "admin", "agent", "privacy_officer")


class User(Base):
    """A person who logs in to the web UI (password stored as scrypt)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(100), unique=True, index=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(16))
    agent_id: Mapped[str | None] = mapped_column(String(200), nullable=True)  # calls' metadata agent_id
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class UiSession(Base):
    """A server-side login session; the cookie holds the token, the table its sha256."""

    __tablename__ = "ui_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)


class LoginThrottle(Base):
    """Failed web UI log-ins per user name (`user:NAME`) or client address (`addr:IP`), and their lockout."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(320), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)  # attempts not yet known good, in this window
    window_start: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    lockouts: Mapped[int] = mapped_column(Integer, default=0)  # lockouts in a row: each doubles the next

"""API keys, web UI users (scrypt passwords) and their login sessions."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, or_, select, update
from sqlalchemy.orm import Session

from api.auth.models import ROLES, USER_ROLES, ApiKey, LoginThrottle, UiSession, User
from api.config import Settings
from api.database.core import utcnow

SESSION_TTL = timedelta(hours=12)
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(session: Session, role: str, name: str = "", expires_at: datetime | None = None) -> tuple[ApiKey, str]:
    """A new API key (expiring at `expires_at`, naive UTC, if given); the plain key is returned once and only
    its sha256 is stored."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    if expires_at is not None and expires_at <= utcnow():
        raise ValueError("the expiry is in the past; give a future time or a number of days")
    plain = f"qa_{role[:3]}_{secrets.token_urlsafe(32)}"
    key = ApiKey(id=uuid.uuid4().hex, key_hash=hash_key(plain), prefix=plain[:10], role=role, name=name,
                 expires_at=expires_at)
    session.add(key)
    session.commit()
    return key, plain


def expiry(expires_at: datetime | None = None, expires_in_days: float | None = None) -> datetime | None:
    """A key's expiry as naive UTC from a time (naive: UTC) or a number of days from now; ValueError if both
    or out of range."""
    if expires_at is not None and expires_in_days is not None:
        raise ValueError("give expires_at or expires_in_days, not both")
    try:
        if expires_in_days is not None:
            return utcnow() + timedelta(days=expires_in_days)
        if expires_at is not None and expires_at.tzinfo is not None:
            return expires_at.astimezone(UTC).replace(tzinfo=None)
    except OverflowError:
        raise ValueError("the expiry is out of range") from None
    return expires_at


class KeyRefused(Exception):
    """An API key that does not authenticate; the message says why and what to do, `reason` is a short code."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def authenticate(session: Session, plain: str) -> ApiKey:
    """The key's row, or KeyRefused: unknown, revoked or expired."""
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(plain)))
    if key is None:
        raise KeyRefused("the API key is unknown; ask an admin for a valid key", "unknown")
    if key.revoked_at is not None:
        raise KeyRefused(f"the API key {key.prefix}... was revoked at {key.revoked_at:%Y-%m-%d %H:%M} UTC; "
                         "ask an admin for a new key", "revoked")
    if key.expires_at is not None and key.expires_at <= utcnow():
        raise KeyRefused(f"the API key {key.prefix}... expired at {key.expires_at:%Y-%m-%d %H:%M} UTC; "
                         "ask an admin for a new key", "expired")
    return key


def key_status(key: ApiKey) -> str:
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= utcnow():
        return "expired"
    return "active"


def key_dict(key: ApiKey) -> dict[str, Any]:
    """What may be shown of a key: never the key or its hash."""
    return {"id": key.id, "prefix": key.prefix, "role": key.role, "name": key.name, "status": key_status(key),
            "created_at": key.created_at, "expires_at": key.expires_at, "revoked_at": key.revoked_at}


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)))


def find_key(session: Session, ref: str) -> ApiKey:
    """A key by its id, by the key itself, or by a prefix of either that names one key; LookupError if none
    or several."""
    key = session.get(ApiKey, ref) or session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(ref)))
    if key is not None:
        return key
    if len(ref) < 4:
        raise LookupError(f"no key {ref!r}; give its id or at least 4 characters of its prefix")
    found = list(session.scalars(select(ApiKey).where(or_(ApiKey.id.startswith(ref, autoescape=True),
                                                          ApiKey.prefix.startswith(ref, autoescape=True)))))
    if not found:
        raise LookupError(f"no key with the id or prefix {ref!r}")
    if len(found) > 1:
        raise LookupError(f"{len(found)} keys start with {ref!r} ({', '.join(k.id for k in found[:10])}); "
                          "give the id")
    return found[0]


def revoke_key(session: Session, key: ApiKey) -> ApiKey:
    """Revoke the key now (a key revoked already keeps its first revocation time)."""
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    session.commit()
    return key


# ---- passwords and users -------------------------------------------------------------------------------------

def hash_password(password: str) -> str:
    """scrypt (RFC 7914), N=2^14 r=8 p=1, 16-byte salt: `scrypt$N$r$p$salt$hash` (base64)."""
    salt = secrets.token_bytes(16)
    dk = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${b64(salt).decode()}${b64(dk).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        algo, n, r, p, salt, dk = stored.split("$")
        if algo != "scrypt":
            return False
        want = base64.b64decode(dk)
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), dklen=len(want),
                             n=int(n), r=int(r), p=int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


def create_user(session: Session, username: str, password: str, role: str, agent_id: str | None = None) -> User:
    if role not in USER_ROLES:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(USER_ROLES)}")
    if role == "agent" and not agent_id:
        raise ValueError("an agent needs --agent-id (the agent_id in the calls' metadata)")
    if len(password) < 8:
        raise ValueError("the password must be at least 8 characters")
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise ValueError(f"the user {username!r} exists already")
    user = User(username=username, password_hash=hash_password(password), role=role, agent_id=agent_id)
    session.add(user)
    session.commit()
    return user


def login(session: Session, username: str, password: str) -> tuple[str, UiSession] | None:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        verify_password(password, hash_password("timing-equaliser"))
        return None
    if not verify_password(password, user.password_hash):
        return None
    token = secrets.token_urlsafe(32)
    s = UiSession(token_hash=hashlib.sha256(token.encode()).hexdigest(), user_id=user.id,
                  csrf=secrets.token_urlsafe(24), expires_at=utcnow() + SESSION_TTL)
    session.add(s)
    session.execute(delete(UiSession).where(UiSession.expires_at < utcnow()))
    session.commit()
    return token, s


# ---- log-in throttling ----------------------------------------------------------------------------------------
# Each attempt is counted against the user name and the client address before the password is checked (so a
# burst of concurrent guesses cannot outrun the count), and a good password takes its attempt back.


def _throttle_keys(settings: Settings, username: str, address: str) -> list[tuple[str, int]]:
    return [(f"user:{username.lower()[:300]}", settings.login_max_failures),
            (f"addr:{address[:300]}", settings.login_max_failures_per_address)]


def _lock(session: Session, settings: Settings, row: LoginThrottle, now: datetime) -> datetime:
    seconds = min(settings.login_lockout_s * 2 ** min(row.lockouts, 30), settings.login_lockout_max_s)
    row.locked_until, row.lockouts = now + timedelta(seconds=seconds), row.lockouts + 1
    row.failures, row.window_start = 0, now
    return row.locked_until


def _ensure_rows(session: Session, keys: list[str], now: datetime) -> None:
    from sqlalchemy.dialects import postgresql, sqlite

    rows = [{"key": k, "failures": 0, "window_start": now, "lockouts": 0} for k in keys]
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(insert(LoginThrottle).values(rows).on_conflict_do_nothing())


def login_attempt(session: Session, settings: Settings, username: str, address: str) -> datetime | None:
    """Count a log-in attempt; returns the time (naive UTC) log-in is locked until for this user name or
    address (the attempt refused, the password not checked), or None: check the password."""
    now = utcnow()
    cutoff = now - timedelta(seconds=settings.login_window_s)
    limits = _throttle_keys(settings, username, address)
    _ensure_rows(session, [k for k, _ in limits], now)
    locked: datetime | None = None
    for key, limit in limits:
        stale = LoginThrottle.window_start < cutoff
        session.execute(update(LoginThrottle).where(
            LoginThrottle.key == key, or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until <= now))
            .values(failures=case((stale, 1), else_=LoginThrottle.failures + 1),
                    window_start=case((stale, now), else_=LoginThrottle.window_start))
            .execution_options(synchronize_session=False))
        row = session.get(LoginThrottle, key, populate_existing=True)
        assert row is not None
        if row.locked_until is not None and row.locked_until > now:
            until = row.locked_until
        elif row.failures > limit:  # concurrent attempts went past the limit: this one is over it
            until = _lock(session, settings, row, now)
        else:
            continue
        locked = until if locked is None else max(locked, until)
    session.commit()
    return locked


def login_failed(session: Session, settings: Settings, username: str, address: str) -> datetime | None:
    """After a wrong password: lock what reached its limit; returns the lockout's end, if any."""
    now = utcnow()
    locked: datetime | None = None
    for key, limit in _throttle_keys(settings, username, address):
        row = session.get(LoginThrottle, key, populate_existing=True)
        if row is not None and row.failures >= limit and (row.locked_until is None or row.locked_until <= now):
            until = _lock(session, settings, row, now)
            locked = until if locked is None else max(locked, until)
    # Forget counts that lapsed (their window passed, no lockout for a window since).
    quiet = now - timedelta(seconds=settings.login_window_s)
    session.execute(delete(LoginThrottle).where(
        LoginThrottle.window_start < quiet, or_(LoginThrottle.locked_until.is_(None),
                                                LoginThrottle.locked_until < quiet)))
    session.commit()
    return locked


def login_succeeded(session: Session, settings: Settings, username: str, address: str) -> None:
    """The right password: the user name starts afresh; the address takes this attempt back."""
    user_key, addr_key = (k for k, _ in _throttle_keys(settings, username, address))
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == user_key))
    session.execute(update(LoginThrottle).where(LoginThrottle.key == addr_key, LoginThrottle.failures > 0)
                    .values(failures=LoginThrottle.failures - 1))
    session.commit()


def session_user(session: Session, token: str | None) -> tuple[User, UiSession] | None:
    if not token:
        return None
    s = session.get(UiSession, hashlib.sha256(token.encode()).hexdigest())
    if s is None or s.expires_at < utcnow():
        return None
    user = session.get(User, s.user_id)
    return (user, s) if user is not None else None


def logout(session: Session, token: str | None) -> None:
    if token:
        session.execute(delete(UiSession).where(UiSession.token_hash == hashlib.sha256(token.encode()).hexdigest()))
        session.commit()

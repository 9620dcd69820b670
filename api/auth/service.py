"""API keys, web UI users (scrypt passwords) and their login sessions."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from api.auth.models import ROLES, USER_ROLES, ApiKey, UiSession, User
from api.database.core import utcnow

SESSION_TTL = timedelta(hours=12)
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(session: Session, role: str, name: str = "") -> tuple[ApiKey, str]:
    """A new API key; the plain key is returned once and only its sha256 is stored."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    plain = f"qa_{role[:3]}_{secrets.token_urlsafe(32)}"
    key = ApiKey(id=uuid.uuid4().hex, key_hash=hash_key(plain), prefix=plain[:10], role=role, name=name)
    session.add(key)
    session.commit()
    return key, plain


def authenticate(session: Session, plain: str) -> ApiKey | None:
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(plain)))
    if key is None or key.revoked_at is not None:
        return None
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

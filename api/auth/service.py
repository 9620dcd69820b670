from __future__ import annotations

import hashlib
import secrets
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth.models import ROLES, ApiKey


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

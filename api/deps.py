"""Dependencies injected into routes: the app context, a DB session, the caller and its role."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.auth.models import ApiKey
from api.auth.service import KeyRefused, authenticate
from api.calls.writer import CallWriter
from api.config import Settings
from api.database.core import Database
from api.problems import Problem
from api.storage import AudioStore


@dataclass
class AppContext:
    settings: Settings
    db: Database
    store: AudioStore
    metrics: Any  # api.ops.metrics.Metrics
    runner: Any  # api.jobs.runner.LocalRunner | CeleryRunner: enqueue(call_id), queue/model status
    calls: CallWriter = field(init=False)  # accepted calls' rows, committed in shared transactions

    def __post_init__(self) -> None:
        self.calls = CallWriter(self.db)

    def enqueue(self, call_id: str) -> None:
        self.metrics.submitted.inc()
        self.runner.enqueue(call_id)


async def get_ctx(request: Request) -> AppContext:  # async: no thread-pool hop for a lookup
    ctx: AppContext = request.app.state.ctx
    return ctx


def get_session(ctx: Annotated[AppContext, Depends(get_ctx)]) -> Iterator[Session]:
    with ctx.db.sessionmaker() as session:
        yield session


_bearer = HTTPBearer(auto_error=False, description="an API key from `qa-engine keys create --role ROLE`")


async def get_principal(
    ctx: Annotated[AppContext, Depends(get_ctx)],
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKey:
    """The caller's key, checked in its own short session: one thread-pool hop, and no DB connection
    held while a route reads an upload. The key comes back detached, its columns loaded."""
    challenge = {"WWW-Authenticate": "Bearer"}
    if creds is None or creds.scheme.lower() != "bearer" or not creds.credentials:
        raise Problem(401, "send an API key as 'Authorization: Bearer KEY' (create one with "
                      "`qa-engine keys create --role client`)", code="unauthenticated", headers=challenge)
    try:
        return await run_in_threadpool(_authenticate, ctx.db, creds.credentials)
    except KeyRefused as exc:
        raise Problem(401, str(exc), code="unauthenticated", reason=exc.reason, headers=challenge) from None


def _authenticate(db: Database, plain: str) -> ApiKey:
    with db.session() as session:
        return authenticate(session, plain)


def require(*roles: str) -> Callable[..., Awaitable[ApiKey]]:
    async def _dep(key: Annotated[ApiKey, Depends(get_principal)]) -> ApiKey:
        if key.role not in roles:
            raise Problem(403, f"this needs the role {' or '.join(roles)}; your key has the role {key.role}",
                          code="forbidden")
        return key
    return _dep


SessionDep = Annotated[Session, Depends(get_session)]
CtxDep = Annotated[AppContext, Depends(get_ctx)]
Principal = Annotated[ApiKey, Depends(get_principal)]

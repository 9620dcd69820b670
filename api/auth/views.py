"""Access: API keys (/v1/keys, /v1/me) and the web UI's log-in and log-out."""

from __future__ import annotations

import hmac
import math
import secrets
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Path, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from api.auth import service
from api.auth.models import ApiKey
from api.database.core import utcnow
from api.deps import CtxDep, Principal, SessionDep, require
from api.inputs import Text
from api.problems import Problem, responses
from api.ui.pages import COOKIE, PRE_CSRF, WhoDep, check_csrf, page, safe_next

router = APIRouter(prefix="/v1", tags=["access"])
ui_router = APIRouter(tags=["web UI"], include_in_schema=False)


Admin = Annotated[ApiKey, Depends(require("admin"))]


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"role": "client", "name": "crm", "expires_in_days": 90}]})
    role: Literal["client", "inspector", "supervisor", "admin", "privacy_officer"]
    name: Text = Field("", max_length=200)
    expires_at: datetime | None = Field(None, description="when the key stops working (UTC if no offset)")
    expires_in_days: float | None = Field(None, gt=0, le=36500, description="or: days from now")


@router.post("/keys", status_code=201, response_model=dict[str, Any], responses=responses(401, 403, 422))
def new_key(session: SessionDep, admin: Admin, body: KeyIn) -> dict[str, Any]:
    """A new API key; the key itself is shown only in this answer (stored as its sha256). With `expires_at`
    or `expires_in_days` it stops working then (401, reason `expired`)."""
    try:
        key, plain = service.create_key(session, body.role, body.name,
                                        service.expiry(body.expires_at, body.expires_in_days))
    except ValueError as exc:
        raise Problem(422, str(exc), code="invalid_expiry") from None
    return {**service.key_dict(key), "key": plain}


@router.get("/keys", response_model=list[dict[str, Any]], responses=responses(401, 403))
def list_keys(session: SessionDep, admin: Admin) -> list[dict[str, Any]]:
    """Every API key: id, prefix, role, name, status (active, expired, revoked) and times; never the key."""
    return [service.key_dict(k) for k in service.list_keys(session)]


@router.delete("/keys/{key_id}", response_model=dict[str, Any], responses=responses(401, 403, 404))
def revoke_key(session: SessionDep, admin: Admin, key_id: Annotated[str, Path(max_length=64)]) -> dict[str, Any]:
    """Revoke a key (by its id): from now on it gets 401 with reason `revoked`. The row is kept, for the record."""
    key = session.get(ApiKey, key_id)
    if key is None:
        raise Problem(404, f"no API key {key_id!r}; GET /v1/keys lists them", code="key_not_found")
    return service.key_dict(service.revoke_key(session, key))


@router.get("/me", response_model=dict[str, Any], responses=responses(401))
def whoami(key: Principal) -> dict[str, Any]:
    return {"id": key.id, "role": key.role, "name": key.name, "prefix": key.prefix}


@ui_router.get("/ui/login", response_class=HTMLResponse)
def login_form(request: Request, ctx: CtxDep, next: str | None = None, error: bool = False) -> HTMLResponse:
    token = request.cookies.get(PRE_CSRF) or secrets.token_urlsafe(24)
    resp = page(request, "login.html", None, next=safe_next(next), error=error, login_csrf=token)
    resp.set_cookie(PRE_CSRF, token, httponly=True, samesite="strict", secure=ctx.settings.cookie_secure)
    return resp


def _locked_page(request: Request, until: datetime, nxt: str, secure: bool) -> HTMLResponse:
    """429: the log-in form again, saying when to retry (in the UI's language)."""
    wait = max(1, math.ceil((until - utcnow()).total_seconds()))
    token = request.cookies.get(PRE_CSRF) or secrets.token_urlsafe(24)
    resp = page(request, "login.html", None, next=safe_next(nxt), login_csrf=token,
                locked_until=f"{until:%H:%M:%S} UTC", locked_s=wait)
    resp.status_code = 429
    resp.headers["Retry-After"] = str(wait)
    resp.set_cookie(PRE_CSRF, token, httponly=True, samesite="strict", secure=secure)
    return resp


@ui_router.post("/ui/login")
def login_post(request: Request, ctx: CtxDep, session: SessionDep, username: Annotated[str, Form(max_length=100)],
               password: Annotated[str, Form(max_length=200)], csrf: Annotated[str, Form()] = "",
               next: Annotated[str, Form()] = "/ui/queue") -> Response:
    pre = request.cookies.get(PRE_CSRF, "")
    if not pre or not hmac.compare_digest(pre, csrf):
        raise Problem(403, "the login form's CSRF token is missing or wrong; reload the page", code="csrf")
    settings, address = ctx.settings, request.client.host if request.client else "unknown"
    locked = service.login_attempt(session, settings, username, address)
    if locked is not None:  # the password is not even checked
        return _locked_page(request, locked, next, settings.cookie_secure)
    found = service.login(session, username, password)
    if found is None:
        locked = service.login_failed(session, settings, username, address)
        if locked is not None:
            return _locked_page(request, locked, next, settings.cookie_secure)
        return RedirectResponse(f"/ui/login?error=1&next={quote(safe_next(next))}", status_code=303)
    service.login_succeeded(session, settings, username, address)
    resp = RedirectResponse(safe_next(next), status_code=303)
    resp.set_cookie(COOKIE, found[0], httponly=True, samesite="lax", secure=settings.cookie_secure,
                    max_age=int(service.SESSION_TTL.total_seconds()))
    resp.delete_cookie(PRE_CSRF, secure=settings.cookie_secure)
    return resp


@ui_router.post("/ui/logout")
def logout(request: Request, ctx: CtxDep, session: SessionDep, who: WhoDep,
           csrf: Annotated[str, Form()] = "") -> Response:
    check_csrf(who, csrf)
    service.logout(session, request.cookies.get(COOKIE))
    resp = RedirectResponse("/ui/login", status_code=303)
    resp.delete_cookie(COOKIE, httponly=True, samesite="lax", secure=ctx.settings.cookie_secure)
    return resp

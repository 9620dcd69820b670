"""Access: API keys (/v1/keys, /v1/me) and the web UI's log-in and log-out."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from api.auth import service
from api.auth.models import ApiKey
from api.deps import Principal, SessionDep, require
from api.inputs import Text
from api.problems import Problem, responses
from api.ui.pages import COOKIE, PRE_CSRF, WhoDep, check_csrf, page, safe_next

router = APIRouter(prefix="/v1", tags=["access"])
ui_router = APIRouter(tags=["web UI"], include_in_schema=False)


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"role": "client", "name": "crm"}]})
    role: Literal["client", "inspector", "supervisor", "admin", "privacy_officer"]
    name: Text = Field("", max_length=200)


@router.post("/keys", status_code=201, response_model=dict[str, Any], responses=responses(401, 403, 422))
def new_key(session: SessionDep, admin: Annotated[ApiKey, Depends(require("admin"))], body: KeyIn) -> dict[str, Any]:
    """A new API key; the key itself is shown only in this answer (stored as its sha256)."""
    key, plain = service.create_key(session, body.role, body.name)
    return {"id": key.id, "role": key.role, "name": key.name, "key": plain}


@router.get("/me", response_model=dict[str, Any], responses=responses(401))
def whoami(key: Principal) -> dict[str, Any]:
    return {"id": key.id, "role": key.role, "name": key.name, "prefix": key.prefix}


@ui_router.get("/ui/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None, error: bool = False) -> HTMLResponse:
    token = request.cookies.get(PRE_CSRF) or secrets.token_urlsafe(24)
    resp = page(request, "login.html", None, next=safe_next(next), error=error, login_csrf=token)
    resp.set_cookie(PRE_CSRF, token, httponly=True, samesite="strict")
    return resp


@ui_router.post("/ui/login")
def login_post(request: Request, session: SessionDep, username: Annotated[str, Form(max_length=100)],
               password: Annotated[str, Form(max_length=200)], csrf: Annotated[str, Form()] = "",
               next: Annotated[str, Form()] = "/ui/queue") -> Response:
    pre = request.cookies.get(PRE_CSRF, "")
    if not pre or not hmac.compare_digest(pre, csrf):
        raise Problem(403, "the login form's CSRF token is missing or wrong; reload the page", code="csrf")
    found = service.login(session, username, password)
    if found is None:
        return RedirectResponse(f"/ui/login?error=1&next={quote(safe_next(next))}", status_code=303)
    resp = RedirectResponse(safe_next(next), status_code=303)
    resp.set_cookie(COOKIE, found[0], httponly=True, samesite="lax",
                    max_age=int(service.SESSION_TTL.total_seconds()))
    resp.delete_cookie(PRE_CSRF)
    return resp


@ui_router.post("/ui/logout")
def logout(request: Request, session: SessionDep, who: WhoDep, csrf: Annotated[str, Form()] = "") -> Response:
    check_csrf(who, csrf)
    service.logout(session, request.cookies.get(COOKIE))
    resp = RedirectResponse("/ui/login", status_code=303)
    resp.delete_cookie(COOKIE)
    return resp

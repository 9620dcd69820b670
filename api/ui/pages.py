"""What every web UI page shares: templates, the logged-in user from the session cookie, CSRF, the language."""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from api.auth import service as auth
from api.auth.models import UiSession, User
from api.deps import SessionDep
from api.problems import Problem
from api.ui.i18n import LANGS, namer, translator

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
COOKIE, LANG_COOKIE, PRE_CSRF = "qa_session", "qa_lang", "qa_login_csrf"
REVIEWERS = ("inspector", "supervisor", "admin")


class Who:
    def __init__(self, user: User, sess: UiSession) -> None:
        self.user, self.sess = user, sess


def current(request: Request, session: SessionDep) -> Who:
    found = auth.session_user(session, request.cookies.get(COOKIE))
    if found is None:
        nxt = quote(str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""))
        raise Problem(303, "log in first", code="login_required", headers={"Location": f"/ui/login?next={nxt}"})
    return Who(*found)


WhoDep = Annotated[Who, Depends(current)]


def check_csrf(who: Who, token: str) -> None:
    if not hmac.compare_digest(who.sess.csrf, token or ""):
        raise Problem(403, "the form's CSRF token is missing or wrong; reload the page", code="csrf")


def lang_of(request: Request) -> str:
    lang = request.cookies.get(LANG_COOKIE, "zh")
    return lang if lang in LANGS else "zh"


def safe_next(nxt: str | None) -> str:
    """A local path to go on to after a form; anything else (another site) goes to the queue."""
    return nxt if nxt and nxt.startswith("/") and not nxt.startswith("//") else "/ui/queue"


def page(request: Request, name: str, who: Who | None, **ctx: Any) -> HTMLResponse:
    lang = lang_of(request)
    return templates.TemplateResponse(request, name, {"t": translator(lang), "n": namer(lang), "lang": lang,
                                                      "who": who, "csrf": who.sess.csrf if who else "", **ctx})

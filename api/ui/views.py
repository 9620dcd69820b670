"""The web UI's own routes: the start page, static files, the language switch."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import FileResponse, RedirectResponse

from api.problems import Problem
from api.ui.i18n import LANGS
from api.ui.pages import HERE, LANG_COOKIE, safe_next

router = APIRouter(tags=["web UI"], include_in_schema=False)
STATIC = {"app.js": "text/javascript", "app.css": "text/css"}


@router.get("/", response_class=RedirectResponse)
def root() -> RedirectResponse:
    return RedirectResponse("/ui/queue", status_code=303)


@router.get("/ui/static/{name}")
def static(name: str) -> Response:
    if name not in STATIC:
        raise Problem(404, f"no static file {name!r}", code="not_found")
    return FileResponse(HERE / "static" / name, media_type=STATIC[name])


@router.get("/ui/lang/{code}")
def set_lang(code: str, next: str | None = None) -> RedirectResponse:
    resp = RedirectResponse(safe_next(next), status_code=303)
    resp.set_cookie(LANG_COOKIE, code if code in LANGS else "zh", max_age=365 * 86400, samesite="lax")
    return resp

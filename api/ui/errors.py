"""Errors on the web UI's routes as pages in the UI's language, each with a next step; the JSON API keeps its
problem+json (api/problems.py), whose handlers these wrap."""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from api.problems import Problem
from api.ui.i18n import STRINGS, namer, translator
from api.ui.pages import lang_of, templates

Handler = Callable[[Request, Any], Response | Awaitable[Response]]
_CALL_PATH = re.compile(r"^/ui/calls/([A-Za-z0-9_-]{1,64})(?:/|$)")


async def _json(handler: Handler, request: Request, exc: Exception) -> Response:
    out = handler(request, exc)
    return await out if inspect.isawaitable(out) else out


def is_ui(request: Request) -> bool:
    """A page for a browser on the UI's routes; problem+json for a script that asks for JSON there too."""
    if not (request.url.path == "/" or request.url.path.startswith("/ui/")):
        return False
    accept = request.headers.get("accept", "")
    return "text/html" in accept or "json" not in accept


def _message(lang: str, status: int, code: str, extra: dict[str, Any]) -> str:
    """The problem's message in `lang`: by its code where the UI knows it, else by its status."""
    t, n = translator(lang), namer(lang)
    key = f"err_{code}"
    if code == "forbidden" and extra.get("reason") == "own_calls_only":
        key = "err_forbidden_agent"
    if key not in STRINGS:
        key = f"err_{status}" if f"err_{status}" in STRINGS else "err_400"
    values = {k: (", ".join(n(x) for x in v) if isinstance(v, list) else n(v) if isinstance(v, str) else v)
              for k, v in extra.items()}
    values.setdefault("role", n(extra.get("role")) if extra.get("role") else "")
    try:
        return t(key).format(**values)
    except (KeyError, IndexError, ValueError):
        return t(f"err_{status}") if f"err_{status}" in STRINGS else t("err_400")


def _next_steps(request: Request, code: str) -> list[tuple[str, str]]:
    """(label key, link) pairs: reload a call still being analysed, back to the call a form was posted from (or
    the page the browser came from), log in again, the queue always."""
    path, steps = request.url.path, []
    m = _CALL_PATH.match(path)
    on_call_page = m is not None and path.rstrip("/") == f"/ui/calls/{m.group(1)}"
    referer = urlsplit(request.headers.get("referer", ""))
    if code in ("call_queued", "call_processing") and request.method == "GET":
        steps.append(("reload", path + (f"?{request.url.query}" if request.url.query else "")))
    elif m and not on_call_page and code not in ("call_not_found", "forbidden"):
        steps.append(("back_to_call", f"/ui/calls/{m.group(1)}"))
    elif referer.netloc == request.url.netloc and referer.path.startswith("/ui/") and referer.path != path:
        steps.append(("go_back", referer.path + (f"?{referer.query}" if referer.query else "")))
    if code in ("login_required", "unauthorized"):
        steps.append(("log_in_again", "/ui/login"))
    steps.append(("back_to_queue", "/ui/queue"))
    return steps


def error_page(request: Request, status: int, code: str, detail: str, extra: dict[str, Any] | None = None,
               headers: dict[str, str] | None = None) -> Response:
    lang = lang_of(request)
    return templates.TemplateResponse(
        request, "error.html",
        {"t": translator(lang), "n": namer(lang), "lang": lang, "who": None, "csrf": "", "status": status,
         "code": code, "message": _message(lang, status, code, extra or {}), "detail": detail,
         "steps": _next_steps(request, code)},
        status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    """Wrap the problem handlers installed by api.problems.install: a UI route gets the page, the API the JSON.
    An unexpected error stays with api.problems.LastResort (a 500 problem with its request id, the connection
    kept): a handler for Exception here would answer and then re-raise."""
    json_problem: Handler = app.exception_handlers[Problem]
    json_http: Handler = app.exception_handlers[StarletteHTTPException]
    json_validation: Handler = app.exception_handlers[RequestValidationError]

    async def problem(request: Request, exc: Problem) -> Response:
        if not is_ui(request) or exc.status < 400:  # a 303 to the login form stays a redirect
            return await _json(json_problem, request, exc)
        return error_page(request, exc.status, exc.code, exc.detail, exc.extra, exc.headers)

    async def http(request: Request, exc: StarletteHTTPException) -> Response:
        if not is_ui(request) or exc.status_code < 400:
            return await _json(json_http, request, exc)
        code = {404: "not_found"}.get(exc.status_code, str(exc.status_code))
        return error_page(request, exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None))

    async def validation(request: Request, exc: RequestValidationError) -> Response:
        if not is_ui(request):
            return await _json(json_validation, request, exc)
        detail = "; ".join(f"{'.'.join(str(x) for x in e.get('loc', ()))}: {e.get('msg', '')}" for e in exc.errors())
        return error_page(request, 422, "invalid_request", detail)

    app.add_exception_handler(Problem, problem)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, http)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, validation)  # type: ignore[arg-type]
    # An error no route expected is answered by api.problems.LastResort (problem+json with a request id).

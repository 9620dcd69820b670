"""Errors as RFC 9457 problem details (application/problem+json), each with a reason a user can act on."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("api")
PROBLEM = "application/problem+json"

_TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
           405: "Method not allowed", 409: "Conflict", 413: "Payload too large", 415: "Unsupported media type",
           416: "Range not satisfiable", 422: "Invalid request", 500: "Internal error", 503: "Unavailable"}


class Problem(Exception):
    def __init__(self, status: int, detail: str, *, code: str = "", title: str | None = None,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.detail, self.code = status, detail, code or _TITLES.get(status, "error").lower()
        self.title = title or _TITLES.get(status, "Error")
        self.headers = headers
        self.extra = extra


def problem_response(status: int, detail: str, *, code: str = "", title: str | None = None,
                     instance: str | None = None, headers: dict[str, str] | None = None,
                     **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://qa-engine.dev/problems/{(code or str(status)).replace('_', '-')}",
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if code:
        body["code"] = code
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


PROBLEM_SCHEMA: dict[str, Any] = {"content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
PROBLEM_COMPONENT: dict[str, Any] = {
    "title": "Problem", "type": "object", "required": ["type", "title", "status", "detail"],
    "description": "RFC 9457 problem details: `detail` says what to change; 422s list the fields in `errors`",
    "properties": {
        "type": {"type": "string", "description": "a URI naming the kind of problem"},
        "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string", "description": "what went wrong and what to do about it"},
        "code": {"type": "string", "description": "a stable machine-readable code, e.g. invalid_metadata"},
        "instance": {"type": "string", "description": "the request path"},
        "errors": {"type": "array", "items": {"type": "object", "properties": {
            "field": {"type": "string"}, "message": {"type": "string"}}}},
        "request_id": {"type": "string", "description": "500 only: quote it to the operator (it is in the log)"}},
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {c: {"description": _TITLES.get(c, "Error"), **PROBLEM_SCHEMA} for c in codes}


def document(app: FastAPI) -> None:
    """Every operation's errors in /openapi.json as what they are: problem+json. Every operation also lists 422
    (any URL can be refused, e.g. a NUL in it) and 500 (the last resort)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = generate()
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        schemas["Problem"] = PROBLEM_COMPONENT
        for item in spec.get("paths", {}).values():
            for op in item.values():
                responses = op.setdefault("responses", {})
                for code in (422, 500):
                    responses.setdefault(str(code), {"description": _TITLES[code]})
                for code, resp in responses.items():
                    if code[:1] in ("4", "5"):
                        resp["content"] = PROBLEM_SCHEMA["content"]
        # FastAPI's own 422 body, replaced above, is no longer referred to.
        if "HTTPValidationError" not in json.dumps(spec["paths"]):
            schemas.pop("HTTPValidationError", None)
            schemas.pop("ValidationError", None)
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def validation_errors(errors: Sequence[Any], prefix: str = "") -> list[dict[str, str]]:
    """Pydantic's errors as {field, message}, without pydantic's "Value error, " before our own reasons."""
    out = []
    for e in errors:
        field = ".".join(str(x) for x in (prefix, *e.get("loc", ())) if x != "")
        out.append({"field": field, "message": str(e.get("msg", "")).removeprefix("Value error, ")})
    return out


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.detail, code=exc.code, title=exc.title,
                                instance=request.url.path, headers=exc.headers, **exc.extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such endpoint: {request.method} {request.url.path}; see /docs for the API"
        if exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}; see /docs for the API"
        return problem_response(exc.status_code, detail, instance=request.url.path,
                                headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = validation_errors(exc.errors())
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "the request is invalid"
        return problem_response(422, detail, code="invalid_request", instance=request.url.path, errors=errors)


class LastResort:
    """The last line: an error no route expected becomes a 500 problem+json carrying a request id, logged with
    its traceback under the same id, and the connection stays open (Starlette's own handler re-raises, and
    the server then drops a keep-alive connection). Every response carries X-Request-ID."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error on %s %s (request %s)", scope["method"], scope["path"], request_id)
            if started:  # too late for a problem: the answer is cut short, as it must be
                raise
            resp = problem_response(500, f"the service hit an unexpected error; retry, and if it persists report "
                                    f"request id {request_id} to the operator", code="internal",
                                    instance=scope["path"], request_id=request_id)
            await resp(scope, receive, send_with_id)

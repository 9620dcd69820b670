"""The FastAPI application: `create_app(settings)`; `uvicorn api.main:app` or `qa-engine serve`."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth.views import router as auth_router
from api.auth.views import ui_router as login_router
from api.calls import service as calls_service
from api.calls.views import router as calls_router
from api.config import Settings
from api.database.core import Database
from api.deps import AppContext
from api.inputs import InputGuard
from api.jobs.runner import make_runner
from api.ops.metrics import Metrics
from api.ops.views import router as ops_router
from api.privacy.views import router as privacy_router
from api.problems import LastResort, problem_response
from api.problems import document as document_problems
from api.problems import install as install_problems
from api.reports.scheduler import ReportScheduler
from api.reports.views import api_router as reports_api_router
from api.reports.views import router as reports_router
from api.review.views import api_router as review_api_router
from api.review.views import router as review_router
from api.rubrics.views import router as rubrics_router
from api.storage import AudioStore
from api.ui.errors import install as install_error_pages
from api.ui.views import router as ui_router
from api.webhooks.views import router as webhooks_router

log = logging.getLogger("api")

DESCRIPTION = """Call-centre quality inspection: submit recorded calls, get transcript, findings and the
filled QA scorecard.

Authenticate with `Authorization: Bearer KEY` (create keys with `qa-engine keys create --role ROLE`;
roles: client, inspector, supervisor, admin). Errors are `application/problem+json`.
Quick start: `POST /v1/calls` (multipart `audio` + `metadata`) → 202 `{id}`; poll
`GET /v1/calls/{id}` until `done`; read `/scorecard`, `/transcript`, `/events`."""


class UploadLimit:
    """Refuses an upload whose declared size is over the limit before reading it, and closes the
    connection after any answer given before the request's body was read (a 401, a 413 while
    streaming): otherwise the server would go on reading, and dropping, the rest of the body."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if scope["method"] == "POST" and length and length.isdigit() and int(length) > self.max_bytes + 1024 * 1024:
            resp = problem_response(413, f"the upload is over the limit of {self.max_bytes / 2**20:.4g} MB; "
                                    "split the recording or ask the operator to raise QA_MAX_UPLOAD_MB",
                                    code="too_large", headers={"Connection": "close"})
            await resp(scope, receive, send)
            return
        body_read = length in (None, b"0") and b"transfer-encoding" not in headers

        async def tracking_receive() -> Message:
            nonlocal body_read
            message = await receive()
            if message["type"] == "http.disconnect" or not message.get("more_body", False):
                body_read = True
            return message

        async def closing_send(message: Message) -> None:
            if message["type"] == "http.response.start" and not body_read:
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
                message = {**message, "headers": [*kept, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, tracking_receive, closing_send)


class UploadGate:
    """At most `at_once` uploads (multipart requests) are processed at a time; the others wait at the door.

    A burst of uploads all became ready on the one event loop at once: each pass of the loop ran
    every one of them (routing, the key check, parsing a piece of body), so a pass took hundreds of
    milliseconds and every other request, /healthz included, waited for passes. Behind the gate a
    waiting upload costs the loop nothing. The gate is let go while an upload waits for its next
    bytes, so a slow sender never holds it: it bounds the work in hand, not the uploads open."""

    def __init__(self, app: ASGIApp, at_once: int) -> None:
        self.app, self.at_once = app, at_once
        self._gate: asyncio.Semaphore | None = None  # made on first use, in the server's loop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_multipart(scope):
            await self.app(scope, receive, send)
            return
        gate = self._gate = self._gate or asyncio.Semaphore(self.at_once)
        await gate.acquire()
        held = True

        async def receive_ungated() -> Message:
            nonlocal held
            gate.release()
            held = False
            try:
                return await receive()
            finally:
                await gate.acquire()
                held = True

        try:
            await self.app(scope, receive_ungated, send)
        finally:
            if held:
                gate.release()


def _is_multipart(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value[:19].lower() == b"multipart/form-data"
    return False


# Swagger UI and ReDoc from an installed package (fastapi-offline ships their files), not a CDN:
# the docs render on a machine that reaches nothing outside.
DOCS_ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"


def _install_docs(app: FastAPI) -> None:
    app.mount("/docs-assets", StaticFiles(directory=DOCS_ASSETS), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def swagger() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - API docs",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/docs-assets/favicon.png")

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title=f"{app.title} - API reference",
                              redoc_js_url="/docs-assets/redoc.standalone.js",
                              redoc_favicon_url="/docs-assets/favicon.png", with_google_fonts=False)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings)
        db.migrate()
        store = AudioStore(settings.audio_dir, settings.tmp_dir)
        calls_service.clean_store(db, store)
        metrics = Metrics(db)
        runner = make_runner(settings, db, store, metrics)
        if settings.start_workers or settings.broker_url:
            runner.start()
        scheduler = ReportScheduler(db, settings) if settings.report_schedule else None
        if scheduler is not None:
            scheduler.start()
        app.state.ctx = AppContext(settings=settings, db=db, store=store, metrics=metrics, runner=runner)
        # What start-up built lives as long as the process: out of the collector's sight. A full
        # collection walked all of it, 270 ms with the event loop stopped, in the middle of an upload
        # burst (/healthz waited as long); afterwards collections walk only what requests leave.
        gc.freeze()
        log.info("qa service ready: database %s, jobs %s", db.engine.url.render_as_string(hide_password=True),
                 "celery" if settings.broker_url else f"{settings.workers} in-process worker(s)")
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.stop()
            runner.stop()
            db.engine.dispose()

    app = FastAPI(title="qa-engine service", version="1.0.0", description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None,
                  openapi_tags=[{"name": "calls", "description": "submit calls, read results"},
                                {"name": "rubrics"}, {"name": "webhooks"}, {"name": "access"},
                                {"name": "operations"},
                                {"name": "privacy", "description": "who read clear originals (PII access log)"}])
    install_problems(app)
    install_error_pages(app)  # after it: wraps its handlers, pages for the web UI's routes
    document_problems(app)
    _install_docs(app)
    for r in (calls_router, rubrics_router, webhooks_router, auth_router, ops_router, reports_api_router,
              review_api_router, ui_router, login_router, review_router, reports_router, privacy_router):
        app.include_router(r)
    app.add_middleware(InputGuard)
    app.add_middleware(UploadLimit, max_bytes=settings.max_upload_bytes)
    app.add_middleware(LastResort)  # outside the others, so it catches what they and the routes raise
    # Outermost: a waiting upload costs the loop nothing (UploadGate raises nothing of its own for LastResort).
    app.add_middleware(UploadGate, at_once=settings.uploads_at_once)
    return app


def app_factory() -> Any:
    """For `uvicorn --factory api.main:app_factory`."""
    return create_app()

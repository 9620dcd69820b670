from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from api.deps import CtxDep
from api.problems import problem_response, responses

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=dict[str, Any])
async def healthz() -> dict[str, Any]:
    """The process is up. Answered on the event loop: not queued behind the thread pool's uploads."""
    return {"status": "ok"}


def _storage_status(ctx: Any) -> str:
    for d in (ctx.store.root, ctx.store.tmp):
        if not d.is_dir():
            return f"unavailable: {d} is missing"
        if not os.access(d, os.W_OK | os.X_OK):
            return f"unavailable: {d} is not writable"
    return "ok"


@router.get("/readyz", response_model=dict[str, Any], responses=responses(503))
def readyz(ctx: CtxDep) -> Response:
    """Ready to take calls: the database answers, the audio store is writable, and the queue runs (the broker
    answers, or this process's worker threads run) and the ASR model is found when this process analyses calls.
    In API-only mode (QA_START_WORKERS=false, no broker) workers elsewhere take the calls from the database."""
    checks: dict[str, str] = {}
    try:
        with ctx.db.session() as s:
            s.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unavailable: {type(exc).__name__}"
    checks["storage"] = _storage_status(ctx)
    runner = ctx.runner
    if runner.started:
        checks["queue"] = runner.queue_status()
        checks["model"] = runner.model_status()
    workers = "celery" if ctx.settings.broker_url else "in-process" if runner.started else "elsewhere"
    if all(v == "ok" for v in checks.values()):
        return JSONResponse({"status": "ready", "checks": checks, "workers": workers})
    bad = ", ".join(f"{k}: {v}" for k, v in checks.items() if v != "ok")
    return problem_response(503, f"not ready: {bad}", code="not_ready", checks=checks, workers=workers)


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics(ctx: CtxDep) -> Response:
    """Prometheus text format."""
    return Response(generate_latest(ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)

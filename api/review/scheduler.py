"""The daily report, generated after local midnight (QA_REPORT_TZ) into <data_dir>/reports and POSTed to
QA_REPORT_WEBHOOK_URL; started with the app when QA_REPORT_SCHEDULE=true."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from api.database.core import Database
from api.review import reports
from api.review.config import ReviewSettings

log = logging.getLogger("api.review.scheduler")


def run_once(db: Database, out_dir: Path, cfg: ReviewSettings, now: datetime | None = None) -> Path | None:
    """Write yesterday's (local) report unless it exists or another process is writing it; returns its path."""
    now = now or datetime.now(UTC)
    day = now.astimezone(ZoneInfo(cfg.report_tz)).date() - timedelta(days=1)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"daily-{day.isoformat()}.json"
    if target.exists():
        return None
    try:
        fd = os.open(out_dir / f".daily-{day.isoformat()}.lock", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return None
    os.close(fd)
    with db.session() as s:
        report = reports.daily(s, day, tz=cfg.report_tz)
    (out_dir / f"daily-{day.isoformat()}.csv").write_text(reports.to_csv(report), encoding="utf-8")
    (out_dir / f"daily-{day.isoformat()}.xlsx").write_bytes(reports.to_xlsx(report))
    body = json.dumps(report, ensure_ascii=False)
    tmp = target.with_suffix(".part")
    tmp.write_text(body, encoding="utf-8")
    tmp.replace(target)
    if cfg.report_webhook_url:
        for attempt in range(4):
            try:
                r = httpx.post(cfg.report_webhook_url, content=body.encode(), timeout=10,
                               headers={"Content-Type": "application/json", "X-QA-Event": "report.daily"})
                if r.status_code < 300:
                    break
                log.warning("report webhook answered %s", r.status_code)
            except httpx.HTTPError as exc:
                log.warning("report webhook failed: %s", exc)
            time.sleep(2 ** attempt)
    log.info("daily report for %s written to %s", day, target)
    return target


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    cfg = ReviewSettings()
    ctx = getattr(app.state, "ctx", None)
    if not cfg.report_schedule or ctx is None:
        yield
        return
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                run_once(ctx.db, ctx.settings.data_dir / "reports", cfg)
            except Exception:
                log.exception("the scheduled daily report failed")
            stop.wait(cfg.report_check_s)

    t = threading.Thread(target=loop, name="daily-report", daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join(timeout=5)

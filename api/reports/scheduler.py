"""The daily report, generated after local midnight (QA_REPORT_TZ) into <data_dir>/reports and sent to
QA_REPORT_WEBHOOK_URL through the webhook deliveries (signed, retried); runs in the service when
QA_REPORT_SCHEDULE=true."""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from api.config import Settings
from api.database.core import Database
from api.reports import service as reports
from api.webhooks import service as webhooks

log = logging.getLogger("api.reports.scheduler")


def run_once(db: Database, settings: Settings, now: datetime | None = None) -> Path | None:
    """Write yesterday's (local) report unless it exists or another process is writing it, and queue its
    delivery; returns its path."""
    now = now or datetime.now(UTC)
    day = now.astimezone(ZoneInfo(settings.report_tz)).date() - timedelta(days=1)
    out_dir = settings.data_dir / "reports"
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
        report = reports.daily(s, day, tz=settings.report_tz)
        (out_dir / f"daily-{day.isoformat()}.csv").write_text(reports.to_csv(report), encoding="utf-8")
        (out_dir / f"daily-{day.isoformat()}.xlsx").write_bytes(reports.to_xlsx(report))
        tmp = target.with_suffix(".part")
        tmp.write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")
        if settings.report_webhook_url:
            if settings.report_webhook_secret:
                webhooks.enqueue_to(s, settings.report_webhook_url, "report.daily", report)
            else:
                log.error("QA_REPORT_WEBHOOK_URL is set but QA_REPORT_WEBHOOK_SECRET is not: the daily report "
                          "is written to %s but not sent (deliveries are signed)", out_dir)
        s.commit()
    tmp.replace(target)
    log.info("daily report for %s written to %s", day, target)
    return target


class ReportScheduler:
    """A thread that checks every QA_REPORT_CHECK_S whether yesterday's report is due."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db, self.settings = db, settings
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, name="daily-report", daemon=True)

    def start(self) -> None:
        if self.settings.report_webhook_url:  # say it at start, not first at tomorrow's delivery
            try:
                webhooks.check_url(self.settings.report_webhook_url, self.settings.webhook_allow)
            except webhooks.UnsafeTarget as exc:
                log.error("QA_REPORT_WEBHOOK_URL: %s; the daily report is written but its delivery will fail", exc)
        self._t.start()

    def stop(self) -> None:
        self._stop.set()
        self._t.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                run_once(self.db, self.settings)
            except Exception:
                log.exception("the scheduled daily report failed")
            self._stop.wait(self.settings.report_check_s)

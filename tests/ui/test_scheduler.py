"""The scheduled daily report: written once after local midnight, delivered signed through the webhook deliveries."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

from api.config import Settings
from api.database.core import Database
from api.reports.scheduler import run_once
from api.webhooks.service import deliver_due, sign


def test_daily_report_after_local_midnight(tmp_path: Path) -> None:
    got: list[dict[str, Any]] = []
    signatures: list[bool] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            signatures.append(self.headers["X-QA-Signature"] == sign("s3cret", self.headers["X-QA-Timestamp"], body))
            got.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    srv = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        settings = Settings(data_dir=tmp_path, report_tz="Asia/Shanghai", report_webhook_secret="s3cret",
                            report_webhook_url=f"http://127.0.0.1:{srv.server_port}/",
                            webhook_allow="127.0.0.1/32")  # the receiver is on loopback
        db = Database(settings)
        db.migrate()
        # 2026-11-20 16:30 UTC is 00:30 on the 21st in Shanghai: the 20th's report is due.
        now = datetime(2026, 11, 20, 16, 30, tzinfo=UTC)
        path = run_once(db, settings, now)
        assert path is not None and path.name == "daily-2026-11-20.json"
        assert (tmp_path / "reports" / "daily-2026-11-20.xlsx").stat().st_size > 0
        assert json.loads(path.read_text())["time_zone"] == "Asia/Shanghai"
        assert deliver_due(db, settings) == 1
        assert len(got) == 1 and got[0]["day"] == "2026-11-20" and got[0]["total"]["calls_analysed"] == 0
        assert signatures == [True]
        assert run_once(db, settings, now) is None  # once only
        assert deliver_due(db, settings) == 0
        db.engine.dispose()
    finally:
        srv.shutdown()

"""The scheduled daily report: written once after local midnight, posted to the webhook."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

from api.config import Settings
from api.database.core import Database
from api.review.config import ReviewSettings
from api.review.scheduler import run_once


def test_daily_report_after_local_midnight(tmp_path: Path) -> None:
    got: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    srv = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        db = Database(Settings(data_dir=tmp_path))
        db.migrate()
        cfg = ReviewSettings(report_tz="Asia/Shanghai", report_webhook_url=f"http://127.0.0.1:{srv.server_port}/")
        # 2026-11-20 16:30 UTC is 00:30 on the 21st in Shanghai: the 20th's report is due.
        now = datetime(2026, 11, 20, 16, 30, tzinfo=UTC)
        path = run_once(db, tmp_path / "reports", cfg, now)
        assert path is not None and path.name == "daily-2026-11-20.json"
        assert (tmp_path / "reports" / "daily-2026-11-20.xlsx").stat().st_size > 0
        assert json.loads(path.read_text())["time_zone"] == "Asia/Shanghai"
        assert len(got) == 1 and got[0]["day"] == "2026-11-20" and got[0]["total"]["calls_analysed"] == 0
        assert run_once(db, tmp_path / "reports", cfg, now) is None  # once only
        db.engine.dispose()
    finally:
        srv.shutdown()

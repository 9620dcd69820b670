"""Webhooks cannot reach inside: internal addresses refused at registration (real server, SQLite and
PostgreSQL) and again at delivery (real receivers over real HTTP), no redirect followed, the checked
address connected to."""

from __future__ import annotations

import json
import socket
import sqlite3
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.config import Settings
from api.database.core import Database
from api.reports.scheduler import ReportScheduler, run_once
from api.webhooks import service as webhooks
from tests.api.conftest import FIXTURES, Server, submit, wait_done

pytestmark = pytest.mark.timeout(600)


class Receiver:
    """A webhook receiver on 127.0.0.1: records each request; answers `status` (with `location` if set)."""

    def __init__(self, status: int = 204, location: str = "", tls: ssl.SSLContext | None = None) -> None:
        self.got: list[tuple[dict[str, str], bytes]] = []
        rec = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                rec.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a: Any) -> None:
                pass

        self.httpd = HTTPServer(("127.0.0.1", 0), H)
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_port
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


# ---- registration, over HTTP ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def api_server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """API only (no workers): registration needs none, and it starts fast."""
    srv = Server(tmp_path_factory.mktemp("hooks"), backend, QA_START_WORKERS="false")
    srv.start(wait_ready=False)
    yield srv
    srv.stop()


INTERNAL = {
    "http://127.0.0.1:8000/hook": "loopback",
    "http://2130706433/hook": "loopback",  # 127.0.0.1 as one number
    "http://0x7f.0.0.1/hook": "loopback",  # ... in hex
    "http://localhost:5432/": "loopback",
    "http://[::1]/hook": "loopback",
    "http://[::ffff:127.0.0.1]/hook": "loopback",  # IPv4-mapped IPv6
    "http://[::ffff:7f00:1]/hook": "loopback",
    "http://10.1.2.3/hook": "private",
    "https://192.168.0.10/hook": "private",
    "http://169.254.169.254/latest/meta-data/": "link_local",  # the cloud metadata service
    "http://[fe80::1]/hook": "link_local",
    "http://224.0.0.1/hook": "multicast",
    "http://0.0.0.0:8000/hook": "unspecified",
    "http://100.64.0.1/hook": "non_public",  # carrier-grade NAT
}


def test_internal_addresses_refused_at_registration(api_server: Server) -> None:
    key = api_server.cli("keys", "create", "--role", "client")
    with api_server.client(key) as c:
        for url, reason in INTERNAL.items():
            r = c.post("/v1/webhooks", json={"url": url})
            assert r.status_code == 422, (url, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            body = r.json()
            assert body["code"] == "webhook_url_refused" and body["reason"] == reason, (url, body)
            assert "QA_WEBHOOK_ALLOW" in body["detail"], body
        r = c.post("/v1/webhooks", json={"url": "http://user:pw@93.184.216.34/hook"})
        assert r.status_code == 422 and r.json()["reason"] == "bad_url", r.text
        r = c.post("/v1/webhooks", json={"url": "https://no-such-host.invalid/hook"})
        assert r.status_code == 422 and r.json()["reason"] == "unresolvable", r.text
        assert c.get("/v1/webhooks").json() == []  # nothing refused was stored
        # A public address is accepted (registration connects to nothing).
        r = c.post("/v1/webhooks", json={"url": "https://93.184.216.34:8443/qa?x=1"})
        assert r.status_code == 201, r.text


# ---- delivery, through the delivery loop, to real receivers ------------------------------------------------------

def _report_db(tmp_path: Path, **settings: Any) -> tuple[Database, Settings]:
    s = Settings(data_dir=tmp_path, report_webhook_secret="s3cret", webhook_backoff_s=0.0, **settings)
    db = Database(s)
    db.migrate()
    return db, s


def _deliveries(db: Database) -> list[dict[str, Any]]:
    with db.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT status, attempts, last_error FROM webhook_deliveries").all()
    return [{"status": r[0], "attempts": r[1], "last_error": r[2]} for r in rows]


NOW = datetime(2026, 11, 20, 16, 30, tzinfo=UTC)


def test_report_to_a_loopback_address_fails_at_once(tmp_path: Path, receiver: Receiver) -> None:
    """The scheduled report's address is the operator's, checked at delivery: refused without the allow-list,
    failed at the first attempt with the reason (no retries), and nothing reaches the receiver."""
    db, settings = _report_db(tmp_path, report_webhook_url=receiver.url.replace("127.0.0.1", "2130706433"))
    assert run_once(db, settings, NOW) is not None
    assert webhooks.deliver_due(db, settings) == 1
    [d] = _deliveries(db)
    assert d["status"] == "failed" and d["attempts"] == 1, d
    assert "refused" in d["last_error"] and "loopback" in d["last_error"], d
    assert webhooks.deliver_due(db, settings) == 0  # not retried
    assert receiver.got == []
    db.engine.dispose()


def test_report_address_refused_is_logged_at_start(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db, settings = _report_db(tmp_path, report_webhook_url="http://169.254.169.254/", report_check_s=3600)
    sched = ReportScheduler(db, settings)
    sched.start()
    sched.stop()
    assert any("QA_REPORT_WEBHOOK_URL" in r.message and "link-local" in r.message for r in caplog.records), \
        caplog.text
    db.engine.dispose()


def test_report_to_an_allowed_internal_receiver(tmp_path: Path, receiver: Receiver) -> None:
    db, settings = _report_db(tmp_path, report_webhook_url=receiver.url, webhook_allow="10.0.0.0/8, 127.0.0.1/32")
    run_once(db, settings, NOW)
    assert webhooks.deliver_due(db, settings) == 1
    assert _deliveries(db)[0]["status"] == "delivered"
    assert len(receiver.got) == 1 and json.loads(receiver.got[0][1])["day"] == "2026-11-19"
    db.engine.dispose()


def test_redirect_is_not_followed(tmp_path: Path, receiver: Receiver) -> None:
    """A receiver answering 302 to a loopback URL: the delivery fails with the reason, the target gets nothing."""
    redirector = Receiver(302, location=receiver.url)
    try:
        db, settings = _report_db(tmp_path, report_webhook_url=redirector.url, webhook_allow="127.0.0.1")
        run_once(db, settings, NOW)
        assert webhooks.deliver_due(db, settings) == 1
        [d] = _deliveries(db)
        assert d["status"] == "failed" and d["attempts"] == 1, d
        assert "302" in d["last_error"] and "redirects are not followed" in d["last_error"], d
        assert len(redirector.got) == 1 and receiver.got == []
        db.engine.dispose()
    finally:
        redirector.close()


def test_delivery_connects_to_the_address_checked(tmp_path: Path, receiver: Receiver,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A name whose DNS answer changes (rebinding): the answer is checked (a private one refused), and the
    delivery connects to the address checked, not to a second answer; the name still goes in the Host header."""
    answers: list[str] = []
    calls: list[str] = []
    real = socket.getaddrinfo

    def rebinding_dns(host: Any, port: Any, *a: Any, **kw: Any) -> Any:
        if host != "hooks.rebind.test":
            return real(host, port, *a, **kw)
        calls.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers.pop(0), port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_dns)
    url = receiver.url.replace("127.0.0.1", "hooks.rebind.test")
    db, settings = _report_db(tmp_path, report_webhook_url=url, webhook_timeout_s=3)
    run_once(db, settings, NOW)
    answers[:] = ["10.9.9.9"]  # the name now points inside: refused, nothing connected to
    assert webhooks.deliver_due(db, settings) == 1
    [d] = _deliveries(db)
    assert d["status"] == "failed" and "hooks.rebind.test (10.9.9.9) is a private address" in d["last_error"], d

    db2, settings = _report_db(tmp_path / "2", report_webhook_url=url, webhook_allow="127.0.0.1/32",
                               webhook_timeout_s=3)
    run_once(db2, settings, NOW)
    calls.clear()
    answers[:] = ["127.0.0.1", "10.9.9.9"]  # a second look-up would get a private address where nothing listens
    assert webhooks.deliver_due(db2, settings) == 1
    assert _deliveries(db2)[0]["status"] == "delivered", _deliveries(db2)
    assert calls == ["hooks.rebind.test"]  # resolved once
    assert receiver.got[0][0]["host"] == f"hooks.rebind.test:{receiver.port}"
    db.engine.dispose()
    db2.engine.dispose()


def test_https_to_the_checked_address_with_the_name_for_tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTPS: connected to the checked address, the certificate checked against the URL's name (sent as SNI)."""
    cert = FIXTURES / "tls" / "hooks.tls.test.pem"  # self-signed for hooks.tls.test, made with openssl
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, FIXTURES / "tls" / "hooks.tls.test.key")
    sni: list[str | None] = []
    tls.sni_callback = lambda sock, name, ctx: sni.append(name)  # type: ignore[assignment,misc]
    receiver = Receiver(tls=tls)
    real = socket.getaddrinfo

    def dns(host: Any, port: Any, *a: Any, **kw: Any) -> Any:
        if host != "hooks.tls.test":
            return real(host, port, *a, **kw)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", dns)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trust the test certificate (and nothing else)
    try:
        url = receiver.url.replace("127.0.0.1", "hooks.tls.test")
        db, settings = _report_db(tmp_path, report_webhook_url=url, webhook_allow="127.0.0.1/32",
                                  webhook_timeout_s=5)
        run_once(db, settings, NOW)
        assert webhooks.deliver_due(db, settings) == 1
        assert _deliveries(db)[0]["status"] == "delivered", _deliveries(db)
        assert sni == ["hooks.tls.test"] and receiver.got[0][0]["host"] == f"hooks.tls.test:{receiver.port}"
        db.engine.dispose()
        # The same receiver by its address: the certificate does not name it, so nothing is sent.
        db, settings = _report_db(tmp_path / "2", report_webhook_url=receiver.url, webhook_allow="127.0.0.1/32",
                                  webhook_timeout_s=5)
        run_once(db, settings, NOW)
        webhooks.deliver_due(db, settings)
        [d] = _deliveries(db)
        assert d["status"] == "pending" and "CERTIFICATE_VERIFY_FAILED" in d["last_error"], d
        assert len(receiver.got) == 1
        db.engine.dispose()
    finally:
        receiver.close()


def test_client_webhook_refused_at_delivery(tmp_path: Path, receiver: Receiver) -> None:
    """A webhook registered while its internal address was allowed, then the operator withdrew the allowance:
    its call.done delivery fails at once with the reason, readable on /v1/webhooks/{id}/deliveries."""
    data = tmp_path / "qa"
    srv = Server(data, "", QA_WEBHOOK_ALLOW="127.0.0.1/32").start()
    try:
        key = srv.cli("keys", "create", "--role", "client")
        with srv.client(key) as c:
            r = c.post("/v1/webhooks", json={"url": receiver.url})
            assert r.status_code == 201, r.text
            hook_id = r.json()["id"]
    finally:
        srv.stop()
    srv = Server(data, "").start()  # the same data, no allow-list
    try:
        with srv.client(key) as c:
            r = submit(c)
            assert r.status_code == 202, r.text
            assert wait_done(c, r.json()["id"])["status"] == "done"
            deadline = time.time() + 30
            while time.time() < deadline:
                ds = c.get(f"/v1/webhooks/{hook_id}/deliveries").json()
                if ds and ds[0]["status"] != "pending":
                    break
                time.sleep(0.3)
            assert len(ds) == 1 and ds[0]["status"] == "failed" and ds[0]["attempts"] == 1, ds
            assert "loopback" in ds[0]["last_error"] and ds[0]["event"] == "call.done", ds
            time.sleep(1.0)  # a few housekeeping rounds: still one attempt
            assert c.get(f"/v1/webhooks/{hook_id}/deliveries").json()[0]["attempts"] == 1
            assert httpx.get(srv.base + "/readyz").status_code == 200
        assert receiver.got == []
        con = sqlite3.connect(data / "qa.sqlite3")
        assert con.execute("SELECT count(*) FROM webhook_deliveries WHERE status = 'failed'").fetchone() == (1,)
        con.close()
    finally:
        srv.stop()

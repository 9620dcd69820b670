"""Accounts on a real server in API-only mode (SQLite and PostgreSQL): /readyz without in-process workers, API keys
that expire and can be revoked (admin API and CLI), log-in throttling and the session cookie's Secure flag."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import ROOT, Server

pytestmark = pytest.mark.timeout(300)
PASSWORD = "correct-horse-1"


@pytest.fixture(scope="module")
def api_only(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("acc"), backend, QA_START_WORKERS="false", QA_LOGIN_MAX_FAILURES="5",
                 QA_LOGIN_MAX_FAILURES_PER_ADDRESS="1000", QA_LOGIN_LOCKOUT_S="30")
    srv.start(wait_ready=False)
    for name in ("boss", "eve"):
        subprocess.run([sys.executable, "-m", "api.cli", "users", "create", "--username", name, "--role",
                        "supervisor"], cwd=ROOT, check=True, timeout=60, capture_output=True,
                       env={**srv.env, "QA_USER_PASSWORD": PASSWORD})
    yield srv
    srv.stop()


def test_readyz_in_api_only_mode(api_only: Server) -> None:
    """QA_START_WORKERS=false: ready on the database and the audio store (the workers run elsewhere)."""
    r = httpx.get(api_only.base + "/readyz")
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "ready", "checks": {"database": "ok", "storage": "ok"}, "workers": "elsewhere"}


def _problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    return body


def test_keys_admin_api(api_only: Server) -> None:
    admin = api_only.cli("keys", "create", "--role", "admin")
    with api_only.client(admin) as a:
        month = a.post("/v1/keys", json={"role": "client", "name": "crm", "expires_in_days": 30})
        assert month.status_code == 201, month.text
        until = datetime.fromisoformat(month.json()["expires_at"])
        assert abs((until - datetime.now(UTC).replace(tzinfo=None)) - timedelta(days=30)) < timedelta(minutes=1)
        soon_at = (datetime.now(UTC) + timedelta(seconds=3)).astimezone().isoformat()  # with an offset
        soon = a.post("/v1/keys", json={"role": "client", "name": "short", "expires_at": soon_at}).json()
        doomed = a.post("/v1/keys", json={"role": "inspector", "name": "leaked"}).json()
        past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        assert _problem(a.post("/v1/keys", json={"role": "client", "expires_at": past}), 422)["code"] == \
            "invalid_expiry"
        _problem(a.post("/v1/keys", json={"role": "client", "expires_at": soon_at, "expires_in_days": 2}), 422)
        _problem(a.post("/v1/keys", json={"role": "client", "expires_at": "9999-12-31T23:59:59-23:59"}), 422)

        listed = a.get("/v1/keys")
        assert listed.status_code == 200
        rows = {k["id"]: k for k in listed.json()}
        assert {month.json()["id"], soon["id"], doomed["id"]} <= set(rows)
        for plain in (admin, month.json()["key"], soon["key"], doomed["key"]):
            assert plain not in listed.text  # never the key
        assert "key_hash" not in listed.text and all(set(k) >= {"prefix", "role", "status"} for k in rows.values())
        assert rows[doomed["id"]]["status"] == "active"

        with api_only.client(doomed["key"]) as d:
            assert d.get("/v1/me").status_code == 200
            _problem(d.get("/v1/keys"), 403)  # only an admin lists keys
            revoked = a.delete(f"/v1/keys/{doomed['id']}")
            assert revoked.status_code == 200 and revoked.json()["status"] == "revoked", revoked.text
            body = _problem(d.get("/v1/me"), 401)
            assert body["reason"] == "revoked" and "revoked" in body["detail"], body
        _problem(a.delete("/v1/keys/nosuchkey"), 404)

        with api_only.client(soon["key"]) as s:
            assert s.get("/v1/me").status_code == 200
            time.sleep(max(0.0, (datetime.fromisoformat(soon_at) - datetime.now(UTC)).total_seconds()) + 0.5)
            body = _problem(s.get("/v1/me"), 401)
            assert body["reason"] == "expired" and "expired" in body["detail"], body
        assert {k["id"]: k["status"] for k in a.get("/v1/keys").json()}[soon["id"]] == "expired"
        body = _problem(httpx.get(api_only.base + "/v1/me", headers={"Authorization": "Bearer qa_nope"}), 401)
        assert body["reason"] == "unknown"


def _cli(srv: Server, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=ROOT, env=srv.env, capture_output=True,
                          text=True, timeout=60)


def test_keys_cli_list_and_revoke(api_only: Server) -> None:
    first, second = api_only.cli("keys", "create", "--role", "client", "--name", "first"), \
        api_only.cli("keys", "create", "--role", "client", "--name", "second", "--expires-in-days", "7")
    listing = _cli(api_only, "keys", "list")
    assert listing.returncode == 0, listing.stderr
    assert first not in listing.stdout and second not in listing.stdout
    line = next(x for x in listing.stdout.splitlines() if x.rstrip().endswith(" first"))
    key_id, prefix = line.split()[0], line.split()[1].rstrip(".")
    assert prefix == first[:10] and " active " in line
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d +second$", listing.stdout, re.M)  # its expiry shown

    with api_only.client(first) as c:
        assert c.get("/v1/me").status_code == 200
        # A prefix every client key shares names several keys: refused, nothing revoked.
        many = _cli(api_only, "keys", "revoke", "qa_cli_")
        assert many.returncode == 2 and "give the id" in many.stderr, many.stderr
        assert _cli(api_only, "keys", "revoke", "nothing-like-it").returncode == 2
        assert c.get("/v1/me").status_code == 200
        done = _cli(api_only, "keys", "revoke", key_id)
        assert done.returncode == 0 and "revoked" in done.stderr, done.stderr
        assert _problem(c.get("/v1/me"), 401)["reason"] == "revoked"
    with api_only.client(second) as c:
        assert _cli(api_only, "keys", "revoke", second[:10]).returncode in (0, 2)  # by prefix when it is unique
        by_key = _cli(api_only, "keys", "revoke", second)  # or by the key itself, e.g. a leaked one
        assert by_key.returncode == 0, by_key.stderr
        assert _problem(c.get("/v1/me"), 401)["reason"] == "revoked"
    listing = _cli(api_only, "keys", "list", "--json").stdout
    assert '"status": "revoked"' in listing and first not in listing


def _login(srv: Server, username: str, password: str, client: httpx.Client | None = None) -> httpx.Response:
    c = client or httpx.Client(base_url=srv.base, timeout=60)
    form = c.get("/ui/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf, form.text
    return c.post("/ui/login", data={"username": username, "password": password, "csrf": csrf.group(1)})


def test_login_throttled_under_a_burst(api_only: Server) -> None:
    """30 wrong passwords at once: at most the limit (5) are checked, the rest get 429; then the right password
    is refused too, with when to retry."""
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda i: _login(api_only, "boss", f"wrong-{i}").status_code, range(30)))
    assert answers.count(303) <= 5 and answers.count(303) + answers.count(429) == 30, answers
    right = _login(api_only, "boss", PASSWORD)
    assert right.status_code == 429 and "qa_session" not in right.cookies
    assert 1 <= int(right.headers["Retry-After"]) <= 30
    assert "id=\"login-locked\"" in right.text and "UTC" in right.text
    # Another user is not locked out by boss's failures.
    assert _login(api_only, "eve", PASSWORD).status_code == 303


def test_session_cookie_secure_flag(api_only: Server, tmp_path_factory: pytest.TempPathFactory) -> None:
    plain = _login(api_only, "eve", PASSWORD)
    assert plain.status_code == 303
    cookie = next(v for v in plain.headers.get_list("set-cookie") if v.startswith("qa_session="))
    assert "secure" not in cookie.lower() and "httponly" in cookie.lower()  # default: works on http://localhost
    srv = Server(api_only.data_dir, api_only.database_url, QA_START_WORKERS="false", QA_COOKIE_SECURE="true")
    srv.env.update({k: v for k, v in api_only.env.items() if k.startswith("QA_LOGIN_")})  # the same throttle
    srv.start(wait_ready=False)
    try:
        with httpx.Client(base_url=srv.base, timeout=60) as c:
            form = c.get("/ui/login")
            pre = next(v for v in form.headers.get_list("set-cookie") if v.startswith("qa_login_csrf="))
            assert "; secure" in pre.lower(), pre
            token = pre.split(";")[0].split("=", 1)[1]
            # An HTTP client keeps a Secure cookie for HTTPS: sent by hand here, as a browser would over TLS.
            r = c.post("/ui/login", data={"username": "eve", "password": PASSWORD, "csrf": token},
                       headers={"Cookie": f"qa_login_csrf={token}"})
        assert r.status_code == 303, r.text
        cookie = next(v for v in r.headers.get_list("set-cookie") if v.startswith("qa_session="))
        assert "; secure" in cookie.lower() and "httponly" in cookie.lower(), cookie
    finally:
        srv.stop()


def test_login_throttled_per_client_address(tmp_path: Path) -> None:
    """Guessing across many user names from one address: the address is locked, for every user name; the next
    lockout lasts twice as long."""
    srv = Server(tmp_path / "qa", "", QA_START_WORKERS="false", QA_LOGIN_MAX_FAILURES_PER_ADDRESS="4",
                 QA_LOGIN_LOCKOUT_S="2")
    srv.start(wait_ready=False)
    try:
        subprocess.run([sys.executable, "-m", "api.cli", "users", "create", "--username", "eve", "--role",
                        "inspector"], cwd=ROOT, check=True, timeout=60, capture_output=True,
                       env={**srv.env, "QA_USER_PASSWORD": PASSWORD})
        answers = [_login(srv, f"user{i}", "guess") for i in range(4)]
        assert [r.status_code for r in answers] == [303, 303, 303, 429]
        assert int(answers[-1].headers["Retry-After"]) <= 2
        r = _login(srv, "eve", PASSWORD)
        assert r.status_code == 429 and "qa_session" not in r.cookies, r.status_code
        time.sleep(2.2)
        answers = [_login(srv, f"other{i}", "guess") for i in range(4)]
        assert [r.status_code for r in answers] == [303, 303, 303, 429]
        assert 2 < int(answers[-1].headers["Retry-After"]) <= 4  # doubled
    finally:
        srv.stop()

"""Real processes over real HTTP: a uvicorn server per module (SQLite or PostgreSQL), httpx as the client."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
PG_URL = os.environ.get("QA_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("QA_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_available() -> bool:
    try:
        import psycopg

        psycopg.connect(PG_URL.replace("+psycopg", ""), connect_timeout=3).close()
        return True
    except Exception:
        return False


class PgSchema:
    """A fresh schema per test module; the server reaches it through search_path."""

    def __init__(self) -> None:
        import psycopg

        self.name = f"qa_test_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as c:
            c.execute(f'CREATE SCHEMA "{self.name}"')
        self.url = f"{PG_URL}?options=-csearch_path%3D{self.name}"

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as c:
            c.execute(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE')


class Server:
    def __init__(self, data_dir: Path, database_url: str = "", **env: Any) -> None:
        self.data_dir, self.database_url = data_dir, database_url
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "QA_DATA_DIR": str(data_dir), "QA_DATABASE_URL": database_url,
                    "QA_POLL_INTERVAL_S": "0.2", "QA_WEBHOOK_BACKOFF_S": "0.3", "QA_MAX_UPLOAD_MB": "0.6",
                    "QA_ASR_THREADS": "2", "PYTHONUNBUFFERED": "1",
                    **{k: str(v) for k, v in env.items()}}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "server.log"

    def cli(self, *args: str) -> str:
        out = subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=ROOT, env=self.env,
                             capture_output=True, text=True, timeout=60, check=True)
        return out.stdout.strip()

    def start(self, wait_ready: bool = True) -> Server:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        logf = self.log.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(self.port),
                                      "--log-level", "warning"], cwd=ROOT, env=self.env, stdout=logf,
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + 90
        path = "/readyz" if wait_ready else "/healthz"
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.base + path, timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"server not ready: {self.log.read_text()[-3000:]}")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill9()

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.base, headers=headers, timeout=60)


def db_rows(srv: Server, sql: str, call_id: str) -> list[tuple[Any, ...]]:
    """Rows of a query on the server's database (`:id` is the call id): what the API does not show."""
    from sqlalchemy import create_engine, text

    eng = create_engine(srv.database_url or f"sqlite:///{srv.data_dir / 'qa.sqlite3'}")
    try:
        with eng.connect() as c:
            return [tuple(r) for r in c.execute(text(sql), {"id": call_id})]
    finally:
        eng.dispose()


def wait_for(check: Any, timeout: float, what: str) -> float:
    """Poll `check()` until true; returns the time (time.time()) it first was."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return time.time()
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


def submit(c: httpx.Client, name: str = "en_rude_agent.wav", metadata: dict[str, Any] | None = None,
           content: bytes | None = None, headers: dict[str, str] | None = None) -> httpx.Response:
    import json

    data = content if content is not None else (FIXTURES / name).read_bytes()
    return c.post("/v1/calls", files={"audio": (name, data, "application/octet-stream")},
                  data={"metadata": json.dumps(metadata or {})}, headers=headers or {})


def wait_done(c: httpx.Client, call_id: str, timeout: float = 180) -> dict[str, Any]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = c.get(f"/v1/calls/{call_id}")
        r.raise_for_status()
        d: dict[str, Any] = r.json()
        if d["status"] in ("done", "failed"):
            return d
        time.sleep(0.5)
    raise AssertionError(f"call {call_id} not analysed in {timeout} s: {d}")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "postgres":
        # PostgreSQL runs on every development and CI machine: its absence is a failure.
        assert pg_available(), "PostgreSQL at 127.0.0.1:5432 not reachable (trust auth, database test)"
        schema = PgSchema()
        yield schema.url
        schema.drop()
    else:
        yield ""


@pytest.fixture(scope="module")
def server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # The tests' webhook receivers listen on 127.0.0.1, an internal address: allowed here as an operator would.
    srv = Server(tmp_path_factory.mktemp("qa"), backend, QA_WEBHOOK_ALLOW="127.0.0.1/32")
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def admin_key(server: Server) -> str:
    return server.cli("keys", "create", "--role", "admin")


@pytest.fixture(scope="module")
def keys(server: Server, admin_key: str) -> dict[str, str]:
    out = {"admin": admin_key}
    with server.client(admin_key) as c:
        for role in ("client", "inspector", "supervisor"):
            r = c.post("/v1/keys", json={"role": role, "name": f"test {role}"})
            assert r.status_code == 201, r.text
            out[role] = r.json()["key"]
        out["client2"] = c.post("/v1/keys", json={"role": "client"}).json()["key"]
    return out

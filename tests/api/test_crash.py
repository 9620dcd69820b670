"""kill -9 at the worst moments: no call lost, exactly one scorecard per call."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.api.conftest import FIXTURES, Server, submit, wait_done


@pytest.fixture
def crash_server(backend: str, tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path / "qa", backend, QA_JOB_LEASE_S="3")
    yield srv
    srv.stop()


def _db_rows(srv: Server, sql: str, call_id: str) -> list[tuple]:  # type: ignore[type-arg]
    url = srv.database_url or f"sqlite:///{srv.data_dir / 'qa.sqlite3'}"
    eng = create_engine(url)
    try:
        with eng.connect() as c:
            return [tuple(r) for r in c.execute(text(sql), {"id": call_id})]
    finally:
        eng.dispose()


def test_kill9_while_processing_then_restart(crash_server: Server) -> None:
    srv = crash_server.start()
    key = srv.cli("keys", "create", "--role", "client")
    with srv.client(key) as c:
        cid = submit(c, metadata={"external_id": "crash-1"}).json()["id"]
        deadline = time.time() + 60
        while c.get(f"/v1/calls/{cid}").json()["status"] != "processing":
            assert time.time() < deadline
            time.sleep(0.1)
        time.sleep(1.0)  # mid-analysis
    srv.kill9()
    assert _db_rows(srv, "SELECT status FROM jobs WHERE call_id = :id", cid) == [("processing",)]
    srv.start()
    with srv.client(key) as c:
        d = wait_done(c, cid)
        assert d["status"] == "done", d
        assert c.get(f"/v1/calls/{cid}/scorecard").status_code == 200
    assert _db_rows(srv, "SELECT count(*) FROM results WHERE call_id = :id", cid) == [(1,)]
    assert _db_rows(srv, "SELECT attempts FROM jobs WHERE call_id = :id", cid)[0][0] >= 2


@pytest.fixture
def sqlite_crash_server(tmp_path: Path) -> Iterator[Server]:
    # The upload path (store + fsync before the 202) does not depend on the database:
    # one backend is enough, and it keeps the suite short.
    srv = Server(tmp_path / "qa", "", QA_JOB_LEASE_S="3")
    yield srv
    srv.stop()


def test_kill9_right_after_202_upload_intact(sqlite_crash_server: Server) -> None:
    srv = sqlite_crash_server.start(wait_ready=False)
    key = srv.cli("keys", "create", "--role", "client")
    wav = (FIXTURES / "en_rude_agent.wav").read_bytes()
    with srv.client(key) as c:
        r = submit(c, metadata={"external_id": "crash-2"})
        srv.kill9()  # at once, before any worker could finish
    assert r.status_code == 202, r.text
    cid = r.json()["id"]
    sha = hashlib.sha256(wav).hexdigest()
    stored = srv.data_dir / "audio" / sha[:2] / sha[2:4] / sha
    assert stored.read_bytes() == wav
    srv.start()
    with srv.client(key) as c:
        assert wait_done(c, cid)["status"] == "done"
        assert c.get(f"/v1/calls/{cid}/audio").content == wav
    assert _db_rows(srv, "SELECT count(*) FROM results WHERE call_id = :id", cid) == [(1,)]

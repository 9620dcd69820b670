"""kill -9 at the worst moments: no call lost, exactly one scorecard per call."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.conftest import FIXTURES, Server, db_rows, submit, wait_done, wait_for

LEASE_S = 8.0
SLACK_S = 5.0  # a poll interval, a claim and the database, on a busy machine


@pytest.fixture
def crash_server(backend: str, tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path / "qa", backend, QA_JOB_LEASE_S=str(LEASE_S))
    yield srv
    srv.stop()


def test_kill9_while_processing_then_restart(crash_server: Server) -> None:
    """The restarted service takes the killed one's call up as soon as its lease runs out (or at once,
    when the restart took longer than the lease), and the call gets exactly one result."""
    srv = crash_server.start()
    key = srv.cli("keys", "create", "--role", "client")
    with srv.client(key) as c:
        cid = submit(c, metadata={"external_id": "crash-1"}).json()["id"]
        wait_for(lambda: c.get(f"/v1/calls/{cid}").json()["status"] == "processing", 60, "processing")
        time.sleep(1.0)  # mid-analysis
    srv.kill9()
    killed_at = time.time()
    assert db_rows(srv, "SELECT status, attempts FROM jobs WHERE call_id = :id", cid) == [("processing", 1)]
    srv.start()
    ready_at = time.time()
    taken_at = wait_for(lambda: db_rows(srv, "SELECT attempts FROM jobs WHERE call_id = :id", cid)[0][0] == 2,
                        LEASE_S + 60, "the killed call taken up again")
    assert taken_at <= max(ready_at, killed_at + LEASE_S) + SLACK_S, (taken_at - killed_at, ready_at - killed_at)
    with srv.client(key) as c:
        d = wait_done(c, cid)
        assert d["status"] == "done", d
        assert c.get(f"/v1/calls/{cid}/scorecard").status_code == 200
    assert db_rows(srv, "SELECT count(*) FROM results WHERE call_id = :id", cid) == [(1,)]
    assert db_rows(srv, "SELECT status, attempts FROM jobs WHERE call_id = :id", cid) == [("done", 2)]


@pytest.fixture
def sqlite_crash_server(tmp_path: Path) -> Iterator[Server]:
    # The upload path (store + fsync before the 202) does not depend on the database:
    # one backend is enough, and it keeps the suite short.
    srv = Server(tmp_path / "qa", "", QA_JOB_LEASE_S=str(LEASE_S))
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
    assert db_rows(srv, "SELECT count(*) FROM results WHERE call_id = :id", cid) == [(1,)]

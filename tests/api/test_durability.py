"""Nothing acknowledged is lost: shared recordings outlive deletes of other calls; killed writers leave nothing."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from api.auth import models as _auth  # noqa: F401  (the table calls.client_id refers to)
from api.calls.models import Call
from api.database.core import utcnow
from tests.api.conftest import FIXTURES, ROOT, PgSchema, Server, pg_available, submit, wait_done


@pytest.fixture
def pg_server(tmp_path: Path) -> Iterator[Server]:
    # The race is held open with a PostgreSQL row lock (below); SQLite has no row locks to hold it.
    assert pg_available(), "PostgreSQL at 127.0.0.1:5432 not reachable (trust auth, database test)"
    schema = PgSchema()
    srv = Server(tmp_path / "qa", schema.url)
    yield srv
    srv.stop()
    schema.drop()


def _wait_for_blocked_insert(engine_url: str, timeout: float = 60) -> None:
    """Until a server connection waits on a lock while inserting a call."""
    eng = create_engine(engine_url)
    try:
        deadline = time.time() + timeout
        while time.time() < deadline:
            with eng.connect() as c:
                waiting = c.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                         "AND query LIKE 'INSERT INTO calls%'")).scalar()
            if waiting:
                return
            time.sleep(0.05)
        raise AssertionError("the upload never reached its commit")
    finally:
        eng.dispose()


def test_delete_while_same_recording_uploaded_again_keeps_it(pg_server: Server) -> None:
    """Call A and call B carry the same bytes. B's upload is held just before its commit (by an
    uncommitted call with B's external id, so B's insert waits on that row); A is deleted then.
    B is acknowledged, so its recording must still be there: B is analysed and plays back."""
    srv = pg_server.start()
    key = srv.cli("keys", "create", "--role", "client")
    wav = (FIXTURES / "en_rude_agent.wav").read_bytes()
    engine = create_engine(srv.database_url)
    with srv.client(key) as c:
        a = submit(c, metadata={"external_id": "race-a"})
        assert a.status_code == 202, a.text
        assert wait_done(c, a.json()["id"])["status"] == "done"
        with engine.connect() as conn:
            client_id = conn.execute(text("SELECT client_id FROM calls WHERE id = :id"),
                                     {"id": a.json()["id"]}).scalar()
        with Session(engine) as blocker:
            blocker.add(Call(id=uuid.uuid4().hex, client_id=client_id, external_id="race-b", status="queued",
                             audio_sha256="0" * 64, audio_size=1, audio_format="wav", call_date=utcnow()))
            blocker.flush()  # holds the (client, external id) key: B's insert waits for this transaction
            b: dict[str, httpx.Response] = {}
            with srv.client(key) as c2:
                t = threading.Thread(target=lambda: b.setdefault("r", submit(c2, metadata={"external_id": "race-b"})))
                t.start()
                _wait_for_blocked_insert(srv.database_url)
                assert c.delete(f"/v1/calls/{a.json()['id']}").status_code == 204
                blocker.rollback()
                t.join(timeout=60)
        engine.dispose()
        assert b["r"].status_code == 202, b["r"].text
        b_id = b["r"].json()["id"]
        d = wait_done(c, b_id)
        assert d["status"] == "done", d  # on the old code: failed, "the stored recording is missing"
        assert c.get(f"/v1/calls/{b_id}/audio").content == wav
        sha = hashlib.sha256(wav).hexdigest()
        assert (srv.data_dir / "audio" / sha[:2] / sha[2:4] / sha).read_bytes() == wav
        # ... and when B goes too, the recording goes with it.
        assert c.delete(f"/v1/calls/{b_id}").status_code == 204
        assert not (srv.data_dir / "audio" / sha[:2] / sha[2:4] / sha).exists()


# A process writing an upload into the store through the service's own code, forever (a request
# body that never ends), printing the temp file once it exists.
WRITER = """
import sys, time
from pathlib import Path
from api.storage import AudioStore

told = []
store = AudioStore(Path(sys.argv[1]) / "audio", Path(sys.argv[1]) / "tmp")
incoming = store.incoming(10**12)
while True:
    incoming.write(b"x" * 4096)
    if not told:
        print(incoming.path.name, flush=True); told.append(1)
    time.sleep(0.05)
"""


def _start_writer(data_dir: Path) -> tuple[subprocess.Popen[str], Path]:
    p = subprocess.Popen([sys.executable, "-c", WRITER, str(data_dir)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert p.stdout is not None
    name = p.stdout.readline().strip()
    assert name.endswith(".part"), name
    return p, data_dir / "tmp" / name


def test_start_removes_part_files_of_killed_uploads_only(tmp_path: Path) -> None:
    data_dir = tmp_path / "qa"
    killed, orphan = _start_writer(data_dir)
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=10)
    live, in_flight = _start_writer(data_dir)
    try:
        assert orphan.exists() and in_flight.exists()
        srv = Server(data_dir, "", QA_START_WORKERS="false").start(wait_ready=False)
        try:
            assert not orphan.exists(), "the killed upload's .part file is still there"
            assert in_flight.exists(), "a running writer's .part file was removed"
            log = srv.log.read_text()
            assert "removed 1 unfinished upload(s) left by stopped processes (.part files)" in log, log
            # The service works on: an upload is stored and leaves no temp file behind.
            key = srv.cli("keys", "create", "--role", "client")
            with srv.client(key) as c:
                assert submit(c).status_code == 202
            assert sorted(p.name for p in (data_dir / "tmp").iterdir()) == [in_flight.name]
        finally:
            srv.stop()
    finally:
        live.kill()
        live.wait(timeout=10)


def test_recording_set_aside_by_an_unfinished_delete_is_put_back_at_start(tmp_path: Path) -> None:
    """A delete moves the last holder's recording aside before it commits; killed in between, its
    transaction never happened, so the next start puts the recording back (and drops it otherwise)."""
    from api.storage import AudioStore

    store = AudioStore(tmp_path / "audio", tmp_path / "tmp")
    wav = (FIXTURES / "en_rude_agent.wav").read_bytes()
    kept, dropped = hashlib.sha256(wav).hexdigest(), hashlib.sha256(wav[:-1]).hexdigest()
    for data, sha in ((wav, kept), (wav[:-1], dropped)):
        part = store.part_path()
        part.write_bytes(data)
        store.commit(part, sha)
        assert store.set_aside(sha) is not None and not store.path(sha).exists()
    done = store.clean_orphans(lambda sha: sha == kept)  # the database still holds `kept` only
    assert (done.restored, done.discarded) == (1, 1)
    assert store.path(kept).read_bytes() == wav and not store.path(dropped).exists()
    assert list(store.tmp.iterdir()) == []

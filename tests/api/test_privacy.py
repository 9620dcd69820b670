"""Customer data over HTTP on a real server (SQLite and PostgreSQL): phone, ID and card numbers masked in
every result a key reads and bleeped in the recording it plays; the clear original for the privacy_officer
role only, every request for it logged; results stored before masking masked on read and by the CLI."""

from __future__ import annotations

import io
import json
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf

from qa_engine.audio import decode
from qa_engine.types import SAMPLE_RATE
from tests.api.conftest import ROOT, Server, submit, wait_done
from tests.api.test_api import is_problem
from tests.conftest import CALLS, as_digits

ZH_CALL = CALLS / "zh_pii_numbers.ulaw.wav"
EN_CALL = CALLS / "en_pii_numbers.ulaw.wav"
RESULTS = ("transcript", "events", "scorecard", "analysis")


def _submit(c: httpx.Client, path: Path, external_id: str, language: str) -> str:
    r = submit(c, path.name, {"external_id": external_id, "language": language}, content=path.read_bytes())
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


def _flat(obj: Any) -> str:
    """The JSON with separators between digits taken out, so 138-1234-5678 reads 13812345678."""
    return as_digits(json.dumps(obj, ensure_ascii=False))


def _clear_numbers(transcript: dict[str, Any], events: list[dict[str, Any]]) -> list[str]:
    """The digits the customer read out, from the clear transcript, where the pii flag found numbers."""
    spans = [(e["start"], e["end"]) for e in events if e["type"] == "pii"]
    out = []
    for t in transcript["turns"]:
        if t["speaker"] == "customer" and any(a < t["end"] and t["start"] < b for a, b in spans):
            out += [m for m in re.findall(r"\d{7,}", _flat(t["text"]).strip('"'))]
    return out


@pytest.fixture(scope="module")
def deployment(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    srv = Server(tmp_path_factory.mktemp("privacy"), backend, QA_MAX_UPLOAD_MB="5").start()
    try:
        keys = {"admin": srv.cli("keys", "create", "--role", "admin")}
        with srv.client(keys["admin"]) as c:
            for role in ("client", "inspector", "privacy_officer"):
                r = c.post("/v1/keys", json={"role": role, "name": f"{role} of the test"})
                assert r.status_code == 201, r.text
                keys[role] = r.json()["key"]
        with srv.client(keys["client"]) as c:
            cid = _submit(c, ZH_CALL, "pii-zh", "zh")
            assert wait_done(c, cid, timeout=600)["status"] == "done"
        yield {"server": srv, "keys": keys, "call": cid}
    finally:
        srv.stop()


def _get(d: dict[str, Any], role: str, path: str, **params: Any) -> httpx.Response:
    with d["server"].client(d["keys"][role]) as c:
        return c.get(path, params=params)


def test_every_reader_gets_the_results_masked(deployment: dict[str, Any]) -> None:
    cid = deployment["call"]
    clear_tr = _get(deployment, "privacy_officer", f"/v1/calls/{cid}/transcript", clear="true").json()
    clear_ev = _get(deployment, "privacy_officer", f"/v1/calls/{cid}/events", clear="true").json()["events"]
    numbers = _clear_numbers(clear_tr, clear_ev)
    assert len(numbers) >= 3, f"the phone, ID and card numbers the customer read out: {clear_tr['turns']}"
    assert {e["phrase"] for e in clear_ev if e["type"] == "pii"} == {"phone", "id_number", "bank_card"}
    for role in ("client", "inspector", "admin", "privacy_officer"):
        for what in RESULTS:
            r = _get(deployment, role, f"/v1/calls/{cid}/{what}")
            assert r.status_code == 200, r.text
            flat = _flat(r.json())
            for digits in numbers:
                assert digits[:7] not in flat, (role, what, digits)
    summary = _get(deployment, "client", f"/v1/calls/{cid}").json()
    assert "pii" in summary["flags"]
    masked = _get(deployment, "inspector", f"/v1/calls/{cid}/transcript").json()
    agent_clear = [t["text"] for t in clear_tr["turns"] if t["speaker"] == "agent"]
    assert [t["text"] for t in masked["turns"] if t["speaker"] == "agent"] == agent_clear, \
        "the agent's amount, hotline and work-order number stay readable"
    assert "95588" in "".join(agent_clear) and "1380" in "".join(agent_clear)
    for t in masked["turns"]:
        assert "".join(w["text"] for w in t["words"]) == t["text"] and t["words"]


def test_clear_original_only_for_the_privacy_officer_and_every_request_logged(deployment: dict[str, Any]) -> None:
    cid = deployment["call"]
    for role in ("client", "inspector", "admin"):
        body = is_problem(_get(deployment, role, f"/v1/calls/{cid}/transcript", clear="true"), 403)
        assert body["code"] == "clear_original_forbidden" and "privacy_officer" in body["detail"]
    clear = _get(deployment, "privacy_officer", f"/v1/calls/{cid}/analysis", clear="true")
    assert clear.status_code == 200 and re.search(r"1\D?3\D?8\D?1\D?2\D?3", _flat(clear.json()))
    log = _get(deployment, "admin", "/v1/privacy/access-log", call_id=cid)
    assert log.status_code == 200, log.text
    rows = log.json()["items"]
    by = {(r["actor"]["role"], r["resource"], r["granted"]) for r in rows}
    assert {("client", "transcript", False), ("inspector", "transcript", False), ("admin", "transcript", False),
            ("privacy_officer", "analysis", True)} <= by
    granted = next(r for r in rows if r["granted"] and r["resource"] == "analysis")
    assert granted["client_ip"] == "127.0.0.1" and granted["user_agent"].startswith("python-httpx")
    assert granted["actor"]["kind"] == "key" and "privacy_officer of the test" in granted["actor"]["name"]
    assert granted["at"].endswith("Z") and granted["call_id"] == cid
    for role in ("client", "inspector"):
        is_problem(_get(deployment, role, "/v1/privacy/access-log"), 403)
    assert _get(deployment, "privacy_officer", "/v1/privacy/access-log").status_code == 200
    out = deployment["server"].cli("privacy", "log", "--call", cid)
    assert "REFUSED" in out and "granted" in out and "privacy_officer" in out and cid in out


def test_played_recording_is_bleeped_where_the_numbers_were_said(deployment: dict[str, Any]) -> None:
    srv, cid = deployment["server"], deployment["call"]
    stored = srv.data_dir / "audio" / "masked" / cid[:2] / f"{cid}.flac"
    assert stored.exists(), "the worker wrote the bleeped recording when it analysed the call"
    original_bytes = ZH_CALL.read_bytes()
    whole = _get(deployment, "client", f"/v1/calls/{cid}/audio")
    assert whole.status_code == 200 and whole.headers["content-type"] == "audio/flac"
    assert whole.content == stored.read_bytes() != original_bytes
    with srv.client(deployment["keys"]["client"]) as c:
        part = c.get(f"/v1/calls/{cid}/audio", headers={"Range": "bytes=100-4099"})
    assert part.status_code == 206 and part.content == whole.content[100:4100]
    assert part.headers["content-range"] == f"bytes 100-4099/{len(whole.content)}"
    # decoded: the samples differ where the pii flag found the numbers, and nowhere else
    events = _get(deployment, "privacy_officer", f"/v1/calls/{cid}/events", clear="true").json()["events"]
    spans = [(e["start"], e["end"]) for e in events if e["type"] == "pii"]
    bleeped = sf.read(io.BytesIO(whole.content), dtype="float32")[0].T
    original = decode(ZH_CALL, source_rate=True).channels
    assert bleeped.shape == original.shape
    rate = 8000
    touched = np.zeros(original.shape[1], dtype=bool)
    for a, b in spans:
        inside = slice(int(a * rate), int(b * rate))
        assert np.mean(np.abs(bleeped[1, inside] - original[1, inside])) > 0.05, (a, b)
        touched[max(0, int((a - 0.45) * rate)):int((b + 0.45) * rate)] = True
    assert np.abs(bleeped[:, ~touched] - original[:, ~touched]).max() < 1e-3
    # the clear recording: the privacy officer's, logged with the byte range asked for
    for role in ("client", "inspector", "admin"):
        is_problem(_get(deployment, role, f"/v1/calls/{cid}/audio", clear="true"), 403)
    with srv.client(deployment["keys"]["privacy_officer"]) as c:
        clear = c.get(f"/v1/calls/{cid}/audio", params={"clear": "true"}, headers={"Range": "bytes=0-"})
    assert clear.status_code == 206 and clear.content == original_bytes
    rows = _get(deployment, "admin", "/v1/privacy/access-log", call_id=cid).json()["items"]
    assert any(r["resource"] == "audio" and r["granted"] and r["detail"] == "range bytes=0-" for r in rows)
    assert SAMPLE_RATE == 16000


def test_rescore_keeps_the_flag_and_the_masking(deployment: dict[str, Any]) -> None:
    cid = deployment["call"]
    with deployment["server"].client(deployment["keys"]["inspector"]) as c:
        r = c.post(f"/v1/calls/{cid}/rescore", json={"rubric": "zh_callcenter"})
        assert r.status_code == 201, r.text
        assert "pii" in r.json()["scorecard"]["flags"], "re-scored from the clear turns: the numbers are still found"
        assert c.post(r.json()["adopt"]).status_code == 200
    events = _get(deployment, "inspector", f"/v1/calls/{cid}/events").json()["events"]
    pii = [e for e in events if e["type"] == "pii"]
    assert len(pii) == 3 and all(re.fullmatch(r"[*]+\d{0,4}", e["text"]) for e in pii)


def test_recording_not_played_before_it_can_be_bleeped(deployment: dict[str, Any]) -> None:
    with deployment["server"].client(deployment["keys"]["client"]) as c:
        cid = _submit(c, EN_CALL, "pii-en", "en")
        early = c.get(f"/v1/calls/{cid}/audio")
        body = is_problem(early, 409)
        assert body["code"] in ("call_queued", "call_processing") and "bleeped" in body["detail"]
        assert wait_done(c, cid, timeout=600)["status"] == "done"
        tr = c.get(f"/v1/calls/{cid}/transcript").json()
        audio = c.get(f"/v1/calls/{cid}/audio")
    customer = " ".join(t["text"] for t in tr["turns"] if t["speaker"] == "customer")
    assert not re.search(r"\d(?:\D?\d){4}", customer), customer
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/flac"


def test_delete_removes_the_bleeped_recording_and_keeps_the_access_log(deployment: dict[str, Any]) -> None:
    srv, cid = deployment["server"], deployment["call"]
    stored = srv.data_dir / "audio" / "masked" / cid[:2] / f"{cid}.flac"
    before = _get(deployment, "admin", "/v1/privacy/access-log", call_id=cid).json()["items"]
    with srv.client(deployment["keys"]["client"]) as c:
        assert c.delete(f"/v1/calls/{cid}").status_code == 204
    assert not stored.exists()
    assert _get(deployment, "admin", "/v1/privacy/access-log", call_id=cid).json()["items"] == before


# ---- results stored before masking -----------------------------------------------------------------------------

def test_results_stored_clear_are_masked_on_read_and_by_the_cli(tmp_path: Path) -> None:
    data = tmp_path / "qa"
    old = Server(data, "", QA_MAX_UPLOAD_MB="5", QA_PII_MASKING="false").start()
    try:
        admin = old.cli("keys", "create", "--role", "admin")
        officer = old.cli("keys", "create", "--role", "privacy_officer")
        with old.client(admin) as c:
            cid = _submit(c, ZH_CALL, "legacy-1", "zh")
            assert wait_done(c, cid, timeout=600)["status"] == "done"
            stored_clear = c.get(f"/v1/calls/{cid}/transcript").json()
            assert re.search(r"1\D?3\D?8\D?1\D?2\D?3", _flat(stored_clear)), "masking off: stored as transcribed"
            assert c.get(f"/v1/calls/{cid}/audio").content == ZH_CALL.read_bytes()
    finally:
        old.stop()
    new = Server(data, "", QA_MAX_UPLOAD_MB="5").start()  # masking on, as by default
    masked_file = data / "audio" / "masked" / cid[:2] / f"{cid}.flac"
    try:
        with new.client(admin) as c:
            tr = c.get(f"/v1/calls/{cid}/transcript").json()
            assert not re.search(r"1\D?3\D?8\D?1\D?2\D?3", _flat(tr)), "masked as it is read"
            assert "pii" in c.get(f"/v1/calls/{cid}").json()["flags"]
            assert not masked_file.exists()
            audio = c.get(f"/v1/calls/{cid}/audio")
            assert audio.headers["content-type"] == "audio/flac" and masked_file.exists(), "bleeped once, kept"
        db = sqlite3.connect(data / "qa.sqlite3")
        (turns,) = db.execute("SELECT turns FROM results WHERE call_id = ?", (cid,)).fetchone()
        assert re.search(r"1\D?3\D?8\D?1\D?2\D?3", _flat(json.loads(turns))), "still clear in the database"
        out = subprocess.run([sys.executable, "-m", "api.cli", "privacy", "mask-stored"], cwd=ROOT, env=new.env,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0 and "1 masked" in out.stderr, out.stderr
        (turns,) = db.execute("SELECT turns FROM results WHERE call_id = ?", (cid,)).fetchone()
        (clear,) = db.execute("SELECT clear FROM pii_masks WHERE call_id = ?", (cid,)).fetchone()
        db.close()
        assert not re.search(r"1\D?3\D?8\D?1\D?2\D?3", _flat(json.loads(turns))), "the stored result is masked"
        assert json.loads(clear)["turns"] == stored_clear["turns"], "the clear original kept for the officer"
        with new.client(officer) as c:
            assert c.get(f"/v1/calls/{cid}/transcript", params={"clear": "true"}).json() == stored_clear
        with new.client(admin) as c:
            assert c.get(f"/v1/calls/{cid}/transcript").json() == tr, "the same masking, on read or stored"
    finally:
        new.stop()

"""The REST contract end to end on a real server, on SQLite and on PostgreSQL."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import struct
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.api.conftest import FIXTURES, Server, free_port, submit, wait_done

ROOT = Path(__file__).resolve().parents[2]


def is_problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["detail"] and body["title"]
    return body


class Hook:
    """A webhook receiver: answers 500 to the first delivery (to exercise retries), then 200."""

    def __init__(self) -> None:
        self.got: list[tuple[dict[str, str], bytes]] = []
        self.hits = 0
        hook = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.hits += 1
                code = 500 if hook.hits == 1 else 200
                if code == 200:
                    hook.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(code)
                self.end_headers()

            def log_message(self, *a: Any) -> None:
                pass

        self.port = free_port()
        self.httpd = HTTPServer(("127.0.0.1", self.port), H)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def png_bytes() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"\x00\xff\x00\x00" * 1
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def stored_files(server: Server) -> list[Path]:
    return [p for p in (server.data_dir / "audio").rglob("*") if p.is_file()] + \
        [p for p in (server.data_dir / "tmp").rglob("*") if p.is_file()]


def test_auth_errors(server: Server, keys: dict[str, str]) -> None:
    with server.client() as anon:
        is_problem(anon.get("/v1/calls"), 401)
    with server.client("qa_bogus") as bad:
        is_problem(bad.get("/v1/calls"), 401)
    with server.client(keys["inspector"]) as c:
        body = is_problem(submit(c), 403)
        assert "client" in body["detail"]
    with server.client(keys["client"]) as c:
        is_problem(c.post("/v1/rubrics", json={"id": "x"}), 403)
        is_problem(c.get("/v1/calls/doesnotexist"), 404)


def test_bad_inputs_refused_and_nothing_stored(server: Server, keys: dict[str, str]) -> None:
    wav = (FIXTURES / "en_rude_agent.wav").read_bytes()
    with server.client(keys["client"]) as c:
        before = c.get("/v1/calls").json()["items"]
        files_before = stored_files(server)
        assert is_problem(submit(c, content=b""), 422)["code"] == "bad_audio"
        is_problem(submit(c, content=wav[: len(wav) // 3]), 422)
        assert is_problem(submit(c, "photo.wav", content=png_bytes()), 415)["code"] == "unsupported_media_type"
        bad_types = is_problem(submit(c, metadata={"agent_id": 5, "started_at": "yesterday"}), 422)
        assert {e["field"] for e in bad_types["errors"]} >= {"metadata.agent_id", "metadata.started_at"}
        is_problem(submit(c, metadata={"agent_channel": "middle"}), 422)
        is_problem(c.post("/v1/calls", files={"audio": ("a.wav", wav)}, data={"metadata": "{not json"}), 422)
        assert is_problem(submit(c, metadata={"rubric": "no_such_rubric"}), 422)["code"] == "unknown_rubric"
        big = (FIXTURES / "zh_forbidden_refund.wav").read_bytes()  # 0.66 MB, over the 0.6 MB test limit
        assert is_problem(submit(c, "big.wav", content=big), 413)["code"] == "too_large"
        assert is_problem(c.post("/v1/calls", data={"metadata": "{}"}), 415)["code"] == "unsupported_media_type"
        is_problem(c.post("/v1/calls", files={"metadata": (None, "{}")}), 422)  # multipart, no audio part
        assert c.get("/v1/calls").json()["items"] == before
        assert stored_files(server) == files_before


def test_submit_analyse_and_read(server: Server, keys: dict[str, str]) -> None:
    hook = Hook()
    client, client2 = server.client(keys["client"]), server.client(keys["client2"])
    inspector, admin = server.client(keys["inspector"]), server.client(keys["admin"])
    wh = client.post("/v1/webhooks", json={"url": f"http://127.0.0.1:{hook.port}/qa"})
    assert wh.status_code == 201, wh.text
    secret = wh.json()["secret"]

    meta = {"external_id": "rec-1", "agent_id": "A1", "agent_name": "Ann", "team": "billing",
            "direction": "inbound", "started_at": "2024-05-06T09:30:00Z", "connected_at": "2024-05-06T09:30:01Z",
            "agent_channel": "left", "language": "en"}
    r = submit(client, metadata=meta)
    assert r.status_code == 202, r.text
    a = r.json()["id"]
    assert r.json()["status"] in ("queued", "processing")
    # Idempotent on external_id, and on Idempotency-Key
    again = submit(client, metadata=meta)
    assert again.status_code == 202 and again.json() == {"id": a, "status": again.json()["status"],
                                                        "duplicate": True}
    r2 = submit(client2, "zh_ulaw_forbidden.ulaw.wav", {"agent_id": "B2", "team": "sales", "rubric": "zh_callcenter"},
                headers={"Idempotency-Key": "k-1"})
    assert r2.status_code == 202, r2.text
    b = r2.json()["id"]
    assert submit(client2, "zh_ulaw_forbidden.ulaw.wav", headers={"Idempotency-Key": "k-1"}).json()["id"] == b

    da, db_ = wait_done(client, a), wait_done(client2, b)
    assert da["status"] == "done" and db_["status"] == "done", (da, db_)
    assert da["agent_id"] == "A1" and da["score"] is not None and da["rubric_id"] == "en_callcenter"

    # results in the engine's shapes
    tr = client.get(f"/v1/calls/{a}/transcript").json()
    assert tr["language"] == "en" and tr["turns"] and {"speaker", "start", "end", "text"} <= set(tr["turns"][0])
    ev = client.get(f"/v1/calls/{a}/events").json()["events"]
    assert all({"type", "start", "end"} <= set(e) for e in ev)
    card = client.get(f"/v1/calls/{a}/scorecard").json()
    assert {"rubric", "version", "total", "max", "passed", "fatal", "flags", "items"} <= set(card)
    assert card["total"] == da["score"]
    full = client.get(f"/v1/calls/{a}/analysis").json()
    assert set(full) == {"call", "metrics", "turns", "events", "scorecard"}

    # audio, whole and by range
    wav = (FIXTURES / "en_rude_agent.wav").read_bytes()
    whole = client.get(f"/v1/calls/{a}/audio")
    assert whole.status_code == 200 and whole.content == wav and whole.headers["accept-ranges"] == "bytes"
    part = client.get(f"/v1/calls/{a}/audio", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == wav[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(wav)}"
    assert client.get(f"/v1/calls/{a}/audio", headers={"Range": f"bytes={len(wav) + 10}-"}).status_code == 416

    # visibility: a client sees only its calls; inspectors see all
    is_problem(client2.get(f"/v1/calls/{a}"), 404)
    is_problem(client2.get(f"/v1/calls/{a}/scorecard"), 404)
    assert [c["id"] for c in client.get("/v1/calls").json()["items"]] == [a]
    assert {c["id"] for c in inspector.get("/v1/calls").json()["items"]} >= {a, b}

    # filters, sort by score, cursor pagination
    def ids(**params: Any) -> list[str]:
        r = inspector.get("/v1/calls", params=params)
        assert r.status_code == 200, r.text
        return [c["id"] for c in r.json()["items"]]
    assert ids(agent="A1") == [a] and ids(team="sales") == [b] and ids(status="done", agent="B2") == [b]
    assert ids(date_from="2024-05-06T00:00:00Z", date_to="2024-05-07T00:00:00Z") == [a]
    assert a in ids(score_min=da["score"], score_max=da["score"])
    for item in da["failed_items"][:1]:
        assert a in ids(failed_item=item)
    for flag in da["flags"][:1]:
        assert a in ids(flag=flag)
    assert ids(failed_item="no_such_item") == []
    by_score = inspector.get("/v1/calls", params={"sort": "score"}).json()["items"]
    scores = [c["score"] for c in by_score]
    assert scores == sorted(scores, key=lambda s: -1 if s is None else s)
    page1 = inspector.get("/v1/calls", params={"limit": 1, "sort": "-score"}).json()
    assert len(page1["items"]) == 1 and page1["next_cursor"]
    page2 = inspector.get("/v1/calls", params={"limit": 1, "sort": "-score", "cursor": page1["next_cursor"]}).json()
    assert page2["items"][0]["id"] != page1["items"][0]["id"]
    is_problem(inspector.get("/v1/calls", params={"cursor": "garbage"}), 422)

    # rubrics: list, get, upload a new version (validated), rescore under it without re-transcribing
    listed = admin.get("/v1/rubrics").json()
    assert {"zh_callcenter", "en_callcenter"} <= {r["id"] for r in listed}
    doc = admin.get("/v1/rubrics/en_callcenter").json()["document"]
    new = copy.deepcopy(doc)
    new["version"] = "test-2"
    new["pass_score"] = 1
    bad = copy.deepcopy(new)
    bad["items"][0]["points"] = "many"
    assert is_problem(admin.post("/v1/rubrics", json=bad), 422)["code"] == "bad_rubric"
    assert admin.post("/v1/rubrics", json=new).status_code == 201
    is_problem(admin.post("/v1/rubrics", json=new), 409)
    is_problem(client.post(f"/v1/calls/{a}/rescore", json={"rubric": "en_callcenter@test-2"}), 403)
    re = inspector.post(f"/v1/calls/{a}/rescore", json={"rubric": "en_callcenter@test-2"})
    assert re.status_code == 201, re.text
    version = re.json()
    assert version["status"] == "proposed" and version["scorecard"]["version"] == "test-2"
    assert version["scorecard"]["pass_score"] == 1
    assert client.get(f"/v1/calls/{a}").json()["rubric_version"] != "test-2"  # official only once adopted
    adopted = inspector.post(version["adopt"])
    assert adopted.status_code == 200 and adopted.json()["status"] == "adopted", adopted.text
    assert client.get(f"/v1/calls/{a}").json()["rubric_version"] == "test-2"
    is_problem(inspector.post(version["adopt"]), 409)
    assert client.get(f"/v1/calls/{b}").status_code == 404
    assert client2.get(f"/v1/calls/{b}/scorecard").json()["version"] == yaml.safe_load(
        (ROOT / "rubrics" / "zh_callcenter.yaml").read_text(encoding="utf-8"))["version"]
    is_problem(inspector.post(f"/v1/calls/{a}/rescore", json={"rubric": "en_callcenter@nope"}), 422)

    # webhook: retried after a 500, signed
    deadline = time.time() + 30
    while not hook.got and time.time() < deadline:
        time.sleep(0.2)
    assert hook.got, "webhook never delivered"
    headers, body = hook.got[0]
    expect = "sha256=" + hmac.new(secret.encode(), headers["x-qa-timestamp"].encode() + b"." + body,
                                  hashlib.sha256).hexdigest()
    assert headers["x-qa-signature"] == expect
    assert json.loads(body)["call"]["id"] == a and hook.hits >= 2

    # metrics and readiness
    m = httpx.get(server.base + "/metrics").text
    assert 'qa_jobs{state="done"}' in m and "qa_queue_depth" in m and "qa_analysis_seconds_count" in m
    assert "qa_realtime_factor_bucket" in m
    assert httpx.get(server.base + "/readyz").json()["checks"] == {"database": "ok", "storage": "ok", "queue": "ok",
                                                                  "model": "ok"}

    # delete: others cannot, the owner can; the recording goes when no call shares it
    is_problem(client2.delete(f"/v1/calls/{a}"), 404)
    assert client.delete(f"/v1/calls/{a}").status_code == 204
    is_problem(client.get(f"/v1/calls/{a}"), 404)
    sha = hashlib.sha256(wav).hexdigest()
    assert not (server.data_dir / "audio" / sha[:2] / sha[2:4] / sha).exists()
    for c in (client, client2, inspector, admin):
        c.close()


def test_batch_submit(server: Server, keys: dict[str, str]) -> None:
    wav = (FIXTURES / "en_rude_agent.wav").read_bytes()
    with server.client(keys["client"]) as c:
        r = c.post("/v1/calls/batch", files=[("audio", ("a.wav", wav)), ("audio", ("b.wav", b""))],
                   data={"metadata": json.dumps([{"external_id": "batch-a"}, {"external_id": "batch-b"}])})
        assert r.status_code == 200, r.text
        out = r.json()
        assert out[0]["status_code"] == 202 and out[1]["status_code"] == 422 and "empty" in out[1]["error"]
        assert c.delete(f"/v1/calls/{out[0]['id']}").status_code == 204


def test_the_direction_sent_with_a_mono_call_reaches_the_analysis(server: Server, keys: dict[str, str]) -> None:
    """A recording system's `direction`: on an inbound mono call the agent answers, and the inspector is told that
    this was weighed when the parties were split."""
    mono = (ROOT / "tests" / "fixtures" / "calls" / "zh_mono_good.mono.wav").read_bytes()
    with server.client(keys["client"]) as c:
        r = submit(c, "mono.wav", {"direction": "inbound", "language": "zh"}, content=mono)
        assert r.status_code == 202, r.text
        done = wait_done(c, r.json()["id"])
        assert done["status"] == "done", done
        call = c.get(f"/v1/calls/{done['id']}/analysis").json()["call"]
        assert "an inbound call: the first words lean to the agent" in call["agent_found_by"]
        assert is_problem(submit(c, "mono.wav", {"direction": "sideways"}, content=mono), 422)["errors"][0][
            "field"] == "metadata.direction"


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/healthz"])
def test_public_pages(server: Server, path: str) -> None:
    assert httpx.get(server.base + path).status_code == 200

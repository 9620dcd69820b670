"""POST /v1/calls as an attacker and a careless sender would use it, over real HTTP to a real server:
the key checked before the body is read, the size limit while it streams, the recording's header checked
in the request and the full decode left to the worker; a transcript instead of a recording."""

from __future__ import annotations

import json
import os
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest

from tests.api.conftest import FIXTURES, Server, submit, wait_done
from tests.api.test_api import is_problem
from tests.conftest import call_labels

BOUNDARY = "qa-upload-test-boundary"
MB = 1024 * 1024


@pytest.fixture(scope="module")
def server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The conftest server, with its temp folder (where a framework would spool a form) inside the data dir."""
    data = tmp_path_factory.mktemp("qa")
    (data / "spool").mkdir()
    srv = Server(data, backend, TMPDIR=str(data / "spool"))
    srv.start()
    yield srv
    srv.stop()


def disk_bytes(server: Server) -> int:
    """Bytes of upload files on the server's disk: the store, its .part files and the process's temp folder,
    and files it holds open there without a name (a temp file made with O_TMPFILE is in no folder listing)."""
    named = sum(p.stat().st_size for d in ("audio", "tmp", "spool") for p in (server.data_dir / d).rglob("*")
                if p.is_file())
    unnamed = 0
    assert server.proc is not None
    for fd in Path(f"/proc/{server.proc.pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
            if target.startswith(str(server.data_dir / "spool")) and target.endswith("(deleted)"):
                unnamed += fd.stat().st_size
        except OSError:  # closed meanwhile
            pass
    return named + unnamed


def stored_files(server: Server) -> set[Path]:
    return {p for d in ("audio", "tmp", "spool") for p in (server.data_dir / d).rglob("*") if p.is_file()}


def wav_header(data_bytes: int, rate: int = 8000, channels: int = 2) -> bytes:
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * channels * 2, channels * 2, 16)
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", data_bytes))


class ChunkedUpload:
    """A multipart body sent chunked (no Content-Length): an 'audio' part of `total` bytes of sound.

    Records how much it got to send before the server stopped it, and the most upload bytes seen on
    the server's disk meanwhile."""

    def __init__(self, server: Server, total: int, block: int = 256 * 1024) -> None:
        self.server, self.total, self.block = server, total, block
        self.sent = 0
        self.disk_max = 0

    def __iter__(self) -> Iterator[bytes]:
        yield (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n{{}}\r\n'
               f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="audio"; filename="long.wav"\r\n'
               "Content-Type: audio/wav\r\n\r\n").encode() + wav_header(self.total)
        noise = np.random.default_rng(0).integers(-3000, 3000, self.block // 2, dtype=np.int16).tobytes()
        while self.sent < self.total:
            self.disk_max = max(self.disk_max, disk_bytes(self.server))
            self.sent += len(noise)
            yield noise
        yield f"\r\n--{BOUNDARY}--\r\n".encode()

    def post(self, key: str | None) -> httpx.Response:
        headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        with httpx.Client(base_url=self.server.base, timeout=120) as c:
            r = c.post("/v1/calls", content=iter(self), headers=headers)
        self.disk_max = max(self.disk_max, disk_bytes(self.server))
        return r


@pytest.mark.parametrize("who", ["no key", "unknown key", "inspector"])
def test_a_caller_who_may_not_submit_is_refused_before_the_body_is_read(server: Server, keys: dict[str, str],
                                                                         who: str) -> None:
    before = stored_files(server)
    upload = ChunkedUpload(server, total=300 * MB)
    key = {"no key": None, "unknown key": "qa_not_a_key", "inspector": keys["inspector"]}[who]
    t0 = time.perf_counter()
    r = upload.post(key)
    is_problem(r, 403 if who == "inspector" else 401)
    # Refused at the headers: nothing of the 300 MB was written anywhere, and the server stopped reading.
    assert upload.disk_max == disk_bytes(server) and stored_files(server) == before
    assert upload.sent < 30 * MB, f"the server read {upload.sent / MB:.0f} MB of a refused upload"
    assert time.perf_counter() - t0 < 10


def test_an_oversize_chunked_upload_is_refused_while_it_streams(server: Server, keys: dict[str, str]) -> None:
    before = stored_files(server)
    upload = ChunkedUpload(server, total=300 * MB)
    body = is_problem(upload.post(keys["client"]), 413)
    assert body["code"] == "too_large" and "0.6 MB" in body["detail"]
    # At most the limit (0.6 MB) was ever on disk, the partial file is gone, and the rest was never read.
    assert upload.disk_max <= 1 * MB
    assert stored_files(server) == before
    assert upload.sent < 30 * MB, f"the server read {upload.sent / MB:.0f} MB past the limit"


def flac(seconds: float, rate: int = 8000, tone: bool = False) -> bytes:
    """A mono FLAC: silence (compresses to almost nothing), or a tone."""
    import io

    buf = io.BytesIO()
    with av.open(buf, "w", format="flac") as out:
        stream = out.add_stream("flac", rate=rate, layout="mono")
        step = rate * 60
        for start in range(0, int(seconds * rate), step):
            n = min(step, int(seconds * rate) - start)
            t = np.arange(start, start + n) / rate
            samples = (np.sin(2 * np.pi * 440 * t) * 8000 if tone else np.zeros(n)).astype(np.int16)
            frame = av.AudioFrame.from_ndarray(samples[None, :], format="s16", layout="mono")
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def with_declared_samples(data: bytes, total_samples: int) -> bytes:
    """A FLAC whose STREAMINFO header declares `total_samples` (36 bits after rate, channels and depth)."""
    assert data[:4] == b"fLaC"
    pos = 8 + 10  # "fLaC", the block header, then min/max block and frame sizes
    packed = int.from_bytes(data[pos:pos + 8], "big")
    packed = (packed & ~((1 << 36) - 1)) | total_samples
    return data[:pos] + packed.to_bytes(8, "big") + data[pos + 8:]


def test_a_long_silent_recording_is_accepted_at_once_and_fails_in_the_worker(server: Server,
                                                                             keys: dict[str, str]) -> None:
    silent = flac(20 * 60)  # 20 minutes of silence: ~0.1 MB, 77 MB once decoded
    assert len(silent) < 0.6 * MB
    with server.client(keys["client"]) as c:
        t0 = time.perf_counter()
        r = submit(c, "silence.flac", content=silent)
        took = time.perf_counter() - t0
        assert r.status_code == 202, r.text
        assert took < 2.0, f"the upload took {took:.1f} s: the recording was decoded in the request"
        call = c.get(f"/v1/calls/{r.json()['id']}").json()
        assert call["audio_format"] == "flac" and call["duration_s"] == pytest.approx(1200, abs=1)
        done = wait_done(c, r.json()["id"])
        assert done["status"] == "failed" and done["failure_code"] == "bad_audio"
        assert "silent" in done["failure_reason"], done


BAD_HEADERS: dict[str, tuple[Any, int, str]] = {
    # a 5 s tone whose header claims four hours: over the 3-hour limit
    "4 hours declared": (lambda: with_declared_samples(flac(5, tone=True), 4 * 3600 * 8000), 422, "240 min long"),
    "0.1 s": (lambda: flac(0.1, tone=True), 422, "nothing to analyse"),
    "no channels": (lambda: wav_header(16000, channels=0) + bytes(16000), 422, "no sample rate or channel count"),
    "cut off": (lambda: wav_header(400_000) + bytes(20_000), 422, "truncated"),
    "mp3 noise": (lambda: b"ID3\x03\x00\x00\x00\x00\x00\x00" + np.random.default_rng(1).bytes(300_000), 422, ""),
    "a picture": (lambda: b"\x89PNG\r\n\x1a\n" + bytes(1000), 415, "not a recording format"),
}


@pytest.mark.parametrize("case", sorted(BAD_HEADERS))
def test_a_recording_with_a_bad_header_is_refused_quickly_with_the_reason(server: Server, keys: dict[str, str],
                                                                          case: str) -> None:
    make, status, reason = BAD_HEADERS[case]
    before = stored_files(server)
    with server.client(keys["client"]) as c:
        t0 = time.perf_counter()
        body = is_problem(submit(c, "call.flac", content=make()), status)
        assert time.perf_counter() - t0 < 2.0
    assert reason in body["detail"] and "call.flac" in body["detail"], body
    assert stored_files(server) == before


def labelled_transcript(call_id: str) -> dict[str, Any]:
    lab = call_labels(call_id)
    return {"lang": lab["lang"], "turns": [{k: t[k] for k in ("speaker", "start", "end", "text")}
                                           for t in lab["turns"]]}


def send_transcript(c: httpx.Client, transcript: bytes, metadata: dict[str, Any] | None = None,
                    audio: bytes | None = None) -> httpx.Response:
    files: dict[str, Any] = {"transcript": ("call.json", transcript, "application/json"),
                             "metadata": (None, json.dumps(metadata or {}))}
    if audio is not None:
        files["audio"] = ("call.wav", audio, "audio/wav")
    return c.post("/v1/calls", files=files)


def test_a_transcript_is_analysed_like_a_recording_without_the_sound(server: Server, keys: dict[str, str]) -> None:
    raw = json.dumps(labelled_transcript("zh_fast_talker"), ensure_ascii=False).encode()
    with server.client(keys["client"]) as c, server.client(keys["inspector"]) as inspector:
        r = send_transcript(c, raw, {"external_id": "chat-1", "agent_id": "T1", "team": "chat"})
        assert r.status_code == 202, r.text
        cid = r.json()["id"]
        again = send_transcript(c, raw, {"external_id": "chat-1"}).json()
        assert again["id"] == cid and again["duplicate"] is True
        done = wait_done(c, cid)
        assert done["status"] == "done", done
        assert done["audio_format"] == "transcript" and done["agent_id"] == "T1"
        card = c.get(f"/v1/calls/{cid}/scorecard").json()
        items = {i["id"]: i for i in card["items"]}
        for item_id in ("volume", "intonation"):
            assert items[item_id]["status"] == "not_applicable", items[item_id]
        assert items["speech_rate"]["status"] == "fail"  # the same detectors as a recording
        analysis = c.get(f"/v1/calls/{cid}/analysis").json()
        assert analysis["call"]["source"] == "transcript"
        assert "你说得太快了" in " ".join(t["text"] for t in c.get(f"/v1/calls/{cid}/transcript").json()["turns"])
        for who in (c, inspector):
            body = is_problem(who.get(f"/v1/calls/{cid}/audio"), 404)
            assert body["code"] == "no_recording" and "transcript" in body["detail"]


def test_a_bad_transcript_or_both_parts_are_refused_with_the_reason(server: Server, keys: dict[str, str]) -> None:
    good = json.dumps(labelled_transcript("en_rude_agent")).encode()
    bare = json.dumps({"turns": labelled_transcript("en_rude_agent")["turns"]}).encode()
    wav = (FIXTURES / "en_rude_agent.wav").read_bytes()
    before = stored_files(server)
    with server.client(keys["client"]) as c:
        body = is_problem(send_transcript(c, b'{"lang": "en", "turns": []}'), 422)
        assert body["code"] == "bad_transcript" and body["detail"].startswith("call.json: ")
        body = is_problem(send_transcript(c, b"speaker,start,end,text\n"), 422)
        assert "not valid JSON" in body["detail"]
        body = is_problem(send_transcript(c, bare), 422)
        assert "names no language" in body["detail"]
        body = is_problem(send_transcript(c, good, audio=wav), 422)
        assert "'audio'" in body["detail"] and "'transcript'" in body["detail"]
        is_problem(c.post("/v1/calls", files={"metadata": (None, "{}")}), 422)
        body = is_problem(send_transcript(c, b" " * (6 * MB)), 413)
        assert "0.6 MB" in body["detail"]
    assert stored_files(server) == before
    with server.client(keys["client"]) as c:  # the same transcript with the language in the metadata
        r = send_transcript(c, bare, {"language": "en"})
        assert r.status_code == 202, r.text


@pytest.fixture(scope="module")
def gated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    """A server that processes one upload at a time (QA_UPLOADS_AT_ONCE=1), API only."""
    srv = Server(tmp_path_factory.mktemp("qa-gate"), "", QA_UPLOADS_AT_ONCE="1", QA_START_WORKERS="false",
                 QA_MAX_UPLOAD_MB="5")
    srv.start()
    yield srv, srv.cli("keys", "create", "--role", "client")
    srv.stop()


def test_a_sender_stalled_mid_upload_does_not_hold_up_the_others(gated: tuple[Server, str]) -> None:
    """With one upload processed at a time, a sender that stops halfway (a slow link, or an attacker
    holding the turn) must not stop the next upload: the turn is let go while an upload waits for bytes."""
    import socket

    server, key = gated
    recording = (FIXTURES / "en_rude_agent.wav").read_bytes()
    head = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n{{"external_id": "slow"}}\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="audio"; filename="slow.wav"\r\n'
            "Content-Type: audio/wav\r\n\r\n").encode()
    body = head + recording + f"\r\n--{BOUNDARY}--\r\n".encode()
    slow = socket.create_connection(("127.0.0.1", server.port), timeout=60)
    try:
        slow.sendall((f"POST /v1/calls HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
                      f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {len(body)}\r\n"
                      "Connection: close\r\n\r\n").encode() + body[:len(body) // 2])
        time.sleep(1.0)  # the server has read the first half and waits for the rest
        with httpx.Client(base_url=server.base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as c:
            others = [submit(c, metadata={"external_id": f"other-{i}"}) for i in range(3)]
            assert [r.status_code for r in others] == [202] * 3, [r.text for r in others]
            slow.sendall(body[len(body) // 2:])  # the stalled sender finishes: its upload is taken too
            answer = b""
            while chunk := slow.recv(65536):
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 202"), answer[:300]
            slow_id = json.loads(answer.split(b"\r\n\r\n", 1)[1])["id"]
            assert c.get(f"/v1/calls/{slow_id}").json()["audio_size"] == len(recording)
    finally:
        slow.close()

"""Worker threads sharing one analyzer: a real server, real calls, the ASR batches they share."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx

from qa_engine.asr.text import error_rate
from tests.api.conftest import FIXTURES, Server, wait_done


def counter(metrics: str, name: str) -> float:
    m = re.search(rf"^{name} ([0-9.e+]+)$", metrics, re.M)
    assert m, f"{name} not in /metrics"
    return float(m.group(1))


def texts(c: httpx.Client, call_id: str) -> tuple[str, str]:
    """The agent's and the customer's words."""
    turns = c.get(f"/v1/calls/{call_id}/transcript").json()["turns"]

    def of(who: str) -> str:
        return " ".join(t["text"] for t in turns if t["speaker"] == who).lower()

    return of("agent"), of("customer")


def test_two_workers_share_batches(tmp_path: Path) -> None:
    # A long batch wait: the first call's window waits for the second call, still being prepared.
    srv = Server(tmp_path / "qa", "", QA_WORKERS="2", QA_BATCH_SIZE="4", QA_BATCH_WAIT_S="5",
                 QA_MAX_UPLOAD_MB="5").start()
    try:
        key = srv.cli("keys", "create", "--role", "client")
        en, zh = (FIXTURES / "en_rude_agent.wav").read_bytes(), (FIXTURES / "zh_ulaw_forbidden.ulaw.wav").read_bytes()
        with srv.client(key) as c:
            r = c.post("/v1/calls/batch", files=[("audio", ("a.wav", en)), ("audio", ("b.wav", en)),
                                                 ("audio", ("z.wav", zh))],
                       data={"metadata": json.dumps([{"external_id": "w-a", "language": "en"},
                                                     {"external_id": "w-b", "language": "en"},
                                                     {"external_id": "w-z", "language": "zh"}])})
            assert r.status_code == 200, r.text
            ids = [item["id"] for item in r.json()]
            assert all(item["status_code"] == 202 for item in r.json()), r.json()
            t0 = time.time()
            done = [wait_done(c, i) for i in ids]
            assert [d["status"] for d in done] == ["done"] * 3, done
            assert [d["language"] for d in done] == ["en", "en", "zh"]
            # Each call's words came back to its own call and party, whatever they were batched with.
            a, b, z = (texts(c, i) for i in ids)
            # The same recording twice: near-ties may tip with the batch-mates (tests/qa_engine/test_batched.py),
            # a word routed to the other call or party would not.
            assert all(error_rate(x, y, "en") <= 0.1 for x, y in zip(a, b, strict=True)), (a, b)
            assert "problem" in a[0] and "internet" in a[1] and "internet" not in a[0]
            assert "每年年底" in z[0] and "为什么" in z[1] and "为什么" not in z[0]  # 积分 or its homophone 机分
            print(f"3 calls in {time.time() - t0:.1f} s")
        m = httpx.get(srv.base + "/metrics").text
        windows, batches = counter(m, "qa_asr_windows_total"), counter(m, "qa_asr_batches_total")
        # One window per call; the two English calls were in flight together and shared a batch.
        assert windows == 3 and batches == 2, (windows, batches)
        # Clean stereo calls leave no speech without words: nothing was decoded a second time.
        assert counter(m, "qa_asr_wordless_retries_total") == 0
    finally:
        srv.stop()


def test_model_that_cannot_load_on_the_device(tmp_path: Path) -> None:
    """QA_ASR_DEVICE=cuda on a machine without CUDA: /readyz says why; a call fails with the reason."""
    srv = Server(tmp_path / "qa", "", QA_ASR_DEVICE="cuda", QA_JOB_MAX_ATTEMPTS="1").start(wait_ready=False)
    try:
        deadline = time.time() + 60
        while True:
            r = httpx.get(srv.base + "/readyz")
            model = r.json()["checks"]["model"]
            if model != "loading" or time.time() > deadline:
                break
            time.sleep(0.2)
        assert r.status_code == 503 and model.startswith("unavailable: no CUDA device is visible"), r.json()
        assert "libcublas.so.12" in model
        key = srv.cli("keys", "create", "--role", "client")
        with srv.client(key) as c:
            r = c.post("/v1/calls", files={"audio": ("a.wav", (FIXTURES / "en_rude_agent.wav").read_bytes())},
                       data={"metadata": "{}"})
            assert r.status_code == 202, r.text
            d = wait_done(c, r.json()["id"], timeout=60)
        assert d["status"] == "failed" and d["failure_code"] == "model_unavailable", d
        assert "no CUDA device" in d["failure_reason"]
    finally:
        srv.stop()

"""Bounded loopback load test of POST /v1/calls: N concurrent uploads of real calls.

Starts its own server (SQLite, temp data dir) unless --url is given, submits N calls at once,
then checks every accepted call is stored (and, with --wait-analysed S, analysed).
Meanwhile another connection asks /healthz every 20 ms: its slowest answer shows whether the
API stayed responsive. Reports lost calls, 5xx, submit latency p50/p99, /healthz max and
throughput, with the machine's load; --out appends a Markdown section.

    python benchmarks/load_submit.py --n 200 --out benchmarks/load_results.md
    python benchmarks/load_submit.py --n 200 --workers-off   # API only (QA_START_WORKERS=false)
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("QA_CORPUS", "/work/shared/corpus/calls"))
# Calls of about 1 MB each (0.89-1.16 MB, 1.0 MB on average), used in turn.
DEFAULT_FILES = ["zh_fast_talker.wav", "zh_interrupting_agent.wav", "en_good_billing.wav", "zh_escalation_apology.wav"]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def start_server(data_dir: Path, port: int, workers: bool) -> tuple[subprocess.Popen[bytes], str]:
    env = {**os.environ, "QA_DATA_DIR": str(data_dir), "QA_DATABASE_URL": os.environ.get("QA_DATABASE_URL", ""),
           "QA_START_WORKERS": "true" if workers else "false"}
    key = subprocess.run([sys.executable, "-m", "api.cli", "keys", "create", "--role", "admin"], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True).stdout.strip()
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--log-level", "warning"],
                            cwd=ROOT, env=env, stdout=(data_dir / "server.log").open("wb"), stderr=subprocess.STDOUT)
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc, key
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("server did not start")


def sample_health(url: str, stop: Any, results: Any) -> None:
    """GET /healthz every 20 ms on one keep-alive connection until `stop`; puts (latencies, errors)."""
    lat: list[float] = []
    errors: list[str] = []
    with httpx.Client(base_url=url, timeout=60) as h:
        while not stop.is_set():
            t = time.perf_counter()
            try:
                r = h.get("/healthz")
                if r.status_code != 200:
                    errors.append(f"/healthz {r.status_code}")
            except httpx.HTTPError as exc:
                errors.append(f"/healthz: {exc!r}")
            lat.append(time.perf_counter() - t)
            time.sleep(0.02)
    results.put((lat, errors))


async def run(url: str, key: str, n: int, files: list[Path], timeout: float) -> dict[str, object]:
    blobs = [(f.name, f.read_bytes()) for f in files]
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    lat: list[float] = []
    codes: dict[int, int] = {}
    ids: list[str] = []
    errors: list[str] = []
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=timeout) as c:
        async def one(i: int) -> None:
            name, data = blobs[i % len(blobs)]
            t0 = time.perf_counter()
            try:
                r = await c.post("/v1/calls", files={"audio": (name, data)},
                                 data={"metadata": f'{{"external_id": "load-{run_id}-{i}", "agent_id": "L{i % 20}"}}'})
                codes[r.status_code] = codes.get(r.status_code, 0) + 1
                if r.status_code == 202:
                    ids.append(r.json()["id"])
                else:
                    errors.append(f"{r.status_code}: {r.text[:200]}")
            except httpx.HTTPError as exc:
                codes[0] = codes.get(0, 0) + 1
                errors.append(f"transport: {exc!r}")
            lat.append(time.perf_counter() - t0)

        # /healthz asked from another process: this one's event loop is busy sending the uploads.
        burst_over, results = multiprocessing.Event(), multiprocessing.Queue()
        sampler = multiprocessing.Process(target=sample_health, args=(url, burst_over, results))
        sampler.start()
        await asyncio.sleep(0.5)
        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        wall = time.perf_counter() - t0
        burst_over.set()
        health, health_errors = results.get(timeout=timeout)
        sampler.join()
        errors.extend(health_errors)
        found = 0
        for cid in ids:
            r = await c.get(f"/v1/calls/{cid}")
            found += r.status_code == 200
    return {"n": n, "accepted": len(ids), "ids": ids, "codes": codes, "errors": errors[:5], "wall_s": wall,
            "p50": pct(lat, 50), "p99": pct(lat, 99), "max": max(lat), "stored": found,
            "health_n": len(health), "health_max": max(health), "health_p99": pct(health, 99),
            "mb": sum(len(blobs[i % len(blobs)][1]) for i in range(n)) / 2**20}


async def wait_analysed(url: str, key: str, ids: list[str], limit_s: float) -> tuple[int, int, float]:
    t0 = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as c:
        while True:
            states = [(await c.get(f"/v1/calls/{cid}")).json()["status"] for cid in ids]
            done, failed = states.count("done"), states.count("failed")
            if done + failed == len(ids) or time.perf_counter() - t0 > limit_s:
                return done, failed, time.perf_counter() - t0
            await asyncio.sleep(5)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200, help="concurrent uploads (default 200)")
    ap.add_argument("--url", help="an already running service (default: start one on loopback)")
    ap.add_argument("--key", help="API key for --url (client or admin)")
    ap.add_argument("--files", nargs="*", default=DEFAULT_FILES, help="recordings from the corpus, used in turn")
    ap.add_argument("--timeout", type=float, default=300.0, help="per-request timeout (s)")
    ap.add_argument("--wait-analysed", type=float, default=0.0, metavar="S",
                    help="then wait up to S seconds for every call to be analysed")
    ap.add_argument("--workers-off", action="store_true",
                    help="start the server with QA_START_WORKERS=false (API only: no analysis in the process)")
    ap.add_argument("--out", type=Path, help="append the results as Markdown to this file")
    args = ap.parse_args()
    files = [p if p.is_file() else CORPUS / p.name for p in map(Path, args.files)]
    proc = None
    tmp_dir = tempfile.mkdtemp(prefix="qa-load-")  # kept: holds server.log
    if args.url:
        url, key = args.url.rstrip("/"), args.key or ""
    else:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        proc, key = start_server(Path(tmp_dir), port, workers=not args.workers_off)
        url = f"http://127.0.0.1:{port}"
    load_before = os.getloadavg()
    try:
        cpu0 = (cpu_seconds(proc.pid) if proc else 0.0, time.process_time())
        res = asyncio.run(run(url, key, args.n, files, args.timeout))
        load_after = os.getloadavg()
        cpu = (cpu_seconds(proc.pid) - cpu0[0] if proc else None, time.process_time() - cpu0[1])
        analysed = None
        if args.wait_analysed > 0:
            analysed = asyncio.run(wait_analysed(url, key, list(res["ids"]), args.wait_analysed))  # type: ignore[arg-type]
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
    codes = res["codes"]
    five = sum(v for k, v in codes.items() if k >= 500)  # type: ignore[union-attr]
    lost = res["accepted"] - res["stored"]  # type: ignore[operator]
    refused = res["n"] - res["accepted"]  # type: ignore[operator]
    lines = [
        f"## load_submit {datetime.now(UTC):%Y-%m-%d %H:%M} UTC ({platform.node()}, {os.cpu_count()} CPUs)",
        "",
        f"- {res['n']} concurrent uploads over loopback ({res['mb']:.0f} MB of real calls: "
        f"{', '.join(f.name for f in files)})",
        f"- status codes: {codes}; 5xx: {five}; refused: {refused}; lost (202 but not stored): {lost}",
        f"- submit latency p50 {res['p50']:.2f} s, p99 {res['p99']:.2f} s, max {res['max']:.2f} s",
        f"- /healthz during the burst ({res['health_n']} requests): max {res['health_max'] * 1000:.0f} ms, "
        f"p99 {res['health_p99'] * 1000:.0f} ms",
        f"- server: {'the one at --url' if args.url else 'in-process workers ' + ('off' if args.workers_off else 'on')}"
        f"; machine load average (1 min) {load_before[0]:.1f} before, {load_after[0]:.1f} after the burst",
        f"- CPU time over the burst: server {cpu[0]:.1f} s, this client {cpu[1]:.1f} s" if cpu[0] is not None
        else f"- CPU time of this client over the burst: {cpu[1]:.1f} s",
        f"- command: `{' '.join(['python', *sys.argv])}`",
        f"- throughput: {res['n'] / res['wall_s']:.1f} uploads/s ({res['mb'] / res['wall_s']:.1f} MB/s), "  # type: ignore[operator]
        f"wall {res['wall_s']:.1f} s (server data and log: {tmp_dir if proc else args.url})",
    ]
    if analysed:
        lines.append(f"- analysed: {analysed[0]} done, {analysed[1]} failed, after {analysed[2]:.0f} s")
    if res["errors"]:
        lines.append(f"- first errors: {res['errors']}")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with args.out.open("a", encoding="utf-8") as fh:
            fh.write(text + "\n")
    return 0 if five == 0 and lost == 0 and refused == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

"""Bounded loopback load test of POST /v1/calls: N concurrent uploads of real calls.

Starts its own server (SQLite, temp data dir) unless --url is given, submits N calls at once,
then checks every accepted call is stored (and, with --wait-analysed S, analysed).
Meanwhile another connection asks /healthz every 20 ms: its slowest answer shows whether the
API stayed responsive. Reports lost calls, 5xx, submit latency p50/p99, /healthz max and
throughput, with the machine's load; --out appends a Markdown section.

    python benchmarks/load_submit.py --n 200 --out benchmarks/load_results.md
    python benchmarks/load_submit.py --n 200 --workers-off   # API only (QA_START_WORKERS=false)

A few uploads are sent one by one first (--warmup), and the same burst is then sent to
benchmarks/bare_upload_server.py (uvicorn writing and fsyncing each body: the floor of the stack on
this machine) so the service's latency reads as a ratio to the floor measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
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
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.loopback import ROOT, Client, create_key, free_port, multipart, post_raw, serve, wait_healthy

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
    key = create_key(env)
    return serve(env, port, data_dir / "server.log"), key


def start_bare(folder: Path, port: int) -> subprocess.Popen[bytes]:
    """benchmarks/bare_upload_server.py: uvicorn writing each body to a file, nothing of the service."""
    proc = subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / "bare_upload_server.py"), str(port),
                             str(folder / "bare")], cwd=ROOT, stdout=(folder / "bare.log").open("wb"),
                            stderr=subprocess.STDOUT)
    wait_healthy(f"http://127.0.0.1:{port}", proc)
    return proc


def burst(url: str, key: str, proc: subprocess.Popen[bytes] | None, args: argparse.Namespace,
          files: list[Path]) -> tuple[dict[str, Any], float | None, float]:
    """One burst: its results, the server's CPU seconds (None for --url) and this client's."""
    cpu0 = (cpu_seconds(proc.pid) if proc else 0.0, time.process_time())
    res = asyncio.run(run(url, key, args.n, files, args.timeout, args.warmup))
    return res, (cpu_seconds(proc.pid) - cpu0[0] if proc else None), time.process_time() - cpu0[1]


def sample_health(url: str, stop: Any, results: Any) -> None:
    """GET /healthz every 20 ms on one keep-alive connection until `stop`; puts (latencies, errors)."""
    lat: list[float] = []
    errors: list[str] = []
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port, timeout=60)
    while not stop.is_set():
        t = time.perf_counter()
        try:
            conn.request("GET", "/healthz")
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                errors.append(f"/healthz {r.status}")
        except (OSError, http.client.HTTPException) as exc:
            errors.append(f"/healthz: {exc!r}")
            conn.close()
        lat.append(time.perf_counter() - t)
        time.sleep(0.02)
    conn.close()
    results.put((lat, errors))


async def run(url: str, key: str, n: int, files: list[Path], timeout: float, warmup: int) -> dict[str, object]:
    blobs = [(f.name, f.read_bytes()) for f in files]
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    # Every request's body is built before the burst: the client's time goes to sending, not encoding.
    bodies = []
    for i in range(-warmup, n):
        name, data = blobs[i % len(blobs)]
        meta = {"external_id": f"load-{run_id}-{i}", "agent_id": f"L{i % 20}"}
        ctype, body = multipart({"metadata": json.dumps(meta)}, {"audio": (name, data)})
        bodies.append(({"Authorization": f"Bearer {key}", "Content-Type": ctype}, body))
    u = urlsplit(url)
    host, port = u.hostname or "127.0.0.1", u.port or 80
    lat: list[float] = []
    codes: dict[int, int] = {}
    ids: list[str] = []
    errors: list[str] = []

    # A server that has answered a few uploads: the first requests of a process pay its lazy imports
    # and statement caches, which is not what a burst meets in service.
    for headers, body in bodies[:warmup]:
        await post_raw(host, port, "/v1/calls", headers, body)
    bodies = bodies[warmup:]

    async def one(i: int) -> None:
        headers, body = bodies[i]
        t0 = time.perf_counter()
        try:
            r = await asyncio.wait_for(post_raw(host, port, "/v1/calls", headers, body), timeout)
            codes[r.status] = codes.get(r.status, 0) + 1
            if r.status == 202:
                ids.append(r.json()["id"])
            else:
                errors.append(f"{r.status}: {r.text[:200]}")
        except (TimeoutError, OSError, ValueError) as exc:
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
    c = Client(url, {"Authorization": f"Bearer {key}"}, timeout=timeout)
    found = sum(c.get(f"/v1/calls/{cid}").status == 200 for cid in ids)
    return {"n": n, "accepted": len(ids), "ids": ids, "codes": codes, "errors": errors[:5], "wall_s": wall,
            "p50": pct(lat, 50), "p99": pct(lat, 99), "max": max(lat), "stored": found,
            "health_n": len(health), "health_max": max(health), "health_p99": pct(health, 99),
            "mb": sum(len(blobs[i % len(blobs)][1]) for i in range(n)) / 2**20}


def wait_analysed(url: str, key: str, ids: list[str], limit_s: float) -> tuple[int, int, float]:
    t0 = time.perf_counter()
    c = Client(url, {"Authorization": f"Bearer {key}"}, timeout=30)
    while True:
        states = [c.get(f"/v1/calls/{cid}").json()["status"] for cid in ids]
        done, failed = states.count("done"), states.count("failed")
        if done + failed == len(ids) or time.perf_counter() - t0 > limit_s:
            return done, failed, time.perf_counter() - t0
        time.sleep(5)


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
    ap.add_argument("--warmup", type=int, default=5, help="uploads sent one by one before the burst (not counted)")
    ap.add_argument("--no-baseline", action="store_true",
                    help="skip the same burst against benchmarks/bare_upload_server.py (the stack's floor)")
    ap.add_argument("--out", type=Path, help="append the results as Markdown to this file")
    args = ap.parse_args()
    files = [p if p.is_file() else CORPUS / p.name for p in map(Path, args.files)]
    proc = None
    tmp_dir = tempfile.mkdtemp(prefix="qa-load-")  # kept: holds server.log
    if args.url:
        url, key = args.url.rstrip("/"), args.key or ""
    else:
        port = free_port()
        proc, key = start_server(Path(tmp_dir), port, workers=not args.workers_off)
        url = f"http://127.0.0.1:{port}"
    load_before = os.getloadavg()
    try:
        res, server_cpu, client_cpu = burst(url, key, proc, args, files)
        load_after = os.getloadavg()
        analysed = None
        if args.wait_analysed > 0:
            analysed = wait_analysed(url, key, list(res["ids"]), args.wait_analysed)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
    bare = None
    if not args.no_baseline:
        port = free_port()
        bare_proc = start_bare(Path(tmp_dir), port)
        try:
            bare = burst(f"http://127.0.0.1:{port}", "", bare_proc, args, files)
        finally:
            bare_proc.terminate()
            bare_proc.wait(timeout=30)
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
        f"- CPU time over the burst: server {server_cpu:.1f} s, this client {client_cpu:.1f} s"
        if server_cpu is not None else f"- CPU time of this client over the burst: {client_cpu:.1f} s",
        f"- command: `{' '.join(['python', *sys.argv])}`",
        f"- throughput: {res['n'] / res['wall_s']:.1f} uploads/s ({res['mb'] / res['wall_s']:.1f} MB/s), "  # type: ignore[operator]
        f"wall {res['wall_s']:.1f} s (server data and log: {tmp_dir if proc else args.url})",
    ]
    if bare is not None:
        b, b_cpu, _ = bare
        lines.append(f"- the stack's floor, same burst, same run (`benchmarks/bare_upload_server.py`: uvicorn writing "
                     f"and fsyncing each body, no service): p50 {b['p50']:.2f} s, p99 {b['p99']:.2f} s, server CPU "
                     f"{b_cpu:.1f} s, /healthz max {b['health_max'] * 1000:.0f} ms; the service's p99 is "
                     f"**{res['p99'] / b['p99']:.1f}x** the floor's")
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

"""Delete a call while the same bytes are uploaded again: is the new upload's recording still stored?

Content-addressed audio is shared by calls with the same bytes. Each try uploads a recording as
call A, then at once deletes A and uploads the same bytes as call B, the delete sent at a random
moment within B's upload (so it lands anywhere from before B's file is stored to after B's commit).
A try is *lost* when B was acknowledged (202) and its recording is not in the store afterwards.
Each try uses different bytes (one sample changed), so the tries are independent.

Starts its own API-only server (no analysis: the race is in the upload path) on SQLite, or on
QA_DATABASE_URL when set; --out appends a Markdown line to a results file.

    python benchmarks/race_delete_upload.py --n 150 --out benchmarks/durability_results.md
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
RECORDING = ROOT / "tests" / "api" / "fixtures" / "en_rude_agent.wav"


def variant(wav: bytes, i: int) -> bytes:
    """The recording with its last sample changed: other bytes, the same decodable call."""
    return wav[:-4] + i.to_bytes(4, "little")


def stored_path(data_dir: Path, data: bytes) -> Path:
    sha = hashlib.sha256(data).hexdigest()
    return data_dir / "audio" / sha[:2] / sha[2:4] / sha


def start_server(data_dir: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "QA_DATA_DIR": str(data_dir), "QA_START_WORKERS": "false",
           "QA_DATABASE_URL": os.environ.get("QA_DATABASE_URL", "")}
    key = subprocess.run([sys.executable, "-m", "api.cli", "keys", "create", "--role", "admin"], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True).stdout.strip()
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--log-level", "warning"],
                            cwd=ROOT, env=env, stdout=(data_dir / "server.log").open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return proc, url, key
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"server did not start: {(data_dir / 'server.log').read_text()[-2000:]}")


def upload(c: httpx.Client, data: bytes) -> httpx.Response:
    return c.post("/v1/calls", files={"audio": ("race.wav", data, "audio/wav")}, data={"metadata": "{}"})


def race(c: httpx.Client, data_dir: Path, data: bytes, window_s: float) -> dict[str, object]:
    """One try; returns what happened to B."""
    first = upload(c, data)
    first.raise_for_status()
    a_id = first.json()["id"]
    out: dict[str, object] = {}

    def delete_a() -> None:
        time.sleep(random.uniform(0, window_s))
        out["delete"] = c.delete(f"/v1/calls/{a_id}").status_code

    t = threading.Thread(target=delete_a)
    t.start()
    second = upload(c, data)
    t.join()
    out["upload"] = second.status_code
    out["lost"] = second.status_code == 202 and not stored_path(data_dir, data).exists()
    if second.status_code == 202:  # leave the store as it was: the next try starts clean
        c.delete(f"/v1/calls/{second.json()['id']}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=150, help="tries (default 150)")
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--out", type=Path, help="append the result as Markdown to this file")
    args = ap.parse_args()
    random.seed(args.seed)
    wav = RECORDING.read_bytes()
    data_dir = Path(tempfile.mkdtemp(prefix="qa-race-"))  # kept: holds server.log
    proc, url, key = start_server(data_dir)
    lost = other = 0
    codes: dict[str, int] = {}
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as c:
            took = []
            for w in range(3):  # warm-up: the median upload time is the window the delete is sent in
                t0 = time.perf_counter()
                upload(c, variant(wav, (1 << 31) + w)).raise_for_status()
                took.append(time.perf_counter() - t0)
            window = sorted(took)[1]
            for i in range(args.n):
                r = race(c, data_dir, variant(wav, i), window)
                lost += bool(r["lost"])
                for k in ("upload", "delete"):
                    code = f"{k} {r[k]}"
                    codes[code] = codes.get(code, 0) + 1
                    other += int(r[k]) >= 500  # type: ignore[call-overload]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    db = "PostgreSQL" if os.environ.get("QA_DATABASE_URL", "").startswith("postgresql") else "SQLite"
    text = (f"- race_delete_upload {datetime.now(UTC):%Y-%m-%d %H:%M} UTC ({platform.node()}, {os.cpu_count()} CPUs, "
            f"{db}): {args.n} tries, delete sent within {window * 1000:.0f} ms of the re-upload; "
            f"**lost {lost}**; 5xx {other}; {dict(sorted(codes.items()))} (server log: {data_dir})\n")
    print(text, end="")
    if args.out:
        with args.out.open("a", encoding="utf-8") as fh:
            fh.write(text)
    return 0 if lost == 0 and other == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

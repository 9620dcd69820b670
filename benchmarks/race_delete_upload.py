"""Delete a call while the same bytes are uploaded again: is the new upload's recording still stored?

Content-addressed audio is shared by calls with the same bytes. Each try uploads a recording as
call A, then at once deletes A and uploads the same bytes as call B, the delete sent at a random
moment within B's upload (so it lands anywhere from before B's file is stored to after B's commit).
A try is *lost* when B was acknowledged (202) and its recording is not in the store afterwards.
Each try uses different bytes (one sample changed), so the tries are independent.

Starts its own API-only server (no analysis: the race is in the upload path) on SQLite, or on
QA_DATABASE_URL when set; --out appends a Markdown line to a results file. Standard library only
(benchmarks/loopback.py): it runs on a user's install, without the test extras.

    python benchmarks/race_delete_upload.py --n 150 --out benchmarks/durability_results.md
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.loopback import RECORDING, Client, Response, create_key, free_port, serve


def variant(wav: bytes, i: int) -> bytes:
    """The recording with its last sample changed: other bytes, the same decodable call."""
    return wav[:-4] + i.to_bytes(4, "little")


def stored_path(data_dir: Path, data: bytes) -> Path:
    sha = hashlib.sha256(data).hexdigest()
    return data_dir / "audio" / sha[:2] / sha[2:4] / sha


def start_server(data_dir: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    env = {**os.environ, "QA_DATA_DIR": str(data_dir), "QA_START_WORKERS": "false",
           "QA_DATABASE_URL": os.environ.get("QA_DATABASE_URL", "")}
    key = create_key(env)
    port = free_port()
    return serve(env, port, data_dir / "server.log"), f"http://127.0.0.1:{port}", key


def upload(c: Client, data: bytes, check: bool = False) -> Response:
    r = c.post_call(data, filename="race.wav")
    if check and r.status != 202:
        raise SystemExit(f"upload answered {r.status}: {r.text[:500]}")
    return r


def race(c: Client, data_dir: Path, data: bytes, window_s: float) -> dict[str, object]:
    """One try; returns what happened to B."""
    a_id = upload(c, data, check=True).json()["id"]
    out: dict[str, object] = {}

    def delete_a() -> None:
        time.sleep(random.uniform(0, window_s))
        out["delete"] = c.delete(f"/v1/calls/{a_id}").status

    t = threading.Thread(target=delete_a)
    t.start()
    second = upload(c, data)
    t.join()
    out["upload"] = second.status
    out["lost"] = second.status == 202 and not stored_path(data_dir, data).exists()
    if second.status == 202:  # leave the store as it was: the next try starts clean
        c.delete(f"/v1/calls/{second.json()['id']}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=150, help="tries (default 150)")
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--recording", type=Path, default=RECORDING, help="the call uploaded (default: %(default)s)")
    ap.add_argument("--out", type=Path, help="append the result as Markdown to this file")
    args = ap.parse_args()
    random.seed(args.seed)
    wav = args.recording.read_bytes()
    data_dir = Path(tempfile.mkdtemp(prefix="qa-race-"))  # kept: holds server.log
    proc, url, key = start_server(data_dir)
    lost = other = 0
    codes: dict[str, int] = {}
    try:
        c = Client(url, {"Authorization": f"Bearer {key}"}, timeout=60)
        took = []
        for w in range(3):  # warm-up: the median upload time is the window the delete is sent in
            t0 = time.perf_counter()
            upload(c, variant(wav, (1 << 31) + w), check=True)
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

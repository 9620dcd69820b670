"""HTTP on loopback for the benchmark scripts, with the standard library only.

The scripts run on a user's install (no test extras), and a load client must not spend more
CPU than the server it measures: httpx's multipart encoder cost the 200-upload burst 3.9 s of
client CPU on 2 cores, beside 2.1 s for the server. Here a request body is built once, as
bytes, and written to the socket in one go.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# A 14 s stereo call (0.45 MB) from the repository's test fixtures: the default recording of the scripts
# that upload one call (an install without the repository passes its own with --recording).
RECORDING = ROOT / "tests" / "api" / "fixtures" / "en_rude_agent.wav"


@dataclass
class Response:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[str, bytes]:
    """(Content-Type, body) of a multipart/form-data request."""
    boundary = uuid.uuid4().hex
    out = bytearray()
    for name, value in fields.items():
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n').encode()
        out += value.encode() + b"\r\n"
    for name, (filename, data) in files.items():
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                f"Content-Type: application/octet-stream\r\n\r\n").encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", bytes(out)


class Client:
    """Blocking requests to one base URL with fixed headers (urllib: one connection a request)."""

    def __init__(self, base_url: str, headers: dict[str, str] | None = None, timeout: float = 60) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = headers or {}
        self.timeout = timeout

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> Response:
        req = urllib.request.Request(self.base_url + path, data=body, method=method,
                                     headers={**self.headers, **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return Response(r.status, r.read())
        except urllib.error.HTTPError as exc:
            return Response(exc.code, exc.read())

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def delete(self, path: str) -> Response:
        return self.request("DELETE", path)

    def post_call(self, data: bytes, metadata: dict[str, Any] | None = None, filename: str = "call.wav",
                  headers: dict[str, str] | None = None) -> Response:
        """POST /v1/calls with the recording `data` and its metadata."""
        ctype, body = multipart({"metadata": json.dumps(metadata or {})}, {"audio": (filename, data)})
        return self.request("POST", "/v1/calls", body, {"Content-Type": ctype, **(headers or {})})


async def post_raw(host: str, port: int, path: str, headers: dict[str, str], body: bytes) -> Response:
    """One HTTP/1.1 POST on its own connection (asyncio streams): the body written at once."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        writer.write(f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{head}Content-Length: {len(body)}\r\n"
                     f"Connection: close\r\n\r\n".encode() + body)
        await writer.drain()
        status_line = await reader.readline()
        length = None
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        data = await (reader.readexactly(length) if length is not None else reader.read())
        return Response(int(status_line.split()[1]), data)
    finally:
        writer.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes] | None = None, limit_s: float = 60,
                 path: str = "/healthz") -> None:
    """Until `path` answers 200: /healthz (the process is up) or /readyz (it takes calls: database,
    storage, queue and model ready)."""
    c = Client(url, timeout=2)
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit_s:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}")
        try:
            if c.get(path).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server did not answer {path} within {limit_s:.0f} s")


def create_key(env: dict[str, str], role: str = "admin") -> str:
    return subprocess.run([sys.executable, "-m", "api.cli", "keys", "create", "--role", role], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=True).stdout.strip()


def serve(env: dict[str, str], port: int, log: Path, *extra: str, path: str = "/healthz",
          limit_s: float = 60) -> subprocess.Popen[bytes]:
    """`qa-engine serve` on loopback in its own process, answering `path` (see wait_healthy)."""
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--log-level", "warning",
                             *extra], cwd=ROOT, env={**os.environ, **env}, stdout=log.open("wb"),
                            stderr=subprocess.STDOUT)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc, limit_s, path)
    except SystemExit as exc:
        proc.kill()
        proc.wait()
        raise SystemExit(f"{exc}; its log ({log}) ends:\n{log.read_text(errors='replace')[-2000:]}") from None
    except BaseException:
        proc.kill()
        raise
    return proc

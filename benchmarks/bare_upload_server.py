"""The floor of the stack for uploads: uvicorn and a bare ASGI app, nothing of the service.

Each POST's body is read whole, written to its own file and fsynced (in a worker thread), then
answered 202 with an id; GET answers 200. No framework, no multipart parsing, no key check, no
database: what uvicorn, the event loop and the disk cost on this machine. `load_submit.py` runs
the same burst against it in the same run, so the service's figures read as a ratio to it.

    python benchmarks/bare_upload_server.py PORT DIR
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from typing import Any

import uvicorn


def _store(path: str, chunks: list[bytes]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        for chunk in chunks:
            os.write(fd, chunk)
        os.fsync(fd)
    finally:
        os.close(fd)


def make_app(folder: str) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        status, body = 200, b'{"status":"ok"}'
        if scope["method"] == "POST":
            chunks: list[bytes] = []
            while True:
                message = await receive()
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    break
            call_id = uuid.uuid4().hex
            await asyncio.to_thread(_store, os.path.join(folder, call_id), chunks)
            status, body = 202, b'{"id":"%s"}' % call_id.encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]})
        await send({"type": "http.response.body", "body": body})
    return app


if __name__ == "__main__":
    port, folder = int(sys.argv[1]), sys.argv[2]
    os.makedirs(folder, exist_ok=True)
    uvicorn.run(make_app(folder), host="127.0.0.1", port=port, log_level="warning")

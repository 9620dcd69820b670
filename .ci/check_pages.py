"""Render service pages in headless Chromium and fail if a page asks anything of another host.

Stdlib only (it runs beside the README's first command, in a venv without the test extras): Chromium is
driven over --remote-debugging-pipe with the DevTools protocol; every request the page makes is recorded
(Network.requestWillBeSent) and any other host than the service's fails the check. Name resolution of
other hosts is switched off too, so a page that needed the internet would also fail to render.

    python .ci/check_pages.py http://127.0.0.1:8000 /docs:.opblock /redoc:.api-content /ui/login:input[name=password]

Each PAGE:SELECTOR renders when SELECTOR matches at least one element within the time allowed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any
from urllib.parse import urlsplit

CHROMIUM = os.environ.get("QA_TEST_CHROMIUM", "/usr/bin/chromium")
# Debian's /usr/bin/chromium is a shell wrapper that loses the pipe; the binary behind it is started directly.
if CHROMIUM == "/usr/bin/chromium" and os.path.exists("/usr/lib/chromium/chromium"):
    CHROMIUM = "/usr/lib/chromium/chromium"


def _as_fds_3_and_4(read_end: int, write_end: int) -> None:
    # Copies first: one end may already be fd 3 or 4, and dup2 onto itself would keep close-on-exec.
    a, b = os.dup(read_end), os.dup(write_end)
    os.dup2(a, 3)
    os.dup2(b, 4)


class Browser:
    def __init__(self) -> None:
        self.profile = tempfile.mkdtemp(prefix="qa-check-")
        r_cmd, w_cmd = os.pipe()  # we write commands -> Chromium reads fd 3
        r_out, w_out = os.pipe()  # Chromium writes fd 4 -> we read
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-default-apps", "--disable-extensions", f"--user-data-dir={self.profile}",
             "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
             "--remote-debugging-pipe", "about:blank"],
            # The pipe ends become the child's fds 3 and 4, where Chromium expects them (close_fds would
            # close them again after preexec_fn).
            close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=lambda: _as_fds_3_and_4(r_cmd, w_out))
        os.close(r_cmd)
        os.close(w_out)
        self.wr, self.rd = os.fdopen(w_cmd, "wb", buffering=0), os.fdopen(r_out, "rb", buffering=0)
        self.buf, self.next_id, self.events = b"", 0, []  # type: ignore[var-annotated]

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self.buf:
            chunk = self.rd.read(65536)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)  # type: ignore[no-any-return]

    def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        msg: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        self.wr.write(json.dumps(msg).encode() + b"\0")
        while True:
            m = self._read()
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})  # type: ignore[no-any-return]
            self.events.append(m)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def check(base: str, page: str, selector: str, timeout: float = 60.0) -> list[str]:
    b = Browser()
    try:
        target = b.send("Target.createTarget", url="about:blank")["targetId"]
        sess = b.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        b.send("Network.enable", sess)
        b.send("Page.enable", sess)
        b.send("Page.navigate", sess, url=base + page)
        found, deadline = 0, time.monotonic() + timeout
        expr = f"document.querySelectorAll({json.dumps(selector)}).length"
        while time.monotonic() < deadline:
            r = b.send("Runtime.evaluate", sess, expression=expr, returnByValue=True)
            found = int(r.get("result", {}).get("value") or 0)
            if found:
                break
            time.sleep(0.5)
        urls = [e["params"]["request"]["url"] for e in b.events
                if e.get("method") == "Network.requestWillBeSent" and e.get("sessionId") == sess]
    finally:
        b.close()
    host = urlsplit(base).netloc
    outside = sorted({u for u in urls if urlsplit(u).scheme in ("http", "https", "ws", "wss")
                      and urlsplit(u).netloc != host})
    problems = [f"{page}: asked another host for {u}" for u in outside]
    if not found:
        problems.append(f"{page}: did not render ({selector!r} not found within {timeout:.0f} s)")
    print(f"{page}: {found} x {selector}, {len(urls)} requests, {len(outside)} to other hosts", file=sys.stderr)
    return problems


def main(argv: list[str]) -> int:
    base, pages = argv[0].rstrip("/"), argv[1:]
    problems: list[str] = []
    for spec in pages:
        page, _, selector = spec.partition(":")
        problems += check(base, page, selector or "body")
    for p in problems:
        print(f"check_pages: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

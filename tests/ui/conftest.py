"""A real server with two calls analysed by the real engine, web UI users, and Debian's Chromium (Playwright)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import ROOT, Server, submit, wait_done

CHROMIUM = os.environ.get("QA_TEST_CHROMIUM", "/usr/bin/chromium")
DAY = "2026-11-20"
PASSWORD = "correct-horse-1"
USERS = {"insp": ("inspector", None), "boss": ("supervisor", None), "alice": ("agent", "A1"), "bob": ("agent", "A2")}


def _chromium_ok() -> bool:
    return Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is not None


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    assert _chromium_ok(), f"{CHROMIUM} not found: apt-get install -y chromium (see README, web UI tests)"
    srv = Server(tmp_path_factory.mktemp("ui"))
    srv.start()
    try:
        admin = srv.cli("keys", "create", "--role", "admin")
        for name, (role, agent) in USERS.items():
            args = ["users", "create", "--username", name, "--role", role] + (["--agent-id", agent] if agent else [])
            subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=ROOT, check=True, timeout=60,
                           env={**srv.env, "QA_USER_PASSWORD": PASSWORD}, capture_output=True)
        ids = {}
        with srv.client(admin) as c:
            client_key = c.post("/v1/keys", json={"role": "client"}).json()["key"]
        with srv.client(client_key) as c:
            for ext, fname, meta in (
                ("rude-1", "en_rude_agent.wav", {"agent_id": "A1", "agent_name": "Alice", "team": "T1",
                                                "language": "en", "started_at": f"{DAY}T09:00:00Z"}),
                ("zh-1", "zh_ulaw_forbidden.ulaw.wav", {"agent_id": "A2", "agent_name": "Bob", "team": "T2",
                                                       "language": "zh", "started_at": f"{DAY}T10:00:00Z"})):
                r = submit(c, fname, {"external_id": ext, **meta})
                assert r.status_code == 202, r.text
                ids[ext] = r.json()["id"]
            for cid in ids.values():
                assert wait_done(c, cid, timeout=300)["status"] == "done"
        yield {"server": srv, "admin": admin, "ids": ids}
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--autoplay-policy=no-user-gesture-required"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Screenshots go to $QA_SCREENSHOTS_DIR (e.g. docs/screenshots) when set, else a temp folder."""
    d = Path(os.environ["QA_SCREENSHOTS_DIR"]) if os.environ.get("QA_SCREENSHOTS_DIR") else \
        tmp_path_factory.mktemp("shots")
    d.mkdir(parents=True, exist_ok=True)
    return d

"""Accounts in a real browser: log-in locked after repeated failures (the right password refused too, a 429 page
in the UI's language saying when to retry), and an agent's queue filters offering only the agent's own ids."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.conftest import ROOT, Server, submit
from tests.ui.conftest import PASSWORD

pytestmark = pytest.mark.timeout(300)
LOCKOUT_S = 3


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """API only: the calls stay queued, which is all the filters need."""
    srv = Server(tmp_path_factory.mktemp("acc-ui"), "", QA_START_WORKERS="false", QA_LOGIN_MAX_FAILURES="3",
                 QA_LOGIN_LOCKOUT_S=str(LOCKOUT_S))
    srv.start(wait_ready=False)
    try:
        for name, role, agent in (("insp", "inspector", None), ("alice", "agent", "A1"), ("bob", "agent", "A2")):
            args = ["users", "create", "--username", name, "--role", role] + (["--agent-id", agent] if agent else [])
            subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=ROOT, check=True, timeout=60,
                           env={**srv.env, "QA_USER_PASSWORD": PASSWORD}, capture_output=True)
        with srv.client(srv.cli("keys", "create", "--role", "client")) as c:
            for agent, team in (("A1", "T1"), ("A2", "T2"), ("A3", "T3")):
                assert submit(c, metadata={"agent_id": agent, "team": team}).status_code == 202
        yield srv
    finally:
        srv.stop()


def _submit_login(page: Any, username: str, password: str) -> int:
    page.fill("#username", username)
    page.fill("#password", password)
    with page.expect_navigation() as nav:
        page.click("#login-submit")
    return int(nav.value.status)


def test_login_locked_after_failures(site: Server, browser: Any) -> None:
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(site.base + "/ui/login")
    assert _submit_login(page, "insp", "wrong-1") == 200  # back on the form, "wrong username or password"
    page.wait_for_selector("#login-error")
    assert _submit_login(page, "insp", "wrong-2") == 200
    assert _submit_login(page, "insp", "wrong-3") == 429  # the third failure locks
    locked = page.locator("#login-locked").inner_text()
    assert "登录失败次数过多" in locked and "UTC" in locked and "秒后" in locked, locked  # Chinese by default
    t0 = time.monotonic()
    assert _submit_login(page, "insp", PASSWORD) == 429  # the right password is refused while locked
    assert page.request.get(site.base + "/ui/queue", max_redirects=0).status == 303  # not logged in
    page.goto(site.base + "/ui/lang/en?next=/ui/login")
    assert _submit_login(page, "insp", PASSWORD) == 429
    locked = page.locator("#login-locked").inner_text()
    assert "Too many failed log-ins" in locked and "try again at" in locked, locked
    time.sleep(max(0.0, LOCKOUT_S + 0.5 - (time.monotonic() - t0)))
    assert _submit_login(page, "insp", PASSWORD) == 200  # after the lockout: logged in, on the queue
    page.wait_for_url("**/ui/queue")
    ctx.close()


def _options(page: Any, name: str) -> list[str]:
    return [o for o in page.locator(f"#filters select[name={name}] option").all_inner_texts()]


def test_agent_filters_show_only_own_ids(site: Server, browser: Any) -> None:
    for user, agents, teams in (("alice", ["A1"], ["T1"]), ("insp", ["A1", "A2", "A3"], ["T1", "T2", "T3"])):
        ctx = browser.new_context()
        page = ctx.new_page()
        page.goto(site.base + "/ui/login")
        _submit_login(page, user, PASSWORD)
        page.wait_for_url("**/ui/queue")
        assert _options(page, "agent")[1:] == agents and _options(page, "team")[1:] == teams, user
        ctx.close()

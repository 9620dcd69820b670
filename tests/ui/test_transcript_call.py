"""The call page of a call submitted as a transcript (no recording), in a real browser: the page says there
is no recording instead of showing a player that cannot play, and the transcript and scorecard are there."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.conftest import ROOT, Server, wait_done
from tests.conftest import call_labels
from tests.ui.conftest import PASSWORD
from tests.ui.test_ui import login

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def transcript_call(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    srv = Server(tmp_path_factory.mktemp("ui-transcript"))
    srv.start()
    try:
        admin = srv.cli("keys", "create", "--role", "admin")
        subprocess.run([sys.executable, "-m", "api.cli", "users", "create", "--username", "insp", "--role",
                        "inspector"], cwd=ROOT, check=True, timeout=60, env={**srv.env, "QA_USER_PASSWORD": PASSWORD},
                       capture_output=True)
        lab = call_labels("zh_fast_talker")
        transcript = {"lang": lab["lang"], "turns": [{k: t[k] for k in ("speaker", "start", "end", "text")}
                                                     for t in lab["turns"]]}
        with srv.client(admin) as c:
            r = c.post("/v1/calls", files={
                "transcript": ("chat.json", json.dumps(transcript, ensure_ascii=False).encode(), "application/json"),
                "metadata": (None, json.dumps({"external_id": "chat-ui", "agent_id": "A9"}))})
            assert r.status_code == 202, r.text
            assert wait_done(c, r.json()["id"], timeout=300)["status"] == "done"
        yield {"server": srv, "id": r.json()["id"]}
    finally:
        srv.stop()


def test_the_call_page_of_a_transcript_shows_no_player(transcript_call: dict[str, Any], browser: Any) -> None:
    srv, cid = transcript_call["server"], transcript_call["id"]
    page = login(browser, srv.base, "insp")
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    failed: list[str] = []
    page.on("requestfailed", lambda req: failed.append(req.url))
    page.on("response", lambda resp: failed.append(f"{resp.status} {resp.url}") if resp.status >= 400 else None)
    page.goto(f"{srv.base}/ui/calls/{cid}")
    assert page.locator("#player").count() == 0
    assert page.locator("#no-recording").inner_text() == "该通话以转写文本提交，没有录音"
    assert "你说得太快了" in page.locator("#transcript").inner_text()
    page.locator("#transcript .turn").first.click()  # seeking where there is no player does nothing, no error
    assert page.locator("#scorecard tbody tr").count() > 5
    assert not errors and not failed, (errors, failed)

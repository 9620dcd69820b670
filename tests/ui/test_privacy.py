"""Customer data in the web UI, in a real browser: the inspector's call page shows the numbers masked and plays
the bleeped recording; the privacy officer may open the clear original, each opening recorded."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.conftest import ROOT, Server, submit, wait_done
from tests.conftest import CALLS, as_digits
from tests.ui.conftest import PASSWORD
from tests.ui.test_ui import login

pytestmark = pytest.mark.timeout(900)
CLEAR_PHONE = re.compile(r"1\D?3\D?8\D?1\D?2\D?3")
# The phone number as masked: seven digits hidden, whatever separators the ASR wrote between its groups
# (13812345678, 138-1234-5678 and 一三八… all read out the same number, on different CPUs).
MASKED_PHONE = re.compile(r"\*{3}\D?\*{4}")


@pytest.fixture(scope="module")
def pii_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    srv = Server(tmp_path_factory.mktemp("ui-privacy"), QA_MAX_UPLOAD_MB="5").start()
    try:
        admin = srv.cli("keys", "create", "--role", "admin")
        for name, role in (("insp", "inspector"), ("po", "privacy_officer")):
            subprocess.run([sys.executable, "-m", "api.cli", "users", "create", "--username", name, "--role", role],
                           cwd=ROOT, check=True, timeout=60, env={**srv.env, "QA_USER_PASSWORD": PASSWORD},
                           capture_output=True)
        audio = CALLS / "zh_pii_numbers.ulaw.wav"
        with srv.client(admin) as c:
            r = submit(c, audio.name, {"external_id": "ui-pii", "language": "zh"}, content=audio.read_bytes())
            assert r.status_code == 202, r.text
            cid = r.json()["id"]
            assert wait_done(c, cid, timeout=600)["status"] == "done"
        yield {"server": srv, "admin": admin, "call": cid}
    finally:
        srv.stop()


def _player_duration(page: Any) -> float:
    page.wait_for_function("document.getElementById('player').readyState >= 1", timeout=30000)
    return float(page.evaluate("document.getElementById('player').duration"))


def test_inspector_sees_numbers_masked_and_hears_them_bleeped(pii_server: dict[str, Any], browser: Any) -> None:
    base, cid = pii_server["server"].base, pii_server["call"]
    page = login(browser, base, "insp")
    page.goto(f"{base}/ui/calls/{cid}")
    transcript = page.locator("#transcript").inner_text()
    assert MASKED_PHONE.search(transcript) and not CLEAR_PHONE.search(as_digits(transcript))
    assert page.locator("#masked-notice").is_visible() and page.locator("#show-clear").count() == 0
    assert page.get_attribute("#player", "src") == f"/ui/calls/{cid}/audio"
    assert abs(_player_duration(page) - 58.2) < 0.5, "the bleeped FLAC plays, whole"
    served = page.request.get(f"{base}/ui/calls/{cid}/audio")
    assert served.headers["content-type"] == "audio/flac"
    assert page.goto(f"{base}/ui/calls/{cid}?clear=true").status == 403
    assert page.request.get(f"{base}/ui/calls/{cid}/audio?clear=true").status == 403


def test_privacy_officer_opens_the_clear_original_and_it_is_logged(pii_server: dict[str, Any],
                                                                     browser: Any) -> None:
    srv, cid = pii_server["server"], pii_server["call"]
    page = login(browser, srv.base, "po")
    page.goto(f"{srv.base}/ui/calls/{cid}")
    assert not CLEAR_PHONE.search(as_digits(page.locator("#transcript").inner_text())), "masked until asked for"
    page.click("#show-clear")
    page.wait_for_selector("#clear-notice")
    assert "clear=true" in page.url and CLEAR_PHONE.search(as_digits(page.locator("#transcript").inner_text()))
    assert page.get_attribute("#player", "src") == f"/ui/calls/{cid}/audio?clear=true"
    assert abs(_player_duration(page) - 58.2) < 0.5
    with srv.client(pii_server["admin"]) as c:
        rows = c.get("/v1/privacy/access-log", params={"call_id": cid}).json()["items"]
    seen = {(r["actor"]["kind"], r["actor"]["name"], r["resource"], r["granted"]) for r in rows}
    assert {("user", "insp", "page", False), ("user", "insp", "audio", False), ("user", "po", "page", True),
            ("user", "po", "audio", True)} <= seen

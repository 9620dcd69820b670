"""The inspector's pages in a real browser (Debian's Chromium) against a real server whose calls were analysed by
the real engine: errors are pages in the UI's language with a next step (the API keeps problem+json); the
Chinese pages show names, never raw ids; the audit trail reads as item, before -> after, comment, who, when;
finalising waits for the manual items; a rescore is a version the inspector adopts, never in another language;
calibration counts a decided needs_review item as an override; the customer's emotion over the call."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from api.ui.i18n import NAMES
from tests.api.conftest import submit, wait_done
from tests.ui.conftest import DAY
from tests.ui.test_review_rules import shown_ids
from tests.ui.test_ui import login

pytestmark = pytest.mark.timeout(900)
state: dict[str, Any] = {}


def api(ui_server: dict[str, Any]) -> Any:
    return ui_server["server"].client(ui_server["admin"])


def zh(key: str) -> str:
    return NAMES[key][0]


def error_of(page: Any) -> tuple[int, str, list[str]]:
    """(status, message, next-step links) of the error page on screen."""
    box = page.locator("#error")
    return (int(box.get_attribute("data-status") or 0), page.locator("#error-message").inner_text(),
            [a.get_attribute("href") or "" for a in page.locator("#next-steps a").all()])


def test_errors_are_pages_in_the_ui_language(ui_server: dict[str, Any], browser: Any, shots: Path) -> None:
    srv, ids = ui_server["server"], ui_server["ids"]
    page = login(browser, srv.base, "insp")
    # 404: no such call -- a page in Chinese (the default), with the way back to the queue.
    r = page.goto(f"{srv.base}/ui/calls/no-such-call")
    assert r.status == 404 and r.headers["content-type"].startswith("text/html")
    status, message, steps = error_of(page)
    assert status == 404 and "找不到该通话" in message and "/ui/queue" in steps
    assert "problem" not in page.content() and "no call with id" not in page.content()
    # 422: a score out of range on the call page -- the range in the message, a link back to the call.
    cid = ids["zh-1"]
    page.goto(f"{srv.base}/ui/calls/{cid}")
    item = page.locator("#scorecard tbody tr[data-item]").first
    item_id = item.get_attribute("data-item")
    card = api_get(ui_server, f"/v1/calls/{cid}/scorecard")
    mx = next(i["max"] for i in card["items"] if i["id"] == item_id)
    item.locator("select[name=status]").select_option("pass")
    item.locator("input[name=score]").fill(str(mx + 90))
    with page.expect_navigation():
        item.locator("button[type=submit]").click()
    status, message, steps = error_of(page)
    assert status == 422 and f"分数须在 0 到 {mx:g} 之间" in message, message
    assert steps[0] == f"/ui/calls/{cid}"
    page.screenshot(path=str(shots / "error.png"), full_page=True)
    page.click("#next-steps a[data-step=back_to_call]")
    page.wait_for_url(f"**/ui/calls/{cid}")
    assert api_get(ui_server, f"/v1/calls/{cid}/scorecard")["total"] == card["total"]  # nothing changed
    # 403: a form without the session's CSRF token.
    forged = page.request.post(f"{srv.base}/ui/calls/{cid}/finalize", form={"csrf": "forged"})
    assert forged.status == 403 and "表单已过期" in forged.text()
    # The same in English once the inspector switches.
    page.click("#lang-en")
    page.goto(f"{srv.base}/ui/calls/no-such-call")
    assert "There is no such call" in error_of(page)[1]
    page.click("#lang-zh")
    page.context.close()

    # 403: an agent opening another agent's call.
    page = login(browser, srv.base, "alice")
    r = page.goto(f"{srv.base}/ui/calls/{cid}")
    status, message, _ = error_of(page)
    assert r.status == 403 and status == 403 and "座席只能查看自己的通话" in message
    page.context.close()

    # 409: a call still being analysed -- a page that says so and a reload that shows the call once done.
    with api(ui_server) as c:
        client_key = c.post("/v1/keys", json={"role": "client"}).json()["key"]
    with srv.client(client_key) as c:
        new = submit(c, "en_rude_agent.wav", {"external_id": "late", "agent_id": "A1", "language": "en",
                                               "started_at": "2026-11-19T09:00:00Z"}).json()["id"]
        page = login(browser, srv.base, "insp")
        r = page.goto(f"{srv.base}/ui/calls/{new}")
        status, message, steps = error_of(page)
        assert r.status == 409 and status == 409 and "请稍后刷新" in message, message
        assert steps[0] == f"/ui/calls/{new}"
        assert wait_done(c, new, timeout=300)["status"] == "done"
    page.click("#next-steps a[data-step=reload]")
    page.wait_for_selector("#scorecard")
    page.context.close()

    # The JSON API keeps problem+json, in English.
    with api(ui_server) as c:
        r = c.get("/v1/calls/no-such-call")
        assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == "call_not_found"


def api_get(ui_server: dict[str, Any], path: str) -> Any:
    with api(ui_server) as c:
        r = c.get(path)
        assert r.status_code == 200, r.text
        return r.json()


def raw_ids_on(page: Any) -> set[str]:
    """The ids among the words a person reads on the page, quotes (what was said, comments, reasons) left out."""
    text = page.evaluate("""() => { const b = document.body.cloneNode(true);
        b.querySelectorAll('.q, script, audio').forEach(e => e.remove()); return b.innerText; }""")
    return set(re.findall(r"[A-Za-z0-9_-]+", text)) & shown_ids()  # "rude-1" is an external id, not "rude"


def test_chinese_pages_show_names_not_ids(ui_server: dict[str, Any], browser: Any) -> None:
    srv, ids = ui_server["server"], ui_server["ids"]
    page = login(browser, srv.base, "insp")
    for path in ["/ui/queue?scope=all", *(f"/ui/calls/{cid}" for cid in ids.values()), "/ui/appeals",
                 f"/ui/reports/daily?day={DAY}"]:
        page.goto(srv.base + path)
        assert not raw_ids_on(page), (path, raw_ids_on(page))
    # The ids are there to be found, under their names.
    page.goto(f"{srv.base}/ui/queue?scope=all")
    flags = page.locator("#queue .tag[data-id]").all()
    assert flags and all(f.inner_text() == zh(f.get_attribute("data-id")) for f in flags)
    page.context.close()


def test_audit_trail_reads_as_a_change(ui_server: dict[str, Any], browser: Any) -> None:
    srv, cid = ui_server["server"], ui_server["ids"]["zh-1"]
    card = api_get(ui_server, f"/v1/calls/{cid}/scorecard")
    item = next(i for i in card["items"] if i["status"] in ("fail", "needs_review"))
    page = login(browser, srv.base, "insp")
    page.goto(f"{srv.base}/ui/calls/{cid}")
    form = page.locator(f"#item-{item['id']} form.override")
    form.locator("select[name=status]").select_option("pass")
    form.locator("input[name=score]").fill("")  # a pass scores the item's full points
    form.locator("input[name=comment]").fill("客户情绪稳定，已核实录音")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    row = page.locator("#audit tbody tr").first
    text = row.inner_text()
    assert row.get_attribute("data-action") == "override"
    assert item["name"] in text and "insp" in text and "客户情绪稳定，已核实录音" in text
    assert f"{zh('status')}: {zh(item['status'])} → {zh('pass')}" in text
    assert f"{zh('score')}: {item['score']:g} → {item['max']:g}" in text
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", text)
    assert "\\u" not in page.locator("#audit").inner_text() and "{" not in page.locator("#audit").inner_text()
    page.context.close()


def test_finalise_names_the_unscored_manual_items(ui_server: dict[str, Any], browser: Any) -> None:
    srv, cid = ui_server["server"], ui_server["ids"]["zh-1"]
    manual = [i for i in api_get(ui_server, f"/v1/calls/{cid}/scorecard")["items"] if i["status"] == "manual"]
    assert manual
    page = login(browser, srv.base, "insp")
    page.goto(f"{srv.base}/ui/calls/{cid}")
    # A script that asks the same form for JSON gets the problem, the items named.
    csrf = page.locator("#finalize-form input[name=csrf]").get_attribute("value") or ""
    r = page.request.post(f"{srv.base}/ui/calls/{cid}/finalize", form={"csrf": csrf},
                          headers={"Accept": "application/problem+json"})
    assert r.status == 409 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "manual_unscored" and r.json()["items"] == [i["id"] for i in manual]
    with page.expect_navigation():
        page.click("#finalize")
    status, message, _ = error_of(page)
    assert status == 409 and all(i["name"] in message for i in manual), message
    page.click("#next-steps a[data-step=back_to_call]")
    for i in manual:
        form = page.locator(f"#item-{i['id']} form.override")
        form.locator("select[name=status]").select_option("pass")
        form.locator("button[type=submit]").click()
        page.wait_for_load_state()
    page.click("#finalize")
    page.wait_for_selector("#finalized")
    page.context.close()


def test_rescore_is_a_version_the_inspector_adopts(ui_server: dict[str, Any], browser: Any, shots: Path) -> None:
    srv, cid = ui_server["server"], ui_server["ids"]["zh-1"]
    official = api_get(ui_server, f"/v1/calls/{cid}")
    # The English rubric on a Mandarin call: refused by the API and by the page, nothing replaced.
    with api(ui_server) as c:
        r = c.post(f"/v1/calls/{cid}/rescore", json={"rubric": "en_callcenter"})
        assert r.status_code == 422 and r.json()["code"] == "rubric_language", r.text
        doc = c.get("/v1/rubrics/zh_callcenter").json()["document"]
        strict = copy.deepcopy(doc)
        strict["version"] = "strict-ui"  # the centre's new policy: no item fails a call on its own; greeting weighs 20
        for it in strict["items"]:
            it["fatal"] = False
        next(i for i in strict["items"] if i["id"] == "greeting")["points"] = 20
        assert c.post("/v1/rubrics", json=strict).status_code == 201
    page = login(browser, srv.base, "insp")
    page.goto(f"{srv.base}/ui/calls/{cid}")
    csrf = page.locator("#rescore-form input[name=csrf]").get_attribute("value")
    refused = page.request.post(f"{srv.base}/ui/calls/{cid}/rescore", form={"csrf": csrf, "rubric": "en_callcenter"})
    assert refused.status == 422 and "不能用英文评分标准重新评分" in refused.text(), refused.text()
    assert api_get(ui_server, f"/v1/calls/{cid}")["score"] == official["score"]
    options = page.locator("#rescore-form select[name=rubric] option").all()
    assert all(o.get_attribute("value").startswith("zh_") for o in options)  # only rubrics in the call's language
    # Same language: a version beside the official result, which stays until the inspector adopts.
    page.select_option("#rescore-form select[name=rubric]", "zh_callcenter@strict-ui")
    page.click("#rescore")
    page.wait_for_selector(".version[data-rescore]")
    versions = api_get(ui_server, f"/v1/calls/{cid}/rescores")
    assert [v["status"] for v in versions] == ["proposed"]
    proposed = versions[0]["score"]
    assert proposed != official["score"]
    assert float(page.locator("#machine-score").inner_text()) == pytest.approx(official["score"], abs=0.05)
    assert float(page.locator(".version .proposed-total b").inner_text()) == pytest.approx(proposed, abs=0.05)
    assert page.locator(".version tr[data-item=greeting] td").nth(2).inner_text().endswith("/ 20")
    assert api_get(ui_server, f"/v1/calls/{cid}")["score"] == official["score"]
    page.locator(".version").screenshot(path=str(shots / "rescore.png"))
    page.click(".version .adopt-button")
    page.wait_for_selector("#rescore-history li[data-status=adopted]")
    assert float(page.locator("#machine-score").inner_text()) == pytest.approx(proposed, abs=0.05)
    now = api_get(ui_server, f"/v1/calls/{cid}")
    assert now["score"] == pytest.approx(proposed) and now["rubric_version"] == "strict-ui"
    adopt_row = page.locator("#audit tbody tr[data-action=adopt_rescore]")
    assert adopt_row.count() == 1 and f"{official['score']:g} → {proposed:g}" in adopt_row.inner_text()
    page.context.close()


def test_calibration_counts_a_decided_needs_review_item(ui_server: dict[str, Any], browser: Any) -> None:
    """A centre's rubric that sends every doubtful failure to a person (review below confidence 1.0): the
    inspector decides one needs_review item as a fail; the report counts an override, not an agreement."""
    srv, cid = ui_server["server"], ui_server["ids"]["rude-1"]
    with api(ui_server) as c:
        doc = c.get("/v1/rubrics/en_callcenter").json()["document"]
        doubtful = {**copy.deepcopy(doc), "version": "review-all", "review_below_confidence": 1.0}
        assert c.post("/v1/rubrics", json=doubtful).status_code == 201
        version = c.post(f"/v1/calls/{cid}/rescore", json={"rubric": "en_callcenter@review-all"}).json()
        assert c.post(version["adopt"]).status_code == 200
    card = api_get(ui_server, f"/v1/calls/{cid}/scorecard")
    unsure = [i for i in card["items"] if i["status"] == "needs_review"]
    assert unsure, [(i["id"], i["status"]) for i in card["items"]]
    item = unsure[0]
    page = login(browser, srv.base, "insp")
    page.goto(f"{srv.base}/ui/calls/{cid}")
    for it, status in [(item, "fail"), *((i, "pass") for i in card["items"] if i["status"] == "manual")]:
        form = page.locator(f"#item-{it['id']} form.override")
        form.locator("select[name=status]").select_option(status)
        form.locator("input[name=score]").fill("")
        form.locator("button[type=submit]").click()
        page.wait_for_load_state()
    page.click("#finalize")
    page.wait_for_selector("#finalized")
    page.goto(f"{srv.base}/ui/reports/daily?day={DAY}")
    row = page.locator(f"#calibration tr[data-item={item['id']}]")
    reviewed = int(row.locator(".c-reviewed").inner_text())  # the other finalised call may have the item too
    assert row.locator(".c-overridden").inner_text() == "1"
    assert row.locator(".c-agreement").inner_text() == f"{(reviewed - 1) / reviewed * 100:.0f}%"
    page.context.close()


def test_call_page_shows_the_customer_emotion_over_the_call(ui_server: dict[str, Any], browser: Any,
                                                           shots: Path) -> None:
    srv, ids = ui_server["server"], ui_server["ids"]
    page = login(browser, srv.base, "insp")
    for cid in ids.values():
        emotion = api_get(ui_server, f"/v1/calls/{cid}/analysis")["call"]["semantic"]["emotion"]
        for lang, i in (("zh", 0), ("en", 1)):
            page.goto(f"{srv.base}/ui/lang/{lang}?next=/ui/calls/{cid}")
            start, end = page.locator("#emotion-start"), page.locator("#emotion-end")
            assert start.get_attribute("data-id") == emotion["start"]
            assert NAMES[emotion["start"]][i] in start.inner_text()
            assert end.get_attribute("data-id") == emotion["end"] and NAMES[emotion["end"]][i] in end.inner_text()
            segments = page.locator("#emotion-track rect.emo-seg")
            assert [s.get_attribute("data-label") for s in segments.all()] == [p["label"] for p in emotion["track"]]
            xs = [float(s.get_attribute("x") or 0) for s in segments.all()]
            assert xs == sorted(xs) and all(0 <= x < 100 for x in xs)
        felt = [p for p in emotion["track"] if p["label"] != "neutral"]
        if felt:  # a segment seeks the player to where the customer said it
            page.wait_for_function("document.getElementById('player').readyState >= 1", timeout=20000)
            page.locator(f"#emotion-track rect.emo-seg[data-label={felt[0]['label']}]").first.click()
            page.wait_for_function(f"Math.abs(document.getElementById('player').currentTime - {felt[0]['start']})"
                                   " < 1.0", timeout=10000)
            page.evaluate("document.getElementById('player').pause()")
    page.goto(f"{srv.base}/ui/lang/zh?next=/ui/calls/{ids['rude-1']}")
    page.locator("#emotion").screenshot(path=str(shots / "emotion.png"))
    page.context.close()

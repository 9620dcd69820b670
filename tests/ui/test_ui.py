"""The web UI in a real browser (Debian's Chromium via Playwright) against a real server whose calls were
analysed by the real engine: the queue, the call page (player, findings, overrides, audit), appeals, the
daily report and its CSV / XLSX / JSON against a direct count from the database, and agent isolation."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import ROOT
from tests.ui.conftest import DAY, PASSWORD

pytestmark = pytest.mark.timeout(600)
state: dict[str, Any] = {}


def login(browser: Any, base: str, username: str) -> Any:
    ctx = browser.new_context(viewport={"width": 1360, "height": 900})
    page = ctx.new_page()
    page.goto(base + "/ui/queue")
    assert "/ui/login" in page.url  # not logged in: sent to the login form
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url("**/ui/queue")
    return page


def expected_total(card: dict[str, Any], overrides: dict[str, tuple[str, float]]) -> float:
    """The reviewed total by the rubric's rule, computed here independently of the service."""
    items = []
    for it in card["items"]:
        st, sc = overrides.get(it["id"], (it["status"], it["score"]))
        items.append({**it, "status": st, "score": sc})
    if any(i["fatal"] and i["status"] in ("fail", "needs_review") for i in items):
        return 0.0
    return float(sum(i["score"] for i in items if i["score"] is not None and i["status"] != "manual"))


def text_num(page: Any, selector: str) -> float:
    return float(page.locator(selector).inner_text().strip())


def test_wrong_password_is_refused(ui_server: dict[str, Any], browser: Any) -> None:
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(ui_server["server"].base + "/ui/login")
    page.fill("#username", "insp")
    page.fill("#password", "not-the-password")
    page.click("#login-submit")
    page.wait_for_selector("#login-error")
    assert page.request.get(ui_server["server"].base + "/ui/queue", max_redirects=0).status == 303
    ctx.close()


def test_inspector_reviews_the_worst_call(ui_server: dict[str, Any], browser: Any, shots: Path) -> None:
    srv, ids = ui_server["server"], ui_server["ids"]
    with srv.client(ui_server["admin"]) as c:
        calls = {cid: c.get(f"/v1/calls/{cid}").json() for cid in ids.values()}
        cards = {cid: c.get(f"/v1/calls/{cid}/scorecard").json() for cid in ids.values()}
        events = {cid: c.get(f"/v1/calls/{cid}/events").json()["events"] for cid in ids.values()}
    worst = sorted(calls.values(), key=lambda d: ("escalation" not in d["flags"], d["score"], d["id"]))[0]["id"]
    state.update(cards=cards, worst=worst)

    page = login(browser, srv.base, "insp")
    assert page.locator("#nav-queue").inner_text() == "质检队列"  # Chinese by default
    page.click("#lang-en")
    assert page.locator("#nav-queue").inner_text() == "Review queue"
    page.click("#lang-zh")
    page.goto(srv.base + "/ui/queue?scope=all")
    rows = page.locator("#queue tbody tr[data-call]")
    assert rows.count() == 2
    assert rows.first.get_attribute("data-call") == worst  # escalations first, then worst score first
    page.screenshot(path=str(shots / "queue.png"), full_page=True)

    rows.first.locator("a.call-link").click()
    page.wait_for_url(f"**/ui/calls/{worst}")
    page.wait_for_function("document.getElementById('player').readyState >= 1", timeout=20000)
    # Every finding with a time is listed; clicking one puts the player there.
    findings = page.locator("#findings button.finding")
    assert findings.count() == sum(1 for e in events[worst] if e.get("start") is not None) > 0
    target = findings.nth(findings.count() - 1)
    start = float(target.get_attribute("data-start") or "0")
    target.click()
    page.wait_for_function(f"Math.abs(document.getElementById('player').currentTime - {start}) < 1.0",
                           timeout=10000)
    now = page.evaluate("document.getElementById('player').currentTime")
    assert start - 0.05 <= now < start + 1.0
    # Clicking a turn seeks too, and the current turn is highlighted.
    turn = page.locator("#transcript li.turn").first
    tstart = float(turn.get_attribute("data-start") or "0")
    turn.click()
    page.wait_for_function(f"Math.abs(document.getElementById('player').currentTime - {tstart}) < 1.0")
    page.wait_for_selector("#transcript li.turn.current", timeout=10000)
    page.evaluate("document.getElementById('player').pause()")

    # Override a failed item (the fatal one if there is one): the score and the audit trail change.
    card = cards[worst]
    failed = [i for i in card["items"] if i["status"] == "fail"]
    assert failed, card
    item = next((i for i in failed if i["fatal"]), failed[0])
    before = text_num(page, "#final-score")
    assert before == pytest.approx(card["total"], abs=0.05)
    assert page.locator("#audit tbody tr").count() == 0
    form = page.locator(f"#item-{item['id']} form.override")
    form.locator("select[name=status]").select_option("pass")
    form.locator("input[name=score]").fill("")
    form.locator("input[name=comment]").fill("agent was fine here")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    overrides = {item["id"]: ("pass", float(item["max"]))}
    want = expected_total(card, overrides)
    assert text_num(page, "#final-score") == pytest.approx(want, abs=0.05)
    audit = page.locator("#audit tbody tr")
    assert audit.count() == 1
    row = audit.first.inner_text()
    assert "insp" in row and "override" in row and item["id"] in row
    # A form post without the session's CSRF token is refused and changes nothing.
    assert page.request.post(f"{srv.base}/ui/calls/{worst}/finalize", form={"csrf": "forged"}).status == 403
    page.click("#finalize")
    page.wait_for_selector("#finalized")
    assert page.locator("#audit tbody tr").count() == 2
    page.screenshot(path=str(shots / "call.png"), full_page=True)
    state.update(item=item, overrides=overrides)
    page.context.close()


def test_agent_appeals_and_supervisor_accepts(ui_server: dict[str, Any], browser: Any) -> None:
    srv, ids = ui_server["server"], ui_server["ids"]
    worst = state["worst"]
    owner = "alice" if worst == ids["rude-1"] else "bob"
    other = ids["zh-1"] if worst == ids["rude-1"] else ids["rude-1"]
    card = state["cards"][worst]
    # Appeal an item still short of full marks after the override (else any item).
    left = [i for i in card["items"] if i["id"] not in state["overrides"] and i["status"] in ("fail", "needs_review")]
    item = left[0] if left else next(i for i in card["items"] if i["status"] != "manual")

    page = login(browser, srv.base, owner)
    # An agent cannot open another agent's call, nor its recording.
    assert page.request.get(f"{srv.base}/ui/calls/{other}").status == 403
    assert page.request.get(f"{srv.base}/ui/calls/{other}/audio").status == 403
    assert page.locator("#queue tbody tr[data-call]").count() <= 1
    mine = page.request.get(f"{srv.base}/ui/reports/daily?day={DAY}&format=json").json()
    assert mine["total"]["calls_analysed"] == 1 and {g["name"] for g in mine["groups"]} == {
        "A1" if owner == "alice" else "A2", "T1" if owner == "alice" else "T2"}  # an agent's own figures only
    page.goto(f"{srv.base}/ui/calls/{worst}")
    page.select_option("#appeal-form select[name=item_id]", item["id"])
    page.fill("#appeal-form input[name=reason]", "the customer asked me to repeat that")
    page.click("#appeal-form button[type=submit]")
    page.wait_for_selector("li.appeal-open")
    assert page.locator(f"#item-{state['item']['id']} form.override").count() == 0  # agents do not override
    page.context.close()

    page = login(browser, srv.base, "boss")
    page.goto(f"{srv.base}/ui/calls/{worst}")
    before = text_num(page, "#final-score")
    form = page.locator("li.appeal-open form.decide")
    form.locator("select[name=status]").select_option("pass")
    form.locator("input[name=reply]").fill("accepted after listening")
    form.locator("button.accept").click()
    page.wait_for_selector("li.appeal-accepted")
    overrides = {**state["overrides"], item["id"]: ("pass", float(item["max"]))}
    want = expected_total(card, overrides)
    assert text_num(page, "#final-score") == pytest.approx(want, abs=0.05)
    assert want >= before
    audit = page.locator("#audit tbody tr").first.inner_text()
    assert "boss" in audit and "appeal_accepted" in audit and item["id"] in audit
    state["overrides"] = overrides
    page.context.close()


def db_figures(db: Path) -> dict[str, Any]:
    """The day's figures counted straight from the database."""
    con = sqlite3.connect(db)
    rows = con.execute(
        "SELECT c.id, c.agent_id, c.score, c.passed, c.fatal, r.score, r.passed, r.fatal, r.finalized "
        "FROM calls c LEFT JOIN reviews r ON r.call_id = c.id "
        "WHERE c.status = 'done' AND c.call_date >= ? AND c.call_date < ?",
        (f"{DAY} 00:00:00", f"{DAY} 23:59:59.999999")).fetchall()
    con.close()
    final = [(r[5] if r[5] is not None else r[2]) for r in rows]
    passed = [(r[6] if r[5] is not None else r[3]) for r in rows]
    fatal = [(r[7] if r[5] is not None else r[4]) for r in rows]
    return {"calls_analysed": len(rows), "reviewed": sum(1 for r in rows if r[8]),
            "avg_score": round(statistics.fmean(final), 2), "pass_rate": round(sum(map(bool, passed)) / len(rows), 4),
            "fatal": sum(map(bool, fatal))}


def test_daily_report_matches_the_database(ui_server: dict[str, Any], browser: Any, shots: Path) -> None:
    srv = ui_server["server"]
    want = db_figures(srv.data_dir / "qa.sqlite3")
    assert want["calls_analysed"] == 2 and want["reviewed"] == 1

    page = login(browser, srv.base, "boss")
    page.goto(f"{srv.base}/ui/reports/daily?day={DAY}")
    total = page.locator("#report-total tbody tr").first
    assert int(total.locator(".c-calls").inner_text()) == want["calls_analysed"]
    assert int(total.locator(".c-reviewed").inner_text()) == want["reviewed"]
    assert float(total.locator(".c-avg").inner_text()) == pytest.approx(want["avg_score"])
    assert int(total.locator(".c-fatal").inner_text()) == want["fatal"]
    assert page.locator("#report-agents tbody tr").count() == 2
    assert page.locator("#report-teams tbody tr").count() == 2
    assert page.locator("#worst li a").count() == 2
    page.screenshot(path=str(shots / "report.png"), full_page=True)

    r = page.request.get(f"{srv.base}/ui/reports/daily?day={DAY}&format=csv")
    assert r.status == 200
    rows = list(csv.DictReader(io.StringIO(r.text())))
    all_row = next(x for x in rows if x["group"] == "all")
    from openpyxl import load_workbook

    x = page.request.get(f"{srv.base}/ui/reports/daily?day={DAY}&format=xlsx")
    assert x.status == 200
    ws = load_workbook(io.BytesIO(x.body())).worksheets[0]
    values = list(ws.iter_rows(values_only=True))
    head = list(values[0])
    xall = dict(zip(head, next(v for v in values[1:] if v[0] == "all"), strict=True))
    for k in ("calls_analysed", "reviewed", "fatal"):
        assert int(all_row[k]) == want[k] == int(xall[k])
    for k in ("avg_score", "pass_rate"):
        assert float(all_row[k]) == pytest.approx(want[k]) == float(xall[k])
    page.context.close()

    # The JSON API (API key) and the CLI give the same figures.
    with srv.client(ui_server["admin"]) as c:
        api = c.get("/v1/reports/daily", params={"day": DAY}).json()["total"]
    out = subprocess.run([sys.executable, "-m", "api.cli", "report", "--day", DAY], cwd=ROOT, env=srv.env,
                         capture_output=True, text=True, timeout=60, check=True)
    cli = json.loads(out.stdout)["total"]
    for k in ("calls_analysed", "reviewed", "fatal", "avg_score", "pass_rate"):
        assert api[k] == cli[k] == pytest.approx(want[k])

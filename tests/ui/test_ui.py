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
    row = audit.first
    assert "insp" in row.inner_text() and row.get_attribute("data-action") == "override"
    assert row.locator(f"td[data-id={item['id']}]").inner_text() == item["name"]
    # A form post without the session's CSRF token is refused and changes nothing.
    assert page.request.post(f"{srv.base}/ui/calls/{worst}/finalize", form={"csrf": "forged"}).status == 403
    # The items only a person can score are scored before the review is final.
    manual = [i for i in card["items"] if i["status"] == "manual"]
    for it in manual:
        form = page.locator(f"#item-{it['id']} form.override")
        form.locator("select[name=status]").select_option("pass")
        form.locator("button[type=submit]").click()
        page.wait_for_load_state()
        overrides[it["id"]] = ("pass", float(it["max"]))
    page.click("#finalize")
    page.wait_for_selector("#finalized")
    assert page.locator("#audit tbody tr").count() == 2 + len(manual)
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
    audit = page.locator("#audit tbody tr").first
    assert "boss" in audit.inner_text() and audit.get_attribute("data-action") == "appeal_accepted"
    assert audit.locator(f"td[data-id={item['id']}]").count() == 1
    state["overrides"] = overrides
    page.context.close()


def day_rows(db: Path, select_from: str) -> list[Any]:
    """`select_from` (calls aliased c) over the calls analysed on DAY, straight from the SQLite file."""
    con = sqlite3.connect(db)
    rows = con.execute(f"{select_from} WHERE c.status = 'done' AND c.call_date >= ? AND c.call_date < ?",
                       (f"{DAY} 00:00:00", f"{DAY} 23:59:59.999999")).fetchall()
    con.close()
    return rows


def db_figures(db: Path) -> dict[str, Any]:
    """The day's figures counted straight from the database."""
    rows = day_rows(db, "SELECT c.id, c.agent_id, c.score, c.passed, c.fatal, r.score, r.passed, r.fatal, r.finalized "
                        "FROM calls c LEFT JOIN reviews r ON r.call_id = c.id")
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


def effective_db_figures(db: Path) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, int]]]:
    """The day's figures per agent and in all ("all") counted straight from the database with the inspector's
    overrides applied here (each item's status and score, then total, pass and fatal by the rubric's rule),
    independently of the service; and the machine's own failed-item counts, for contrast."""
    rows = day_rows(db, "SELECT c.agent_id, res.scorecard, r.items, r.score, r.finalized FROM calls c "
                        "JOIN results res ON res.call_id = c.id LEFT JOIN reviews r ON r.call_id = c.id")
    calls: dict[str, list[dict[str, Any]]] = {}
    machine: dict[str, dict[str, int]] = {}
    for agent, card_json, items_json, stored_score, finalized in rows:
        card, over = json.loads(card_json), json.loads(items_json or "{}")
        overrides = {k: (v["status"], v["score"]) for k, v in over.items()}
        items = [{**it, "status": overrides.get(it["id"], (it["status"],))[0]} for it in card["items"]]
        confirmed = stored_score is not None  # an inspector overrode an item or finalised the review
        total, passed, fatal = float(card["total"]), bool(card["passed"]), bool(card["fatal"])
        if confirmed:
            total = expected_total(card, overrides)
            assert stored_score == pytest.approx(total, abs=0.05)  # the review as stored agrees
            fatal = any(i["fatal"] and i["status"] in ("fail", "needs_review") for i in items)
            scored_max = sum(i["max"] for i in items if i["status"] != "manual"
                             and overrides.get(i["id"], (None, i["score"]))[1] is not None)
            passed = (not fatal) and total >= card["pass_score"] * scored_max / card["max"]
        failed = [i["id"] for i in items if i["status"] == "fail"]
        for key in (agent, "all"):
            calls.setdefault(key, []).append({"score": total, "passed": passed, "fatal": fatal, "failed": failed,
                                              "confirmed": confirmed, "reviewed": bool(finalized)})
            m = machine.setdefault(key, {})
            for it in card["items"]:
                if it["status"] == "fail":
                    m[it["id"]] = m.get(it["id"], 0) + 1
    out: dict[str, dict[str, Any]] = {}
    for key, cs in calls.items():
        violations: dict[str, int] = {}
        for c in cs:
            for i in c["failed"]:
                violations[i] = violations.get(i, 0) + 1
        out[key] = {"calls_analysed": len(cs), "reviewed": sum(c["reviewed"] for c in cs),
                    "confirmed": sum(c["confirmed"] for c in cs),
                    "avg_score": round(statistics.fmean(c["score"] for c in cs), 2),
                    "pass_rate": round(sum(c["passed"] for c in cs) / len(cs), 4),
                    "fatal": sum(c["fatal"] for c in cs), "violations": dict(sorted(violations.items()))}
    return out, machine


def test_report_counts_the_inspectors_result(ui_server: dict[str, Any], browser: Any) -> None:
    """After the overrides above (a failed item of the worst call set to pass, finalised) and one more on the
    other call (an item's score changed, not finalised), every report format counts the inspector's result:
    failed items, score, pass, fatal, per agent and in all."""
    srv, ids = ui_server["server"], ui_server["ids"]
    worst = state["worst"]
    other = ids["zh-1"] if worst == ids["rude-1"] else ids["rude-1"]
    card = state["cards"][other]
    item = next((i for i in card["items"] if i["status"] == "fail"),
                next(i for i in card["items"] if i["status"] == "pass" and i["max"] > 0))
    status, score = ("pass", float(item["max"]) / 2) if item["status"] == "fail" else ("fail", 0.0)
    page = login(browser, srv.base, "insp")
    page.goto(f"{srv.base}/ui/calls/{other}")
    csrf = page.locator(f"#item-{item['id']} form.override input[name=csrf]").get_attribute("value")
    r = page.request.post(f"{srv.base}/ui/calls/{other}/items/{item['id']}", max_redirects=0,
                          form={"status": status, "score": str(score), "comment": "heard it", "csrf": csrf or ""})
    assert r.status == 303, r.text()

    want, machine = effective_db_figures(srv.data_dir / "qa.sqlite3")
    assert want["all"]["confirmed"] == 2 and want["all"]["reviewed"] == 1
    assert want["all"]["violations"] != machine["all"]  # the overrides change what failed
    iid = state["item"]["id"]  # failed by the machine, set to pass by the inspector
    assert want["all"]["violations"].get(iid, 0) < machine["all"][iid]
    keys = ("calls_analysed", "reviewed", "confirmed", "avg_score", "pass_rate", "fatal", "violations")

    def check(got: dict[str, Any], exp: dict[str, Any]) -> None:
        for k in keys:
            assert got[k] == (pytest.approx(exp[k]) if k in ("avg_score", "pass_rate") else exp[k]), k

    def parse_violations(cell: str) -> dict[str, int]:
        return {k: int(n) for k, n in (p.split("=") for p in cell.split("; ") if p)}

    def flat(row: dict[str, Any]) -> dict[str, Any]:
        return {k: (parse_violations(str(row[k] or "")) if k == "violations" else
                    float(row[k]) if k in ("avg_score", "pass_rate") else int(row[k])) for k in keys}

    with srv.client(ui_server["admin"]) as c:
        report = c.get("/v1/reports/daily", params={"day": DAY}).json()
        csv_text = c.get("/v1/reports/daily", params={"day": DAY, "format": "csv"}).text
        xlsx = c.get("/v1/reports/daily", params={"day": DAY, "format": "xlsx"}).content
    check(report["total"], want["all"])
    for g in report["groups"]:
        if g["group"] == "agent":
            check(g, want[g["name"]])
    assert {w["id"]: w["score"] for w in report["worst_calls"]}[other] == pytest.approx(
        expected_total(card, {item["id"]: (status, score)}))

    csv_rows = {(x["group"], x["name"]): flat(x) for x in csv.DictReader(io.StringIO(csv_text))}
    from openpyxl import load_workbook

    values = list(load_workbook(io.BytesIO(xlsx)).worksheets[0].iter_rows(values_only=True))
    xrows = {(v[0], v[1]): flat(dict(zip(values[0], v, strict=True))) for v in values[1:]}
    for key, exp in want.items():
        group = ("all", "all") if key == "all" else ("agent", key)
        check(csv_rows[group], exp)
        check(xrows[group], exp)

    page.goto(f"{srv.base}/ui/reports/daily?day={DAY}")
    total = page.locator("#report-total tbody tr").first
    assert int(total.locator(".c-confirmed").inner_text()) == want["all"]["confirmed"]
    tags = total.locator(".c-violations .tag")
    assert {tags.nth(i).get_attribute("data-item"): int(tags.nth(i).inner_text().split()[-1])
            for i in range(tags.count())} == want["all"]["violations"]
    page.context.close()

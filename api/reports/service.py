"""The daily (weekly, monthly) scorecard report per agent and per team, with calibration: web page, CSV, XLSX,
JSON, `qa-engine report` and the scheduled report (api.reports.scheduler)."""

from __future__ import annotations

import csv
import io
import re
import statistics
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.calls.models import Call, Result
from api.database.core import utc_bounds
from api.problems import Problem
from api.review.models import Review
from api.review.service import effective_result
from qa_engine.types import UNSCORED_STATUSES

# A client's text (agent and team ids) goes into the CSV and XLSX: control characters are left out (an XLSX cell
# cannot hold them) and text a spreadsheet would run as a formula gets a leading apostrophe (OWASP, CSV injection).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

COLUMNS = ["group", "name", "calls_analysed", "reviewed", "confirmed", "avg_score", "median_score", "pass_rate",
           "fatal", "violations"]


def _stats(rows: list[dict[str, Any]]) -> dict[str, Any]:
    scores = [r["score"] for r in rows if r["score"] is not None]
    violations: Counter[str] = Counter()
    for r in rows:
        violations.update(r["violations"])
    return {"calls_analysed": len(rows), "reviewed": sum(1 for r in rows if r["reviewed"]),
            "confirmed": sum(1 for r in rows if r["confirmed"]),
            "avg_score": round(statistics.fmean(scores), 2) if scores else None,
            "median_score": round(statistics.median(scores), 2) if scores else None,
            "pass_rate": round(sum(1 for r in rows if r["passed"]) / len(rows), 4) if rows else None,
            "fatal": sum(1 for r in rows if r["fatal"]),
            "violations": dict(sorted(violations.items()))}


def parse_day(day: str | None) -> date:
    """A report day from YYYY-MM-DD (default: today, UTC), with a reason a user can act on when it is not one."""
    if not day:
        return datetime.now(UTC).date()
    try:
        d = date.fromisoformat(day)
    except ValueError as exc:
        raise Problem(422, "day must be YYYY-MM-DD", code="invalid_day") from exc
    if not 1900 <= d.year <= 9998:
        raise Problem(422, "day must be between 1900 and 9998", code="invalid_day")
    return d


def period_bounds(day: date, period: str) -> tuple[date, date]:
    """[start, end) of the day, ISO week (Monday first) or calendar month holding `day`."""
    if period == "week":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=7)
    if period == "month":
        start = day.replace(day=1)
        return start, (start + timedelta(days=32)).replace(day=1)
    return day, day + timedelta(days=1)


def _rows(session: Session, start: datetime, end: datetime, agent_id: str | None) -> list[dict[str, Any]]:
    q = (select(Call, Result, Review).join(Result, Result.call_id == Call.id)
         .outerjoin(Review, Review.call_id == Call.id)
         .where(Call.status == "done", Call.call_date >= start, Call.call_date < end))
    if agent_id is not None:
        q = q.where(Call.agent_id == agent_id)
    rows: list[dict[str, Any]] = []
    for call, res, review in session.execute(q).all():
        eff = effective_result(call, res.scorecard, review)
        rows.append({"id": call.id, "agent": call.agent_id or "-", "agent_name": call.agent_name or "",
                     "team": call.team or "-", "score": eff["score"], "passed": eff["passed"],
                     "fatal": eff["fatal"], "reviewed": eff["finalized"], "confirmed": eff["confirmed"],
                     "violations": eff["failed_items"]})
    return rows


def daily(session: Session, day: date, agent_id: str | None = None, period: str = "day",
          tz: str = "UTC") -> dict[str, Any]:
    """Every call analysed (status done) whose call date falls on `day` (in the time zone `tz`) -- or in its
    week or month -- counted by its effective result (`service.effective_result`): where an inspector touched
    the call, the inspector's item statuses, score, pass and fatal, else the machine's; `confirmed` counts the
    calls whose figures are the inspector's, `violations` the calls per failed item. With the previous
    period's totals for the trend. The calibration alone compares the machine with the inspector."""
    first, last = period_bounds(day, period)
    start, end = utc_bounds(first, last, tz)
    rows = _rows(session, start, end, agent_id)
    item_names = _item_names(session, start, end)
    pfirst, _ = period_bounds(first - timedelta(days=1), period)
    prev = _rows(session, *utc_bounds(pfirst, first, tz), agent_id)
    groups: list[dict[str, Any]] = []
    for key, label in (("agent", "agent"), ("team", "team")):
        for name in sorted({r[key] for r in rows}):
            st = _stats([r for r in rows if r[key] == name])
            before = _stats([r for r in prev if r[key] == name])
            delta = (round(st["avg_score"] - before["avg_score"], 2)
                     if st["avg_score"] is not None and before["avg_score"] is not None else None)
            groups.append({"group": label, "name": name, **st, "avg_score_change": delta})
    worst = sorted((r for r in rows if r["score"] is not None), key=lambda r: r["score"])[:10]
    return {"day": day.isoformat(), "period": period, "time_zone": tz, "from": first.isoformat(),
            "to": last.isoformat(), "total": _stats(rows), "previous": {"from": pfirst.isoformat(), **_stats(prev)},
            "groups": groups, "item_names": {k: v[0] for k, v in item_names.items()},
            "item_names_en": {k: v[1] for k, v in item_names.items()},
            "calibration": calibration(session, start, end, agent_id),
            "worst_calls": [{"id": r["id"], "agent": r["agent"], "team": r["team"], "score": r["score"]}
                            for r in worst]}


def _item_names(session: Session, start: datetime, end: datetime) -> dict[str, tuple[str, str]]:
    """Scorecard item id -> its (name, English name) in the rubric (as the scorecards of the period have them)."""
    q = (select(Result.scorecard).join(Call, Result.call_id == Call.id)
         .where(Call.status == "done", Call.call_date >= start, Call.call_date < end))
    names: dict[str, tuple[str, str]] = {}
    for (card,) in session.execute(q).all():
        for it in (card or {}).get("items", []):
            name = it.get("name") or it["id"]
            names.setdefault(it["id"], (name, it.get("name_en") or name))
    return names


def cohen_kappa(pairs: list[tuple[str, str]]) -> float | None:
    """Cohen's kappa of (machine, inspector) labels; None where it is undefined (chance agreement is 1)."""
    if not pairs:
        return None
    n = len(pairs)
    p_o = sum(1 for a, b in pairs if a == b) / n
    cats = {a for a, _ in pairs} | {b for _, b in pairs}
    p_e = sum((sum(1 for a, _ in pairs if a == c) / n) * (sum(1 for _, b in pairs if b == c) / n) for c in cats)
    if p_e >= 1.0:
        return None
    return round((p_o - p_e) / (1 - p_e), 4)


def calibration(session: Session, start: datetime, end: datetime, agent_id: str | None = None) -> list[dict[str, Any]]:
    """Per rubric item over finalised reviews of calls dated [start, end): machine status (pass, fail or
    needs_review) against the inspector's (an item the inspector left alone counts as confirmed): percent
    agreement, Cohen's kappa, overrides, example calls. An inspector deciding a needs_review item (pass or fail)
    is an override: the machine did not give that verdict."""
    q = (select(Result.scorecard, Review.items, Call.id).join(Call, Call.id == Result.call_id)
         .join(Review, Review.call_id == Call.id)
         .where(Review.finalized.is_(True), Call.call_date >= start, Call.call_date < end))
    if agent_id is not None:
        q = q.where(Call.agent_id == agent_id)
    per: dict[str, dict[str, Any]] = {}
    for card, over, call_id in session.execute(q).all():
        for it in card.get("items", []):
            if it.get("status") in UNSCORED_STATUSES:
                continue
            machine = it["status"]
            o = (over or {}).get(it["id"])
            human = machine if o is None else o["status"]
            d = per.setdefault(it["id"], {"item": it["id"], "name": it.get("name", ""), "pairs": [], "examples": []})
            d["pairs"].append((machine, human))
            if machine != human and len(d["examples"]) < 5:
                d["examples"].append(call_id)
    out = []
    for d in per.values():
        pairs = d.pop("pairs")
        n = len(pairs)
        agree = sum(1 for a, b in pairs if a == b)
        out.append({**d, "reviewed": n, "agreement": round(agree / n, 4), "overridden": n - agree,
                    "kappa": cohen_kappa(pairs)})
    return sorted(out, key=lambda d: (-d["overridden"], d["item"]))


def _flat(g: dict[str, Any]) -> list[Any]:
    v = g["violations"]
    return [g.get("group", "all"), g.get("name", "all"), g["calls_analysed"], g["reviewed"], g["confirmed"],
            g["avg_score"], g["median_score"], g["pass_rate"], g["fatal"], "; ".join(f"{k}={n}" for k, n in v.items())]


def spreadsheet_cell(value: Any) -> Any:
    """`value` as a spreadsheet cell shows it and runs nothing: text without control characters, and quoted
    where it starts like a formula (a lone '-', the report's "no agent", stays as it is)."""
    if not isinstance(value, str):
        return value
    text = _CONTROL.sub("", value)
    return "'" + text if len(text) > 1 and text.startswith(_FORMULA_START) else text


def _row(values: list[Any]) -> list[Any]:
    return [spreadsheet_cell(v) for v in values]


def to_csv(report: dict[str, Any]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(COLUMNS)
    for g in report["groups"]:
        w.writerow(_row(_flat(g)))
    w.writerow(_row(_flat({"group": "all", "name": "all", **report["total"]})))
    return buf.getvalue()


def to_xlsx(report: dict[str, Any]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = f"daily {report['day']}"
    ws.append(COLUMNS)
    for g in report["groups"]:
        ws.append(_row(_flat(g)))
    ws.append(_row(_flat({"group": "all", "name": "all", **report["total"]})))
    worst = wb.create_sheet("worst calls")
    worst.append(["call", "agent", "team", "score"])
    for c in report["worst_calls"]:
        worst.append(_row([c["id"], c["agent"], c["team"], c["score"]]))
    cal = wb.create_sheet("calibration")
    cal.append(["item", "reviewed", "agreement", "kappa", "overridden", "example calls"])
    for c in report.get("calibration", []):
        cal.append(_row([c["item"], c["reviewed"], c["agreement"], c["kappa"], c["overridden"],
                         " ".join(c["examples"])]))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()

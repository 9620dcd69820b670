"""The review of a call: the queue of calls to review (flags and the sampling plan), the reviewed
scorecard, overrides, finalisation, appeals and the audit trail."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from api.auth.models import User
from api.calls import service as calls
from api.calls.models import Call, Result, decode_tags, has_tag
from api.config import Settings
from api.database.core import utc_bounds, utcnow
from api.privacy import service as privacy
from api.problems import Problem
from api.review.models import Appeal, AuditEntry, Rescore, Review
from qa_engine.types import UNSCORED_STATUSES

ITEM_STATUSES = ("pass", "fail", "needs_review", "manual", "not_applicable")


# ---- access ------------------------------------------------------------------------------------------------

def call_for(session: Session, user: User, call_id: str) -> Call:
    call = session.get(Call, call_id) if len(call_id) <= 64 else None
    if call is None:
        raise Problem(404, f"no call with id {call_id!r}", code="call_not_found")
    if user.role == "agent" and call.agent_id != user.agent_id:
        raise Problem(403, "an agent can open only their own calls", code="forbidden", reason="own_calls_only")
    return call


def require_role(user: User, *roles: str) -> None:
    if user.role not in roles:
        raise Problem(403, f"this needs the role {' or '.join(roles)}; you are {user.role}", code="forbidden",
                      role=user.role)


# ---- the queue -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class QueueFilter:
    day: date | None = None
    team: str | None = None
    agent: str | None = None
    failed_item: str | None = None
    reviewed: str | None = None  # "yes": finalised reviews only; "no": not finalised
    scope: str = "flagged"  # "flagged": flagged and sampled calls; else every call


def mark_sample(rows: list[dict[str, Any]], rate: float) -> None:
    """The sampling plan: per agent and day, ceil(rate x passing calls) of the unflagged calls, chosen by a
    hash of the call id (random-looking, but stable between page loads)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        if not r["flagged"]:
            groups.setdefault((r["call"].agent_id or "", r["call"].call_date.date().isoformat()), []).append(r)
    for members in groups.values():
        members.sort(key=lambda r: hashlib.sha256(r["call"].id.encode()).hexdigest())
        for r in members[:math.ceil(max(0.0, min(rate, 1.0)) * len(members))]:
            r["sampled"] = True


def queue(session: Session, user: User, f: QueueFilter, *, sample_rate: float, tz: str) -> list[dict[str, Any]]:
    """The calls to review: flagged (a flag, a failed item, a failed call) and the sampled ones, escalations
    first, then the worst score first. An agent sees only their own calls."""
    q = (select(Call, Review).outerjoin(Review, Review.call_id == Call.id).where(Call.status == "done"))
    if user.role == "agent":
        q = q.where(Call.agent_id == user.agent_id)
    if f.day:
        start, end = utc_bounds(f.day, f.day + timedelta(days=1), tz)
        q = q.where(Call.call_date >= start, Call.call_date < end)
    if f.team:
        q = q.where(Call.team == f.team)
    if f.agent:
        q = q.where(Call.agent_id == f.agent)
    if f.failed_item:
        q = q.where(has_tag(Call.failed_items, f.failed_item))
    if f.reviewed == "yes":
        q = q.where(Review.finalized.is_(True))
    elif f.reviewed == "no":
        q = q.where(or_(Review.call_id.is_(None), Review.finalized.is_(False)))
    rows: list[dict[str, Any]] = []
    for call, review in session.execute(q.order_by(Call.call_date.desc()).limit(5000)).all():
        flags, failed = decode_tags(call.flags), decode_tags(call.failed_items)
        rows.append({"call": call, "review": review, "flags": flags, "failed": failed,
                     "flagged": bool(flags or failed or call.passed is False), "sampled": False,
                     "score": final_score(call, review)})
    mark_sample(rows, sample_rate)
    if f.scope == "flagged":
        rows = [r for r in rows if r["flagged"] or r["sampled"]]
    rows.sort(key=lambda r: ("escalation" not in r["flags"], r["score"] if r["score"] is not None else 1e9,
                             r["call"].id))
    return rows


def filter_choices(session: Session, user: User) -> tuple[list[str], list[str]]:
    """The teams and agent ids the queue's filters offer: an agent is offered only their own."""
    q_team, q_agent = select(Call.team).distinct(), select(Call.agent_id).distinct()
    if user.role == "agent":
        q_team = q_team.where(Call.agent_id == user.agent_id)
        q_agent = q_agent.where(Call.agent_id == user.agent_id)
    return (sorted(t for t in session.scalars(q_team) if t), sorted(a for a in session.scalars(q_agent) if a))


def history(session: Session, call: Call) -> tuple[list[AuditEntry], list[Appeal]]:
    """The call's audit trail (newest first) and its appeals (oldest first)."""
    audit_rows = session.scalars(select(AuditEntry).where(AuditEntry.call_id == call.id)
                                 .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())).all()
    appeal_rows = session.scalars(select(Appeal).where(Appeal.call_id == call.id).order_by(Appeal.id)).all()
    return list(audit_rows), list(appeal_rows)


def appeals(session: Session, user: User) -> list[Any]:
    """(appeal, call) rows, open ones first; an agent sees only appeals on their own calls."""
    q = select(Appeal, Call).join(Call, Call.id == Appeal.call_id).order_by(Appeal.status != "open",
                                                                             Appeal.id.desc())
    if user.role == "agent":
        q = q.where(Call.agent_id == user.agent_id)
    return list(session.execute(q.limit(500)).all())


# ---- the reviewed scorecard --------------------------------------------------------------------------------

def effective_items(card: dict[str, Any], review: Review | None) -> list[dict[str, Any]]:
    """The machine's items with the inspector's overrides applied (`reviewed: True` where overridden)."""
    over = (review.items if review else None) or {}
    items = []
    for it in card.get("items", []):
        d = dict(it)
        d["machine_status"], d["machine_score"] = it.get("status"), it.get("score")
        o = over.get(it["id"])
        if o:
            d.update(status=o["status"], score=o["score"], comment=o.get("comment", ""), reviewed=True)
        items.append(d)
    return items


def reviewed_total(card: dict[str, Any], items: list[dict[str, Any]]) -> tuple[float, bool, bool]:
    """(total, passed, fatal) over the effective items, by the engine's rule: a failed fatal item scores 0;
    the pass mark scales to the items that carry a score."""
    fatal = any(i.get("fatal") and i["status"] in ("fail", "needs_review") for i in items)
    scored = [i for i in items if i.get("score") is not None and i["status"] not in UNSCORED_STATUSES]
    total = 0.0 if fatal else float(sum(i["score"] for i in scored))
    full = float(card.get("max") or 0.0)
    scored_max = float(sum(i.get("max") or 0.0 for i in scored))
    pass_mark = float(card.get("pass_score") or 0.0) * (scored_max / full) if full else 0.0
    return round(total, 2), (not fatal) and total >= pass_mark, fatal


def audit(session: Session, call_id: str, username: str, action: str, item_id: str | None,
          before: Any, after: Any) -> None:
    session.add(AuditEntry(call_id=call_id, username=username, action=action, item_id=item_id,
                           before=before, after=after, at=utcnow()))


def result_of(session: Session, call: Call) -> Result:
    res = session.get(Result, call.id) if call.status == "done" else None
    if res is None:
        raise Problem(409, f"the call is {call.status}: nothing to review yet", code=f"call_{call.status}")
    return res


def _recompute(session: Session, call: Call, review: Review) -> None:
    res = result_of(session, call)
    items = effective_items(res.scorecard, review)
    review.score, review.passed, review.fatal = reviewed_total(res.scorecard, items)


def set_item(session: Session, user: User, call: Call, item_id: str, status: str, score: float | None,
             comment: str, action: str = "override") -> Review:
    """Confirm or override one item (status, score, comment); recompute the reviewed total; audit it."""
    res = result_of(session, call)
    item = next((i for i in res.scorecard.get("items", []) if i["id"] == item_id), None)
    if item is None:
        raise Problem(404, f"the scorecard has no item {item_id!r}", code="item_not_found")
    if status not in ITEM_STATUSES:
        raise Problem(422, f"status must be one of {', '.join(ITEM_STATUSES)}", code="invalid_status")
    mx = float(item.get("max") or 0.0)
    if score is not None and not 0 <= score <= mx:
        raise Problem(422, f"the score must be between 0 and {mx:g}", code="invalid_score", item=item_id,
                      max=f"{mx:g}")
    if status not in UNSCORED_STATUSES and score is None:
        score = mx if status == "pass" else 0.0
    review = session.get(Review, call.id) or Review(call_id=call.id, items={}, finalized=False)
    session.add(review)
    before_items = effective_items(res.scorecard, review)
    before = next(i for i in before_items if i["id"] == item_id)
    before_d = {"status": before["status"], "score": before.get("score"), "comment": before.get("comment", "")}
    after_d = {"status": status, "score": score, "comment": comment}
    score_before = review.score if review.score is not None else call.score
    review.items = {**(review.items or {}), item_id: after_d}
    _recompute(session, call, review)
    review.reviewer = user.username
    audit(session, call.id, user.username, action, item_id, {**before_d, "total": score_before},
          {**after_d, "total": review.score})
    session.commit()
    return review


def unscored_manual_items(card: dict[str, Any], review: Review | None) -> list[dict[str, Any]]:
    """Items only a person can score (status manual) that no inspector has scored yet."""
    return [i for i in effective_items(card, review) if i["status"] == "manual"]


def finalize(session: Session, user: User, call: Call) -> Review:
    """The review is final: refused (409) while an item only a person can score is unscored, since the final
    score would leave its points out without anyone having judged it."""
    res = result_of(session, call)
    review = session.get(Review, call.id)
    missing = unscored_manual_items(res.scorecard, review)
    if missing:
        names = ", ".join(f"{i['id']} ({i.get('name_en') or i.get('name') or i['id']})" for i in missing)
        raise Problem(409, f"score the manual items before finalising: {names}", code="manual_unscored",
                      items=[i["id"] for i in missing])
    review = review or Review(call_id=call.id, items={}, finalized=False)
    session.add(review)
    if review.score is None:
        review.score, review.passed, review.fatal = reviewed_total(res.scorecard, effective_items(res.scorecard,
                                                                                                  review))
    was = review.finalized
    review.finalized, review.reviewer, review.finalized_at = True, user.username, utcnow()
    audit(session, call.id, user.username, "finalize", None, {"finalized": was, "total": call.score},
          {"finalized": True, "total": review.score})
    session.commit()
    return review


# ---- rescores: versions the inspector adopts -----------------------------------------------------------------

def rescore(session: Session, settings: Settings, username: str, call: Call, ref: str) -> Rescore:
    """Score the call again under the rubric `ref` names and keep it as a proposed version beside the official
    result (which it does not touch); audited. A rubric in another language is refused (calls.score_under)."""
    rescored = calls.score_under(session, settings, call, ref)
    _, card = privacy.masked_rescore(session, settings, result_of(session, call), rescored.events,
                                     rescored.scorecard)
    version = Rescore(call_id=call.id, rubric=rescored.rubric, scorecard=card, status="proposed",
                      created_by=username, created_at=utcnow())
    session.add(version)
    audit(session, call.id, username, "rescore", None, {"rubric": official_rubric(call), "total": call.score},
          {"rubric": rescored.rubric, "total": card.get("total")})
    session.commit()
    return version


def official_rubric(call: Call) -> str:
    """id@version of the rubric the call's official scorecard was scored with."""
    return f"{call.rubric_id}@{call.rubric_version}" if call.rubric_id else (call.rubric or "")


def rescores(session: Session, call: Call) -> list[Rescore]:
    """The call's rescore versions, newest first."""
    return list(session.scalars(select(Rescore).where(Rescore.call_id == call.id)
                                .order_by(Rescore.id.desc())).all())


def rescore_of(session: Session, call: Call, rescore_id: int) -> Rescore:
    version = session.get(Rescore, rescore_id)
    if version is None or version.call_id != call.id:
        raise Problem(404, f"the call has no rescore {rescore_id}", code="rescore_not_found")
    return version


def adopt(session: Session, settings: Settings, username: str, call: Call, version: Rescore) -> Rescore:
    """The proposed version becomes the official result: scored again under its rubric (the same stored turns, so
    the same scorecard, with the clear original kept beside it), the other proposals superseded, an inspector's
    overrides re-applied to the new items, audited with the totals before and after."""
    if version.status != "proposed":
        raise Problem(409, f"rescore {version.id} is {version.status} already", code="rescore_adopted",
                      rescore_status=version.status)
    before = {"rubric": official_rubric(call), "total": call.score}
    card = calls.make_official(session, settings, call, calls.score_under(session, settings, call, version.rubric))
    now = utcnow()
    for other in rescores(session, call):
        if other.id != version.id and other.status == "proposed":
            other.status = "superseded"
    version.status, version.decided_by, version.decided_at = "adopted", username, now
    review = session.get(Review, call.id)
    if review is not None and review.score is not None:
        review.score, review.passed, review.fatal = reviewed_total(card, effective_items(card, review))
    audit(session, call.id, username, "adopt_rescore", None, before,
          {"rubric": version.rubric, "total": card.get("total")})
    session.commit()
    return version


def item_names(*cards: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Item id -> (name, English name) as the scorecards have them (the first that names an item wins)."""
    names: dict[str, tuple[str, str]] = {}
    for card in cards:
        for it in card.get("items", []):
            names.setdefault(it["id"], (it.get("name") or "", it.get("name_en") or it.get("name") or ""))
    return names


def side_by_side(official: dict[str, Any], versions: list[Rescore]) -> list[dict[str, Any]]:
    """For each proposed version: its items beside the official ones (the union of both rubrics' items)."""
    out = []
    for v in versions:
        if v.status != "proposed":
            continue
        mine = {i["id"]: i for i in official.get("items", [])}
        theirs = {i["id"]: i for i in v.scorecard.get("items", [])}
        ids = list(mine) + [i for i in theirs if i not in mine]
        out.append({"version": v, "total": v.scorecard.get("total"), "passed": v.scorecard.get("passed"),
                    "rows": [{"id": i, "official": mine.get(i), "proposed": theirs.get(i),
                              "changed": (mine.get(i) or {}).get("status") != (theirs.get(i) or {}).get("status")
                              or (mine.get(i) or {}).get("score") != (theirs.get(i) or {}).get("score")}
                             for i in ids]})
    return out


def emotion_track(result: dict[str, Any]) -> dict[str, Any] | None:
    """The customer's emotion over the call (`call.semantic.emotion`) placed on the call's timeline: each point
    with its left edge and width in percent of the call's length. None where the call has no semantic stage."""
    call = result.get("call") or {}
    emotion = (call.get("semantic") or {}).get("emotion")
    if not emotion:
        return None
    track = emotion.get("track") or []
    turns_end = max((float(t.get("end") or 0.0) for t in result.get("turns") or []), default=0.0)
    length = max(float(call.get("length_s") or 0.0), turns_end, max((p["end"] for p in track), default=0.0), 0.001)
    points = [{**p, "x": round(100.0 * p["start"] / length, 3),
               "w": round(max(0.4, 100.0 * (p["end"] - p["start"]) / length), 3)} for p in track]
    return {"start": emotion.get("start") or "neutral", "end": emotion.get("end") or "neutral", "track": points,
            "length": length, "labels": sorted({p["label"] for p in track})}


def rescore_out(version: Rescore, call: Call) -> dict[str, Any]:
    card = version.scorecard
    return {"id": version.id, "call_id": call.id, "rubric": version.rubric, "status": version.status,
            "score": card.get("total"), "passed": card.get("passed"), "fatal": card.get("fatal"),
            "official_rubric": official_rubric(call), "official_score": call.score, "scorecard": card,
            "created_by": version.created_by, "created_at": version.created_at.isoformat(),
            "decided_by": version.decided_by,
            "decided_at": version.decided_at.isoformat() if version.decided_at else None,
            "adopt": f"/v1/calls/{call.id}/rescores/{version.id}/adopt" if version.status == "proposed" else None}


def file_appeal(session: Session, user: User, call: Call, item_id: str, reason: str) -> Appeal:
    require_role(user, "agent")
    res = result_of(session, call)
    if not any(i["id"] == item_id for i in res.scorecard.get("items", [])):
        raise Problem(404, f"the scorecard has no item {item_id!r}", code="item_not_found")
    if not reason.strip():
        raise Problem(422, "give a reason for the appeal", code="invalid_reason")
    ap = Appeal(call_id=call.id, item_id=item_id, agent_username=user.username, reason=reason.strip()[:4000],
                status="open", created_at=utcnow())
    session.add(ap)
    audit(session, call.id, user.username, "appeal", item_id, None, {"reason": ap.reason})
    session.commit()
    return ap


def decide_appeal(session: Session, user: User, appeal: Appeal, accept: bool, reply: str,
                  status: str = "pass", score: float | None = None) -> Appeal:
    require_role(user, "supervisor", "admin")
    if appeal.status != "open":
        raise Problem(409, f"the appeal is {appeal.status} already", code="appeal_decided")
    call = session.get(Call, appeal.call_id)
    assert call is not None
    if accept:
        set_item(session, user, call, appeal.item_id, status, score, reply or "appeal accepted",
                 action="appeal_accepted")
    else:
        audit(session, call.id, user.username, "appeal_rejected", appeal.item_id, {"status": "open"},
              {"status": "rejected", "reply": reply})
    appeal.status = "accepted" if accept else "rejected"
    appeal.reply, appeal.decided_by, appeal.decided_at = reply, user.username, utcnow()
    session.commit()
    return appeal


def final_score(call: Call, review: Review | None) -> float | None:
    """The reviewed score where an inspector has touched the call, else the machine's."""
    if review is not None and review.score is not None:
        return review.score
    return call.score


def effective_result(call: Call, card: dict[str, Any], review: Review | None) -> dict[str, Any]:
    """The confirmed result of one call, the one every report counts. Where an inspector has touched the call
    (overridden an item, accepted an appeal or finalised the review) it is the inspector's: the items with the
    overrides applied (`effective_items`) and the reviewed score, pass and fatal (`final_score`, as the call
    page shows them); else the machine's. `failed_items`: the items whose effective status is "fail" (the
    rule of the calls' `failed_items`); `confirmed`: the inspector's result; `finalized`: the review is final."""
    items = effective_items(card, review)
    confirmed = review is not None and review.score is not None
    src: Any = review if confirmed else call
    return {"score": final_score(call, review), "passed": bool(src.passed), "fatal": bool(src.fatal),
            "items": items, "failed_items": [i["id"] for i in items if i.get("status") == "fail"],
            "confirmed": confirmed, "finalized": bool(review is not None and review.finalized)}

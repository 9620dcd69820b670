"""Users and login sessions, the reviewed scorecard, overrides, finalisation, appeals, the audit trail."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from api.calls.models import Call, Result
from api.database.core import utcnow
from api.problems import Problem
from api.review.models import USER_ROLES, Appeal, AuditEntry, Review, UiSession, User

SESSION_TTL = timedelta(hours=12)
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
ITEM_STATUSES = ("pass", "fail", "needs_review", "manual")


# ---- passwords and users -------------------------------------------------------------------------------------

def hash_password(password: str) -> str:
    """scrypt (RFC 7914), N=2^14 r=8 p=1, 16-byte salt: `scrypt$N$r$p$salt$hash` (base64)."""
    salt = secrets.token_bytes(16)
    dk = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${b64(salt).decode()}${b64(dk).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        algo, n, r, p, salt, dk = stored.split("$")
        if algo != "scrypt":
            return False
        want = base64.b64decode(dk)
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), dklen=len(want),
                             n=int(n), r=int(r), p=int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


def create_user(session: Session, username: str, password: str, role: str, agent_id: str | None = None) -> User:
    if role not in USER_ROLES:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(USER_ROLES)}")
    if role == "agent" and not agent_id:
        raise ValueError("an agent needs --agent-id (the agent_id in the calls' metadata)")
    if len(password) < 8:
        raise ValueError("the password must be at least 8 characters")
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise ValueError(f"the user {username!r} exists already")
    user = User(username=username, password_hash=hash_password(password), role=role, agent_id=agent_id)
    session.add(user)
    session.commit()
    return user


def login(session: Session, username: str, password: str) -> tuple[str, UiSession] | None:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        verify_password(password, hash_password("timing-equaliser"))
        return None
    if not verify_password(password, user.password_hash):
        return None
    token = secrets.token_urlsafe(32)
    s = UiSession(token_hash=hashlib.sha256(token.encode()).hexdigest(), user_id=user.id,
                  csrf=secrets.token_urlsafe(24), expires_at=utcnow() + SESSION_TTL)
    session.add(s)
    session.execute(delete(UiSession).where(UiSession.expires_at < utcnow()))
    session.commit()
    return token, s


def session_user(session: Session, token: str | None) -> tuple[User, UiSession] | None:
    if not token:
        return None
    s = session.get(UiSession, hashlib.sha256(token.encode()).hexdigest())
    if s is None or s.expires_at < utcnow():
        return None
    user = session.get(User, s.user_id)
    return (user, s) if user is not None else None


def logout(session: Session, token: str | None) -> None:
    if token:
        session.execute(delete(UiSession).where(UiSession.token_hash == hashlib.sha256(token.encode()).hexdigest()))
        session.commit()


# ---- access ------------------------------------------------------------------------------------------------

def call_for(session: Session, user: User, call_id: str) -> Call:
    call = session.get(Call, call_id) if len(call_id) <= 64 else None
    if call is None:
        raise Problem(404, f"no call with id {call_id!r}", code="call_not_found")
    if user.role == "agent" and call.agent_id != user.agent_id:
        raise Problem(403, "an agent can open only their own calls", code="forbidden")
    return call


def require_role(user: User, *roles: str) -> None:
    if user.role not in roles:
        raise Problem(403, f"this needs the role {' or '.join(roles)}; you are {user.role}", code="forbidden")


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
    scored = [i for i in items if i.get("score") is not None and i["status"] != "manual"]
    total = 0.0 if fatal else float(sum(i["score"] for i in scored))
    full = float(card.get("max") or 0.0)
    scored_max = float(sum(i.get("max") or 0.0 for i in scored))
    pass_mark = float(card.get("pass_score") or 0.0) * (scored_max / full) if full else 0.0
    return round(total, 2), (not fatal) and total >= pass_mark, fatal


def audit(session: Session, call_id: str, username: str, action: str, item_id: str | None,
          before: Any, after: Any) -> None:
    session.add(AuditEntry(call_id=call_id, username=username, action=action, item_id=item_id,
                           before=before, after=after, at=utcnow()))


def _result(session: Session, call: Call) -> Result:
    res = session.get(Result, call.id) if call.status == "done" else None
    if res is None:
        raise Problem(409, f"the call is {call.status}: nothing to review yet", code=f"call_{call.status}")
    return res


def _recompute(session: Session, call: Call, review: Review) -> None:
    res = _result(session, call)
    items = effective_items(res.scorecard, review)
    review.score, review.passed, review.fatal = reviewed_total(res.scorecard, items)


def set_item(session: Session, user: User, call: Call, item_id: str, status: str, score: float | None,
             comment: str, action: str = "override") -> Review:
    """Confirm or override one item (status, score, comment); recompute the reviewed total; audit it."""
    res = _result(session, call)
    item = next((i for i in res.scorecard.get("items", []) if i["id"] == item_id), None)
    if item is None:
        raise Problem(404, f"the scorecard has no item {item_id!r}", code="item_not_found")
    if status not in ITEM_STATUSES:
        raise Problem(422, f"status must be one of {', '.join(ITEM_STATUSES)}", code="invalid_status")
    mx = float(item.get("max") or 0.0)
    if score is not None and not 0 <= score <= mx:
        raise Problem(422, f"the score must be between 0 and {mx:g}", code="invalid_score")
    if status != "manual" and score is None:
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


def finalize(session: Session, user: User, call: Call) -> Review:
    res = _result(session, call)
    review = session.get(Review, call.id) or Review(call_id=call.id, items={}, finalized=False)
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


def file_appeal(session: Session, user: User, call: Call, item_id: str, reason: str) -> Appeal:
    require_role(user, "agent")
    res = _result(session, call)
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

"""The web UI (/ui/...): login, queue, call page, overrides, appeals, daily report; and /v1/reports/daily."""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi import Path as FPath
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import or_, select

from api.calls import service as calls
from api.calls.models import Call, Result
from api.deps import CtxDep, SessionDep, require
from api.problems import Problem
from api.review import reports
from api.review import service as svc
from api.review.config import ReviewSettings
from api.review.i18n import LANGS, translator
from api.review.models import Appeal, AuditEntry, Review, UiSession, User
from api.review.scheduler import lifespan
from api.storage import MEDIA_TYPES

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(tags=["web UI"], include_in_schema=False, lifespan=lifespan)
api_router = APIRouter(prefix="/v1/reports", tags=["reports"])
COOKIE, LANG_COOKIE, PRE_CSRF = "qa_session", "qa_lang", "qa_login_csrf"
STATIC = {"app.js": "text/javascript", "app.css": "text/css"}
REVIEWERS = ("inspector", "supervisor", "admin")


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


class Who:
    def __init__(self, user: User, sess: UiSession) -> None:
        self.user, self.sess = user, sess


def current(request: Request, session: SessionDep) -> Who:
    found = svc.session_user(session, request.cookies.get(COOKIE))
    if found is None:
        nxt = quote(str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""))
        raise Problem(303, "log in first", code="login_required", headers={"Location": f"/ui/login?next={nxt}"})
    return Who(*found)


WhoDep = Annotated[Who, Depends(current)]


def check_csrf(who: Who, token: str) -> None:
    if not hmac.compare_digest(who.sess.csrf, token or ""):
        raise Problem(403, "the form's CSRF token is missing or wrong; reload the page", code="csrf")


def lang_of(request: Request) -> str:
    lang = request.cookies.get(LANG_COOKIE, "zh")
    return lang if lang in LANGS else "zh"


def page(request: Request, name: str, who: Who | None, **ctx: Any) -> HTMLResponse:
    lang = lang_of(request)
    return templates.TemplateResponse(request, name, {"t": translator(lang), "lang": lang, "who": who,
                                                      "csrf": who.sess.csrf if who else "", **ctx})


def _safe_next(nxt: str | None) -> str:
    return nxt if nxt and nxt.startswith("/") and not nxt.startswith("//") else "/ui/queue"


@router.get("/", response_class=RedirectResponse)
def root() -> RedirectResponse:
    return RedirectResponse("/ui/queue", status_code=303)


@router.get("/ui/static/{name}")
def static(name: str) -> Response:
    if name not in STATIC:
        raise Problem(404, f"no static file {name!r}", code="not_found")
    return FileResponse(HERE / "static" / name, media_type=STATIC[name])


@router.get("/ui/lang/{code}")
def set_lang(code: str, next: str | None = None) -> RedirectResponse:
    resp = RedirectResponse(_safe_next(next), status_code=303)
    resp.set_cookie(LANG_COOKIE, code if code in LANGS else "zh", max_age=365 * 86400, samesite="lax")
    return resp


@router.get("/ui/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None, error: bool = False) -> HTMLResponse:
    token = request.cookies.get(PRE_CSRF) or secrets.token_urlsafe(24)
    resp = page(request, "login.html", None, next=_safe_next(next), error=error, login_csrf=token)
    resp.set_cookie(PRE_CSRF, token, httponly=True, samesite="strict")
    return resp


@router.post("/ui/login")
def login_post(request: Request, session: SessionDep, username: Annotated[str, Form(max_length=100)],
               password: Annotated[str, Form(max_length=200)], csrf: Annotated[str, Form()] = "",
               next: Annotated[str, Form()] = "/ui/queue") -> Response:
    pre = request.cookies.get(PRE_CSRF, "")
    if not pre or not hmac.compare_digest(pre, csrf):
        raise Problem(403, "the login form's CSRF token is missing or wrong; reload the page", code="csrf")
    found = svc.login(session, username, password)
    if found is None:
        return RedirectResponse(f"/ui/login?error=1&next={quote(_safe_next(next))}", status_code=303)
    resp = RedirectResponse(_safe_next(next), status_code=303)
    resp.set_cookie(COOKIE, found[0], httponly=True, samesite="lax", max_age=int(svc.SESSION_TTL.total_seconds()))
    resp.delete_cookie(PRE_CSRF)
    return resp


@router.post("/ui/logout")
def logout(request: Request, session: SessionDep, who: WhoDep, csrf: Annotated[str, Form()] = "") -> Response:
    check_csrf(who, csrf)
    svc.logout(session, request.cookies.get(COOKIE))
    resp = RedirectResponse("/ui/login", status_code=303)
    resp.delete_cookie(COOKIE)
    return resp


# ---- queue -------------------------------------------------------------------------------------------------

@router.get("/ui/queue", response_class=HTMLResponse)
def queue(request: Request, session: SessionDep, who: WhoDep,
          day: Annotated[str | None, Query(max_length=10)] = None,
          team: Annotated[str | None, Query(max_length=200)] = None,
          agent: Annotated[str | None, Query(max_length=200)] = None,
          failed_item: Annotated[str | None, Query(max_length=100)] = None,
          reviewed: Annotated[str | None, Query(max_length=3)] = None,
          scope: Annotated[str, Query(max_length=8)] = "flagged") -> HTMLResponse:
    q = (select(Call, Review).outerjoin(Review, Review.call_id == Call.id).where(Call.status == "done"))
    if who.user.role == "agent":
        q = q.where(Call.agent_id == who.user.agent_id)
    if day:
        d = _day(day)
        start, end = reports.utc_bounds(d, d + timedelta(days=1), ReviewSettings().report_tz)
        q = q.where(Call.call_date >= start, Call.call_date < end)
    if team:
        q = q.where(Call.team == team)
    if agent:
        q = q.where(Call.agent_id == agent)
    if failed_item:
        q = q.where(Call.failed_items.contains(f",{failed_item},", autoescape=True))
    if reviewed == "yes":
        q = q.where(Review.finalized.is_(True))
    elif reviewed == "no":
        q = q.where(or_(Review.call_id.is_(None), Review.finalized.is_(False)))
    rows: list[dict[str, Any]] = []
    for call, review in session.execute(q.order_by(Call.call_date.desc()).limit(5000)).all():
        flags = [f for f in (call.flags or "").split(",") if f]
        failed = [f for f in (call.failed_items or "").split(",") if f]
        rows.append({"call": call, "review": review, "flags": flags, "failed": failed,
                     "flagged": bool(flags or failed or call.passed is False), "sampled": False,
                     "score": svc.final_score(call, review)})
    mark_sample(rows, ReviewSettings().sample_rate)
    if scope == "flagged":
        rows = [r for r in rows if r["flagged"] or r["sampled"]]
    # Escalations first, then worst score first.
    rows.sort(key=lambda r: ("escalation" not in r["flags"], r["score"] if r["score"] is not None else 1e9,
                             r["call"].id))
    teams = sorted(t for t in session.scalars(select(Call.team).distinct()) if t)
    agents = sorted(a for a in session.scalars(select(Call.agent_id).distinct()) if a)
    return page(request, "queue.html", who, rows=rows, teams=teams, agents=agents,
                f={"day": day or "", "team": team or "", "agent": agent or "", "failed_item": failed_item or "",
                   "reviewed": reviewed or "", "scope": scope})


# ---- call page ---------------------------------------------------------------------------------------------

@router.get("/ui/calls/{call_id}", response_class=HTMLResponse)
def call_page(request: Request, session: SessionDep, who: WhoDep, call_id: str) -> HTMLResponse:
    call = svc.call_for(session, who.user, call_id)
    res = session.get(Result, call.id) if call.status == "done" else None
    if res is None:
        raise Problem(409, f"the call is {call.status}: nothing to show yet", code=f"call_{call.status}")
    review = session.get(Review, call.id)
    items = svc.effective_items(res.scorecard, review)
    audit_rows = session.scalars(select(AuditEntry).where(AuditEntry.call_id == call.id)
                                 .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())).all()
    appeals = session.scalars(select(Appeal).where(Appeal.call_id == call.id).order_by(Appeal.id)).all()
    agent_speaker = "agent"
    return page(request, "call.html", who, call=call, res=res, items=items, review=review,
                final=svc.final_score(call, review), audit=audit_rows, appeals=appeals,
                agent_speaker=agent_speaker, can_review=who.user.role in REVIEWERS,
                can_decide=who.user.role in ("supervisor", "admin"), is_agent=who.user.role == "agent",
                events=[e for e in res.events or [] if e.get("start") is not None])


@router.get("/ui/calls/{call_id}/audio")
def call_audio(ctx: CtxDep, session: SessionDep, who: WhoDep, call_id: str) -> Response:
    """The recording for the player, with HTTP Range (session cookie instead of an API key)."""
    call = svc.call_for(session, who.user, call_id)
    path = calls.audio_path(ctx.store, call)
    return FileResponse(path, media_type=MEDIA_TYPES.get(call.audio_format, "application/octet-stream"),
                        filename=f"{call.id}.{call.audio_format}", content_disposition_type="inline")


def _float(v: str) -> float | None:
    v = (v or "").strip()
    if not v:
        return None
    try:
        return float(v)
    except ValueError as exc:
        raise Problem(422, "the score must be a number", code="invalid_score") from exc


@router.post("/ui/calls/{call_id}/items/{item_id}")
def override_item(session: SessionDep, who: WhoDep, call_id: str, item_id: str,
                  status: Annotated[str, Form(max_length=20)], score: Annotated[str, Form(max_length=20)] = "",
                  comment: Annotated[str, Form(max_length=2000)] = "", csrf: Annotated[str, Form()] = "") -> Response:
    check_csrf(who, csrf)
    svc.require_role(who.user, *REVIEWERS)
    call = svc.call_for(session, who.user, call_id)
    svc.set_item(session, who.user, call, item_id, status, _float(score), comment)
    return RedirectResponse(f"/ui/calls/{call.id}#item-{item_id}", status_code=303)


@router.post("/ui/calls/{call_id}/finalize")
def finalize(session: SessionDep, who: WhoDep, call_id: str, csrf: Annotated[str, Form()] = "") -> Response:
    check_csrf(who, csrf)
    svc.require_role(who.user, *REVIEWERS)
    call = svc.call_for(session, who.user, call_id)
    svc.finalize(session, who.user, call)
    return RedirectResponse(f"/ui/calls/{call.id}", status_code=303)


@router.post("/ui/calls/{call_id}/appeals")
def appeal(session: SessionDep, who: WhoDep, call_id: str, item_id: Annotated[str, Form(max_length=100)],
           reason: Annotated[str, Form(max_length=4000)], csrf: Annotated[str, Form()] = "") -> Response:
    check_csrf(who, csrf)
    call = svc.call_for(session, who.user, call_id)
    svc.file_appeal(session, who.user, call, item_id, reason)
    return RedirectResponse(f"/ui/calls/{call.id}#appeals", status_code=303)


@router.post("/ui/appeals/{appeal_id}")
def decide(session: SessionDep, who: WhoDep, appeal_id: Annotated[int, FPath(ge=1, le=2**31 - 1)],
           decision: Annotated[str, Form(max_length=10)],
           reply: Annotated[str, Form(max_length=4000)] = "", status: Annotated[str, Form(max_length=20)] = "pass",
           score: Annotated[str, Form(max_length=20)] = "", csrf: Annotated[str, Form()] = "") -> Response:
    check_csrf(who, csrf)
    ap = session.get(Appeal, appeal_id)
    if ap is None:
        raise Problem(404, f"no appeal {appeal_id}", code="appeal_not_found")
    svc.decide_appeal(session, who.user, ap, decision == "accept", reply, status, _float(score))
    return RedirectResponse(f"/ui/calls/{ap.call_id}#appeals", status_code=303)


@router.get("/ui/appeals", response_class=HTMLResponse)
def appeals_page(request: Request, session: SessionDep, who: WhoDep) -> HTMLResponse:
    q = select(Appeal, Call).join(Call, Call.id == Appeal.call_id).order_by(Appeal.status != "open",
                                                                             Appeal.id.desc())
    if who.user.role == "agent":
        q = q.where(Call.agent_id == who.user.agent_id)
    return page(request, "appeals.html", who, rows=session.execute(q.limit(500)).all())


# ---- reports -----------------------------------------------------------------------------------------------

def _day(day: str | None) -> date:
    if not day:
        return datetime.now(UTC).date()
    try:
        d = date.fromisoformat(day)
    except ValueError as exc:
        raise Problem(422, "day must be YYYY-MM-DD", code="invalid_day") from exc
    if not 1900 <= d.year <= 9998:
        raise Problem(422, "day must be between 1900 and 9998", code="invalid_day")
    return d


def report_response(report: dict[str, Any], fmt: str) -> Response:
    if fmt == "csv":
        return Response(reports.to_csv(report), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="qa-{report["period"]}-{report["from"]}.csv"'})
    if fmt == "xlsx":
        return Response(reports.to_xlsx(report), headers={
            "Content-Disposition": f'attachment; filename="qa-{report["period"]}-{report["from"]}.xlsx"'},
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    return JSONResponse(report)


@router.get("/ui/reports/daily")
def daily_page(request: Request, session: SessionDep, who: WhoDep,
               day: Annotated[str | None, Query(max_length=10)] = None,
               format: Annotated[str, Query(pattern="^(html|csv|xlsx|json)$")] = "html",
               period: Annotated[str, Query(pattern="^(day|week|month)$")] = "day") -> Response:
    agent = (who.user.agent_id or "") if who.user.role == "agent" else None  # an agent sees their own figures
    report = reports.daily(session, _day(day), agent_id=agent, period=period, tz=ReviewSettings().report_tz)
    if format != "html":
        return report_response(report, format)
    return page(request, "report.html", who, r=report)


@api_router.get("/daily", summary="Daily scorecard report per agent and team (json, csv or xlsx)")
def daily_api(session: SessionDep, _key: Annotated[Any, Depends(require("inspector", "supervisor", "admin"))],
              day: Annotated[str | None, Query(max_length=10, description="YYYY-MM-DD (UTC); default today")] = None,
              format: Annotated[str, Query(pattern="^(json|csv|xlsx)$")] = "json",
              period: Annotated[str, Query(pattern="^(day|week|month)$", description="its week or month")] = "day",
              ) -> Response:
    return report_response(reports.daily(session, _day(day), period=period, tz=ReviewSettings().report_tz), format)


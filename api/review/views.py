"""The review workspace's pages: queue, call page, overrides, finalisation, appeals (thin over api.review.service)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi import Path as FPath
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

from api.auth.models import ApiKey
from api.calls import service as calls
from api.calls.schemas import RescoreIn
from api.deps import CtxDep, SessionDep, require
from api.privacy import service as privacy
from api.problems import Problem, responses
from api.reports.service import parse_day
from api.review import service as svc
from api.review.models import Appeal, Review
from api.rubrics import service as rubric_service
from api.storage import MEDIA_TYPES
from api.ui.i18n import namer
from api.ui.pages import REVIEWERS, WhoDep, check_csrf, lang_of, page

router = APIRouter(tags=["web UI"], include_in_schema=False)
api_router = APIRouter(prefix="/v1/calls", tags=["calls"])
Reviewer = Annotated[ApiKey, Depends(require("inspector", "supervisor", "admin"))]
CallId = Annotated[str, FPath(max_length=64, description="the id returned by POST /v1/calls")]
RescoreId = Annotated[int, FPath(ge=1, le=2**31 - 1)]


# ---- queue -------------------------------------------------------------------------------------------------

@router.get("/ui/queue", response_class=HTMLResponse)
def queue(request: Request, ctx: CtxDep, session: SessionDep, who: WhoDep,
          day: Annotated[str | None, Query(max_length=10)] = None,
          team: Annotated[str | None, Query(max_length=200)] = None,
          agent: Annotated[str | None, Query(max_length=200)] = None,
          failed_item: Annotated[str | None, Query(max_length=100)] = None,
          reviewed: Annotated[str | None, Query(max_length=3)] = None,
          scope: Annotated[str, Query(max_length=8)] = "flagged") -> HTMLResponse:
    f = svc.QueueFilter(day=parse_day(day) if day else None, team=team, agent=agent, failed_item=failed_item,
                        reviewed=reviewed, scope=scope)
    rows = svc.queue(session, who.user, f, sample_rate=ctx.settings.sample_rate, tz=ctx.settings.report_tz)
    teams, agents = svc.filter_choices(session, who.user)
    return page(request, "queue.html", who, rows=rows, teams=teams, agents=agents,
                f={"day": day or "", "team": team or "", "agent": agent or "", "failed_item": failed_item or "",
                   "reviewed": reviewed or "", "scope": scope})


# ---- call page ---------------------------------------------------------------------------------------------

@router.get("/ui/calls/{call_id}", response_class=HTMLResponse)
def call_page(request: Request, ctx: CtxDep, session: SessionDep, who: WhoDep, call_id: str,
              clear: bool = False) -> HTMLResponse:
    call = svc.call_for(session, who.user, call_id)
    # Masked for everyone; the clear original for the privacy officer, each opening logged (api/privacy).
    res = privacy.result_view(session, ctx.settings, privacy.Actor.of_user(who.user), call,
                              svc.result_of(session, call), clear=clear, resource="page",
                              origin=privacy.Origin.of(request))
    review = session.get(Review, call.id)
    items = svc.effective_items(res["scorecard"], review)
    audit_rows, appeals = svc.history(session, call)
    versions = svc.rescores(session, call)
    can_review = who.user.role in REVIEWERS
    language = (res.get("call") or {}).get("language")
    return page(request, "call.html", who, call=call, res=res, items=items, review=review,
                final=svc.final_score(call, review), audit=audit_rows, appeals=appeals,
                agent_speaker="agent", can_review=can_review,
                can_decide=who.user.role in ("supervisor", "admin"), is_agent=who.user.role == "agent",
                events=[e for e in res["events"] or [] if e.get("start") is not None], clear=clear,
                can_clear=who.user.role in privacy.CLEAR_ROLES,
                n=namer(lang_of(request), svc.item_names(res["scorecard"], *(v.scorecard for v in versions))),
                unscored=[i["id"] for i in svc.unscored_manual_items(res["scorecard"], review)],
                versions=versions, compare=svc.side_by_side(res["scorecard"], versions),
                official_rubric=svc.official_rubric(call),
                emotion=svc.emotion_track(res),
                rubrics=[r for r in rubric_service.list_all(session) if r["language"] == language or not language]
                if can_review else [])


@router.get("/ui/calls/{call_id}/audio")
def call_audio(request: Request, ctx: CtxDep, session: SessionDep, who: WhoDep, call_id: str,
               clear: bool = False) -> Response:
    """The recording for the player, numbers bleeped, with HTTP Range (session cookie instead of an API key)."""
    call = svc.call_for(session, who.user, call_id)
    path, media_type, suffix = privacy.played_audio(
        session, ctx.settings, ctx.store, privacy.Actor.of_user(who.user), call, calls.audio_path(ctx.store, call),
        MEDIA_TYPES.get(call.audio_format, "application/octet-stream"), clear=clear, origin=privacy.Origin.of(request))
    return FileResponse(path, media_type=media_type, filename=f"{call.id}.{suffix}", content_disposition_type="inline")


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


@router.post("/ui/calls/{call_id}/rescore")
def rescore(ctx: CtxDep, session: SessionDep, who: WhoDep, call_id: str,
            rubric: Annotated[str, Form(min_length=1, max_length=200)], csrf: Annotated[str, Form()] = "") -> Response:
    check_csrf(who, csrf)
    svc.require_role(who.user, *REVIEWERS)
    call = svc.call_for(session, who.user, call_id)
    svc.rescore(session, ctx.settings, who.user.username, call, rubric)
    return RedirectResponse(f"/ui/calls/{call.id}#rescores", status_code=303)


@router.post("/ui/calls/{call_id}/rescores/{rescore_id}/adopt")
def adopt(ctx: CtxDep, session: SessionDep, who: WhoDep, call_id: str, rescore_id: RescoreId,
          csrf: Annotated[str, Form()] = "") -> Response:
    check_csrf(who, csrf)
    svc.require_role(who.user, *REVIEWERS)
    call = svc.call_for(session, who.user, call_id)
    svc.adopt(session, ctx.settings, who.user.username, call, svc.rescore_of(session, call, rescore_id))
    return RedirectResponse(f"/ui/calls/{call.id}#rescores", status_code=303)


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
    return page(request, "appeals.html", who, rows=svc.appeals(session, who.user))


# ---- rescores: API ------------------------------------------------------------------------------------------

@api_router.post("/{call_id}/rescore", status_code=201, response_model=dict[str, Any],
                 responses=responses(401, 403, 404, 409, 422),
                 summary="Score the stored transcript under another rubric version, kept as a version to adopt")
def rescore_api(ctx: CtxDep, session: SessionDep, key: Reviewer, call_id: CallId, body: RescoreIn) -> dict[str, Any]:
    """No re-transcription: the stored turns and metrics are scored again. The result is kept as a *proposed*
    version beside the official one, which it does not change; `POST .../rescores/{id}/adopt` makes it official.
    422 `rubric_language` for a rubric in another language than the call's."""
    call = calls.get_for(session, key, call_id)
    version = svc.rescore(session, ctx.settings, privacy.Actor.of_key(key).name, call, body.rubric)
    return svc.rescore_out(version, call)


@api_router.get("/{call_id}/rescores", response_model=list[dict[str, Any]], responses=responses(401, 403, 404),
                summary="The call's rescore versions, newest first")
def rescores_api(session: SessionDep, key: Reviewer, call_id: CallId) -> list[dict[str, Any]]:
    call = calls.get_for(session, key, call_id)
    return [svc.rescore_out(v, call) for v in svc.rescores(session, call)]


@api_router.post("/{call_id}/rescores/{rescore_id}/adopt", response_model=dict[str, Any],
                 responses=responses(401, 403, 404, 409, 422), summary="Make a rescore version the official result")
def adopt_api(ctx: CtxDep, session: SessionDep, key: Reviewer, call_id: CallId,
              rescore_id: RescoreId) -> dict[str, Any]:
    """The version's scorecard becomes the call's (score, flags, failed items, rubric); audited. 409 when it
    was adopted or superseded already."""
    call = calls.get_for(session, key, call_id)
    version = svc.adopt(session, ctx.settings, privacy.Actor.of_key(key).name, call,
                        svc.rescore_of(session, call, rescore_id))
    return svc.rescore_out(version, call)

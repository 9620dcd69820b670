"""/v1/calls: thin routes over api.calls.service."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response, status
from fastapi.responses import FileResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.auth.models import ApiKey
from api.calls import service, upload
from api.calls.models import Call
from api.calls.schemas import BatchItem, CallAccepted, CallOut, CallPage, Events, Transcript
from api.deps import AppContext, CtxDep, Principal, SessionDep, require
from api.inputs import UtcTime
from api.privacy import service as privacy
from api.problems import Problem, responses
from api.storage import MEDIA_TYPES
from qa_engine.transcript import MAX_BYTES as TRANSCRIPT_MAX_BYTES

router = APIRouter(prefix="/v1/calls", tags=["calls"])
CallId = Annotated[str, Path(max_length=64, description="the id returned by POST /v1/calls")]
Submitter = Annotated[ApiKey, Depends(require("client", "admin"))]
Reviewer = Annotated[ApiKey, Depends(require("inspector", "supervisor", "admin"))]
BATCH_MAX_FILES = 100

METADATA_DOC = ("JSON object: external_id, agent_id, agent_name, team, direction (inbound|outbound; on a mono "
                "recording the agent answers an inbound call), "
                "started_at, connected_at (ISO 8601), agent_channel (left|right), language (zh|en), "
                "rubric (id or id@version). Example: " + json.dumps(
                    {"external_id": "rec-1", "agent_id": "A1", "team": "billing", "agent_channel": "left"}))


UPLOAD_FIELDS: dict[str, Any] = {
    "audio": {"type": "string", "format": "binary",
              "description": "the recording (WAV, MP3, FLAC, OGG, M4A...); the format is read from its content"},
    "transcript": {"type": "string", "format": "binary",
                   "description": 'instead of a recording: a transcript (JSON, UTF-8, at most 5 MB) '
                                  '{"lang": "zh"|"en", "turns": [{"speaker": "agent"|"customer", "start": s, '
                                  '"end": s, "text": "..."}]}; items that need the sound are not_applicable'},
}
EXPECT = "one 'audio' part (the recording) or one 'transcript' part (JSON), and an optional 'metadata' part"


def _upload_body(files: dict[str, Any], metadata_doc: str) -> dict[str, Any]:
    """The multipart body in the OpenAPI (the routes read it themselves: api/calls/upload.py)."""
    schema = {"type": "object", "properties": {**files, "metadata": {"type": "string", "description": metadata_doc}}}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


def _file_parts(ctx: AppContext) -> dict[str, upload.FilePart]:
    settings = ctx.settings
    audio_limit = upload.FilePart(settings.max_upload_bytes, f"the recording is over the upload limit of "
                                  f"{settings.max_upload_mb:g} MB; split it or ask the operator to raise "
                                  "QA_MAX_UPLOAD_MB")
    limit = min(TRANSCRIPT_MAX_BYTES, settings.max_upload_bytes)
    transcript_limit = upload.FilePart(limit, f"the transcript is over the limit of {limit / 2**20:.4g} MB of JSON")
    return {"audio": audio_limit, "transcript": transcript_limit}


def _total_limit(ctx: AppContext) -> int:
    return ctx.settings.max_upload_bytes + 1024 * 1024  # the parts' headers and the metadata beside the file


def _store(ctx: AppContext, session: Session, key: ApiKey, received: upload.ReceivedFile, metadata: str | None,
           idempotency_key: str | None) -> tuple[Call, bool]:
    call, dup = service.submit(session, ctx.settings, ctx.store, ctx.calls, key, received, metadata, idempotency_key)
    if not dup:
        ctx.enqueue(call.id)
    return call, dup


def _store_one(ctx: AppContext, key: ApiKey, received: upload.ReceivedFile, metadata: str | None,
               idempotency_key: str | None) -> tuple[Call, bool]:
    # Its own session, opened in this thread: no thread-pool hops to open and close a request-wide one.
    with ctx.db.session() as session:
        return _store(ctx, session, key, received, metadata, idempotency_key)


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=CallAccepted,
             responses=responses(400, 401, 403, 413, 415, 422), summary="Submit a recorded call for analysis",
             openapi_extra=_upload_body(UPLOAD_FIELDS, METADATA_DOC))
async def submit_call(
    request: Request, ctx: CtxDep, key: Submitter,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)] = None,
) -> CallAccepted:
    """Multipart: the recording as `audio`, or a transcript (JSON) as `transcript`, and `metadata`.
    The key is checked before the body is read, the size limit while it arrives; the recording's header
    is checked here (format, codec, rate, channels, length: 4xx with the reason), the full decode is the
    worker's (a call that cannot be analysed ends `failed` with its reason). Stored durably (fsynced)
    before answering 202. Resubmitting with the same `external_id` or `Idempotency-Key` returns the
    existing call (`duplicate: true`)."""
    form = await upload.read_form(request, ctx.store, files=_file_parts(ctx), text_fields=("metadata",),
                                  total_limit=_total_limit(ctx), max_files=1, expect=EXPECT)
    if not form.files:
        raise Problem(422, f"no recording or transcript in the request: send {EXPECT}", code="invalid_request")
    call, dup = await run_in_threadpool(_store_one, ctx, key, form.files[0], form.fields.get("metadata"),
                                        idempotency_key)
    return CallAccepted(id=call.id, status=call.status, duplicate=dup)


def _store_batch(ctx: AppContext, key: ApiKey, form: upload.ReceivedForm) -> list[BatchItem]:
    # Its own session, opened in this thread, as for one upload (_store_one).
    with ctx.db.session() as session:
        return _store_each(ctx, session, key, form)


def _store_each(ctx: AppContext, session: Session, key: ApiKey, form: upload.ReceivedForm) -> list[BatchItem]:
    try:
        metas = service.parse_metadata_list(form.fields.get("metadata"), len(form.files))
    except Problem:
        form.discard()
        raise
    out: list[BatchItem] = []
    try:
        for i, (f, m) in enumerate(zip(form.files, metas, strict=True)):
            try:
                call, dup = _store(ctx, session, key, f, json.dumps(m) if m is not None else None, None)
                out.append(BatchItem(index=i, filename=f.filename, status_code=200 if dup else 202,
                                     id=call.id, status=call.status))
            except Problem as p:
                session.rollback()
                out.append(BatchItem(index=i, filename=f.filename, status_code=p.status, error=p.detail))
    finally:
        form.discard()  # the files not stored (a stored one was moved into the store: nothing to remove)
    return out


@router.post("/batch", response_model=list[BatchItem], responses=responses(400, 401, 403, 413, 415, 422),
             summary="Submit several calls in one request",
             openapi_extra=_upload_body({"audio": {"type": "array", "items": {"type": "string", "format": "binary"},
                                                   "description": "one part per recording"}},
                                        "JSON array, one metadata object per recording (same order)"))
async def submit_batch(request: Request, ctx: CtxDep, key: Submitter) -> list[BatchItem]:
    """Each recording is accepted or refused on its own; the answer lists the outcome of each.
    The whole request is under the upload limit."""
    parts = _file_parts(ctx)
    form = await upload.read_form(request, ctx.store, files={"audio": parts["audio"]}, text_fields=("metadata",),
                                  total_limit=_total_limit(ctx), max_files=BATCH_MAX_FILES,
                                  expect=f"'audio' parts (at most {BATCH_MAX_FILES}) and a 'metadata' JSON array")
    if not form.files:
        raise Problem(422, "no 'audio' part in the request: send one part per recording", code="invalid_request")
    return await run_in_threadpool(_store_batch, ctx, key, form)


@router.get("", response_model=CallPage, responses=responses(401, 422), summary="List and filter calls")
def list_calls(
    session: SessionDep, key: Principal,
    agent: Annotated[str | None, Query(max_length=200, description="agent_id")] = None,
    team: Annotated[str | None, Query(max_length=200)] = None,
    date_from: Annotated[UtcTime | None, Query(description="call date >= (started_at, else received)")] = None,
    date_to: Annotated[UtcTime | None, Query(description="call date <")] = None,
    status: Annotated[Literal["queued", "processing", "done", "failed"] | None, Query()] = None,
    flag: Annotated[str | None, Query(max_length=100, description="e.g. escalation")] = None,
    score_min: Annotated[float | None, Query()] = None,
    score_max: Annotated[float | None, Query()] = None,
    failed_item: Annotated[str | None, Query(max_length=100, description="a rubric item id scored 'fail'")] = None,
    sort: Annotated[Literal["created_at", "-created_at", "score", "-score"], Query()] = "-created_at",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> CallPage:
    """Newest first by default; `sort=score` puts the worst calls first. Clients see their own calls."""
    rows, nxt = service.list_calls(session, key, agent=agent, team=team, date_from=date_from, date_to=date_to,
                                   status=status, flag=flag, score_min=score_min, score_max=score_max,
                                   failed_item=failed_item, sort=sort, limit=limit, cursor=cursor)
    return CallPage(items=[service.out(c) for c in rows], next_cursor=nxt)


@router.get("/{call_id}", response_model=CallOut, responses=responses(401, 404), summary="Status and summary")
def get_call(session: SessionDep, key: Principal, call_id: CallId) -> CallOut:
    return service.out(service.get_for(session, key, call_id))


Clear = Annotated[bool, Query(description="the clear original, phone, ID and card numbers unmasked: for the "
                                          "privacy_officer role only; every request is recorded in the PII "
                                          "access log (GET /v1/privacy/access-log)")]


def _result(request: Request, ctx: CtxDep, session: SessionDep, key: ApiKey, call_id: str, clear: bool,
            resource: str) -> tuple[Call, dict[str, Any]]:
    """The call's result as this key may read it: masked, or the clear original (logged)."""
    call = service.get_for(session, key, call_id)
    res = service.result_for(session, call)
    return call, privacy.result_view(session, ctx.settings, privacy.Actor.of_key(key), call, res, clear=clear,
                                     resource=resource, origin=privacy.Origin.of(request))


@router.get("/{call_id}/transcript", response_model=Transcript, responses=responses(401, 403, 404, 409))
def get_transcript(request: Request, ctx: CtxDep, session: SessionDep, key: Principal, call_id: CallId,
                   clear: Clear = False) -> Transcript:
    """The engine's turns (speaker, times, text, words, rate, level); phone, ID and card numbers masked."""
    call, r = _result(request, ctx, session, key, call_id, clear, "transcript")
    return Transcript(call_id=call.id, language=r["call"].get("language"), turns=r["turns"])


@router.get("/{call_id}/events", response_model=Events, responses=responses(401, 403, 404, 409))
def get_events(request: Request, ctx: CtxDep, session: SessionDep, key: Principal, call_id: CallId,
               clear: Clear = False) -> Events:
    call, r = _result(request, ctx, session, key, call_id, clear, "events")
    return Events(call_id=call.id, events=r["events"])


@router.get("/{call_id}/scorecard", response_model=dict[str, Any], responses=responses(401, 403, 404, 409))
def get_scorecard(request: Request, ctx: CtxDep, session: SessionDep, key: Principal, call_id: CallId,
                  clear: Clear = False) -> dict[str, Any]:
    """The engine's scorecard: rubric, version, total, max, passed, fatal, flags, items."""
    return _result(request, ctx, session, key, call_id, clear, "scorecard")[1]["scorecard"]


@router.get("/{call_id}/analysis", response_model=dict[str, Any], responses=responses(401, 403, 404, 409))
def get_analysis(request: Request, ctx: CtxDep, session: SessionDep, key: Principal, call_id: CallId,
                 clear: Clear = False) -> dict[str, Any]:
    """Everything the engine returned, in its shape (call, metrics, turns, events, scorecard)."""
    return _result(request, ctx, session, key, call_id, clear, "analysis")[1]


@router.get("/{call_id}/audio", response_class=FileResponse, responses={
    200: {"content": {"audio/wav": {}, "audio/flac": {}}, "description": "the recording"},
    206: {"description": "the requested byte range"}, **responses(401, 403, 404, 409, 416)})
def get_audio(request: Request, ctx: CtxDep, session: SessionDep, key: Principal, call_id: CallId,
              clear: Clear = False) -> Response:
    """The recording, phone, ID and card numbers bleeped (FLAC) where any were said, else as uploaded;
    supports `Range: bytes=...` for players. 409 until the call is analysed (the bleeping needs the transcript)."""
    call = service.get_for(session, key, call_id)
    path, media_type, suffix = privacy.played_audio(
        session, ctx.settings, ctx.store, privacy.Actor.of_key(key), call, service.audio_path(ctx.store, call),
        MEDIA_TYPES.get(call.audio_format, "application/octet-stream"), clear=clear, origin=privacy.Origin.of(request))
    return FileResponse(path, media_type=media_type, filename=f"{call.id}.{suffix}", content_disposition_type="inline")


@router.delete("/{call_id}", status_code=204, responses=responses(401, 403, 404))
def delete_call(ctx: CtxDep, session: SessionDep, key: Principal, call_id: CallId) -> Response:
    """Deletes the call, its results and (when no other call shares it) its recording."""
    call = service.get_for(session, key, call_id)
    if key.role != "admin" and call.client_id != key.id:
        raise Problem(403, "only the client that submitted the call or an admin can delete it", code="forbidden")
    service.delete_call(session, ctx.store, call)
    return Response(status_code=204)

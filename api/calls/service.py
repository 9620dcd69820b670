"""Calls: accept an upload durably, look calls up for a caller, list, rescore, delete."""

from __future__ import annotations

import base64
import json
import logging
import math
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import and_, bindparam, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api import inputs
from api.auth.models import ApiKey
from api.calls.models import TRANSCRIPT_FORMAT, Call, Result, StoredAudio, decode_tags, has_tag
from api.calls.schemas import CallMetadata, CallOut
from api.calls.upload import ReceivedFile
from api.calls.writer import CallWriter
from api.config import Settings
from api.database.core import Database, utcnow
from api.jobs.models import Job
from api.jobs.service import summary_fields
from api.privacy import service as privacy
from api.problems import Problem, validation_errors
from api.rubrics import service as rubrics
from api.storage import AudioStore, sniff
from api.webhooks.models import Delivery  # noqa: F401  (cascade target)
from qa_engine import AudioError, TranscriptError
from qa_engine.audio import probe
from qa_engine.rescore import rescore as rescore_analysis
from qa_engine.transcript import loads_transcript

log = logging.getLogger("api.calls")
READ_ALL = ("inspector", "supervisor", "admin", "privacy_officer")
TRANSCRIPT = "transcript"  # the form part of a call submitted as a transcript instead of a recording


def parse_metadata(raw: str | None) -> CallMetadata:
    """The `metadata` form field (a JSON object) as CallMetadata: 422 with the reason when it is not one."""
    if raw is None or not raw.strip():
        return CallMetadata.model_validate({})
    data = _metadata_json(raw)
    if not isinstance(data, dict):
        raise Problem(422, "the 'metadata' field must be a JSON object", code="invalid_metadata")
    return validate_metadata(data)


def parse_metadata_list(raw: str | None, count: int) -> list[dict[str, Any] | None]:
    """The batch's `metadata` field: a JSON array of one object (or null) per file, each checked now."""
    if raw is None or not raw.strip():
        return [None] * count
    data = _metadata_json(raw)
    if not isinstance(data, list) or len(data) != count:
        raise Problem(422, f"'metadata' must be a JSON array with one object per file ({count})",
                      code="invalid_metadata")
    for m in data:
        if m is not None and not isinstance(m, dict):
            raise Problem(422, "each entry of 'metadata' must be a JSON object or null", code="invalid_metadata")
    return data


def _metadata_json(raw: str) -> Any:
    try:
        return inputs.loads(raw, "the 'metadata' field")
    except inputs.InputError as exc:
        raise Problem(422, str(exc), code="invalid_metadata") from exc


def validate_metadata(data: dict[str, Any]) -> CallMetadata:
    try:
        return CallMetadata.model_validate(data)
    except ValidationError as exc:
        errors = validation_errors(exc.errors(), "metadata")
        raise Problem(422, "; ".join(f"{e['field']}: {e['message']}" for e in errors),
                      code="invalid_metadata", errors=errors) from exc


def check_filename(filename: str) -> None:
    """The upload's file name is stored with the call: 422 when a database cannot store it."""
    try:
        inputs.storable(filename)
    except inputs.InputError as exc:
        raise Problem(422, f"the file name {exc}; rename the file", code="invalid_filename") from exc


def _naive_utc(dt: datetime | None) -> datetime | None:
    return None if dt is None else inputs.naive_utc(dt)


def find_existing(session: Session, client: ApiKey, external_id: str | None, idem_key: str | None) -> Call | None:
    conds = []
    if idem_key:
        conds.append(Call.idempotency_key == idem_key)
    if external_id:
        conds.append(Call.external_id == external_id)
    if not conds:
        return None
    return session.scalars(select(Call).where(Call.client_id == client.id, or_(*conds)).limit(1)).first()


def submit(session: Session, settings: Settings, store: AudioStore, writer: CallWriter, client: ApiKey,
           received: ReceivedFile, metadata_raw: str | None, idem_key: str | None) -> tuple[Call, bool]:
    """Check the received recording (or transcript) cheaply, store it, record the call and its job.

    `received` is a durable `.part` file (api/calls/upload.py): moved into the store, or removed. The
    full decode and the silence check are the worker's (a failed job with its reason).
    Returns (call, was_duplicate)."""
    try:
        meta = parse_metadata(metadata_raw)
        check_filename(received.filename)
        if idem_key is not None and not 0 < len(idem_key) <= 200:
            raise Problem(422, "the Idempotency-Key header must be 1-200 characters", code="invalid_request")
        existing = find_existing(session, client, meta.external_id, idem_key)
        if existing is not None:
            received.discard()
            return existing, True
        if meta.rubric:
            rubrics.resolve(session, settings.rubric_dir, meta.rubric)
        session.commit()  # release the DB connection while the upload is checked and stored
        if received.name == TRANSCRIPT:
            fmt, duration = TRANSCRIPT_FORMAT, _check_transcript(settings, received, meta)
        else:
            fmt, duration = _check_recording(settings, received)
        keep_audio(session, store, writer, received.path, received.sha256)
    except BaseException:
        received.discard()
        raise
    started = _naive_utc(meta.started_at)
    call = Call(id=uuid.uuid4().hex, client_id=client.id, external_id=meta.external_id, idempotency_key=idem_key,
                status="queued", audio_sha256=received.sha256, audio_size=received.size, audio_format=fmt,
                audio_filename=received.filename[:300], duration_s=duration, agent_id=meta.agent_id,
                agent_name=meta.agent_name, team=meta.team, direction=meta.direction, started_at=started,
                connected_at=_naive_utc(meta.connected_at), agent_channel=meta.agent_channel,
                language=meta.language, rubric=meta.rubric, call_date=started or utcnow())
    try:
        writer.add(call)
    except BaseException as exc:
        release_audio(session, store, received.sha256)  # the call that was to hold the recording was not recorded
        if not isinstance(exc, IntegrityError):
            raise
        existing = find_existing(session, client, meta.external_id, idem_key)
        if existing is None:
            raise
        return existing, True
    return call, False


def _count_in_statement(insert: Any) -> Any:
    return (insert(StoredAudio).values(sha256=bindparam("sha"), refs=1, created_at=bindparam("now"))
            .on_conflict_do_update(index_elements=["sha256"], set_={"refs": StoredAudio.refs + 1}))


# Built once: a statement made anew for every upload cost more CPU (its cache key) than running it.
_COUNT_IN = {"postgresql": _count_in_statement(pg_insert), "sqlite": _count_in_statement(sqlite_insert)}


def _count_in(session: Session, sha: str) -> None:
    """One more holder of the recording `sha`, in the session's transaction (waits while a delete holds it)."""
    session.execute(_COUNT_IN[session.get_bind().dialect.name], {"sha": sha, "now": utcnow()})


def keep_audio(session: Session, store: AudioStore, writer: CallWriter, tmp: Path, sha: str) -> Path:
    """Place a received recording in the store, counted as held first, so that no delete of another
    call with the same bytes can remove it before this call is recorded. The caller records the call
    (or calls `release_audio`). The count is committed with other uploads' (api/calls/writer.py)."""
    writer.run(lambda s: _count_in(s, sha))
    try:
        return store.commit(tmp, sha)
    except BaseException:
        release_audio(session, store, sha)
        raise


def _count_out(session: Session, store: AudioStore, sha: str) -> Path | None:
    """One holder less, in the session's transaction; when none is left the recording is set aside
    (under the row's lock: an upload of the same bytes waits) and returned, to be discarded once the
    transaction commits or put back if it does not."""
    session.execute(update(StoredAudio).where(StoredAudio.sha256 == sha).values(refs=StoredAudio.refs - 1))
    gone = session.execute(delete(StoredAudio).where(StoredAudio.sha256 == sha, StoredAudio.refs <= 0))
    return store.set_aside(sha) if gone.rowcount else None  # type: ignore[attr-defined]


def _commit_then_discard(session: Session, store: AudioStore, sha: str, aside: Path | None) -> None:
    try:
        session.commit()
    except BaseException:
        session.rollback()
        if aside is not None:
            store.put_back(aside, sha)
        raise
    if aside is not None:
        aside.unlink(missing_ok=True)


def release_audio(session: Session, store: AudioStore, sha: str) -> None:
    """Undo `keep_audio` for an upload that was not recorded after all."""
    _commit_then_discard(session, store, sha, _count_out(session, store, sha))


def clean_store(db: Database, store: AudioStore) -> None:
    """At a process's start: remove what killed processes left in the store's tmp folder (logged)."""
    def held(sha: str) -> bool:
        with db.session() as s:
            return s.get(StoredAudio, sha) is not None

    done = store.clean_orphans(held)
    # A warning when there was anything to clean: it means a process was killed mid-write.
    log.log(logging.WARNING if done.parts or done.restored or done.discarded else logging.INFO,
            "audio store: removed %d unfinished upload(s) left by stopped processes (.part files); "
            "recordings of uncommitted deletes put back: %d, of committed deletes removed: %d",
            done.parts, done.restored, done.discarded)


def _check_recording(settings: Settings, received: ReceivedFile) -> tuple[str, float]:
    """The recording's format and declared length from its header (a bounded probe): 415/422 with the reason."""
    name = received.filename or "the recording"
    if received.size == 0:
        raise Problem(422, "the 'audio' file is empty (0 bytes); send the recording again", code="bad_audio")
    with received.path.open("rb") as fh:
        fmt = sniff(fh.read(64))
    if fmt is None:
        raise Problem(415, f"{name} is not a recording format this service reads "
                      "(WAV, MP3, FLAC, OGG/Opus, M4A, AMR, WMA), whatever its file name says",
                      code="unsupported_media_type")
    try:
        info = probe(received.path, settings.max_duration_s)
    except AudioError as exc:
        raise Problem(422, str(exc).replace(received.path.name, name), code="bad_audio") from exc
    return fmt, info.duration_s


def _check_transcript(settings: Settings, received: ReceivedFile, meta: CallMetadata) -> float:
    """The transcript read and validated now (at most 5 MB of JSON): 422 with what is wrong in it."""
    try:
        transcript = loads_transcript(received.path.read_bytes(), received.filename or "transcript",
                                      settings.max_duration_s)
    except TranscriptError as exc:
        raise Problem(422, str(exc), code="bad_transcript") from exc
    for turn in transcript.turns:  # the text is stored with the results
        try:
            inputs.storable(turn.text)
        except inputs.InputError as exc:
            raise Problem(422, f"the transcript's turn at {turn.start:g} s: its text {exc}",
                          code="bad_transcript") from exc
    if transcript.language is None and meta.language is None:
        raise Problem(422, 'the transcript names no language: add "lang": "zh" or "en" to it, or "language" '
                      "to the metadata", code="bad_transcript")
    return transcript.length_s


def get_for(session: Session, key: ApiKey, call_id: str) -> Call:
    call = session.get(Call, call_id) if len(call_id) <= 64 else None
    if call is None or (key.role not in READ_ALL and call.client_id != key.id):
        raise Problem(404, f"no call with id {call_id!r} that this key can see", code="call_not_found")
    return call


def out(call: Call) -> CallOut:
    d = {c: getattr(call, c) for c in CallOut.model_fields if c not in ("flags", "failed_items")}
    d["flags"], d["failed_items"] = decode_tags(call.flags), decode_tags(call.failed_items)
    return CallOut.model_validate(d)


def result_for(session: Session, call: Call) -> Result:
    if call.status != "done":
        reason = f": {call.failure_reason}" if call.status == "failed" else "; poll GET /v1/calls/{id} until done"
        raise Problem(409, f"the call is {call.status}, no results yet{reason}", code=f"call_{call.status}",
                      call_status=call.status)
    res = session.get(Result, call.id)
    if res is None:
        raise Problem(409, "the call's results are not stored yet; retry shortly", code="call_processing")
    return res


def _encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, field: str) -> tuple[Any, str]:
    """(last sort value, last id) from a cursor made by `_encode_cursor` for the same sort; anything else,
    tampered or from another sort, is a 422."""
    invalid = Problem(422, "the cursor is invalid; pass back next_cursor from the previous page unchanged, "
                      "with the same sort", code="invalid_cursor")
    try:
        vals = inputs.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)), "the cursor",
                            max_depth=1)
    except (inputs.InputError, ValueError) as exc:
        raise invalid from exc
    if not isinstance(vals, list) or len(vals) != 2 or not isinstance(vals[1], str) or len(vals[1]) > 64:
        raise invalid
    last, last_id = vals
    if field == "created_at":
        try:
            when = datetime.fromisoformat(last) if isinstance(last, str) else None
        except ValueError:
            when = None
        if when is None or when.tzinfo is not None:
            raise invalid
        return when, last_id
    if isinstance(last, bool) or not isinstance(last, int | float) or not math.isfinite(last):
        raise invalid
    return float(last), last_id


def list_calls(session: Session, key: ApiKey, *, agent: str | None, team: str | None,
               date_from: datetime | None, date_to: datetime | None, status: str | None, flag: str | None,
               score_min: float | None, score_max: float | None, failed_item: str | None, sort: str,
               limit: int, cursor: str | None) -> tuple[list[Call], str | None]:
    q = select(Call)
    if key.role not in READ_ALL:
        q = q.where(Call.client_id == key.id)
    if agent:
        q = q.where(Call.agent_id == agent)
    if team:
        q = q.where(Call.team == team)
    if date_from:
        q = q.where(Call.call_date >= _naive_utc(date_from))
    if date_to:
        q = q.where(Call.call_date < _naive_utc(date_to))
    if status:
        q = q.where(Call.status == status)
    if flag:
        q = q.where(has_tag(Call.flags, flag))
    if failed_item:
        q = q.where(has_tag(Call.failed_items, failed_item))
    if score_min is not None:
        q = q.where(Call.score >= score_min)
    if score_max is not None:
        q = q.where(Call.score <= score_max)
    desc = sort.startswith("-")
    field = sort.lstrip("-")
    col: Any = func.coalesce(Call.score, -1.0) if field == "score" else Call.created_at
    if cursor:
        last, last_id = _decode_cursor(cursor, field)
        if desc:
            q = q.where(or_(col < last, and_(col == last, Call.id < last_id)))
        else:
            q = q.where(or_(col > last, and_(col == last, Call.id > last_id)))
    q = q.order_by(col.desc(), Call.id.desc()) if desc else q.order_by(col.asc(), Call.id.asc())
    rows = list(session.scalars(q.limit(limit + 1)).all())
    nxt = None
    if len(rows) > limit:
        rows = rows[:limit]
        last_row = rows[-1]
        v = (last_row.score if last_row.score is not None else -1.0) if field == "score" else \
            last_row.created_at.isoformat()
        nxt = _encode_cursor([v, last_row.id])
    return rows, nxt


def delete_call(session: Session, store: AudioStore, call: Call) -> None:
    """Delete the call and what is only its own; its recording goes when no other call holds it."""
    sha = call.audio_sha256
    cid = call.id
    session.execute(delete(Result).where(Result.call_id == cid))
    privacy.forget(session, cid)
    session.execute(delete(Job).where(Job.call_id == cid))
    if session.execute(delete(Call).where(Call.id == cid)).rowcount:  # type: ignore[attr-defined]
        _commit_then_discard(session, store, sha, _count_out(session, store, sha))
    else:  # deleted meanwhile by another request, which counted it out
        session.commit()
    store.delete_masked(cid)


@dataclass(frozen=True)
class Rescored:
    """A stored call scored again under another rubric (clear events and scorecard; nothing stored yet)."""

    rubric: str  # id@version
    scorecard: dict[str, Any]
    events: list[dict[str, Any]]


def score_under(session: Session, settings: Settings, call: Call, ref: str) -> Rescored:
    """The call's stored turns and metrics scored under the rubric `ref` names: no re-transcription. Refused
    (422) for a rubric in another language than the call's: its phrase lists and rate bands would score every
    word as missing, and the score would mean nothing."""
    res = result_for(session, call)
    resolved = rubrics.resolve(session, settings.rubric_dir, ref)
    language = res.call_info.get("language")
    if language and resolved.rubric.language != language:
        raise Problem(422, f"the call is in {language} and rubric {resolved.rubric.id}@{resolved.rubric.version} is "
                      f"in {resolved.rubric.language}; rescore it with a rubric in {language} "
                      "(GET /v1/rubrics lists them)", code="rubric_language", call_language=language,
                      rubric_language=resolved.rubric.language)
    stored = {"call": res.call_info, "metrics": res.metrics, "turns": privacy.clear_turns(session, res),
              "speech": res.speech}
    scorecard, events = rescore_analysis(stored, resolved.rubric)
    return Rescored(f"{resolved.rubric.id}@{resolved.rubric.version}", scorecard.to_dict(),
                    [e.to_dict() for e in events])


def make_official(session: Session, settings: Settings, call: Call, rescored: Rescored) -> dict[str, Any]:
    """A rescore becomes the call's result (masked, the clear original kept beside), in the caller's transaction;
    returns the stored scorecard."""
    res = result_for(session, call)
    masked_events, masked_card = privacy.store_rescored(session, settings, res, rescored.events, rescored.scorecard)
    res.scorecard, res.events, res.rescored_at = masked_card, masked_events, utcnow()
    for k, v in summary_fields(masked_card).items():
        setattr(call, k, v)
    call.rubric = rescored.rubric
    return masked_card


def audio_path(store: AudioStore, call: Call) -> Path:
    if call.audio_format == TRANSCRIPT_FORMAT:
        raise Problem(404, "this call has no recording: it was submitted as a transcript", code="no_recording")
    p = store.path(call.audio_sha256)
    if not p.exists():
        raise Problem(404, "the recording is no longer stored (deleted by retention)", code="audio_gone")
    return p

"""Customer data in the service: what is stored, what each reader gets, who may see the clear original.

- At analysis time (the worker, `for_storage`): with QA_PII_MASKING on (the default) the result is
  stored masked (qa_engine.privacy: turns, words, utterances, events, scorecard evidence); the clear
  turns, events and scorecard go to `pii_masks.clear`; the recording with the numbers bleeped is
  written once into the audio store, beside the original.
- Reading (`readable`, `played_audio`): everyone gets the masked result and the bleeped recording.
  A result stored before masking existed is masked as it is read, and its bleeped recording is made
  on the first request for it and kept (`qa-engine privacy mask-stored` does both for all calls at once).
- The clear original (`?clear=true`): the privacy_officer role only. Every request for it, granted or
  refused, is a row of the PII access log (who, when, which call, what, from which address).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from api.auth.models import ApiKey, User
from api.calls.models import Call, Result
from api.config import Settings
from api.database.core import Database
from api.privacy.models import PiiAccess, PiiMask
from api.problems import Problem
from api.storage import AudioStore
from qa_engine.privacy.bleep import MEDIA_TYPE as BLEEPED_MEDIA_TYPE
from qa_engine.privacy.bleep import bleep_spans, bleeped_flac
from qa_engine.privacy.masking import (
    SpokenNumber,
    mask_analysis,
    mask_event_dicts,
    mask_result,
    mask_scorecard_dict,
    quotes_of,
    spoken_numbers,
)
from qa_engine.rescore import turn_from_dict
from qa_engine.types import CallAnalysis

log = logging.getLogger("api.privacy")

CLEAR_ROLES = ("privacy_officer",)  # may read the clear original
LOG_READERS = ("admin", "privacy_officer")  # may read the access log
RESOURCES = ("transcript", "events", "scorecard", "analysis", "audio", "page")


@dataclass(frozen=True)
class Actor:
    """Who asks: an API key or a web UI user."""

    kind: str
    id: str
    name: str
    role: str

    @classmethod
    def of_key(cls, key: ApiKey) -> Actor:
        return cls("key", key.id, f"{key.prefix}... {key.name}".strip(), key.role)

    @classmethod
    def of_user(cls, user: User) -> Actor:
        return cls("user", str(user.id), user.username, user.role)


@dataclass(frozen=True)
class Origin:
    """Where a request came from, as the access log records it."""

    ip: str = ""
    user_agent: str = ""
    detail: str = ""

    @classmethod
    def of(cls, request: Request) -> Origin:
        rng = request.headers.get("range", "")
        return cls(request.client.host if request.client else "", request.headers.get("user-agent", "")[:300],
                   f"range {rng}"[:200] if rng else "")


# ---- at analysis time ------------------------------------------------------------------------------------------

@dataclass
class Stored:
    result: dict[str, Any]  # what goes into the results table
    mask: PiiMask | None  # the clear original and the bleeped stretches (None: masking is off)


def for_storage(settings: Settings, store: AudioStore, call_id: str, audio: Path | None,
                analysis: CallAnalysis) -> Stored:
    """The analysis as the service stores it; writes the bleeped recording first (durably) where there is one.
    `audio` None: the call was submitted as a transcript, there is no recording to bleep."""
    if not settings.pii_masking:
        return Stored(analysis.to_dict(), None)
    clear = analysis.to_dict()
    numbers = mask_analysis(analysis)
    masked = analysis.to_dict()
    spans = bleep_spans(numbers, settings.pii_bleep_pad_s, analysis.call.length_s) if audio is not None else []
    if spans and audio is not None:
        store.save_masked(call_id, bleeped_flac(audio, spans, settings.pii_bleep, settings.max_duration_s))
    original = {k: clear[k] for k in ("turns", "events", "scorecard")} if numbers else None
    return Stored(masked, PiiMask(call_id=call_id, numbers=[n.to_dict() for n in numbers],
                                  bleeped=[[round(a, 3), round(b, 3)] for a, b in spans], clear=original))


def save(session: Session, stored: Stored) -> None:
    """Add the privacy row of a result being stored (in the caller's transaction)."""
    if stored.mask is not None:
        session.merge(stored.mask)


# ---- reading -----------------------------------------------------------------------------------------------------

def _as_stored(res: Result) -> dict[str, Any]:
    return {"call": res.call_info, "metrics": res.metrics, "turns": res.turns, "events": res.events,
            "scorecard": res.scorecard}


def readable(session: Session, settings: Settings, res: Result) -> dict[str, Any]:
    """The result as anyone may read it: masked (a result stored before masking is masked now)."""
    stored = _as_stored(res)
    if session.get(PiiMask, res.call_id) is not None or not settings.pii_masking:
        return stored
    masked, _ = mask_result(stored)
    return masked


def clear_original(session: Session, actor: Actor, call: Call, res: Result, resource: str,
                   origin: Origin) -> dict[str, Any]:
    """The result as the engine wrote it, for a reader allowed to see it; the access is logged either way."""
    authorize_clear(session, actor, call.id, resource, origin)
    stored = _as_stored(res)
    mask = session.get(PiiMask, res.call_id)
    if mask is not None and mask.clear:
        stored.update(mask.clear)
    return stored


def result_view(session: Session, settings: Settings, actor: Actor, call: Call, res: Result, *, clear: bool,
                resource: str, origin: Origin) -> dict[str, Any]:
    if clear:
        return clear_original(session, actor, call, res, resource, origin)
    return readable(session, settings, res)


def authorize_clear(session: Session, actor: Actor, call_id: str, resource: str, origin: Origin) -> None:
    granted = actor.role in CLEAR_ROLES
    session.add(PiiAccess(call_id=call_id, resource=resource, actor_kind=actor.kind, actor_id=actor.id[:64],
                          actor_name=actor.name[:200], role=actor.role, granted=granted, client_ip=origin.ip[:64],
                          user_agent=origin.user_agent[:300], detail=origin.detail[:200]))
    session.commit()
    if not granted:
        log.warning("clear original of %s refused to %s %s (%s)", call_id, actor.kind, actor.name, actor.role)
        raise Problem(403, f"the clear original (unmasked phone, ID and card numbers) is for the "
                      f"{' or '.join(CLEAR_ROLES)} role; your role is {actor.role}. The request was recorded.",
                      code="clear_original_forbidden")


def played_audio(session: Session, settings: Settings, store: AudioStore, actor: Actor, call: Call,
                 original: Path, media_type: str, *, clear: bool, origin: Origin) -> tuple[Path, str, str]:
    """(file, media type, file suffix) of the recording to play: bleeped unless the clear one is asked for."""
    if clear:
        authorize_clear(session, actor, call.id, "audio", origin)
        return original, media_type, call.audio_format
    if not settings.pii_masking:
        return original, media_type, call.audio_format
    res = session.get(Result, call.id) if call.status == "done" else None
    if res is None:
        why = ("the analysis failed, so the numbers said in it cannot be bleeped"
               if call.status == "failed" else f"the call is {call.status}: it is bleeped once it is analysed")
        raise Problem(409, f"the recording is played with the customer's phone, ID and card numbers bleeped; {why}. "
                      f"The clear recording is for the {' or '.join(CLEAR_ROLES)} role (?clear=true).",
                      code=f"call_{call.status}", call_status=call.status)
    mask = session.get(PiiMask, call.id)
    if mask is not None:
        spans = [(float(a), float(b)) for a, b in mask.bleeped]
    else:  # analysed before masking: find the numbers now
        spans = bleep_spans(_numbers_of(_as_stored(res)), settings.pii_bleep_pad_s,
                            float(res.call_info.get("length_s") or 0) or None)
    if not spans:
        return original, media_type, call.audio_format
    path = store.masked_path(call.id)
    if not path.exists():  # made by the worker; here for calls analysed before masking, or a lost file
        store.save_masked(call.id, bleeped_flac(original, spans, settings.pii_bleep, settings.max_duration_s))
    return path, BLEEPED_MEDIA_TYPE, "flac"


def _numbers_of(result: dict[str, Any]) -> list[SpokenNumber]:
    language = (result.get("call") or {}).get("language") or "zh"
    return spoken_numbers([turn_from_dict(t) for t in result.get("turns") or []], language)


# ---- rescoring and deleting --------------------------------------------------------------------------------------

def clear_turns(session: Session, res: Result) -> list[Any]:
    """The turns a re-score reads: the clear ones (a masked number is no longer a number to flag)."""
    mask = session.get(PiiMask, res.call_id)
    return mask.clear["turns"] if mask is not None and mask.clear else res.turns


def masked_rescore(session: Session, settings: Settings, res: Result, events: list[dict[str, Any]],
                   scorecard: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A re-score's events and scorecard masked as the call's are (a proposed version shown beside the official
    one); nothing is stored."""
    if session.get(PiiMask, res.call_id) is None and not settings.pii_masking:
        return events, scorecard
    language = res.call_info.get("language") or "zh"
    quotes = quotes_of([turn_from_dict(t) for t in clear_turns(session, res)], language)
    return mask_event_dicts(events, quotes), mask_scorecard_dict(scorecard, quotes)


def store_rescored(session: Session, settings: Settings, res: Result, events: list[dict[str, Any]],
                   scorecard: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A re-score's events and scorecard as they are stored: masked, the clear ones kept beside."""
    mask = session.get(PiiMask, res.call_id)
    if mask is not None and mask.clear:
        mask.clear = {**mask.clear, "events": events, "scorecard": scorecard}
    return masked_rescore(session, settings, res, events, scorecard)


def forget(session: Session, call_id: str) -> None:
    """Retention: the call's clear original goes with the call (in the caller's transaction; its bleeped
    recording is the store's `delete_masked`). The access log stays."""
    session.execute(delete(PiiMask).where(PiiMask.call_id == call_id))


# ---- the access log ----------------------------------------------------------------------------------------------

def access_log(session: Session, *, call_id: str | None = None, since: datetime | None = None,
               until: datetime | None = None, before_id: int | None = None, limit: int = 100) -> list[PiiAccess]:
    """Newest first."""
    q = select(PiiAccess)
    if call_id:
        q = q.where(PiiAccess.call_id == call_id)
    if since:
        q = q.where(PiiAccess.at >= since)
    if until:
        q = q.where(PiiAccess.at < until)
    if before_id:
        q = q.where(PiiAccess.id < before_id)
    return list(session.scalars(q.order_by(PiiAccess.id.desc()).limit(limit)).all())


def access_dict(row: PiiAccess) -> dict[str, Any]:
    return {"id": row.id, "at": row.at.isoformat() + "Z", "call_id": row.call_id, "resource": row.resource,
            "actor": {"kind": row.actor_kind, "id": row.actor_id, "name": row.actor_name, "role": row.role},
            "granted": row.granted, "client_ip": row.client_ip, "user_agent": row.user_agent, "detail": row.detail}


# ---- results stored before masking -------------------------------------------------------------------------------

def mask_stored(db: Database, settings: Settings, store: AudioStore, batch: int = 50) -> dict[str, int]:
    """Mask every result stored clear (analysed before masking, or with it off): the clear original moves to
    pii_masks, the result is rewritten masked, the bleeped recording is written. Safe to run again."""
    counts = {"checked": 0, "masked": 0, "bleeped": 0, "failed": 0}
    last = ""
    while True:
        with db.session() as s:
            ids = list(s.scalars(select(Result.call_id).outerjoin(PiiMask, PiiMask.call_id == Result.call_id)
                                 .where(PiiMask.call_id.is_(None), Result.call_id > last)
                                 .order_by(Result.call_id).limit(batch)).all())
        if not ids:
            return counts
        for cid in ids:
            last = cid
            counts["checked"] += 1
            try:
                changed, bleeped = _mask_one(db, settings, store, cid)
            except Exception:
                log.exception("masking the stored result of %s failed", cid)
                counts["failed"] += 1
                continue
            counts["masked"] += changed
            counts["bleeped"] += bleeped


def _mask_one(db: Database, settings: Settings, store: AudioStore, call_id: str) -> tuple[int, int]:
    with db.session() as s:
        res, call = s.get(Result, call_id), s.get(Call, call_id)
        if res is None or call is None or s.get(PiiMask, call_id) is not None:
            return 0, 0
        clear = _as_stored(res)
        masked, numbers = mask_result(clear)
        spans = bleep_spans(numbers, settings.pii_bleep_pad_s, float(res.call_info.get("length_s") or 0) or None)
        original = store.path(call.audio_sha256)
        bleeped = 0
        if spans and original.exists():
            store.save_masked(call_id, bleeped_flac(original, spans, settings.pii_bleep, settings.max_duration_s))
            bleeped = 1
        res.turns, res.events, res.scorecard = masked["turns"], masked["events"], masked["scorecard"]
        s.add(PiiMask(call_id=call_id, numbers=[n.to_dict() for n in numbers],
                      bleeped=[[round(a, 3), round(b, 3)] for a, b in spans],
                      clear={k: clear[k] for k in ("turns", "events", "scorecard")} if numbers else None))
        s.commit()
        return int(bool(numbers)), bleeped

"""Job lifecycle, shared by the in-process pool and the Celery workers.

A job row per call. A worker claims it with a conditional UPDATE (queued, or processing
with an expired lease), renews the lease while it works, and writes the result only
while it still holds the lease; results.call_id is the primary key, so a call never
gets two scorecards, whatever crashes in between.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.calls.models import TRANSCRIPT_FORMAT, Call, Result, encode_tags
from api.config import Settings
from api.database.core import Database, utcnow
from api.jobs.models import Job
from api.privacy import service as privacy
from api.rubrics import service as rubrics
from api.storage import AudioStore
from api.webhooks import service as webhooks
from qa_engine import AnalysisOptions, AudioError, CallAnalysis, QAError, RubricError, TranscriptError
from qa_engine.pipeline import analyze_transcript
from qa_engine.transcript import read_transcript
from qa_engine.types import as_direction

log = logging.getLogger("api.jobs")

# How a worker analyses one call: its process's shared analyzer (api.jobs.engine), or
# anything else with the engine's signature.
Analyze = Callable[[Path, AnalysisOptions], CallAnalysis]

PERMANENT = (AudioError, RubricError, TranscriptError)


@dataclass
class Outcome:
    state: str  # done | failed | retry | skipped
    detail: str = ""
    retry_in_s: float = 0.0


def _claimable(now: Any) -> Any:
    return or_(Job.status == "queued",
               and_(Job.status == "processing", Job.lease_until < now))


def claim(session: Session, call_id: str, worker_id: str, lease_s: float) -> bool:
    now = utcnow()
    res = session.execute(
        update(Job)
        .where(Job.call_id == call_id, _claimable(now), Job.available_at <= now)
        .values(status="processing", worker_id=worker_id, lease_until=now + timedelta(seconds=lease_s),
                attempts=Job.attempts + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if res.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        return False
    session.execute(update(Call).where(Call.id == call_id).values(status="processing", updated_at=now))
    session.commit()
    return True


def claim_next(session: Session, worker_id: str, lease_s: float) -> str | None:
    """Claim the oldest runnable job (queued, or abandoned by a dead worker)."""
    now = utcnow()
    ids = session.scalars(
        select(Job.call_id).where(_claimable(now), Job.available_at <= now)
        .order_by(Job.available_at, Job.created_at).limit(5)
    ).all()
    for cid in ids:
        if claim(session, cid, worker_id, lease_s):
            return cid
    return None


def lease_left(session: Session, call_id: str) -> float | None:
    """Seconds until the lease on a job being processed runs out; None when no lease holds it."""
    lease_until = session.scalar(select(Job.lease_until).where(Job.call_id == call_id, Job.status == "processing"))
    if lease_until is None:
        return None
    return max(0.0, (lease_until - utcnow()).total_seconds())


def runnable_ids(session: Session, stale_enqueue_s: float, lease_s: float) -> list[str]:
    """Jobs a broker should be (re)sent: never sent, sent long ago, or whose worker died.

    A dead worker's job is sent again as soon as its lease has run out (once per lease, in case
    that message is lost too): its first message may sit unacknowledged with the dead worker
    until the broker's visibility timeout. A queued job waits `stale_enqueue_s`: it may only be
    behind others in the queue.
    """
    now = utcnow()
    old = now - timedelta(seconds=stale_enqueue_s)
    lease_ago = now - timedelta(seconds=lease_s)
    return list(session.scalars(
        select(Job.call_id).where(
            Job.available_at <= now,
            or_(and_(Job.status == "queued", or_(Job.enqueued_at.is_(None), Job.enqueued_at < old)),
                and_(Job.status == "processing", Job.lease_until < now,
                     or_(Job.enqueued_at.is_(None), Job.enqueued_at < Job.lease_until, Job.enqueued_at < lease_ago))),
        ).limit(100)
    ).all())


def mark_enqueued(session: Session, call_id: str) -> None:
    session.execute(update(Job).where(Job.call_id == call_id).values(enqueued_at=utcnow()))
    session.commit()


class _Heartbeat:
    """Renews the lease while the analysis runs; stops when told or when the lease is lost."""

    def __init__(self, db: Database, call_id: str, worker_id: str, lease_s: float) -> None:
        self.db, self.call_id, self.worker_id, self.lease_s = db, call_id, worker_id, lease_s
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, name=f"lease-{call_id[:8]}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            try:
                with self.db.session() as s:
                    s.execute(update(Job).where(Job.call_id == self.call_id, Job.worker_id == self.worker_id,
                                                Job.status == "processing")
                              .values(lease_until=utcnow() + timedelta(seconds=self.lease_s)))
                    s.commit()
            except Exception:  # the next beat retries; a lost lease only means another worker may take over
                log.warning("lease renewal failed for %s", self.call_id, exc_info=True)


def options_for(session: Session, settings: Settings, call: Call) -> AnalysisOptions:
    """The call's own options; how it is decoded is the worker's analyzer's (api/jobs/engine.py)."""
    rubric_path = None
    if call.rubric:
        rubric_path = str(rubrics.resolve(session, settings.rubric_dir, call.rubric).path)
    offset = 0.0
    if call.started_at and call.connected_at:
        offset = max(0.0, (call.connected_at - call.started_at).total_seconds())
    # The upload schema admits only the two directions; anything else in an old row is no direction, not a failed job.
    return AnalysisOptions(rubric=rubric_path, agent_channel=call.agent_channel, language=call.language,
                           connect_offset_s=offset, direction=as_direction(call.direction),
                           max_duration_s=settings.max_duration_s)


def summary_fields(scorecard: dict[str, Any]) -> dict[str, Any]:
    failed = [i["id"] for i in scorecard.get("items", []) if i.get("status") == "fail"]
    return {"score": scorecard.get("total"), "score_max": scorecard.get("max"),
            "passed": scorecard.get("passed"), "fatal": scorecard.get("fatal"),
            "flags": encode_tags(scorecard.get("flags", [])), "failed_items": encode_tags(failed),
            "rubric_id": scorecard.get("rubric"), "rubric_version": scorecard.get("version")}


def process(settings: Settings, db: Database, store: AudioStore, call_id: str, worker_id: str,
            analyze: Analyze, metrics: Any = None) -> Outcome:
    """Analyse one claimed call with `analyze` and record the outcome. Safe to call again for the same call."""
    with db.session() as s:
        call = s.get(Call, call_id)
        if call is None:
            return Outcome("skipped", "the call was deleted")
        if s.get(Result, call_id) is not None:  # analysed before a crash lost the job update
            _finish(s, call_id, worker_id, "done", None, None)
            return Outcome("done", "already analysed")
        try:
            opts = options_for(s, settings, call)
        except Exception as exc:
            return _fail_or_retry(db, settings, call_id, worker_id, RubricError(str(exc)))
        path = store.path(call.audio_sha256)
        is_transcript = call.audio_format == TRANSCRIPT_FORMAT
    t0 = time.perf_counter()
    try:
        with _Heartbeat(db, call_id, worker_id, settings.job_lease_s):
            if not path.exists():
                raise AudioError(f"the stored {'transcript' if is_transcript else 'recording'} is missing; "
                                 "submit the call again")
            # Masked as stored (turns, events, scorecard), the bleeped recording written: api/privacy.
            if is_transcript:
                transcript = read_transcript(path, settings.max_duration_s)
                stored = privacy.for_storage(settings, store, call_id, None, analyze_transcript(transcript, opts))
            else:
                stored = privacy.for_storage(settings, store, call_id, path, analyze(path, opts))
    except Exception as exc:
        return _fail_or_retry(db, settings, call_id, worker_id, exc)
    elapsed = time.perf_counter() - t0
    result = stored.result
    length = float(result["call"].get("length_s") or 0.0)
    with db.session() as s:
        s.add(Result(call_id=call_id, call_info=result["call"], metrics=result["metrics"],
                     turns=result["turns"], events=result["events"], scorecard=result["scorecard"],
                     speech=result.get("speech"), analysis_s=elapsed, worker_id=worker_id))
        privacy.save(s, stored)
        if not _finish(s, call_id, worker_id, "done", None, None, duration_s=length,
                       **summary_fields(result["scorecard"])):
            return Outcome("skipped", "lease lost to another worker")
    if metrics is not None:
        metrics.observe_analysis(elapsed, length)
    log.info("analysed %s in %.1f s (%.1f s of audio)", call_id, elapsed, length)
    return Outcome("done")


def _finish(s: Session, call_id: str, worker_id: str, state: str, code: str | None, reason: str | None,
            **call_fields: Any) -> bool:
    """Close the job if this worker still holds it; commits together with whatever `s` holds."""
    now = utcnow()
    res = s.execute(update(Job).where(Job.call_id == call_id, Job.status.in_(("processing", "queued")),
                                      or_(Job.worker_id == worker_id, Job.worker_id.is_(None)))
                    .values(status=state, lease_until=None, last_error=reason, updated_at=now)
                    .execution_options(synchronize_session=False))
    if res.rowcount != 1:  # type: ignore[attr-defined]
        s.rollback()
        return False
    s.execute(update(Call).where(Call.id == call_id).values(status=state, failure_code=code,
                                                            failure_reason=reason, updated_at=now,
                                                            **call_fields))
    call = s.get(Call, call_id)
    if call is not None:
        webhooks.enqueue_for_call(s, call, f"call.{state}")
    try:
        s.commit()
    except IntegrityError:  # another worker stored the result first
        s.rollback()
        return False
    return True


def _fail_or_retry(db: Database, settings: Settings, call_id: str, worker_id: str, exc: Exception) -> Outcome:
    with db.session() as s:
        if isinstance(exc, PERMANENT):
            code = getattr(exc, "code", "bad_audio")
            _finish(s, call_id, worker_id, "failed", code, str(exc))
            return Outcome("failed", str(exc))
        job = s.get(Job, call_id)
        attempts = job.attempts if job else settings.job_max_attempts
        why = str(exc) if isinstance(exc, QAError) else f"{type(exc).__name__}: {exc}"
        if attempts >= settings.job_max_attempts:
            code = getattr(exc, "code", "analysis_error")
            _finish(s, call_id, worker_id, "failed", code,
                    f"analysis failed {attempts} times; last error: {why}")
            return Outcome("failed", why)
        delay = settings.job_retry_backoff_s * 2 ** (attempts - 1)
        now = utcnow()
        s.execute(update(Job).where(Job.call_id == call_id, Job.worker_id == worker_id)
                  .values(status="queued", lease_until=None, worker_id=None, last_error=why,
                          available_at=now + timedelta(seconds=delay), updated_at=now))
        s.execute(update(Call).where(Call.id == call_id).values(status="queued", updated_at=now))
        s.commit()
        log.warning("analysis of %s failed (%s); retry in %.0f s", call_id, why, delay)
        return Outcome("retry", why, delay)


def fail_exhausted(session: Session, max_attempts: int) -> int:
    """Jobs whose workers died on them `max_attempts` times are failed, not retried forever."""
    now = utcnow()
    rows = session.scalars(select(Job.call_id).where(Job.status == "processing", Job.lease_until < now,
                                                     Job.attempts >= max_attempts)).all()
    for cid in rows:
        _finish(session, cid, session.get(Job, cid).worker_id or "", "failed", "worker_lost",  # type: ignore[union-attr]
                f"the worker analysing this call stopped {max_attempts} times (crash or out of memory); "
                "check the recording and submit it again")
    return len(rows)

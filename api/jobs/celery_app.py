"""Celery for scale-out: `qa-engine worker` on any machine that reaches the database, the broker and the audio store.

Tasks take the call id only and are idempotent (the DB claim decides who works);
acks_late + reject_on_worker_lost hand a job whose worker died to another one. A message that
arrives while the job's lease still runs (a redelivery after a crash, or a second message sent by
the API's housekeeping) waits for the lease to end, then claims the job: a job a dead worker held
is taken up one lease after that worker stopped renewing, whichever message comes first.
"""

from __future__ import annotations

import logging
import threading
from functools import lru_cache
from typing import Any

from celery import Celery
from celery.signals import worker_init

from api.calls import service as calls_service
from api.config import Settings
from api.database.core import Database
from api.jobs import service
from api.jobs.engine import SharedAnalyzer
from api.jobs.runner import worker_name
from api.storage import AudioStore

log = logging.getLogger("api.jobs")


def make_celery(settings: Settings) -> Celery:
    app = Celery("qa", broker=settings.broker_url)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": max(3600, int(settings.job_lease_s * 4))},
        worker_hijack_root_logger=False,
    )
    app.task(name="qa.analyze_call", bind=True, max_retries=None)(analyze_call)
    return app


_CTX_LOCK = threading.Lock()


def _worker_ctx() -> tuple[Settings, Database, AudioStore]:
    with _CTX_LOCK:  # task threads (--pool threads) start together: one Database per process
        return _make_ctx()


@lru_cache(maxsize=1)
def _make_ctx() -> tuple[Settings, Database, AudioStore]:
    settings = Settings()
    db = Database(settings)
    db.migrate()
    return settings, db, AudioStore(settings.audio_dir, settings.tmp_dir)


_SHARED_LOCK = threading.Lock()
_shared: SharedAnalyzer | None = None


def _analyzer(settings: Settings) -> SharedAnalyzer:
    """This process's one analyzer, shared by its task threads (`--pool threads`); built on first use.

    Built lazily, in the process that runs the tasks: a prefork child must not inherit a
    model (or a CUDA context) from its parent.
    """
    global _shared
    with _SHARED_LOCK:
        if _shared is None:
            _shared = SharedAnalyzer(settings)
        return _shared


@worker_init.connect
def _clean_store_at_start(**_: Any) -> None:
    """What killed processes left in the audio store's tmp folder goes when a worker starts (logged).
    Its own Database, disposed: a prefork child must not inherit the parent's connections."""
    settings = Settings()
    db = Database(settings)
    try:
        db.migrate()
        calls_service.clean_store(db, AudioStore(settings.audio_dir, settings.tmp_dir))
    finally:
        db.engine.dispose()


def analyze_call(self: Any, call_id: str) -> str:
    settings, db, store = _worker_ctx()
    wid = worker_name(f"celery-{self.request.id or ''}"[:60])
    with db.session() as s:
        if not service.claim(s, call_id, wid, settings.job_lease_s):
            wait = service.lease_left(s, call_id)
            if wait is not None:  # held: by a live worker, or by a dead one until its lease runs out
                raise self.retry(countdown=wait + 1.0)
            return "not claimable (done, deleted, or scheduled later)"
    outcome = service.process(settings, db, store, call_id, wid, _analyzer(settings).analyze)
    if outcome.state == "retry":
        raise self.retry(countdown=outcome.retry_in_s)
    return outcome.state


def celery_from_env() -> Celery:
    return make_celery(Settings())

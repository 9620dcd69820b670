"""Celery for scale-out: `qa-engine worker` on any machine that reaches the database, the broker and the audio store.

Tasks take the call id only and are idempotent (the DB claim decides who works);
acks_late + reject_on_worker_lost hand a job whose worker died to another one.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from celery import Celery

from api.config import Settings
from api.database.core import Database
from api.jobs import service
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


@lru_cache(maxsize=1)
def _worker_ctx() -> tuple[Settings, Database, AudioStore]:
    settings = Settings()
    db = Database(settings)
    db.migrate()
    return settings, db, AudioStore(settings.audio_dir, settings.tmp_dir)


def analyze_call(self: Any, call_id: str) -> str:
    settings, db, store = _worker_ctx()
    wid = worker_name(f"celery-{self.request.id or ''}"[:60])
    with db.session() as s:
        if not service.claim(s, call_id, wid, settings.job_lease_s):
            return "not claimable (done, deleted, scheduled later, or held by a live worker)"
    outcome = service.process(settings, db, store, call_id, wid)
    if outcome.state == "retry":
        raise self.retry(countdown=outcome.retry_in_s)
    return outcome.state


def celery_from_env() -> Celery:
    return make_celery(Settings())

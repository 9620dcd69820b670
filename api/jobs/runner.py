"""Job runners. LocalRunner: a thread pool in the API process (the default, nothing else to run).
CeleryRunner: the API only sends call ids to Redis; `qa-engine worker` processes run them."""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any

from api.config import Settings
from api.database.core import Database
from api.jobs import service
from api.jobs.engine import SharedAnalyzer
from api.storage import AudioStore
from api.webhooks import service as webhooks

log = logging.getLogger("api.jobs")


def worker_name(tag: str = "") -> str:
    return f"{socket.gethostname()}:{os.getpid()}{':' + tag if tag else ''}"


class _Base:
    def __init__(self, settings: Settings, db: Database, store: AudioStore, metrics: Any) -> None:
        self.settings, self.db, self.store, self.metrics = settings, db, store, metrics
        self.stop_event = threading.Event()
        self.wake = threading.Event()
        self.threads: list[threading.Thread] = []
        # False in API-only mode (QA_START_WORKERS=false, no broker): the calls wait in the database for
        # workers in another process, and this one has no queue or model of its own to report.
        self.started = False

    def _spawn(self, target: Any, name: str) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)
        t.start()
        self.threads.append(t)

    def _housekeeping(self) -> None:
        """Deliver webhooks; fail jobs that killed their workers too often."""
        while not self.stop_event.wait(self.settings.poll_interval_s):
            try:
                with self.db.session() as s:
                    service.fail_exhausted(s, self.settings.job_max_attempts)
                webhooks.deliver_due(self.db, self.settings)
                self._extra_housekeeping()
            except Exception:
                log.exception("housekeeping failed; retrying")

    def _extra_housekeeping(self) -> None:
        pass

    def stop(self) -> None:
        self.stop_event.set()
        self.wake.set()
        for t in self.threads:
            t.join(timeout=2)


class LocalRunner(_Base):
    def start(self) -> None:
        # One model and one batch scheduler for all QA_WORKERS threads: the windows of
        # the calls they analyse at once share batches.
        self.started = True
        self.model = SharedAnalyzer(self.settings)
        if self.metrics is not None:
            self.metrics.watch_batches(lambda: self.model.stats)
        self._spawn(self.model.preload, "model-preload")
        for i in range(max(1, self.settings.workers)):
            self._spawn(lambda i=i: self._work(worker_name(f"t{i}")), f"qa-worker-{i}")
        self._spawn(self._housekeeping, "qa-housekeeping")

    def enqueue(self, call_id: str) -> None:
        self.wake.set()

    def _work(self, wid: str) -> None:
        while not self.stop_event.is_set():
            try:
                with self.db.session() as s:
                    cid = service.claim_next(s, wid, self.settings.job_lease_s)
                if cid is None:
                    self.wake.wait(self.settings.poll_interval_s)
                    self.wake.clear()
                    continue
                service.process(self.settings, self.db, self.store, cid, wid, self.model.analyze, self.metrics)
            except Exception:
                log.exception("worker %s: unexpected error; continuing", wid)
                self.stop_event.wait(1.0)

    def queue_status(self) -> str:
        alive = sum(1 for t in self.threads if t.name.startswith("qa-worker") and t.is_alive())
        return "ok" if alive else "no worker thread is running"

    def model_status(self) -> str:
        return self.model.status


class CeleryRunner(_Base):
    def start(self) -> None:
        from api.jobs.celery_app import make_celery

        self.celery = make_celery(self.settings)
        self.started = True
        self._spawn(self._housekeeping, "qa-housekeeping")

    def enqueue(self, call_id: str) -> None:
        try:
            self.celery.send_task("qa.analyze_call", args=[call_id])
            with self.db.session() as s:
                service.mark_enqueued(s, call_id)
        except Exception:  # the job is in the DB; housekeeping sends it again
            log.warning("could not send %s to the broker; will retry", call_id, exc_info=True)

    def _extra_housekeeping(self) -> None:
        # Jobs never sent (broker down, API killed) or whose worker died: send them again.
        with self.db.session() as s:
            ids = service.runnable_ids(s, max(600.0, self.settings.job_lease_s * 4), self.settings.job_lease_s)
        for cid in ids:
            self.enqueue(cid)

    def queue_status(self) -> str:
        try:
            with self.celery.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
            return "ok"
        except Exception as exc:
            return f"broker unavailable: {type(exc).__name__}"

    def model_status(self) -> str:
        return "ok"  # the model lives on the workers


def make_runner(settings: Settings, db: Database, store: AudioStore, metrics: Any) -> LocalRunner | CeleryRunner:
    cls = CeleryRunner if settings.broker_url else LocalRunner
    return cls(settings, db, store, metrics)

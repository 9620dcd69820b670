"""Accepted calls written to the database in shared transactions (group commit).

Every accepted upload needs its call and job rows committed before its 202. Committed one
by one, a burst of uploads queues on SQLite's single writer, whose busy handler sleeps up
to 100 ms between tries, and pays one fsync per call (200 uploads at once: seconds). Here
the thread that finds no commit running writes every call waiting at that moment in one
transaction (one fsync); the others wait on a lock, not in SQLite, and find theirs written.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from api.calls.models import Call
from api.database.core import Database
from api.jobs.models import Job


@dataclass
class _Waiting:
    call: Call
    done: bool = False
    error: BaseException | None = None


class CallWriter:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._committing = threading.Lock()  # held by the one thread writing a batch
        self._queue_lock = threading.Lock()
        self._queue: list[_Waiting] = []

    def add(self, call: Call) -> None:
        """Insert `call` and its queued job; returns once committed. IntegrityError: another call
        took its external_id or Idempotency-Key first (the other calls of its batch are written)."""
        me = _Waiting(call)
        with self._queue_lock:
            self._queue.append(me)
        with self._committing:
            if not me.done:
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                self._write(batch)
        if me.error is not None:
            raise me.error

    def _write(self, batch: list[_Waiting]) -> None:
        try:
            try:
                self._commit([w.call for w in batch])
            except IntegrityError:
                if len(batch) == 1:
                    raise
                for w in batch:  # one of them is a duplicate: each on its own, each with its own outcome
                    try:
                        self._commit([w.call])
                    except BaseException as exc:
                        w.error = exc
        except BaseException as exc:
            for w in batch:
                w.error = w.error or exc
        finally:
            for w in batch:
                w.done = True

    def _commit(self, calls: list[Call]) -> None:
        with self.db.session() as s:
            for call in calls:
                s.add(call)
                s.add(Job(call_id=call.id, status="queued"))
            s.commit()

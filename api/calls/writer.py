"""An upload's database writes in shared transactions (group commit).

Every accepted upload commits twice before its 202: its hold on the stored recording
(`stored_audio`, before the file is placed) and its call and job rows. Committed one by one,
a burst of uploads queues on SQLite's single writer, whose busy handler sleeps up to 100 ms
between tries, and pays one fsync per commit (200 uploads at once: seconds). Here the thread
that finds no commit running writes the work of every upload waiting at that moment in one
transaction (one fsync); the others wait on a lock, not in SQLite, and find theirs written.
A batch that fails (a duplicate external_id, a deadlock with another process) is written
again one upload at a time, so each upload gets its own outcome.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from api.calls.models import Call
from api.database.core import Database
from api.jobs.models import Job

Work = Callable[[Session], object]


@dataclass
class _Waiting:
    work: Work
    done: bool = False
    error: BaseException | None = None


class CallWriter:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._committing = threading.Lock()  # held by the one thread writing a batch
        self._queue_lock = threading.Lock()
        self._queue: list[_Waiting] = []

    def run(self, work: Work) -> None:
        """Run `work(session)` in a transaction shared with other uploads' work; returns once committed.
        Raises what the work raised when run on its own (the other work of its batch is written)."""
        me = _Waiting(work)
        with self._queue_lock:
            self._queue.append(me)
        with self._committing:
            if not me.done:
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                self._write(batch)
        if me.error is not None:
            raise me.error

    def add(self, call: Call) -> None:
        """Insert `call` and its queued job. IntegrityError: another call took its external_id or
        Idempotency-Key first."""
        def insert(s: Session) -> None:
            s.add(call)
            s.add(Job(call_id=call.id, status="queued"))
        self.run(insert)

    def _write(self, batch: list[_Waiting]) -> None:
        try:
            try:
                self._commit(batch)
            except Exception:
                if len(batch) == 1:
                    raise
                for w in batch:  # each on its own, each with its own outcome
                    try:
                        self._commit([w])
                    except BaseException as exc:
                        w.error = exc
        except BaseException as exc:
            for w in batch:
                w.error = w.error or exc
        finally:
            for w in batch:
                w.done = True

    def _commit(self, batch: list[_Waiting]) -> None:
        with self.db.session() as s:
            for w in batch:
                w.work(s)
            s.commit()

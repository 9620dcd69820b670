"""Prometheus metrics: queue depth and jobs by state (read from the DB at scrape), analysis time, realtime factor,
and the in-process ASR batch scheduler's counters."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from api.database.core import Database, utcnow
from api.jobs.models import Job


class _JobCollector(Collector):
    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[Any]:
        states = {"queued": 0, "processing": 0, "done": 0, "failed": 0}
        stale = 0
        try:
            with self.db.session() as s:
                for st, n in s.execute(select(Job.status, func.count()).group_by(Job.status)):
                    states[st] = n
                stale = s.scalar(select(func.count()).select_from(Job).where(
                    Job.status == "processing", Job.lease_until < utcnow())) or 0
        except Exception:
            return
        jobs = GaugeMetricFamily("qa_jobs", "analysis jobs by state", labels=["state"])
        for st, n in states.items():
            jobs.add_metric([st], n)
        yield jobs
        yield GaugeMetricFamily("qa_queue_depth", "jobs waiting for a worker (queued, or whose worker died)",
                                value=states["queued"] + stale)


class _BatchCollector(Collector):
    """The shared analyzer's batches: windows per batch shows whether calls in flight really share them."""

    def __init__(self, stats: Callable[[], Any]) -> None:
        self.stats = stats  # -> qa_engine.asr.batching.BatchStats | None (not built, or sequential)

    def collect(self) -> Iterator[Any]:
        st = self.stats()
        if st is None:
            return
        yield CounterMetricFamily("qa_asr_batches", "ASR batches decoded", value=st.batches)
        yield CounterMetricFamily("qa_asr_windows", "speech windows decoded in batches", value=st.windows)
        yield CounterMetricFamily("qa_asr_fallback_windows", "windows decoded again alone (looked like a failure)",
                                  value=st.fallbacks)
        yield CounterMetricFamily("qa_asr_wordless_retries",
                                  "gaps of a second or more without a word inside speech, decoded again on their own",
                                  value=st.wordless_retries)
        yield CounterMetricFamily("qa_asr_busy_seconds", "time the ASR model spent decoding batches",
                                  value=st.asr_busy_s)


class Metrics:
    def __init__(self, db: Database) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_JobCollector(db))
        self.analysis_seconds = Histogram("qa_analysis_seconds", "wall time to analyse one call",
                                          buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800),
                                          registry=self.registry)
        self.realtime_factor = Histogram("qa_realtime_factor", "analysis time / call length (lower is faster)",
                                         buckets=(0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5),
                                         registry=self.registry)
        self.submitted = Counter("qa_calls_submitted", "calls accepted (202)", registry=self.registry)

    def watch_batches(self, stats: Callable[[], Any]) -> None:
        self.registry.register(_BatchCollector(stats))

    def observe_analysis(self, seconds: float, audio_s: float) -> None:
        self.analysis_seconds.observe(seconds)
        if audio_s > 0:
            self.realtime_factor.observe(seconds / audio_s)

"""All service settings in one place; each is read from the environment with the prefix QA_."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QA_", extra="ignore")

    data_dir: Path = Path("./data")
    # Empty: SQLite (WAL) at <data_dir>/qa.sqlite3. Else any SQLAlchemy URL, e.g.
    # postgresql+psycopg://user@host:5432/db
    database_url: str = ""
    # Empty: jobs run in this process (a thread pool). Set (redis://...): Celery workers run them.
    broker_url: str = ""
    # In-process analysis threads: calls in flight at once in this process; their speech
    # shares ASR batches (QA_BATCH_SIZE), and one call's CPU stages run beside the others' ASR.
    workers: int = 4
    max_upload_mb: float = 200.0
    # Uploads processed at a time by this process (api.main.UploadGate); the others wait their turn
    # at no cost, and a sender waiting on its network never holds a turn.
    uploads_at_once: int = Field(default=8, ge=1, le=1000)
    max_duration_s: float = 3 * 3600.0
    job_lease_s: float = 60.0  # a job whose worker stops renewing this long is picked up again
    job_max_attempts: int = 3
    job_retry_backoff_s: float = 5.0
    poll_interval_s: float = 0.5
    webhook_max_attempts: int = 6
    webhook_backoff_s: float = 2.0
    webhook_timeout_s: float = 10.0
    asr_model: str | None = None  # model name / folder; None: the bundled default
    asr_threads: int = 0
    # Where the ASR runs: cpu, or cuda (an NVIDIA GPU; see "GPU workers" in the README).
    # `qa-engine worker --device` overrides it for that worker.
    asr_device: str = "cpu"
    # CTranslate2 compute type; default: int8 on cpu, float16 on cuda (else int8_float16,
    # else bfloat16, whichever the GPU offers).
    asr_compute_type: str = "default"
    # Speech windows decoded in one batch by the process's one shared model; the windows
    # of every call in flight (all worker threads) share batches. 0: each call decoded on
    # its own (`qa_engine.analyze`), sharing nothing with other calls. On cuda, when not set (here or by
    # `qa-engine worker --batch-size`), it is chosen from the GPU's free memory (gpu/).
    batch_size: int = 8
    # How long a partial batch waits for the next window while other calls are still being
    # prepared (it goes at once when every call in flight is waiting on the ASR): fuller batches on a GPU.
    batch_wait_s: float = 2.0
    # `qa-engine worker --device cuda`: calls analysed at once (threads sharing the one
    # model); more calls in flight fill bigger batches. CPU workers keep --concurrency 1.
    calls_in_flight: int = 8
    preload_model: bool = True
    start_workers: bool = True  # False: API only (workers run elsewhere)

    # Review workspace and reports.
    sample_rate: float = 0.05  # 抽检: share of each agent's passing calls per day put in the review queue
    report_tz: str = "UTC"  # report days (and the queue's date filter) are calendar days here, e.g. Asia/Shanghai
    report_schedule: bool = False  # True: after local midnight, write yesterday's daily report (and post it)
    # The daily report's JSON is POSTed here when it is generated, through the webhook deliveries
    # (signed with report_webhook_secret like a client's webhook, retried with backoff).
    report_webhook_url: str = ""
    report_webhook_secret: str = ""
    report_check_s: float = 60.0

    # Customer data (api/privacy): phone, ID and card numbers are masked in what is stored and served,
    # and bleeped in the recording played, unless this is off. The clear original stays readable by the
    # privacy_officer role only (?clear=true), every access recorded in the PII access log.
    pii_masking: bool = True
    pii_bleep: Literal["tone", "silence"] = "tone"  # what replaces a number in the played recording
    pii_bleep_pad_s: float = Field(default=0.4, ge=0.0, le=5.0)  # widening of each number's words, each side

    # Safe webhooks and accounts (issue 12, items 4 and 6).
    # Webhook receivers are refused on loopback, private, link-local, multicast and reserved addresses, unless
    # their address is in one of these networks or their host is one of these names (comma-separated CIDRs or
    # host names, e.g. "10.20.0.0/16,crm.internal"): for receivers inside the network.
    webhook_allow: str = ""
    cookie_secure: bool = False  # True: the session cookie is sent over HTTPS only (set it behind TLS)
    # Web UI log-in throttling: after this many failures within login_window_s for one user name (or, more, from
    # one client address), log-in is refused for login_lockout_s, doubled with each further lockout up to
    # login_lockout_max_s; the right password is refused too while locked.
    login_max_failures: int = Field(default=5, ge=1)
    login_max_failures_per_address: int = Field(default=20, ge=1)
    login_window_s: float = Field(default=900.0, gt=0)
    login_lockout_s: float = Field(default=60.0, gt=0)
    login_lockout_max_s: float = Field(default=3600.0, gt=0)

    @cached_property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'qa.sqlite3').resolve()}"

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def audio_dir(self) -> Path:
        return self.data_dir / "audio"

    @property
    def tmp_dir(self) -> Path:
        return self.data_dir / "tmp"

    @property
    def rubric_dir(self) -> Path:
        return self.data_dir / "rubrics"


def get_settings() -> Settings:
    return Settings()

"""Settings of the review workspace (environment, prefix QA_, like api.config.Settings)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class ReviewSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QA_", extra="ignore")

    sample_rate: float = 0.05  # 抽检: share of each agent's passing calls per day put in the queue
    report_tz: str = "UTC"  # report days (and the queue's date filter) are calendar days here, e.g. Asia/Shanghai
    report_schedule: bool = False  # True: after local midnight, write yesterday's daily report (and post it)
    report_webhook_url: str = ""  # the daily report's JSON is POSTed here when it is generated
    report_check_s: float = 60.0

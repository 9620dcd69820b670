from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.inputs import Text, UtcTime


class CallMetadata(BaseModel):
    """The `metadata` form field of POST /v1/calls (JSON). Every field is optional."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "external_id": "rec-2024-000123", "agent_id": "A1024", "agent_name": "王芳", "team": "billing",
        "direction": "inbound", "started_at": "2024-05-06T09:30:00Z", "connected_at": "2024-05-06T09:30:04Z",
        "agent_channel": "left", "language": "zh", "rubric": "zh_callcenter"}]})

    external_id: Text | None = Field(None, max_length=200, description="the recorder's id; resubmits dedupe on it")
    agent_id: Text | None = Field(None, max_length=200)
    agent_name: Text | None = Field(None, max_length=200)
    team: Text | None = Field(None, max_length=200)
    direction: Literal["inbound", "outbound"] | None = None
    # Stored as naive UTC; a time whose offset takes it past the years 1-9999 is refused.
    started_at: UtcTime | None = Field(None, description="when the recording started (ISO 8601)")
    connected_at: UtcTime | None = Field(None, description="when the call connected; gives the answer delay")
    agent_channel: Literal["left", "right"] | None = Field(None, description="stereo: the agent's side")
    language: Literal["zh", "en"] | None = Field(None, description="None: detected")
    rubric: Text | None = Field(None, max_length=200, description="rubric id or id@version; None: by language")


class CallAccepted(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"id": "3f2a...", "status": "queued"}]})
    id: str
    status: str
    duplicate: bool = Field(False, description="true: this upload was a resubmit of an existing call")


class CallOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    status: Literal["queued", "processing", "done", "failed"]
    failure_code: str | None = None
    failure_reason: str | None = None
    external_id: str | None = None
    agent_id: str | None = None
    agent_name: str | None = None
    team: str | None = None
    direction: str | None = None
    started_at: datetime | None = None
    connected_at: datetime | None = None
    agent_channel: str | None = None
    language: str | None = None
    rubric: str | None = None
    duration_s: float | None = None
    audio_sha256: str
    audio_size: int
    audio_format: str
    score: float | None = None
    score_max: float | None = None
    passed: bool | None = None
    fatal: bool | None = None
    flags: list[str] = []
    failed_items: list[str] = []
    rubric_id: str | None = None
    rubric_version: str | None = None
    created_at: datetime
    updated_at: datetime


class CallPage(BaseModel):
    items: list[CallOut]
    next_cursor: str | None = Field(None, description="pass as `cursor` for the next page; null: last page")


class RescoreIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"rubric": "zh_callcenter@1.0"}]})
    rubric: Text = Field(..., min_length=1, max_length=200, description="rubric id or id@version")


class BatchItem(BaseModel):
    index: int
    filename: str
    status_code: int
    id: str | None = None
    status: str | None = None
    error: str | None = None


class Transcript(BaseModel):
    call_id: str
    language: str | None
    turns: list[dict[str, Any]]


class Events(BaseModel):
    call_id: str
    events: list[dict[str, Any]]

"""/v1/privacy: the PII access log (who read which call's clear original, when, from where)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.auth.models import ApiKey
from api.deps import SessionDep, require
from api.inputs import UtcTime
from api.privacy import service
from api.problems import responses

router = APIRouter(prefix="/v1/privacy", tags=["privacy"])
LogReader = Annotated[ApiKey, Depends(require(*service.LOG_READERS))]


@router.get("/access-log", response_model=dict[str, Any], responses=responses(401, 403, 422),
            summary="Requests for clear originals, newest first")
def access_log(
    session: SessionDep, key: LogReader,
    call_id: Annotated[str | None, Query(max_length=64, description="one call's requests")] = None,
    since: Annotated[UtcTime | None, Query(description="at or after (UTC)")] = None,
    until: Annotated[UtcTime | None, Query(description="before (UTC)")] = None,
    before_id: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="page on: next_before_id")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """Every request for a clear transcript, events, scorecard, analysis, recording or call page (`?clear=true`),
    granted or refused: who (API key or web UI user, and role), when, which call, from which address."""
    rows = service.access_log(session, call_id=call_id, since=since, until=until, before_id=before_id, limit=limit)
    return {"items": [service.access_dict(r) for r in rows],
            "next_before_id": rows[-1].id if len(rows) == limit else None}

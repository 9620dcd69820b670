from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query

from api.auth.models import ApiKey
from api.deps import CtxDep, Principal, SessionDep, require
from api.problems import responses
from api.rubrics import service

router = APIRouter(prefix="/v1/rubrics", tags=["rubrics"])
RUBRIC_EXAMPLE = {"id": "zh_callcenter", "version": "2025.1", "language": "zh", "name": "呼叫中心质检",
                  "name_en": "Call centre QA", "pass_score": 60, "items": [
                      {"id": "greeting", "name": "开场白", "name_en": "Opening", "category": "etiquette",
                       "points": 10, "detector": "opening_script", "params": {}}]}


@router.get("", response_model=list[dict[str, Any]], responses=responses(401))
def list_rubrics(session: SessionDep, key: Principal) -> list[dict[str, Any]]:
    """Every rubric version: bundled with the engine and uploaded."""
    return service.list_all(session)


@router.get("/{rubric_id}", response_model=dict[str, Any], responses=responses(401, 422))
def get_rubric(ctx: CtxDep, session: SessionDep, key: Principal,
               rubric_id: Annotated[str, Path(max_length=200)],
               version: Annotated[str | None, Query(max_length=100, description="default: newest")] = None
               ) -> dict[str, Any]:
    ref = f"{rubric_id}@{version}" if version else rubric_id
    r = service.resolve(session, ctx.settings.rubric_dir, ref)
    return {**service.summary(r.rubric, r.source), "document": r.document,
            "versions": [v["version"] for v in service.versions(session, r.rubric.id)]}


@router.post("", status_code=201, response_model=dict[str, Any], responses=responses(401, 403, 409, 422))
def upload_rubric(session: SessionDep, key: Annotated[ApiKey, Depends(require("supervisor", "admin"))],
                  document: Annotated[dict[str, Any], Body(openapi_examples={"rubric": {"value": RUBRIC_EXAMPLE}})]
                  ) -> dict[str, Any]:
    """Upload a new rubric version (the YAML rubric as JSON), validated like `qa-engine rubric FILE`.
    Versions are immutable: scorecards keep the version they were scored with."""
    return service.upload(session, document, key.id)

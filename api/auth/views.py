from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from api.auth.models import ApiKey
from api.auth.service import create_key
from api.deps import Principal, SessionDep, require
from api.problems import responses

router = APIRouter(prefix="/v1", tags=["access"])


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"role": "client", "name": "crm"}]})
    role: Literal["client", "inspector", "supervisor", "admin"]
    name: str = Field("", max_length=200)


@router.post("/keys", status_code=201, response_model=dict[str, Any], responses=responses(401, 403, 422))
def new_key(session: SessionDep, admin: Annotated[ApiKey, Depends(require("admin"))], body: KeyIn) -> dict[str, Any]:
    """A new API key; the key itself is shown only in this answer (stored as its sha256)."""
    key, plain = create_key(session, body.role, body.name)
    return {"id": key.id, "role": key.role, "name": key.name, "key": plain}


@router.get("/me", response_model=dict[str, Any], responses=responses(401))
def whoami(key: Principal) -> dict[str, Any]:
    return {"id": key.id, "role": key.role, "name": key.name, "prefix": key.prefix}

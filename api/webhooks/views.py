from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from api.auth.models import ApiKey
from api.deps import SessionDep, require
from api.inputs import Text
from api.problems import Problem, responses
from api.webhooks import service
from api.webhooks.models import Webhook

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
Owner = Annotated[ApiKey, Depends(require("client", "admin"))]


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"url": "https://crm.example/qa"}]})
    url: Text = Field(..., pattern=r"^https?://[^\s]+$", max_length=2000)


@router.post("", status_code=201, response_model=dict[str, Any], responses=responses(401, 403, 422))
def create_webhook(session: SessionDep, key: Owner, body: WebhookIn) -> dict[str, Any]:
    """Events call.done / call.failed are POSTed to `url`, signed: X-QA-Signature = 'sha256=' +
    HMAC-SHA256(secret, X-QA-Timestamp + '.' + body). The secret is shown only here."""
    return service.as_dict(service.create(session, key.id, body.url), with_secret=True)


@router.get("", response_model=list[dict[str, Any]], responses=responses(401, 403))
def list_webhooks(session: SessionDep, key: Owner) -> list[dict[str, Any]]:
    return [service.as_dict(h) for h in session.scalars(select(Webhook).where(Webhook.client_id == key.id))]


@router.delete("/{webhook_id}", status_code=204, responses=responses(401, 403, 404))
def delete_webhook(session: SessionDep, key: Owner, webhook_id: Annotated[str, Path(max_length=64)]) -> Response:
    hook = session.get(Webhook, webhook_id)
    if hook is None or hook.client_id != key.id:
        raise Problem(404, f"no webhook {webhook_id!r} for this key", code="webhook_not_found")
    session.delete(hook)
    session.commit()
    return Response(status_code=204)

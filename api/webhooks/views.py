from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from api.auth.models import ApiKey
from api.deps import CtxDep, SessionDep, require
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
def create_webhook(ctx: CtxDep, session: SessionDep, key: Owner, body: WebhookIn) -> dict[str, Any]:
    """Events call.done / call.failed are POSTed to `url`, signed: X-QA-Signature = 'sha256=' +
    HMAC-SHA256(secret, X-QA-Timestamp + '.' + body). The secret is shown only here.

    The URL's host must resolve to public addresses (not loopback, private, link-local, multicast or reserved,
    unless the operator allows it with QA_WEBHOOK_ALLOW), else 422 with `reason`; redirects are not followed."""
    try:
        hook = service.create(session, key.id, body.url, ctx.settings.webhook_allow)
    except service.UnsafeTarget as exc:
        raise Problem(422, f"the webhook URL is refused: {exc}", code="webhook_url_refused",
                      reason=exc.reason) from None
    return service.as_dict(hook, with_secret=True)


@router.get("", response_model=list[dict[str, Any]], responses=responses(401, 403))
def list_webhooks(session: SessionDep, key: Owner) -> list[dict[str, Any]]:
    return [service.as_dict(h) for h in session.scalars(select(Webhook).where(Webhook.client_id == key.id))]


@router.get("/{webhook_id}/deliveries", response_model=list[dict[str, Any]], responses=responses(401, 403, 404))
def list_deliveries(session: SessionDep, key: Owner,
                    webhook_id: Annotated[str, Path(max_length=64)]) -> list[dict[str, Any]]:
    """The webhook's latest 100 deliveries, newest first: status (pending, delivered, failed), attempts and
    `last_error`, the reason of the last failure."""
    hook = session.get(Webhook, webhook_id)
    if hook is None or hook.client_id != key.id:
        raise Problem(404, f"no webhook {webhook_id!r} for this key", code="webhook_not_found")
    return [service.delivery_dict(d) for d in service.deliveries(session, hook.id)]


@router.delete("/{webhook_id}", status_code=204, responses=responses(401, 403, 404))
def delete_webhook(session: SessionDep, key: Owner, webhook_id: Annotated[str, Path(max_length=64)]) -> Response:
    hook = session.get(Webhook, webhook_id)
    if hook is None or hook.client_id != key.id:
        raise Problem(404, f"no webhook {webhook_id!r} for this key", code="webhook_not_found")
    session.delete(hook)
    session.commit()
    return Response(status_code=204)

"""Webhooks: one delivery row per event and endpoint, POSTed signed (HMAC-SHA256), retried with backoff.

Headers sent: X-QA-Event, X-QA-Delivery, X-QA-Timestamp, and
X-QA-Signature: sha256=HEX where HEX = HMAC-SHA256(secret, f"{timestamp}.{body}").
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
import urllib.error
import urllib.request
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from api.calls.models import Call
from api.config import Settings
from api.database.core import Database, utcnow
from api.webhooks.models import Delivery, Webhook

log = logging.getLogger("api.webhooks")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def create(session: Session, client_id: str, url: str) -> Webhook:
    hook = Webhook(id=uuid.uuid4().hex, client_id=client_id, url=url, secret=secrets.token_urlsafe(32))
    session.add(hook)
    session.commit()
    return hook


def enqueue_for_call(session: Session, call: Call, event: str) -> None:
    """Queue the event for the call owner's webhooks, in the caller's transaction."""
    hooks = session.scalars(select(Webhook).where(Webhook.client_id == call.client_id)).all()
    payload = {"event": event, "call": {"id": call.id, "external_id": call.external_id,
                                        "status": event.split(".")[-1],
                                        "failure_reason": call.failure_reason if event == "call.failed" else None,
                                        "links": {"self": f"/v1/calls/{call.id}",
                                                  "scorecard": f"/v1/calls/{call.id}/scorecard"}}}
    for h in hooks:
        session.add(Delivery(id=uuid.uuid4().hex, webhook_id=h.id, event=event, payload=payload))


def enqueue_to(session: Session, url: str, event: str, payload: dict[str, Any]) -> Delivery:
    """Queue an event for an operator-configured address (not a client's webhook), in the caller's transaction;
    signed with QA_REPORT_WEBHOOK_SECRET and retried like any delivery."""
    d = Delivery(id=uuid.uuid4().hex, webhook_id=None, url=url, event=event, payload=payload)
    session.add(d)
    return d


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def deliver_due(db: Database, settings: Settings, limit: int = 20) -> int:
    """Send the deliveries that are due; returns how many were attempted."""
    now = utcnow()
    with db.session() as s:
        ids = s.scalars(select(Delivery.id).where(
            Delivery.status == "pending", Delivery.next_attempt_at <= now,
            or_(Delivery.lease_until.is_(None), Delivery.lease_until < now)).limit(limit)).all()
    done = 0
    for did in ids:
        with db.session() as s:
            lease = utcnow() + timedelta(seconds=settings.webhook_timeout_s * 3)
            got = s.execute(update(Delivery).where(Delivery.id == did, Delivery.status == "pending",
                                                   or_(Delivery.lease_until.is_(None), Delivery.lease_until < now))
                            .values(lease_until=lease).execution_options(synchronize_session=False))
            if got.rowcount != 1:  # type: ignore[attr-defined]
                s.rollback()
                continue
            s.commit()
            d = s.get(Delivery, did)
            if d is None:
                continue
            target = _target(s, d, settings)
            if target is None:
                continue
            url, secret = target
            body = json.dumps({**d.payload, "delivery_id": d.id}, ensure_ascii=False).encode()
            ts = str(int(time.time()))
            headers = {"Content-Type": "application/json", "User-Agent": "qa-engine-webhooks/1",
                       "X-QA-Event": d.event, "X-QA-Delivery": d.id, "X-QA-Timestamp": ts,
                       "X-QA-Signature": sign(secret, ts, body)}
            error: str | None = None
            try:
                code = _post(url, body, headers, settings.webhook_timeout_s)
                if not 200 <= code < 300:
                    error = f"the endpoint answered HTTP {code}"
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
            d.attempts += 1
            d.lease_until = None
            d.last_error = error
            if error is None:
                d.status = "delivered"
            elif d.attempts >= settings.webhook_max_attempts:
                d.status = "failed"
                log.warning("webhook %s to %s gave up after %d attempts: %s", d.id, url, d.attempts, error)
            else:
                d.next_attempt_at = utcnow() + timedelta(seconds=settings.webhook_backoff_s * 2 ** (d.attempts - 1))
            s.commit()
            done += 1
    return done


def _target(s: Session, d: Delivery, settings: Settings) -> tuple[str, str] | None:
    """(url, signing secret) of a delivery: its client's webhook, or the operator's address."""
    if d.webhook_id is not None:
        hook = s.get(Webhook, d.webhook_id)
        return (hook.url, hook.secret) if hook is not None else None
    return (d.url, settings.report_webhook_secret) if d.url else None


def as_dict(h: Webhook, with_secret: bool = False) -> dict[str, Any]:
    d: dict[str, Any] = {"id": h.id, "url": h.url, "created_at": h.created_at}
    if with_secret:
        d["secret"] = h.secret
    return d

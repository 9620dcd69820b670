"""Webhooks: one delivery row per event and endpoint, POSTed signed (HMAC-SHA256), retried with backoff.

Headers sent: X-QA-Event, X-QA-Delivery, X-QA-Timestamp, and
X-QA-Signature: sha256=HEX where HEX = HMAC-SHA256(secret, f"{timestamp}.{body}").

A webhook must not reach inside the service's network: its host is resolved and each address checked
(`check_url`) when it is registered and again at each delivery, which then connects to the address checked
(no second look-up a DNS answer could change) and follows no redirect.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import secrets
import socket
import ssl
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from api.calls.models import Call
from api.config import Settings
from api.database.core import Database, utcnow
from api.webhooks.models import Delivery, Webhook

log = logging.getLogger("api.webhooks")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class UnsafeTarget(ValueError):
    """A webhook address the service refuses to send to; the message says why, `reason` is a short code."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class Unresolvable(UnsafeTarget):
    """The host does not resolve now: refused at registration, retried at delivery (DNS may come back)."""


@dataclass(frozen=True)
class Target:
    """Where a delivery goes: the URL's parts and the one address, checked, that is connected to."""

    scheme: str
    host: str  # ASCII (IDNA) host name, sent as the Host header and the TLS server name
    port: int
    path: str  # path and query
    address: str


IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _unwrap(ip: IpAddress) -> IpAddress:
    """The IPv4 address inside an IPv6 one (::ffff:a.b.c.d, 6to4, NAT64 64:ff9b::/96), which is where it goes."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _internal(ip: IpAddress) -> str | None:
    """Why the address is not a public one (None: it is)."""
    ip = _unwrap(ip)
    for reason, hit in (("loopback", ip.is_loopback), ("unspecified", ip.is_unspecified),
                        ("link-local", ip.is_link_local), ("multicast", ip.is_multicast),
                        ("private", ip.is_private), ("reserved", ip.is_reserved)):
        if hit:
            return reason
    return None if ip.is_global else "non-public"


def parse_allow(allow: str) -> tuple[list[IpNetwork], set[str]]:
    """QA_WEBHOOK_ALLOW: comma-separated networks (CIDR or single addresses) and host names."""
    nets: list[IpNetwork] = []
    names: set[str] = set()
    for entry in (e.strip() for e in allow.split(",")):
        if not entry:
            continue
        try:
            nets.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
        except ValueError:
            names.add(entry.lower().rstrip("."))
    return nets, names


def check_url(url: str, allow: str = "") -> Target:
    """Where a delivery to `url` may go, or UnsafeTarget saying why not.

    The host is resolved once; every address it resolves to must be public (not loopback, private, link-local,
    multicast, reserved, unspecified; an IPv4 address inside an IPv6 one counts as itself), or inside an
    allowed network, or the host an allowed name. Host spellings (2130706433, 0x7f.0.0.1, [::ffff:127.0.0.1])
    are judged by the address they resolve to. The delivery then connects to the first address checked.
    """
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise UnsafeTarget("the URL contains spaces or control characters", "bad_url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeTarget(f"the URL is malformed ({exc})", "bad_url") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeTarget("the URL must start with http:// or https://", "bad_url")
    if not parts.hostname:
        raise UnsafeTarget("the URL has no host", "bad_url")
    if parts.username is not None or parts.password is not None:
        raise UnsafeTarget("the URL carries a user name or password; deliveries are authenticated by their "
                           "signature, remove them", "bad_url")
    try:
        host = parts.hostname.encode("idna").decode("ascii").lower() if not parts.hostname.isascii() \
            else parts.hostname.lower()
    except UnicodeError:
        raise UnsafeTarget(f"the host name {parts.hostname!r} is not valid", "bad_url") from None
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Unresolvable(f"the host {host!r} does not resolve ({getattr(exc, 'strerror', None) or exc})",
                           "unresolvable") from None
    addresses = list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))
    if not addresses:
        raise Unresolvable(f"the host {host!r} has no address", "unresolvable")
    nets, names = parse_allow(allow)
    if host.rstrip(".") not in names:
        for a in addresses:
            ip = ipaddress.ip_address(a)
            why = _internal(ip)
            if why is not None and not any(ip in n or _unwrap(ip) in n for n in nets):
                shown = host if host.strip("[]") == a else f"{host} ({a})"
                raise UnsafeTarget(f"{shown} is a {why} address: webhooks may not reach inside the service's "
                                   "network (an operator can allow an internal receiver with QA_WEBHOOK_ALLOW)",
                                   why.replace("-", "_"))
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, host, port, path, addresses[0])


def create(session: Session, client_id: str, url: str, allow: str = "") -> Webhook:
    """A client's webhook; UnsafeTarget (nothing stored) when its URL may not be delivered to."""
    check_url(url, allow)
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


class _PinnedHTTP(http.client.HTTPConnection):
    """HTTP to the checked address; the Host header still names the URL's host."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self.address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to the checked address; the certificate is checked against the URL's host (SNI too)."""

    def __init__(self, target: Target, timeout: float) -> None:
        self.tls = ssl.create_default_context()
        super().__init__(target.host, target.port, timeout=timeout, context=self.tls)
        self.address = target.address

    def connect(self) -> None:
        raw = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self.tls.wrap_socket(raw, server_hostname=self.host)


def _post(target: Target, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int, str]:
    """POST once, following no redirect; (status, Location header)."""
    conn = (_PinnedHTTPS if target.scheme == "https" else _PinnedHTTP)(target, timeout)
    try:
        conn.request("POST", target.path, body=body, headers=headers)
        resp = conn.getresponse()
        return int(resp.status), resp.getheader("Location") or ""
    finally:
        conn.close()


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
            final = False  # a failure that retrying cannot mend: the delivery fails now
            try:
                code, location = _post(check_url(url, settings.webhook_allow), body, headers,
                                       settings.webhook_timeout_s)
                if 300 <= code < 400:
                    error, final = (f"the endpoint answered HTTP {code} redirecting to {location[:300]!r}; "
                                    "redirects are not followed: register the final address"), True
                elif not 200 <= code < 300:
                    error = f"the endpoint answered HTTP {code}"
            except Unresolvable as exc:
                error = str(exc)
            except UnsafeTarget as exc:
                error, final = f"refused: {exc}", True
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
            d.attempts += 1
            d.lease_until = None
            d.last_error = error
            if error is None:
                d.status = "delivered"
            elif final or d.attempts >= settings.webhook_max_attempts:
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


def deliveries(session: Session, webhook_id: str, limit: int = 100) -> list[Delivery]:
    """The webhook's latest deliveries, newest first."""
    return list(session.scalars(select(Delivery).where(Delivery.webhook_id == webhook_id)
                                .order_by(Delivery.created_at.desc(), Delivery.id).limit(limit)))


def delivery_dict(d: Delivery) -> dict[str, Any]:
    return {"id": d.id, "event": d.event, "status": d.status, "attempts": d.attempts, "last_error": d.last_error,
            "next_attempt_at": d.next_attempt_at if d.status == "pending" else None, "created_at": d.created_at}


def as_dict(h: Webhook, with_secret: bool = False) -> dict[str, Any]:
    d: dict[str, Any] = {"id": h.id, "url": h.url, "created_at": h.created_at}
    if with_secret:
        d["secret"] = h.secret
    return d

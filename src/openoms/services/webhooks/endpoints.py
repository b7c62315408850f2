"""Webhook endpoints: register, read, change, delete, rotate the secret, and the checks on
their URL (http or https only; no loopback, private or link-local target unless allowed).

A secret is `whsec_` + base64 of 32 random bytes, the Standard Webhooks form. It is stored
(openoms signs with it) but answered only by create and rotate, and never logged."""

from __future__ import annotations

import base64
import secrets
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.db.ids import new_id
from openoms.adapters.db.models import WebhookEndpoint, utcnow
from openoms.adapters.db.repositories import webhooks as repo
from openoms.adapters.outbox import Outbox
from openoms.domain.events import DomainEvent
from openoms.domain.fulfillment import ProcessExceptionCategory
from openoms.domain.webhooks import (
    SECRET_OVERLAP,
    WebhookEndpointNotFound,
    check_target,
    literal_address,
    split_url,
)
from openoms.services.exceptions import raise_exception, resolve_exception

# host, port → the addresses a name resolves to (socket.getaddrinfo by default).
Resolver = Callable[[str, int], list[str]]

UNSET: Any = object()  # a PATCH field left out


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to; [] when it does not resolve."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return sorted({str(info[4][0]) for info in infos})


def check_url(url: str, *, allow_private: bool, resolver: Resolver = resolve) -> None:
    """Refuse a URL that is not http(s) with a host (`webhook_url_invalid`), or whose host
    is or resolves to a non-public address (`webhook_url_forbidden`) unless `allow_private`.
    A name that does not resolve now is accepted: it is checked again at every send."""
    _, host, port = split_url(url)
    if allow_private:
        return
    literal = literal_address(host)
    if literal is not None:
        check_target(host, [literal])
        return
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        check_target(host, ["127.0.0.1"])
    found = resolver(host, port)
    if found:
        check_target(host, found)


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


@dataclass(frozen=True, slots=True)
class EndpointChanges:
    """A PATCH: each field left as UNSET keeps its value."""

    url: Any = UNSET
    event_types: Any = UNSET  # list[str] | None (None: every event)
    channels: Any = UNSET  # list[str] | None (None: every channel)
    description: Any = UNSET
    enabled: Any = UNSET


def create_endpoint(
    session: Session,
    *,
    url: str,
    event_types: Sequence[str] | None,
    channels: Sequence[str] | None,
    description: str,
    allow_private: bool,
    resolver: Resolver = resolve,
) -> WebhookEndpoint:
    """Register an endpoint, enabled, with a new secret (read it from the returned row once:
    only create and rotate answer it)."""
    check_url(url, allow_private=allow_private, resolver=resolver)
    endpoint = WebhookEndpoint(
        id=new_id("whe"),
        url=url,
        description=description,
        event_types=sorted(set(event_types)) if event_types is not None else None,
        channels=sorted(set(channels)) if channels is not None else None,
        enabled=True,
        secret=new_secret(),
    )
    session.add(endpoint)
    session.flush()
    return endpoint


def get_endpoint(session: Session, endpoint_id: str, *, lock: bool = False) -> WebhookEndpoint:
    endpoint = repo.get_endpoint(session, endpoint_id, lock=lock)
    if endpoint is None:
        raise WebhookEndpointNotFound(f"webhook endpoint {endpoint_id} does not exist")
    return endpoint


def list_endpoints(session: Session) -> Sequence[WebhookEndpoint]:
    """Every endpoint, oldest first."""
    return repo.list_endpoints(session)


def update_endpoint(
    session: Session,
    outbox: Outbox,
    endpoint_id: str,
    changes: EndpointChanges,
    *,
    allow_private: bool,
    resolver: Resolver = resolve,
) -> WebhookEndpoint:
    """Apply a PATCH. Enabling a disabled endpoint clears its failure record and resolves
    the process exception its disabling raised; deliveries failed meanwhile stay failed
    (replay them)."""
    endpoint = get_endpoint(session, endpoint_id, lock=True)
    if changes.url is not UNSET:
        check_url(changes.url, allow_private=allow_private, resolver=resolver)
        endpoint.url = changes.url
    if changes.event_types is not UNSET:
        types = changes.event_types
        endpoint.event_types = sorted(set(types)) if types is not None else None
    if changes.channels is not UNSET:
        channels = changes.channels
        endpoint.channels = sorted(set(channels)) if channels is not None else None
    if changes.description is not UNSET:
        endpoint.description = changes.description
    if changes.enabled is not UNSET and changes.enabled != endpoint.enabled:
        endpoint.enabled = bool(changes.enabled)
        if endpoint.enabled:
            endpoint.disabled_reason = None
            endpoint.failing_since = None
            resolve_exception(
                session, outbox, exception_key(endpoint.id), note="the endpoint was enabled"
            )
        else:
            endpoint.disabled_reason = "disabled by an admin"
    endpoint.updated_at = utcnow()
    session.flush()
    return endpoint


def delete_endpoint(session: Session, endpoint_id: str) -> None:
    """Remove the endpoint with its delivery log; its queued sends find nothing to send."""
    repo.delete_endpoint(session, get_endpoint(session, endpoint_id, lock=True))
    session.flush()


def rotate_secret(
    session: Session, endpoint_id: str, *, now: datetime | None = None
) -> WebhookEndpoint:
    """A new secret; the current one keeps signing beside it (two signatures per delivery)
    for SECRET_OVERLAP, so receivers can switch without missing a delivery."""
    endpoint = get_endpoint(session, endpoint_id, lock=True)
    now = now or utcnow()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_until = now + SECRET_OVERLAP
    endpoint.secret = new_secret()
    endpoint.updated_at = now
    session.flush()
    return endpoint


def signing_secrets(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The secrets a delivery is signed with now: the current one, and the previous one
    during its overlap."""
    found = [endpoint.secret]
    until = endpoint.previous_secret_until
    if endpoint.previous_secret and until is not None and now < until:
        found.append(endpoint.previous_secret)
    return found


def disable_endpoint(
    session: Session, outbox: Outbox, endpoint: WebhookEndpoint, *, reason: str, now: datetime
) -> int:
    """Disable an endpoint openoms gave up on (it answered 410, or failed everything for five
    days): its pending deliveries fail (replay them once it is fixed), it emits
    `webhook_endpoint.disabled` and raises a process exception, resolved when it is enabled
    again. Returns how many pending deliveries failed."""
    endpoint.enabled = False
    endpoint.disabled_reason = reason
    endpoint.updated_at = now
    session.flush()
    failed = repo.fail_pending_of(session, endpoint.id, f"endpoint disabled: {reason}", now)
    event = DomainEvent(
        name="webhook_endpoint.disabled",
        aggregate_type="webhook_endpoint",
        aggregate_id=endpoint.id,
        order_summary_id=None,
        payload={"webhook_endpoint_id": endpoint.id, "url": endpoint.url, "reason": reason},
    )
    outbox.record(session, [event])
    raise_exception(
        session,
        outbox,
        order_summary_id=None,
        category=ProcessExceptionCategory.WEBHOOK,
        severity="medium",
        dedupe_key=exception_key(endpoint.id),
        message=f"webhook endpoint {endpoint.id} ({endpoint.url}) was disabled: {reason}. "
        "Fix the receiver, enable the endpoint (PATCH enabled=true), then replay its failed "
        "deliveries.",
        action={"kind": "enable_webhook_endpoint", "payload": {"webhook_endpoint_id": endpoint.id}},
    )
    return failed


def exception_key(endpoint_id: str) -> str:
    """The dedupe key of the process exception a disabled endpoint raises."""
    return f"webhook-endpoint:{endpoint_id}"


def endpoint_view(endpoint: WebhookEndpoint) -> dict[str, Any]:
    """The public body of an endpoint: never its secrets."""
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": endpoint.event_types,
        "channels": endpoint.channels,
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "failing_since": _iso(endpoint.failing_since),
        "previous_secret_until": _iso(endpoint.previous_secret_until),
        "created_at": _iso(endpoint.created_at),
        "updated_at": _iso(endpoint.updated_at),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None

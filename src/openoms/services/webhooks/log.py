"""The delivery log: each delivery with its attempts; an admin's retry of one delivery and
replay of an endpoint's failed ones; and the purge of old rows after the retention."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.db.models import WebhookAttempt, WebhookDelivery, utcnow
from openoms.adapters.db.repositories import webhooks as repo
from openoms.adapters.db.session import Database
from openoms.adapters.jobs import enqueue, requeue
from openoms.domain.webhooks import WebhookDeliveryNotFound, WebhookEndpointDisabled
from openoms.services.webhooks.endpoints import get_endpoint
from openoms.services.webhooks.fanout import WEBHOOK_JOB, job_key

DELIVERY_STATUSES = ("pending", "succeeded", "failed")
PURGE_BATCH = 1000


def list_deliveries(
    session: Session, endpoint_id: str, *, status: str | None, after_id: int | None, limit: int
) -> list[dict[str, Any]]:
    """An endpoint's deliveries newest first, each with its attempts oldest first."""
    get_endpoint(session, endpoint_id)
    rows = repo.list_deliveries(session, endpoint_id, status=status, after_id=after_id, limit=limit)
    return delivery_views(session, rows)


def delivery_views(session: Session, rows: Sequence[WebhookDelivery]) -> list[dict[str, Any]]:
    ids = [d.id for d in rows]
    attempts = repo.attempts_of(session, ids)
    events = repo.events_by_id(session, [d.event_id for d in rows])
    return [
        _view(d, events[d.event_id].event_id, events[d.event_id].name, attempts[d.id]) for d in rows
    ]


def get_delivery(session: Session, delivery_id: int, *, lock: bool = False) -> WebhookDelivery:
    delivery = repo.get_delivery(session, delivery_id, lock=lock)
    if delivery is None:
        raise WebhookDeliveryNotFound(f"webhook delivery {delivery_id} does not exist")
    return delivery


def retry_delivery(
    session: Session, delivery_id: int, *, now: datetime | None = None
) -> WebhookDelivery:
    """Send a delivery again now, with the same webhook-id: a finished one (failed, or
    succeeded: the receiver asked for it again) becomes pending; a pending one is brought
    forward. Its earlier attempts stay in the log; when the schedule is used up already,
    one failure fails it again."""
    now = now or utcnow()
    delivery = get_delivery(session, delivery_id, lock=True)
    endpoint = get_endpoint(session, delivery.endpoint_id)
    if not endpoint.enabled:
        raise WebhookEndpointDisabled(
            f"webhook endpoint {endpoint.id} is disabled: enable it before retrying"
        )
    _resend(session, delivery, now)
    session.flush()
    return delivery


def replay_failed(
    session: Session, endpoint_id: str, *, since: datetime, now: datetime | None = None
) -> list[WebhookDelivery]:
    """Send again every failed delivery of the endpoint created since `since` (in event
    order, so an order's events keep theirs); the deliveries replayed."""
    now = now or utcnow()
    endpoint = get_endpoint(session, endpoint_id, lock=True)
    if not endpoint.enabled:
        raise WebhookEndpointDisabled(
            f"webhook endpoint {endpoint_id} is disabled: enable it before replaying"
        )
    failed = list(repo.failed_since(session, endpoint_id, since))
    for delivery in failed:
        _resend(session, delivery, now)
    session.flush()
    return failed


def _resend(session: Session, delivery: WebhookDelivery, now: datetime) -> None:
    delivery.status = "pending"
    delivery.next_attempt_at = now
    delivery.completed_at = None
    key = job_key(delivery.id)
    if not enqueue(session, WEBHOOK_JOB, key, {"delivery_id": delivery.id}, available_at=now):
        requeue(session, key, available_at=now)


def purge_deliveries(db: Database, now: datetime, *, retention: timedelta) -> int:
    """Delete finished deliveries (with their attempts) created more than `retention` ago,
    a batch per transaction; safe with many workers at once. Returns how many."""
    purged = 0
    while True:
        with db.transaction() as session:
            count = repo.purge_before(session, now - retention, limit=PURGE_BATCH)
        purged += count
        if count < PURGE_BATCH:
            return purged


def _view(
    delivery: WebhookDelivery, event_id: str, event_type: str, attempts: list[WebhookAttempt]
) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "endpoint_id": delivery.endpoint_id,
        "event_id": event_id,
        "event_type": event_type,
        "webhook_id": event_id,
        "order_summary_id": delivery.order_summary_id,
        "status": delivery.status,
        "attempt_count": delivery.attempts,
        "next_attempt_at": _iso(delivery.next_attempt_at),
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "created_at": _iso(delivery.created_at),
        "completed_at": _iso(delivery.completed_at),
        "attempts": [
            {
                "attempted_at": _iso(a.attempted_at),
                "status_code": a.status_code,
                "latency_ms": a.latency_ms,
                "response_body": a.response_body,
                "error": a.error,
            }
            for a in attempts
        ],
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None

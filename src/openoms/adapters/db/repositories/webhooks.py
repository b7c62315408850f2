"""Queries of the webhooks area: endpoints, deliveries (and their place in line), attempts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, union, update
from sqlalchemy.orm import Session

from openoms.adapters.db.models import (
    Event,
    EventDelivery,
    Job,
    OrderSummary,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from openoms.adapters.db.session import dialect_insert

_DELIVERIES = WebhookDelivery.metadata.tables["webhook_deliveries"]


def get_endpoint(
    session: Session, endpoint_id: str, *, lock: bool = False
) -> WebhookEndpoint | None:
    query = select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def list_endpoints(session: Session) -> Sequence[WebhookEndpoint]:
    """Every endpoint, oldest first (ids sort by creation time)."""
    return session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)).all()


def enabled_endpoints(session: Session) -> Sequence[WebhookEndpoint]:
    return session.scalars(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.enabled.is_(True))
        .order_by(WebhookEndpoint.id)
    ).all()


def enabled_event_types(session: Session) -> list[list[str] | None]:
    """The event types of each enabled endpoint (None: every type)."""
    query = select(WebhookEndpoint.event_types).where(WebhookEndpoint.enabled.is_(True))
    return list(session.scalars(query))


def channel_of(session: Session, order_summary_id: str) -> str | None:
    return session.scalar(select(OrderSummary.channel).where(OrderSummary.id == order_summary_id))


def event_by_public_id(session: Session, event_id: str) -> Event | None:
    return session.scalars(select(Event).where(Event.event_id == event_id)).first()


def insert_delivery(
    session: Session, *, endpoint_id: str, event: Event, now: datetime
) -> int | None:
    """A pending delivery of `event` to the endpoint; None when it has one already (an event
    goes to an endpoint once)."""
    row = {
        "endpoint_id": endpoint_id,
        "event_id": event.id,
        "order_summary_id": event.order_summary_id,
        "status": "pending",
        "attempts": 0,
        "waiting_until": None,
        "next_attempt_at": now,
        "created_at": now,
    }
    statement = (
        dialect_insert(session, _DELIVERIES)
        .values(row)
        .on_conflict_do_nothing(index_elements=["endpoint_id", "event_id"])
        .returning(_DELIVERIES.c.id)
    )
    delivery_id: int | None = session.execute(statement).scalar()
    return delivery_id


def get_delivery(
    session: Session, delivery_id: int, *, lock: bool = False
) -> WebhookDelivery | None:
    query = select(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def delivery_to_send(
    session: Session, delivery_id: int
) -> tuple[WebhookDelivery, WebhookEndpoint, Event] | None:
    """A delivery with its endpoint and event, in one statement (the send's read step)."""
    row = session.execute(
        select(WebhookDelivery, WebhookEndpoint, Event)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .join(Event, Event.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.id == delivery_id)
    ).first()
    return None if row is None else (row[0], row[1], row[2])


def unfinished_earlier(
    session: Session, delivery: WebhookDelivery, *, fan_out_consumer: str
) -> list[int]:
    """The events of the delivery's order, earlier than its event, that this endpoint has
    not finished with: a pending delivery to it, or an event whose fan-out (the consumer
    that writes deliveries) has not run yet. Empty for an event of no order."""
    if delivery.order_summary_id is None:
        return []
    pending = select(WebhookDelivery.event_id).where(
        WebhookDelivery.endpoint_id == delivery.endpoint_id,
        WebhookDelivery.order_summary_id == delivery.order_summary_id,
        WebhookDelivery.status == "pending",
        WebhookDelivery.event_id < delivery.event_id,
    )
    not_fanned_out = (
        select(Event.id)
        .join(EventDelivery, EventDelivery.event_id == Event.id)
        .where(
            Event.order_summary_id == delivery.order_summary_id,
            Event.id < delivery.event_id,
            EventDelivery.consumer == fan_out_consumer,
            EventDelivery.status == "pending",
        )
    )
    return sorted(set(session.scalars(union(pending, not_fanned_out))))


def earliest_retry_of(session: Session, endpoint_id: str, event_ids: list[int]) -> datetime | None:
    """When the earliest of these events' pending deliveries to the endpoint tries next."""
    return session.scalar(
        select(func.min(WebhookDelivery.next_attempt_at)).where(
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.event_id.in_(event_ids),
            WebhookDelivery.status == "pending",
        )
    )


def next_in_line(session: Session, delivery: WebhookDelivery) -> WebhookDelivery | None:
    """The pending delivery of the same order to the same endpoint that comes next."""
    if delivery.order_summary_id is None:
        return None
    return session.scalar(
        select(WebhookDelivery)
        .where(
            WebhookDelivery.endpoint_id == delivery.endpoint_id,
            WebhookDelivery.order_summary_id == delivery.order_summary_id,
            WebhookDelivery.status == "pending",
            WebhookDelivery.event_id > delivery.event_id,
        )
        .order_by(WebhookDelivery.event_id)
        .limit(1)
    )


def bring_forward(session: Session, job_key: str, waiting_until: datetime, now: datetime) -> None:
    """Make a job due now that rescheduled itself to wait until `waiting_until`. A job whose
    due time is anything else is running (claimed: its lease must not be cut short, or a
    second worker would run it too) or was moved since: left alone."""
    session.execute(
        update(Job)
        .where(
            Job.dedupe_key == job_key,
            Job.status == "pending",
            Job.available_at == waiting_until,
        )
        .values(available_at=now)
    )


def clear_failing(session: Session, endpoint_id: str) -> None:
    """A success ends the endpoint's failing streak (a row is written only if it had one)."""
    session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.failing_since.is_not(None))
        .values(failing_since=None)
        .execution_options(synchronize_session=False)
    )


def list_deliveries(
    session: Session, endpoint_id: str, *, status: str | None, after_id: int | None, limit: int
) -> Sequence[WebhookDelivery]:
    """An endpoint's deliveries, newest first, one page (`after_id`: the last one seen)."""
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    if after_id is not None:
        query = query.where(WebhookDelivery.id < after_id)
    return session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(limit)).all()


def attempts_of(session: Session, delivery_ids: Sequence[int]) -> dict[int, list[WebhookAttempt]]:
    found: dict[int, list[WebhookAttempt]] = {i: [] for i in delivery_ids}
    if not delivery_ids:
        return found
    query = (
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id.in_(delivery_ids))
        .order_by(WebhookAttempt.id)
    )
    for attempt in session.scalars(query):
        found[attempt.delivery_id].append(attempt)
    return found


def events_by_id(session: Session, ids: Sequence[int]) -> dict[int, Event]:
    return {e.id: e for e in session.scalars(select(Event).where(Event.id.in_(ids)))}


def failed_since(session: Session, endpoint_id: str, since: datetime) -> Sequence[WebhookDelivery]:
    """The endpoint's failed deliveries created at or after `since`, locked, in event order."""
    return session.scalars(
        select(WebhookDelivery)
        .where(
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.status == "failed",
            WebhookDelivery.created_at >= since,
        )
        .order_by(WebhookDelivery.event_id)
        .with_for_update()
    ).all()


def fail_pending_of(session: Session, endpoint_id: str, reason: str, now: datetime) -> int:
    """Mark every pending delivery of a disabled endpoint failed."""
    result = session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status == "pending")
        .values(status="failed", last_error=reason, completed_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0))


def purge_before(session: Session, before: datetime, *, limit: int) -> int:
    """Delete up to `limit` finished deliveries created before `before`, with their attempts;
    returns how many. Rows are taken with SKIP LOCKED on PostgreSQL so several workers purge
    side by side without waiting on each other."""
    query = (
        select(WebhookDelivery.id)
        .where(WebhookDelivery.created_at < before, WebhookDelivery.status != "pending")
        .order_by(WebhookDelivery.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = list(session.scalars(query))
    if not ids:
        return 0
    session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(ids)))
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.id.in_(ids)))
    return len(ids)


def delete_endpoint(session: Session, endpoint: WebhookEndpoint) -> None:
    """The endpoint with its deliveries and their attempts (its jobs find nothing to send)."""
    deliveries = select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint.id)
    session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(deliveries)))
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    session.delete(endpoint)

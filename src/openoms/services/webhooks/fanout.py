"""Which endpoint gets which event: the outbox consumer that writes one delivery per
matching endpoint (and queues its send), a flow's send of one event to one endpoint, and
an admin's test event.

Everything here runs in the caller's transaction: a delivery and its send job exist
exactly when the event's fan-out (or the caller's change) commits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from openoms.adapters.db.models import Event, WebhookEndpoint, utcnow
from openoms.adapters.db.repositories import webhooks as repo
from openoms.adapters.jobs import enqueue
from openoms.adapters.outbox import Consumer, Needs, Outbox
from openoms.domain.errors import NotFound
from openoms.domain.events import DomainEvent
from openoms.domain.webhooks import WebhookEndpointDisabled
from openoms.services.webhooks.endpoints import get_endpoint

WEBHOOK_CONSUMER = "webhooks"
WEBHOOK_JOB = "send_webhook"
TEST_EVENT = "webhook.test"
_ENDPOINTS = "openoms.webhooks.enabled_endpoints"  # session.info key


def job_key(delivery_id: int) -> str:
    return f"webhook:{delivery_id}"


def wants(endpoint: WebhookEndpoint, event: Event, channel: str | None) -> bool:
    """An enabled endpoint wants an event of its types (all when it names none) from its
    channels (all when it names none; an event of no order has no channel)."""
    if not endpoint.enabled:
        return False
    if endpoint.event_types is not None and event.name not in endpoint.event_types:
        return False
    return endpoint.channels is None or (channel is not None and channel in endpoint.channels)


def queue_delivery(session: Session, endpoint_id: str, event: Event, now: datetime) -> int | None:
    """A delivery of `event` to the endpoint and its send job, due now; None when the
    endpoint has (or had) this event already."""
    delivery_id = repo.insert_delivery(session, endpoint_id=endpoint_id, event=event, now=now)
    if delivery_id is not None:
        enqueue(session, WEBHOOK_JOB, job_key(delivery_id), {"delivery_id": delivery_id})
    return delivery_id


def fan_out(session: Session, event: Event) -> None:
    """The consumer's handler: a delivery for each enabled endpoint that wants `event`.
    A test event goes only to the endpoint it tests (send_test writes that one)."""
    if event.name == TEST_EVENT:
        return
    endpoints = _enabled_endpoints(session)
    if not endpoints:
        return
    channel = None
    if event.order_summary_id is not None and any(e.channels is not None for e in endpoints):
        channel = repo.channel_of(session, event.order_summary_id)
    now = utcnow()
    for endpoint in endpoints:
        if wants(endpoint, event, channel):
            queue_delivery(session, endpoint.id, event, now)


def _enabled_endpoints(session: Session) -> list[WebhookEndpoint]:
    """The enabled endpoints, read once per transaction (a relay batch fans out up to a
    hundred events in one)."""
    cached: list[WebhookEndpoint] | None = session.info.get(_ENDPOINTS)
    if cached is None:
        cached = session.info[_ENDPOINTS] = list(repo.enabled_endpoints(session))
    return cached


def needs(session: Session) -> Needs:
    """The event names an enabled endpoint may want (its types; every name for one that
    names none), never the test event: the outbox writes the fan-out no delivery of any
    other. Read afresh (not from the fan-out's per-transaction list) whenever the outbox's
    subscriptions version changed, which an endpoint's creation, deletion or change of
    `enabled` or `event_types` does in its own transaction (migration 0017)."""
    wanted: set[str] = set()
    for types in repo.enabled_event_types(session):
        if types is None:
            return Needs(frozenset({TEST_EVENT}), every=True)
        wanted.update(types)
    wanted.discard(TEST_EVENT)
    return Needs(frozenset(wanted))


def webhook_consumer() -> Consumer:
    """The outbox consumer of every event that fans it out to the endpoints."""
    return Consumer(name=WEBHOOK_CONSUMER, subscribes=("*",), handler=fan_out, needs=needs)


def send_event_to_endpoint(session: Session, *, endpoint_id: str, event_id: str) -> int | None:
    """Queue the event with public id `event_id` (`evt_…`) for the endpoint, in the caller's
    transaction, whatever the endpoint's type and channel filters: a flow's `send_webhook`.
    Returns the new delivery's id, or None when the endpoint has this event already (an
    event goes to an endpoint once, with one webhook-id). Raises WebhookEndpointNotFound,
    WebhookEndpointDisabled, or NotFound for an unknown event."""
    endpoint = get_endpoint(session, endpoint_id)
    if not endpoint.enabled:
        raise WebhookEndpointDisabled(f"webhook endpoint {endpoint_id} is disabled")
    event = repo.event_by_public_id(session, event_id)
    if event is None:
        raise NotFound(f"event {event_id} does not exist")
    return queue_delivery(session, endpoint.id, event, utcnow())


def send_test(session: Session, outbox: Outbox, endpoint_id: str) -> int:
    """Record a `webhook.test` event and queue it to this endpoint only; the delivery's id."""
    endpoint = get_endpoint(session, endpoint_id)
    if not endpoint.enabled:
        raise WebhookEndpointDisabled(
            f"webhook endpoint {endpoint_id} is disabled: enable it before sending a test"
        )
    test = DomainEvent(
        name=TEST_EVENT,
        aggregate_type="webhook_endpoint",
        aggregate_id=endpoint.id,
        order_summary_id=None,
        payload={"webhook_endpoint_id": endpoint.id, "message": "a test event from openoms"},
    )
    (event,) = outbox.record(session, [test])
    delivery_id = queue_delivery(session, endpoint.id, event, utcnow())
    if delivery_id is None:  # a fresh event has no delivery yet
        raise RuntimeError("the test event was already queued")
    return delivery_id

"""The outbox relay: claims due deliveries and runs each consumer's handler once.

One batch is one transaction. Each handler runs in a SAVEPOINT, so a failure rolls back
only its own effects; the delivery is then marked done (with the handler's effects) or
rescheduled with backoff, and everything commits together. A delivery marked done is
never claimed again, which makes handling exactly-once per (event, consumer) as far as
the database is concerned. Handlers that call out (webhooks) are at-least-once: a crash
after the call and before the commit repeats it.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from openoms.adapters.db.models import Event, EventDelivery, utcnow
from openoms.adapters.db.session import Database
from openoms.adapters.outbox import ConsumerRegistry, DeliveryStatus

log = logging.getLogger(__name__)

_DELIVERIES = EventDelivery.metadata.tables["event_deliveries"]

MAX_ERROR_CHARS = 2000
MAX_BACKOFF_SECONDS = 3600
JITTER_FRACTION = 0.25


def retry_delay(attempts: int, jitter: float) -> timedelta:
    """2**attempts seconds, stretched by up to 25 % (`jitter` in [0, 1)), capped at an hour."""
    base = 2 ** min(attempts, 12)
    return timedelta(seconds=min(base * (1 + JITTER_FRACTION * jitter), MAX_BACKOFF_SECONDS))


def describe_error(exc: BaseException) -> str:
    """The exception's type and message, for `last_error`: never a traceback, and for
    database errors never the SQL or its parameters, which carry payload and customer data
    (the driver's first line names the constraint; PostgreSQL's DETAIL lines are dropped)."""
    if isinstance(exc, StatementError) and exc.orig is not None:
        first_line = next(iter(str(exc.orig).splitlines()), "")
        message = f"{type(exc).__name__}: {type(exc.orig).__name__}: {first_line}"
    else:
        message = f"{type(exc).__name__}: {exc}"
    return message[:MAX_ERROR_CHARS]


def process_batch(
    db: Database,
    registry: ConsumerRegistry,
    *,
    batch_size: int = 100,
    now: datetime | None = None,
    jitter: Callable[[], float] = random.random,
) -> int:
    """Claim up to `batch_size` due deliveries, run their handlers, and return how many."""
    with db.transaction() as session:
        now = now or utcnow()
        deliveries = _claim(session, db.dialect, batch_size, now)
        if not deliveries:
            return 0
        events = _events_by_id(session, {d.event_id for d in deliveries})
        done = [
            delivery.id
            for delivery in deliveries
            if _deliver(session, registry, delivery, events[delivery.event_id], now, jitter)
        ]
        if done:  # one UPDATE for the batch rather than one per delivery
            session.execute(
                _DELIVERIES.update()
                .where(_DELIVERIES.c.id.in_(done))
                .values(status=DeliveryStatus.DONE, processed_at=now)
            )
        return len(deliveries)


def _claim(session: Session, dialect: str, batch_size: int, now: datetime) -> list[EventDelivery]:
    stmt = (
        select(EventDelivery)
        .where(EventDelivery.status == DeliveryStatus.PENDING, EventDelivery.available_at <= now)
        .order_by(EventDelivery.id)
        .limit(batch_size)
    )
    if dialect == "postgresql":
        # Concurrent workers take disjoint batches; SQLite already serialises writers.
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.scalars(stmt))


def _events_by_id(session: Session, ids: Iterable[int]) -> dict[int, Event]:
    return {e.id: e for e in session.scalars(select(Event).where(Event.id.in_(ids)))}


def _deliver(
    session: Session,
    registry: ConsumerRegistry,
    delivery: EventDelivery,
    event: Event,
    now: datetime,
    jitter: Callable[[], float],
) -> bool:
    """Run the handler in a SAVEPOINT; True when it succeeded (the caller marks it done),
    else the delivery is rescheduled or dead-lettered here."""
    consumer = registry.get(delivery.consumer)
    if consumer is None:
        delivery.status = DeliveryStatus.DEAD
        delivery.last_error = f"consumer {delivery.consumer!r} is not registered in this worker"
        log.error("delivery %s: %s", delivery.id, delivery.last_error)
        return False
    try:
        with session.begin_nested():
            consumer.handler(session, event)
    except Exception as exc:  # any handler failure is retried (or dead-lettered), not fatal
        delivery.attempts += 1
        delivery.last_error = describe_error(exc)
        if delivery.attempts >= consumer.max_attempts:
            delivery.status = DeliveryStatus.DEAD
        else:
            delivery.available_at = now + retry_delay(delivery.attempts, jitter())
        log.warning(
            "consumer %s failed on event %s (%s), attempt %d/%d%s: %s",
            consumer.name,
            event.event_id,
            event.name,
            delivery.attempts,
            consumer.max_attempts,
            ", dead-lettered" if delivery.status == DeliveryStatus.DEAD else "",
            delivery.last_error,
        )
        log.debug("consumer %s traceback", consumer.name, exc_info=True)
        return False
    return True


def replay(
    db: Database,
    *,
    consumer: str,
    event_ids: Iterable[str] | None = None,
    dead_only: bool = True,
    now: datetime | None = None,
) -> int:
    """Make deliveries of `consumer` pending again, due now, with a fresh attempt budget.

    Without `event_ids`, every dead delivery of the consumer. With `event_ids` (public
    `evt_…` ids), those events' deliveries: only dead ones unless `dead_only` is false, which
    also re-runs done deliveries. Returns how many were reset.
    """
    stmt = update(EventDelivery).where(EventDelivery.consumer == consumer)
    if event_ids is not None:
        wanted = select(Event.id).where(Event.event_id.in_(list(event_ids)))
        stmt = stmt.where(EventDelivery.event_id.in_(wanted))
    if dead_only or event_ids is None:
        stmt = stmt.where(EventDelivery.status == DeliveryStatus.DEAD)
    stmt = stmt.values(
        status=DeliveryStatus.PENDING,
        attempts=0,
        available_at=now or utcnow(),
        processed_at=None,
    )
    with db.transaction() as session:
        result = session.execute(stmt.execution_options(synchronize_session=False))
        return int(getattr(result, "rowcount", 0))

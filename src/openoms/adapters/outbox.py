"""The transactional outbox: domain events and their per-consumer deliveries are written in
the caller's transaction, so they exist exactly when the change they record does.

The worker relay (`openoms.worker.relay`) later claims the deliveries and runs each
consumer's handler once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Any

from sqlalchemy.orm import Session, make_transient_to_detached

from openoms.adapters.db.ids import new_id
from openoms.adapters.db.models import Event, EventDelivery, utcnow
from openoms.domain.events import DomainEvent

Handler = Callable[[Session, Event], None]

_EVENTS = Event.metadata.tables["events"]
_DELIVERIES = EventDelivery.metadata.tables["event_deliveries"]


def event_envelope(event: Event, version: int) -> dict[str, Any]:
    """An event as openoms tells the outside world (webhooks, the event stream, flows):
    the Standard Webhooks shape `{"id", "type", "version", "occurred_at", "data"}`, where
    `data` is the payload declared in the event catalog and `version` its version there."""
    return {
        "id": event.event_id,
        "type": event.name,
        "version": version,
        "occurred_at": event.occurred_at.isoformat().replace("+00:00", "Z"),
        "data": event.payload,
    }


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting, possibly until a retry's available_at
    DONE = "done"  # the handler succeeded; never run again
    DEAD = "dead"  # gave up (max attempts, or consumer gone); `replay` revives it


@dataclass(frozen=True, slots=True)
class Consumer:
    """A named subscriber to events.

    `subscribes` holds case-sensitive fnmatch patterns on event names ("order_summary.*",
    "*"). The handler runs inside the worker's transaction: its database effects commit
    together with the delivery being marked done, or roll back with a failed attempt.
    """

    name: str
    subscribes: tuple[str, ...]
    handler: Handler
    max_attempts: int = 10
    # Asked in the recording transaction whether an event of this name needs a delivery now:
    # a consumer of every event that has nothing to do with most of them (no webhook
    # endpoint, no flow on that trigger) costs the pipeline nothing then. None: always.
    needed: Callable[[Session, str], bool] | None = None

    def wants(self, event_name: str) -> bool:
        return any(fnmatchcase(event_name, pattern) for pattern in self.subscribes)


class ConsumerRegistry:
    """Consumers by name, with the subscribers of each event name cached for capture."""

    def __init__(self, consumers: Iterable[Consumer] = ()) -> None:
        self._consumers: dict[str, Consumer] = {}
        self._by_event: dict[str, tuple[Consumer, ...]] = {}
        for consumer in consumers:
            self.register(consumer)

    def register(self, consumer: Consumer) -> None:
        if consumer.name in self._consumers:
            # Deliveries are keyed by consumer name: two consumers cannot share one.
            raise ValueError(f"consumer {consumer.name!r} is already registered")
        if consumer.max_attempts < 1:
            raise ValueError(f"consumer {consumer.name!r}: max_attempts must be at least 1")
        self._consumers[consumer.name] = consumer
        self._by_event = {}

    def get(self, name: str) -> Consumer | None:
        return self._consumers.get(name)

    def for_event(self, event_name: str) -> list[Consumer]:
        """The consumers subscribed to `event_name`, in registration order."""
        cached = self._by_event.get(event_name)
        if cached is None:
            cached = tuple(c for c in self._consumers.values() if c.wants(event_name))
            self._by_event[event_name] = cached
        return list(cached)

    def __iter__(self) -> Iterator[Consumer]:
        return iter(list(self._consumers.values()))

    def __len__(self) -> int:
        return len(self._consumers)


class Outbox:
    """Writes events and their deliveries into the caller's transaction (never commits)."""

    def __init__(self, registry: ConsumerRegistry, clock: Callable[[], datetime] = utcnow) -> None:
        self._registry = registry
        self._clock = clock

    def record(self, session: Session, events: Iterable[DomainEvent]) -> list[Event]:
        """Insert the events, then one pending delivery per subscribed consumer.

        Two Core statements at most, executed now rather than at the next flush: one
        INSERT ... RETURNING id for the events, one bulk INSERT for the deliveries. Core
        costs about half the CPU of an ORM flush, and capture pays it on every order.
        Returns the `Event` rows, persistent in `session`, in the given order.
        """
        domain_events = list(events)
        if not domain_events:
            return []
        now = self._clock()
        rows: list[dict[str, Any]] = [
            {
                "event_id": new_id("evt"),
                "name": e.name,
                "aggregate_type": e.aggregate_type,
                "aggregate_id": e.aggregate_id,
                "order_summary_id": e.order_summary_id,
                "payload": e.payload,
                "occurred_at": now,
            }
            for e in domain_events
        ]
        ids = self._insert_events(session, rows)
        deliveries = [
            {
                "event_id": event_id,
                "consumer": consumer.name,
                "status": DeliveryStatus.PENDING,
                "attempts": 0,
                "available_at": now,
            }
            for event_id, row in zip(ids, rows, strict=True)
            for consumer in self._registry.for_event(row["name"])
            if consumer.needed is None or consumer.needed(session, row["name"])
        ]
        if deliveries:
            session.execute(_DELIVERIES.insert(), deliveries)
        stored = []
        for event_id, row in zip(ids, rows, strict=True):
            event = Event(id=event_id, **row)
            make_transient_to_detached(event)  # it is in the database already: no INSERT
            session.add(event)
            stored.append(event)
        return stored

    @staticmethod
    def _insert_events(session: Session, rows: list[dict[str, Any]]) -> list[int]:
        if len(rows) == 1:  # the capture case: skip the executemany machinery
            return [session.execute(_EVENTS.insert().returning(_EVENTS.c.id), rows[0]).scalar_one()]
        insert = _EVENTS.insert().returning(_EVENTS.c.id, sort_by_parameter_order=True)
        return list(session.execute(insert, rows).scalars())

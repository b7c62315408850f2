"""The transactional outbox: domain events and their per-consumer deliveries are written in
the caller's transaction, so they exist exactly when the change they record does.

The worker relay (`openoms.worker.relay`) later claims the deliveries and runs each
consumer's handler once.

A consumer of every event that has nothing to do with most of them (no webhook endpoint,
no flow on that trigger, no channel adapter) declares what it `needs`: the outbox writes it
no delivery of any other event. What the consumers need is read from the database and kept
in this process under the version of `outbox_subscriptions`, a row that triggers change in
the very transaction that changes an endpoint, a flow or an adapter (migration 0017). The
events' INSERT returns that version with their ids, so while nothing changed, recording
costs no look-up at all; when it changed, the needs are read again in the recording
transaction (and kept only when the version is still the same after the read).

The guarantee is the one of a look-up in the recording transaction: an event sees every
subscription change committed before its INSERT statement began. On SQLite that is every
change committed before the event (a writer holds the database's one write lock from its
BEGIN). On PostgreSQL (READ COMMITTED) a change that commits while the recording
transaction is between that INSERT and its COMMIT may be missed by that transaction's
events, as it was by a look-up made there; every event recorded by a later statement sees it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, make_transient_to_detached

from openoms.adapters.db.ids import new_id
from openoms.adapters.db.models import Event, EventDelivery, OutboxSubscriptions, utcnow
from openoms.adapters.db.session import dialect_insert
from openoms.domain.events import DomainEvent

Handler = Callable[[Session, Event], None]

_EVENTS = Event.metadata.tables["events"]
_DELIVERIES = EventDelivery.metadata.tables["event_deliveries"]
_SUBSCRIPTIONS = OutboxSubscriptions.metadata.tables["outbox_subscriptions"]
# The subscriptions' version as of the statement that reads it (None: the row is missing, as
# in a database emptied by hand; the next record writes it again).
_VERSION = select(_SUBSCRIPTIONS.c.version).where(_SUBSCRIPTIONS.c.id == 1).scalar_subquery()
_READ_VERSION = select(_VERSION)
_INSERT_ONE = _EVENTS.insert().returning(_EVENTS.c.id, _VERSION)
_INSERT_MANY = _EVENTS.insert().returning(_EVENTS.c.id, _VERSION, sort_by_parameter_order=True)


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
class Needs:
    """The event names a consumer needs a delivery of now: those in `names`, or with
    `every`, all but those in `names`."""

    names: frozenset[str] = frozenset()
    every: bool = False

    def __contains__(self, event_name: object) -> bool:
        return (event_name in self.names) != self.every


NOTHING = Needs()
EVERYTHING = Needs(every=True)


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
    # What it needs now, read in a transaction when the subscriptions' version changed (see
    # the module docstring): it may read only what migration 0017's triggers watch, or a
    # change to it would go unseen. None: a delivery of every event it subscribes to.
    needs: Callable[[Session], Needs] | None = None

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
        # (subscriptions version, needs by consumer name): replaced whole, never mutated,
        # so threads sharing this outbox read it without a lock.
        self._needs: tuple[str, dict[str, Needs]] | None = None

    def record(self, session: Session, events: Iterable[DomainEvent]) -> list[Event]:
        """Insert the events, then one pending delivery per subscribed consumer that needs it.

        Two Core statements at most, executed now rather than at the next flush: one
        INSERT ... RETURNING the ids and the subscriptions' version for the events, one bulk
        INSERT for the deliveries (plus the consumers' reads of their needs, only when the
        version is not the one this outbox holds). Core costs about half the CPU of an ORM
        flush, and capture pays it on every order. Returns the `Event` rows, persistent in
        `session`, in the given order.
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
        ids, version = self._insert_events(session, rows)
        needs = self._current_needs(session, version)
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
            if consumer.name not in needs or row["name"] in needs[consumer.name]
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

    def _current_needs(self, session: Session, version: str | None) -> dict[str, Needs]:
        """What each consumer with `needs` needs as of `version`, read by the event INSERT
        in this transaction: the kept needs when they are of that version, else read now."""
        kept = self._needs
        if kept is not None and version is not None and kept[0] == version:
            return kept[1]
        needs = {c.name: c.needs(session) for c in self._registry if c.needs is not None}
        if version is None:
            # Nothing kept for this one: a change may commit before the row does (and then
            # write it itself, so ours does nothing), later than these reads.
            upsert = dialect_insert(session, _SUBSCRIPTIONS).values(id=1, version=new_id("sub"))
            session.execute(upsert.on_conflict_do_nothing(index_elements=["id"]))
        elif session.scalar(_READ_VERSION) == version:
            # Kept only if nothing changed while they were read (on PostgreSQL each statement
            # sees the commits made before it began); a version is never given twice.
            self._needs = (version, needs)
        return needs

    @staticmethod
    def _insert_events(
        session: Session, rows: list[dict[str, Any]]
    ) -> tuple[list[int], str | None]:
        """The new events' ids, in order, and the subscriptions' version their INSERT saw."""
        if len(rows) == 1:  # the capture case: skip the executemany machinery
            event_id, version = session.execute(_INSERT_ONE, rows[0]).one()
            return [event_id], version
        found = session.execute(_INSERT_MANY, rows).all()
        # One statement (in batches for very many events): the last batch's version is the
        # newest any of them saw, and what the deliveries of all of them are decided by.
        return [row[0] for row in found], found[-1][1]

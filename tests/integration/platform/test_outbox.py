"""The outbox and its relay: events commit with their transaction, every (event, consumer)
is handled exactly once, failures retry with backoff, dead-letter and replay."""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from openoms.adapters.db.models import Event, EventDelivery
from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Consumer, ConsumerRegistry, Outbox
from openoms.domain.events import DomainEvent
from openoms.worker.consumers import default_registry
from openoms.worker.relay import process_batch, replay, retry_delay
from openoms.worker.runner import Worker

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

# Handler effects land here: a table outside the application's metadata.
TEST_METADATA = MetaData()
EFFECTS = Table(
    "outbox_test_effects",
    TEST_METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("consumer", String(100), nullable=False),
    Column("event_id", String(40), nullable=False),
    Column("note", String(100), nullable=False),
)


@pytest.fixture
def effects(db: Database) -> Iterator[Table]:
    TEST_METADATA.create_all(db.engine)
    yield EFFECTS
    TEST_METADATA.drop_all(db.engine)


# --- helpers ------------------------------------------------------------------------------


def _noop(session: Session, event: Event) -> None:
    pass


def _write_effect(session: Session, event: Event, *, consumer: str, note: str) -> None:
    session.execute(insert(EFFECTS).values(consumer=consumer, event_id=event.event_id, note=note))


def _events(count: int, name: str = "order_summary.created") -> list[DomainEvent]:
    return [
        DomainEvent(
            name=name,
            aggregate_type="order_summary",
            aggregate_id=f"os_{i:04d}",
            payload={"n": i},
            order_summary_id=f"os_{i:04d}",
        )
        for i in range(count)
    ]


def _record(db: Database, registry: ConsumerRegistry, events: list[DomainEvent]) -> list[str]:
    with db.transaction() as session:
        stored = Outbox(registry, clock=lambda: T0).record(session, events)
        return [e.event_id for e in stored]


def _deliveries(db: Database) -> list[tuple[str, str, str, int]]:
    """(event name, consumer, status, attempts) in delivery-id order."""
    with db.reading() as session:
        rows = session.execute(
            select(Event.name, EventDelivery.consumer, EventDelivery.status, EventDelivery.attempts)
            .join(Event, Event.id == EventDelivery.event_id)
            .order_by(EventDelivery.id)
        )
        return [(r[0], r[1], r[2], r[3]) for r in rows]


def _delivery_rows(db: Database) -> list[SimpleNamespace]:
    """Deliveries as plain values (the reading session expires its objects on exit)."""
    with db.reading() as session:
        rows = session.execute(select(EventDelivery.__table__).order_by(EventDelivery.id))
        return [SimpleNamespace(**row) for row in rows.mappings()]


def _only_delivery(db: Database) -> SimpleNamespace:
    (delivery,) = _delivery_rows(db)
    return delivery


def _effects(db: Database) -> list[tuple[str, str, str]]:
    with db.reading() as session:
        rows = session.execute(
            select(EFFECTS.c.consumer, EFFECTS.c.event_id, EFFECTS.c.note).order_by(EFFECTS.c.id)
        )
        return [(r[0], r[1], r[2]) for r in rows]


def _counts(db: Database) -> tuple[int, int]:
    with db.reading() as session:
        events = session.scalar(select(func.count()).select_from(Event))
        deliveries = session.scalar(select(func.count()).select_from(EventDelivery))
        return events or 0, deliveries or 0


def _no_jitter() -> float:
    return 0.0


# --- registry -----------------------------------------------------------------------------


def test_registry_matches_patterns_and_rejects_duplicate_names() -> None:
    registry = ConsumerRegistry()
    registry.register(Consumer("all", ("*",), _noop))
    registry.register(Consumer("orders", ("order_summary.*",), _noop))
    assert [c.name for c in registry.for_event("order_summary.created")] == ["all", "orders"]
    assert [c.name for c in registry.for_event("Order_Summary.created")] == ["all"]

    registry.register(Consumer("payments", ("payment.captured",), _noop))
    assert [c.name for c in registry.for_event("payment.captured")] == ["all", "payments"]
    assert registry.get("payments") is not None
    assert registry.get("missing") is None
    with pytest.raises(ValueError, match="'orders' is already registered"):
        registry.register(Consumer("orders", ("*",), _noop))
    with pytest.raises(ValueError, match="max_attempts"):
        registry.register(Consumer("never", ("*",), _noop, max_attempts=0))
    assert [c.name for c in registry] == ["all", "orders", "payments"]
    assert default_registry() is not default_registry()  # built per call: no module state


def test_retry_delay_doubles_with_bounded_jitter_and_caps_at_an_hour() -> None:
    assert retry_delay(1, 0.0) == timedelta(seconds=2)
    assert retry_delay(2, 0.5) == timedelta(seconds=4.5)
    assert retry_delay(3, 1.0) == timedelta(seconds=10)
    assert retry_delay(11, 0.0) == timedelta(seconds=2048)
    assert retry_delay(12, 0.0) == timedelta(hours=1)
    assert retry_delay(500, 0.99) == timedelta(hours=1)


# --- recording ----------------------------------------------------------------------------


def test_events_and_deliveries_commit_and_roll_back_with_their_transaction(db: Database) -> None:
    registry = ConsumerRegistry([Consumer("audit", ("*",), _noop)])
    outbox = Outbox(registry, clock=lambda: T0)

    def fail_after_recording() -> None:
        with db.transaction() as session:
            outbox.record(session, _events(2))
            raise RuntimeError("business failure")

    with pytest.raises(RuntimeError, match="business failure"):
        fail_after_recording()
    assert _counts(db) == (0, 0)

    with db.transaction() as session:
        stored = outbox.record(session, _events(2))
        assert outbox.record(session, []) == []
    assert [e.aggregate_id for e in stored] == ["os_0000", "os_0001"]
    assert stored[0].id < stored[1].id
    with db.reading() as session:
        events = session.scalars(select(Event).order_by(Event.id)).all()
        assert [(e.event_id, e.name, e.aggregate_type, e.aggregate_id) for e in events] == [
            (stored[0].event_id, "order_summary.created", "order_summary", "os_0000"),
            (stored[1].event_id, "order_summary.created", "order_summary", "os_0001"),
        ]
        assert [(e.order_summary_id, e.payload, e.occurred_at) for e in events] == [
            ("os_0000", {"n": 0}, T0),
            ("os_0001", {"n": 1}, T0),
        ]
        assert all(e.event_id.startswith("evt_") and len(e.event_id) == 30 for e in events)
        deliveries = session.scalars(select(EventDelivery).order_by(EventDelivery.id)).all()
        assert [
            (d.event_id, d.consumer, d.status, d.attempts, d.available_at, d.processed_at)
            for d in deliveries
        ] == [
            (events[0].id, "audit", "pending", 0, T0, None),
            (events[1].id, "audit", "pending", 0, T0, None),
        ]


def test_only_subscribed_consumers_get_deliveries(db: Database) -> None:
    registry = ConsumerRegistry(
        [
            Consumer("all", ("*",), _noop),
            Consumer("orders", ("order_summary.*",), _noop),
            Consumer("payments", ("payment.captured", "payment.refunded"), _noop),
            Consumer("returns", ("return_order.*",), _noop),
        ]
    )
    events = [
        *_events(1, "order_summary.created"),
        *_events(1, "payment.captured"),
        *_events(1, "fulfillment_order.shipped"),
    ]
    _record(db, registry, events)

    assert _deliveries(db) == [
        ("order_summary.created", "all", "pending", 0),
        ("order_summary.created", "orders", "pending", 0),
        ("payment.captured", "all", "pending", 0),
        ("payment.captured", "payments", "pending", 0),
        ("fulfillment_order.shipped", "all", "pending", 0),
    ]


# --- relaying -----------------------------------------------------------------------------


def test_each_consumer_handles_each_event_exactly_once(db: Database, effects: Table) -> None:
    registry = ConsumerRegistry(
        [
            Consumer("a", ("*",), partial(_write_effect, consumer="a", note="ok")),
            Consumer("b", ("order_summary.*",), partial(_write_effect, consumer="b", note="ok")),
        ]
    )
    ids = _record(db, registry, _events(3))

    assert process_batch(db, registry, batch_size=4, now=T0) == 4
    assert process_batch(db, registry, batch_size=4, now=T0) == 2
    assert process_batch(db, registry, batch_size=4, now=T0) == 0
    assert process_batch(db, registry, now=T0 + timedelta(days=1)) == 0

    assert _effects(db) == [
        ("a", ids[0], "ok"),
        ("b", ids[0], "ok"),
        ("a", ids[1], "ok"),
        ("b", ids[1], "ok"),
        ("a", ids[2], "ok"),
        ("b", ids[2], "ok"),
    ]
    with db.reading() as session:
        done = session.execute(select(EventDelivery.status, EventDelivery.processed_at)).all()
    assert sorted(done) == [("done", T0)] * 6


def test_a_failing_handler_rolls_back_only_its_own_effects(db: Database, effects: Table) -> None:
    def failing(session: Session, event: Event) -> None:
        _write_effect(session, event, consumer="bad", note="partial")
        raise ValueError("x" * 5000)

    registry = ConsumerRegistry(
        [
            Consumer("bad", ("*",), failing),
            Consumer("good", ("*",), partial(_write_effect, consumer="good", note="ok")),
        ]
    )
    ids = _record(db, registry, _events(1))

    assert process_batch(db, registry, now=T0, jitter=_no_jitter) == 2

    assert _effects(db) == [("good", ids[0], "ok")]
    bad, good = _delivery_rows(db)
    assert (bad.status, bad.attempts, bad.available_at, bad.processed_at) == (
        "pending",
        1,
        T0 + timedelta(seconds=2),
        None,
    )
    assert bad.last_error == ("ValueError: " + "x" * 5000)[:2000]
    assert (good.status, good.attempts, good.last_error, good.processed_at) == ("done", 0, None, T0)


def test_a_database_error_is_recorded_without_its_sql_or_parameters(
    db: Database, effects: Table
) -> None:
    def violates_not_null(session: Session, event: Event) -> None:
        session.execute(
            insert(EFFECTS).values(consumer="secret-card-4242", event_id="e", note=None)
        )

    registry = ConsumerRegistry([Consumer("c", ("*",), violates_not_null)])
    _record(db, registry, _events(1))

    assert process_batch(db, registry, now=T0) == 1

    assert (
        _only_delivery(db).last_error
        == {
            "sqlite": "IntegrityError: IntegrityError: NOT NULL constraint failed: "
            "outbox_test_effects.note",
            "postgresql": 'IntegrityError: NotNullViolation: null value in column "note" of '
            'relation "outbox_test_effects" violates not-null constraint',
        }[db.dialect]
    )
    assert _effects(db) == []


def test_handler_failing_twice_then_succeeding_ends_done(db: Database, effects: Table) -> None:
    calls = Counter[str]()

    def flaky(session: Session, event: Event) -> None:
        calls["flaky"] += 1
        _write_effect(session, event, consumer="flaky", note=f"attempt {calls['flaky']}")
        if calls["flaky"] <= 2:
            raise RuntimeError(f"attempt {calls['flaky']} failed")

    registry = ConsumerRegistry([Consumer("flaky", ("*",), flaky)])
    ids = _record(db, registry, _events(1))

    assert process_batch(db, registry, now=T0, jitter=_no_jitter) == 1
    assert _only_delivery(db).available_at == T0 + timedelta(seconds=2)
    assert process_batch(db, registry, now=T0 + timedelta(seconds=1), jitter=_no_jitter) == 0
    assert process_batch(db, registry, now=T0 + timedelta(seconds=2), jitter=_no_jitter) == 1
    assert _only_delivery(db).available_at == T0 + timedelta(seconds=6)
    assert process_batch(db, registry, now=T0 + timedelta(seconds=6), jitter=_no_jitter) == 1
    assert process_batch(db, registry, now=T0 + timedelta(days=1)) == 0

    delivery = _only_delivery(db)
    assert (delivery.status, delivery.attempts, delivery.processed_at) == (
        "done",
        2,
        T0 + timedelta(seconds=6),
    )
    assert delivery.last_error == "RuntimeError: attempt 2 failed"
    assert calls["flaky"] == 3
    assert _effects(db) == [("flaky", ids[0], "attempt 3")]


def test_backoff_grows_and_a_delivery_not_yet_due_is_not_claimed(db: Database) -> None:
    def broken(session: Session, event: Event) -> None:
        raise ConnectionError("endpoint down")

    registry = ConsumerRegistry([Consumer("hook", ("*",), broken)])
    _record(db, registry, _events(1))

    assert process_batch(db, registry, now=T0, jitter=lambda: 0.5) == 1
    first = _only_delivery(db)
    assert (first.status, first.attempts, first.available_at) == (
        "pending",
        1,
        T0 + timedelta(seconds=2.25),
    )
    due = first.available_at
    assert process_batch(db, registry, now=due - timedelta(microseconds=1)) == 0
    assert _only_delivery(db).attempts == 1

    assert process_batch(db, registry, now=due, jitter=lambda: 0.5) == 1
    second = _only_delivery(db)
    assert (second.attempts, second.available_at) == (2, due + timedelta(seconds=4.5))
    assert second.last_error == "ConnectionError: endpoint down"


def test_dead_after_max_attempts_and_replay_brings_it_back(db: Database) -> None:
    broken = {"yes": True}
    handled: list[str] = []

    def handler(session: Session, event: Event) -> None:
        if broken["yes"]:
            raise RuntimeError("still broken")
        handled.append(event.event_id)

    registry = ConsumerRegistry([Consumer("hook", ("*",), handler, max_attempts=3)])
    ids = _record(db, registry, _events(1))

    for hour in range(3):
        assert process_batch(db, registry, now=T0 + timedelta(hours=hour)) == 1
    dead = _only_delivery(db)
    assert (dead.status, dead.attempts) == ("dead", 3)
    assert dead.last_error == "RuntimeError: still broken"
    assert process_batch(db, registry, now=T0 + timedelta(days=30)) == 0

    broken["yes"] = False
    later = T0 + timedelta(days=1)
    assert replay(db, consumer="other", now=later) == 0
    assert replay(db, consumer="hook", event_ids=ids, now=later) == 1
    revived = _only_delivery(db)
    assert (revived.status, revived.attempts, revived.available_at) == ("pending", 0, later)
    assert process_batch(db, registry, now=later) == 1
    assert _only_delivery(db).status == "done"
    assert handled == ids

    # A done delivery is replayed only on request, by event id.
    assert replay(db, consumer="hook", now=later) == 0
    assert replay(db, consumer="hook", event_ids=ids, now=later) == 0
    assert replay(db, consumer="hook", event_ids=ids, dead_only=False, now=later) == 1
    assert process_batch(db, registry, now=later) == 1
    assert handled == ids * 2


def test_delivery_for_an_unregistered_consumer_is_dead_lettered(db: Database) -> None:
    _record(db, ConsumerRegistry([Consumer("retired", ("*",), _noop)]), _events(1))

    assert process_batch(db, ConsumerRegistry(), now=T0) == 1

    delivery = _only_delivery(db)
    assert (delivery.status, delivery.attempts, delivery.processed_at) == ("dead", 0, None)
    assert delivery.last_error == "consumer 'retired' is not registered in this worker"


# --- the worker loop ----------------------------------------------------------------------


class FlakyDatabase(Database):
    """The same database, but the first `failures` transactions lose their connection."""

    def __init__(self, url: str, failures: int) -> None:
        super().__init__(url)
        self.failures_left = failures
        self.transactions = 0

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        self.transactions += 1
        if self.failures_left:
            self.failures_left -= 1
            raise OperationalError("BEGIN", {}, ConnectionError("server closed the connection"))
        with super().transaction() as session:
            yield session


def test_run_once_drains_in_batches_and_runs_due_periodic_jobs(db: Database) -> None:
    handled: list[str] = []
    registry = ConsumerRegistry([Consumer("c", ("*",), lambda s, e: handled.append(e.event_id))])
    ids = _record(db, registry, _events(5))
    clock = {"now": T0 + timedelta(days=1)}
    worker = Worker(db, registry, batch_size=2, clock=lambda: clock["now"])
    ticks: list[datetime] = []
    worker.add_periodic("tick", 60, lambda _db, now: ticks.append(now))
    worker.add_periodic("boom", 60, lambda _db, now: 1 / 0)
    with pytest.raises(ValueError, match="already scheduled"):
        worker.add_periodic("tick", 1, lambda _db, now: None)

    assert worker.run_once() == 5
    assert handled == ids
    clock["now"] += timedelta(seconds=59)
    assert worker.run_once() == 0
    clock["now"] += timedelta(seconds=1)
    assert worker.run_once() == 0
    assert ticks == [T0 + timedelta(days=1), T0 + timedelta(days=1, seconds=60)]


class CountedStop(threading.Event):
    """A stop event for `run_forever` that records each pause the loop asks for instead of
    sleeping it, and stops the loop at its `idle_passes`-th idle poll."""

    def __init__(self, poll_seconds: float, idle_passes: int) -> None:
        super().__init__()
        self.poll_seconds = poll_seconds
        self.idle_passes = idle_passes
        self.pauses: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None, "the worker loop never waits without a timeout"
        self.pauses.append(timeout)
        if self.pauses.count(self.poll_seconds) >= self.idle_passes:
            self.set()
        return self.is_set()


def test_run_forever_survives_lost_connections_without_busy_looping(db: Database) -> None:
    handled: list[str] = []
    registry = ConsumerRegistry([Consumer("c", ("*",), lambda s, e: handled.append(e.event_id))])
    ids = _record(db, registry, _events(3))
    flaky = FlakyDatabase(db.url, failures=3)
    stop = CountedStop(poll_seconds=0.05, idle_passes=2)
    try:
        Worker(flaky, registry, poll_seconds=0.05).run_forever(stop)
    finally:
        flaky.dispose()

    assert handled == ids
    assert [d[2] for d in _deliveries(db)] == ["done"] * 3
    assert flaky.failures_left == 0
    # Each failed pass pauses twice as long as the one before; the pass that did the work
    # goes again at once; each idle pass waits one poll. Never a pass without a pause.
    assert stop.pauses == [0.1, 0.2, 0.4, 0.05, 0.05]
    # 3 failed passes, 1 that handled the 3 deliveries, 2 that found nothing.
    assert flaky.transactions == 3 + 1 + 2


# --- concurrency --------------------------------------------------------------------------

EVENTS = 400
CONSUMERS = ("a", "b")


def _concurrency_registry(
    note: str, counter: Callable[[str, str], None] | None = None
) -> ConsumerRegistry:
    def handler(name: str, session: Session, event: Event) -> None:
        if counter is not None:
            counter(name, event.event_id)
        _write_effect(session, event, consumer=name, note=note)

    return ConsumerRegistry(
        Consumer(name, ("order_summary.*",), partial(handler, name)) for name in CONSUMERS
    )


def _drain(db: Database, registry: ConsumerRegistry, start: Any) -> int:
    start.wait()
    return Worker(db, registry, batch_size=10, max_batches_per_run=1000).run_once()


def _drain_in_process(url: str, note: str, start: Any, results: Any) -> None:
    db = Database(url)
    try:
        results.put((note, _drain(db, _concurrency_registry(note), start)))
    finally:
        db.dispose()


def _assert_each_handled_once(db: Database, ids: list[str]) -> Counter[str]:
    expected = sorted((c, i) for i in ids for c in CONSUMERS)
    handled = _effects(db)
    assert sorted((c, i) for c, i, _ in handled) == expected
    assert len(handled) == EVENTS * len(CONSUMERS)
    assert [d[2] for d in _deliveries(db)] == ["done"] * (EVENTS * len(CONSUMERS))
    return Counter(note for _, _, note in handled)


def test_four_threads_handle_every_delivery_exactly_once(db: Database, effects: Table) -> None:
    lock = threading.Lock()
    invocations = Counter[tuple[str, str]]()

    def count(consumer: str, event_id: str) -> None:
        with lock:
            invocations[(consumer, event_id)] += 1

    ids = _record(db, _concurrency_registry("", count), _events(EVENTS))
    start = threading.Barrier(4, timeout=30)
    results: list[int] = []

    def run(note: str) -> None:
        results.append(_drain(db, _concurrency_registry(note, count), start))

    threads = [threading.Thread(target=run, args=(f"t{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sum(results) == EVENTS * len(CONSUMERS)
    assert len(invocations) == EVENTS * len(CONSUMERS)
    assert set(invocations.values()) == {1}
    by_worker = _assert_each_handled_once(db, ids)
    assert sum(by_worker.values()) == EVENTS * len(CONSUMERS)


def test_processes_and_threads_handle_every_delivery_exactly_once(
    db: Database, effects: Table
) -> None:
    processes = 2
    ids = _record(db, _concurrency_registry(""), _events(EVENTS))
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(processes + 2, timeout=30)
    results = ctx.Queue()
    children = [
        ctx.Process(target=_drain_in_process, args=(db.url, f"p{n}", start, results))
        for n in range(processes)
    ]
    for child in children:
        child.start()
    thread_results: list[int] = []
    threads = [
        threading.Thread(
            target=lambda n=n: thread_results.append(
                _drain(db, _concurrency_registry(f"t{n}"), start)
            )
        )
        for n in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    counts = dict(results.get(timeout=60) for _ in children)
    for child in children:
        child.join(timeout=60)

    assert [child.exitcode for child in children] == [0] * processes
    assert sum(counts.values()) + sum(thread_results) == EVENTS * len(CONSUMERS)
    by_worker = _assert_each_handled_once(db, ids)
    assert {k: v for k, v in by_worker.items() if k.startswith("p")} == {
        k: v for k, v in counts.items() if v
    }

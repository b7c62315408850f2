"""The event stream (docs/event-stream.md) against the real NATS JetStream server: the §12
order captured over the API, routed, shipped, invoiced and paid with the stream consumer
on; then a consumer of the stream gets each of the order's events once, in order, with its
subject, `Nats-Msg-Id` and body. A retry of a stored message (a crash before the delivery
was marked done, a lost acknowledgement) is dropped by the server; NATS down holds the
deliveries back, and they all arrive once it is back.

Each test has a stream of its own (the `stream_name` fixture), deleted afterwards."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from openoms.adapters.carriers import default_carriers
from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from openoms.adapters.event_stream import (
    STREAM_CONSUMER,
    InMemoryEventStream,
    NatsEventStream,
    stream_message,
)
from openoms.adapters.outbox import ConsumerRegistry, Outbox, event_envelope
from openoms.adapters.payments import Gateways, SandboxGateway
from openoms.api.app import create_app
from openoms.domain.ports import EventStream, EventStreamUnavailable, StreamAck, StreamMessage
from openoms.schemas.events import BY_NAME
from openoms.services.access import Scope, create_api_key
from openoms.worker.consumers import default_jobs, default_registry
from openoms.worker.relay import replay
from tests.integration.conftest import Api, fresh_idempotency_key
from tests.integration.service_shop import Shop
from tests.integration.worker import WorkerClock, make_worker
from tests.nats_stream import (
    Received,
    TcpProxy,
    make_stream,
    read_stream,
    stream_config_of,
    stream_messages,
)

RECONNECT_SECONDS = 30.0  # a bound for a loaded machine; nats-py retries every second

# The §12 order's events from capture to payment (its two groups: TEE-M from WH-LDN, the
# MUG from STORE-LDN), in the order recorded.
ORDER_LIFE = [
    "reservation.created",
    "reservation.created",
    "order_summary.created",
    *["fulfillment_order.created", "order_summary.routed"] * 2,
    "payment.authorized",
    *[
        "reservation.fulfilled",
        "fulfillment_order.shipped",
        "fulfillment_order.status_changed",
        "order_summary.status_changed",
        "shipment.label_created",
    ]
    * 2,
    *["invoice.created"] * 2,
    *["invoice.paid", "payment.captured"] * 2,
]


@contextmanager
def shop_over(db: Database, registry: ConsumerRegistry) -> Iterator[Shop]:
    """The API and a worker over `db` recording and delivering to `registry` (so with its
    stream consumer), sharing one sandbox gateway and set of carriers."""
    keys = {}
    with db.transaction() as session:
        for scope in Scope:
            _, keys[str(scope)] = create_api_key(session, name=f"test {scope}", scopes=[scope])
    app = create_app(db, Outbox(registry))
    sandbox = SandboxGateway(db, "sandbox")
    gateways, carriers = Gateways({"sandbox": sandbox}), default_carriers(db, env={})
    app.state.gateways, app.state.carriers = gateways, carriers
    clock = WorkerClock()
    worker = make_worker(db, registry, jobs=default_jobs(db, carriers, gateways), clock=clock)
    with TestClient(app) as client, TestClient(app) as keyless:
        client.event_hooks = {"request": [fresh_idempotency_key]}
        yield Shop(Api(client, keyless, db, keys), worker, sandbox, carriers, clock)


def streamed_events(db: Database) -> list[m.Event]:
    """The events recorded with a delivery to the stream consumer, in the order recorded."""
    with db.reading() as session:
        return list(
            session.scalars(
                select(m.Event)
                .join(m.EventDelivery, m.EventDelivery.event_id == m.Event.id)
                .where(m.EventDelivery.consumer == STREAM_CONSUMER)
                .order_by(m.Event.id)
            )
        )


def stream_deliveries(db: Database) -> list[tuple[str, int, str | None]]:
    """(status, attempts, last error) of each delivery to the stream consumer."""
    with db.reading() as session:
        rows = session.execute(
            select(m.EventDelivery.status, m.EventDelivery.attempts, m.EventDelivery.last_error)
            .where(m.EventDelivery.consumer == STREAM_CONSUMER)
            .order_by(m.EventDelivery.id)
        ).all()
    return [(str(status), attempts, error) for status, attempts, error in rows]


def expected(events: list[m.Event], stream_name: str) -> list[Received]:
    """What a consumer of the stream must get: each event once, in the order recorded."""
    return [
        Received(
            sequence=n,
            subject=f"{stream_name.lower()}.{event.name}",
            msg_id=event.event_id,
            body=event_envelope(event, BY_NAME[event.name].version),
        )
        for n, event in enumerate(events, start=1)
    ]


def live_order(shop: Shop) -> None:
    """The §12 order captured, routed, both groups shipped, invoiced and paid."""
    shop.capture()
    shop.drain()
    shop.ship("WH-LDN")
    shop.ship("STORE-LDN")
    shop.drain()


class LosesAcks:
    """A stream whose first `count` acknowledgements are lost after the server stored the
    message: what the worker sees when the connection drops at the wrong moment."""

    def __init__(self, stream: EventStream, count: int) -> None:
        self.stream, self.count = stream, count

    @property
    def subject_prefix(self) -> str:
        return self.stream.subject_prefix

    def start(self) -> None:
        self.stream.start()

    def publish(self, message: StreamMessage) -> StreamAck:
        ack = self.stream.publish(message)
        if self.count:
            self.count -= 1
            raise EventStreamUnavailable("the acknowledgement was lost")
        return ack

    def close(self) -> None:
        self.stream.close()


def test_each_event_of_an_order_reaches_the_stream_once_and_in_order(
    stocked: Database, nats_url: str, stream_name: str
) -> None:
    stream = NatsEventStream(nats_url, stream=stream_name)
    try:
        with shop_over(stocked, default_registry(event_stream=stream)) as shop:
            live_order(shop)
            assert shop.view()["status"] == "FULFILLED"
            summary_id = shop.summary_id
    finally:
        stream.close()

    events = streamed_events(stocked)
    assert [e.name for e in events] == ORDER_LIFE
    with stocked.reading() as session:  # the order's whole life, from capture on
        of_order = session.scalars(select(m.Event.id).where(m.Event.order_summary_id == summary_id))
        assert set(of_order) <= {e.id for e in events}
    received = read_stream(nats_url, stream_name)
    assert received == expected(events, stream_name)
    created = received[2]
    assert (created.subject, created.msg_id) == (
        f"{stream_name.lower()}.order_summary.created",
        events[2].event_id,
    )
    assert sorted(created.body) == ["data", "id", "occurred_at", "type", "version"]
    assert (created.body["id"], created.body["type"], created.body["version"]) == (
        events[2].event_id,
        "order_summary.created",
        1,
    )
    assert created.body["occurred_at"].endswith("Z")
    assert stream_deliveries(stocked) == [("done", 0, None)] * len(events)


def test_a_retry_after_a_crash_is_dropped_by_the_server(
    stocked: Database, nats_url: str, stream_name: str
) -> None:
    """Every delivery run again, as after a worker died between the acknowledgement and
    its commit (the delivery's claim rolls back and another worker takes it): the server
    drops each second copy, and says so."""
    stream = NatsEventStream(nats_url, stream=stream_name)
    try:
        with shop_over(stocked, default_registry(event_stream=stream)) as shop:
            shop.capture()
            shop.drain()
            events = streamed_events(stocked)
            first = stream.publish(stream_message(events[0], 1, stream.subject_prefix))
            assert first == StreamAck(stream_name, 1, duplicate=True)
            again = replay(
                stocked,
                consumer=STREAM_CONSUMER,
                event_ids=[e.event_id for e in events],
                dead_only=False,
                now=shop.clock(),
            )
            assert again == len(events)
            shop.drain()
    finally:
        stream.close()
    assert read_stream(nats_url, stream_name) == expected(events, stream_name)
    assert stream_messages(nats_url, stream_name) == len(events)
    assert stream_deliveries(stocked) == [("done", 0, None)] * len(events)


def test_a_publish_whose_ack_was_lost_is_retried_and_stored_once(
    stocked: Database, nats_url: str, stream_name: str
) -> None:
    stream = LosesAcks(NatsEventStream(nats_url, stream=stream_name), count=2)
    try:
        with shop_over(stocked, default_registry(event_stream=stream)) as shop:
            shop.capture()
            shop.drain()
            deliveries = stream_deliveries(stocked)
            lost = "EventStreamUnavailable: the acknowledgement was lost"
            assert deliveries[:2] == [("pending", 1, lost)] * 2
            assert {d[0] for d in deliveries[2:]} == {"done"}
            shop.let_backoffs_run_out()
            shop.drain()
    finally:
        stream.close()
    events = streamed_events(stocked)
    received = read_stream(nats_url, stream_name)
    assert received == expected(events, stream_name)  # the two stored first, retried later
    lost = "EventStreamUnavailable: the acknowledgement was lost"
    assert stream_deliveries(stocked) == [("done", 1, lost)] * 2 + [("done", 0, None)] * (
        len(events) - 2
    )


def test_nats_down_holds_the_events_back_and_nothing_else(
    stocked: Database, nats_url: str, stream_name: str
) -> None:
    """Unreachable NATS fails the stream's deliveries (to be retried), not the order:
    it is routed all the same. Once NATS is back, every event arrives, once."""
    down = NatsEventStream("nats://127.0.0.1:1", stream=stream_name, cool_down=600.0)
    try:
        with shop_over(stocked, default_registry(event_stream=down)) as shop:
            shop.capture()
            shop.drain()
            routed = [(f[0], f[1]) for f in shop.fos()]
            clock = shop.clock
    finally:
        down.close()
    assert sorted(routed) == [("STORE-LDN", "ALLOCATED"), ("WH-LDN", "ALLOCATED")]
    failed = stream_deliveries(stocked)
    assert failed[0] == (
        "pending",
        1,
        "EventStreamUnavailable: cannot connect to NATS: TimeoutError",
    )
    assert [d[:2] for d in failed] == [("pending", 1)] * len(failed)
    assert stream_messages(nats_url, stream_name) is None  # nothing reached NATS

    up = NatsEventStream(nats_url, stream=stream_name)
    try:
        clock.advance()
        worker = make_worker(stocked, default_registry(event_stream=up), clock=clock)
        while worker.run_once():
            pass
    finally:
        up.close()
    events = streamed_events(stocked)
    assert read_stream(nats_url, stream_name) == expected(events, stream_name)
    assert [d[:2] for d in stream_deliveries(stocked)] == [("done", 1)] * len(failed)


def test_the_stream_consumer_retries_until_the_stream_has_stored_the_event(
    stocked: Database,
) -> None:
    """The same rules on the in-memory stream: a publish that fails stores nothing and is
    retried; one stored whose answer is lost is retried and dropped as a duplicate."""
    stream = InMemoryEventStream()
    stream.fail_next(1)
    lost = "EventStreamUnavailable: the acknowledgement was lost"
    with shop_over(stocked, default_registry(event_stream=stream)) as shop:
        shop.capture()
        shop.drain()
        events = streamed_events(stocked)
        assert [m.message_id for m in stream.messages] == [e.event_id for e in events[1:]]
        down = "EventStreamUnavailable: the in-memory stream is down"
        assert stream_deliveries(stocked)[0] == ("pending", 1, down)
        stream.lose_next_acks(1)
        shop.let_backoffs_run_out()
        shop.drain()
        assert stream_deliveries(stocked)[0] == ("pending", 2, lost)
        shop.let_backoffs_run_out()
        shop.drain()
    assert stream_deliveries(stocked) == [("done", 2, lost)] + [("done", 0, None)] * (
        len(events) - 1
    )
    assert stream.messages == [
        stream_message(e, BY_NAME[e.name].version, "openoms") for e in [*events[1:], events[0]]
    ]
    assert stream.published == len(events) + 1  # the retry the stream dropped


def test_the_connection_comes_back_after_an_outage(nats_url: str, stream_name: str) -> None:
    """NATS goes away under a connected stream: publishes fail at once (nothing queued in
    the client) until nats-py has reconnected by itself; then each message is stored once,
    the one that failed included when it is published again."""
    proxy = TcpProxy(nats_url)
    proxy.restore()
    stream = NatsEventStream(proxy.url, stream=stream_name, cool_down=0.0)
    prefix = stream.subject_prefix
    before = StreamMessage(f"{prefix}.a", "evt_1", b"1")
    during = StreamMessage(f"{prefix}.b", "evt_2", b"2")
    try:
        assert stream.publish(before) == StreamAck(stream_name, 1, duplicate=False)
        proxy.cut()
        with pytest.raises(EventStreamUnavailable):
            stream.publish(during)
        proxy.restore()
        assert retry_until_stored(stream, during) == StreamAck(stream_name, 2, duplicate=False)
        assert stream.publish(before) == StreamAck(stream_name, 1, duplicate=True)
    finally:
        stream.close()
        proxy.cut()
    received = read_stream(nats_url, stream_name)
    assert [(r.subject, r.msg_id) for r in received] == [
        (f"{prefix}.a", "evt_1"),
        (f"{prefix}.b", "evt_2"),
    ]


def retry_until_stored(stream: EventStream, message: StreamMessage) -> StreamAck:
    """Publish as the relay's retries do, until the stream acknowledges (30 s at most)."""
    deadline = time.monotonic() + RECONNECT_SECONDS
    while True:
        try:
            return stream.publish(message)
        except EventStreamUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_several_workers_starting_at_once_make_one_stream(nats_url: str, stream_name: str) -> None:
    streams = [NatsEventStream(nats_url, stream=stream_name) for _ in range(4)]
    try:
        with ThreadPoolExecutor(len(streams)) as pool:
            assert list(pool.map(lambda s: s.start(), streams)) == [None] * 4
        config = stream_config_of(nats_url, stream_name)
    finally:
        for stream in streams:
            stream.close()
    assert (config.subjects, config.storage, config.duplicate_window, config.max_age) == (
        [f"{stream_name.lower()}.>"],
        "file",
        7200.0,
        7 * 24 * 3600.0,
    )


def test_a_stream_made_by_hand_keeps_its_settings_and_gets_our_subjects(
    nats_url: str, stream_name: str
) -> None:
    """An operator created the stream first (other subjects, 30 days, a 10 min window):
    openoms adds its subjects and changes nothing else."""
    make_stream(nats_url, stream_name, subjects=["erp.in.>"], max_age=30 * 86400.0)
    stream = NatsEventStream(nats_url, stream=stream_name)
    try:
        stream.start()
        ack = stream.publish(StreamMessage(f"{stream_name.lower()}.x", "evt_1", b"{}"))
        config = stream_config_of(nats_url, stream_name)
    finally:
        stream.close()
    assert ack == StreamAck(stream_name, 1, duplicate=False)
    assert (config.subjects, config.max_age, config.duplicate_window) == (
        ["erp.in.>", f"{stream_name.lower()}.>"],
        30 * 86400.0,
        600.0,
    )


class WorkerDied(BaseException):
    """Not an Exception: the relay does not catch it, so it ends the batch as a SIGKILL
    would, with the batch's transaction rolled back."""


class DiesAfter:
    """A stream whose worker dies right after the `count`-th publish was acknowledged."""

    def __init__(self, stream: EventStream, count: int) -> None:
        self.stream, self.count = stream, count

    @property
    def subject_prefix(self) -> str:
        return self.stream.subject_prefix

    def start(self) -> None:
        self.stream.start()

    def publish(self, message: StreamMessage) -> StreamAck:
        ack = self.stream.publish(message)
        self.count -= 1
        if self.count == 0:
            raise WorkerDied
        return ack

    def close(self) -> None:
        self.stream.close()


def test_a_worker_dying_mid_batch_leaves_no_second_copy(
    stocked: Database, nats_url: str, stream_name: str
) -> None:
    """The worker dies after 3 acknowledged publishes, before its batch commits: the
    deliveries are all pending again, the next worker publishes the 3 again, and the server
    drops them. Each event once, in order."""
    stream = NatsEventStream(nats_url, stream=stream_name)
    try:
        with shop_over(stocked, default_registry(event_stream=stream)) as shop:
            shop.capture()
            clock = shop.clock
        dying = make_worker(
            stocked, default_registry(event_stream=DiesAfter(stream, 3)), clock=clock
        )
        with pytest.raises(WorkerDied):
            dying.run_once()
        assert stream_messages(nats_url, stream_name) == 3
        pending = stream_deliveries(stocked)
        assert pending == [("pending", 0, None)] * len(pending)  # rolled back, as if killed
        survivor = make_worker(stocked, default_registry(event_stream=stream), clock=clock)
        while survivor.run_once():
            pass
    finally:
        stream.close()
    events = streamed_events(stocked)
    assert read_stream(nats_url, stream_name) == expected(events, stream_name)
    assert stream_deliveries(stocked) == [("done", 0, None)] * len(events)

"""How fast the worker publishes outbox events to the NATS JetStream event stream.

    .venv/bin/python bench/event_stream.py [--events 5000] [--backends sqlite,postgres]
                                           [--postgres-url URL] [--nats-url URL]

Per backend: a fresh database gets `--events` events recorded through the outbox (an
`order_summary.created` with the payload of the §12 order, about 1 kB as JSON), each with a
delivery to the stream consumer only. Then one worker (the relay, batches of 100, one
transaction a batch) drains them, timed: each delivery a publish awaited for its PubAck.
Verified: the stream holds exactly `--events` messages, one per event id. For scale, the
same drain with a consumer that does nothing (what the relay costs on its own), and
publishes in a loop with no database (what one connection's publish-and-await costs).

Each run uses a stream of its own (OPENOMSBENCH…), deleted after; the PostgreSQL database
is a scratch one (openoms_stream_bench), dropped after.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Callable

import nats
from nats.js.errors import NotFoundError
from sqlalchemy.orm import Session

from common import DEFAULT_POSTGRES_URL, Backend, PostgresBackend, SqliteBackend, load, machine
from openoms.adapters.db.models import Event
from openoms.adapters.db.session import Database
from openoms.adapters.event_stream import NatsEventStream, stream_consumer
from openoms.adapters.outbox import Consumer, ConsumerRegistry, Outbox
from openoms.domain.events import DomainEvent
from openoms.domain.ports import StreamMessage
from openoms.worker.consumers import catalog_versions
from openoms.worker.runner import Worker

NATS_URL = "nats://127.0.0.1:4222"
RECORD_BATCH = 500


def payload(n: int) -> dict[str, object]:
    """An order_summary.created payload the size of the §12 order's."""
    return {
        "order_summary_id": f"os_{n:012d}",
        "external_reference": f"BENCH-{n}",
        "channel": "web-uk",
        "currency": "GBP",
        "status": "CREATED",
        "customer": {"email": f"customer{n}@example.com", "name": "Ada Lovelace"},
        "totals": {
            "subtotal": "68.00",
            "discount": "-6.00",
            "tax": "14.60",
            "grand_total": "76.59",
        },
        "delivery_groups": [
            {"ref": "home", "method": "ship", "items": [{"sku": "TEE-M", "quantity": 3}]},
            {"ref": "pickup", "method": "pickup", "items": [{"sku": "MUG", "quantity": 1}]},
        ],
        "payments": [{"gateway": "sandbox", "amount": "76.59", "method": "card"}],
        "placed_at": "2026-12-07T10:00:00Z",
    }


def record(db: Database, registry: ConsumerRegistry, count: int) -> None:
    outbox = Outbox(registry)
    for start in range(0, count, RECORD_BATCH):
        events = [
            DomainEvent("order_summary.created", "order_summary", f"os_{n}", payload(n), f"os_{n}")
            for n in range(start, min(start + RECORD_BATCH, count))
        ]
        with db.transaction() as session:
            outbox.record(session, events)


def drain(db: Database, registry: ConsumerRegistry) -> tuple[int, float]:
    """Deliveries handled and seconds taken by one worker draining everything."""
    worker = Worker(db, registry, batch_size=100, max_batches_per_run=10**6)
    started = time.perf_counter()
    handled = 0
    while count := worker.run_once():
        handled += count
    return handled, time.perf_counter() - started


def timed_run(backend: Backend, count: int, consumer: Callable[[], Consumer]) -> tuple[int, float]:
    db = Database(backend.fresh())
    try:
        registry = ConsumerRegistry([consumer()])
        record(db, registry, count)
        return drain(db, registry)
    finally:
        db.dispose()


def stream_ids(url: str, name: str) -> tuple[int, int]:
    """(messages the stream holds, distinct Nats-Msg-Id among them), via a direct read."""

    async def read() -> tuple[int, int]:
        nc = await nats.connect(url)
        try:
            js = nc.jetstream()
            info = await js.stream_info(name)
            ids = set()
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                msg = await js.get_msg(name, seq)
                ids.add((msg.headers or {}).get("Nats-Msg-Id"))
            return int(info.state.messages), len(ids)
        finally:
            await nc.close()

    return asyncio.run(read())


def delete_stream(url: str, name: str) -> None:
    async def delete() -> None:
        nc = await nats.connect(url)
        try:
            await nc.jetstream().delete_stream(name)
        except NotFoundError:
            pass
        finally:
            await nc.close()

    asyncio.run(delete())


def bench_backend(backend: Backend, count: int, url: str) -> None:
    name = f"OPENOMSBENCH{uuid.uuid4().hex[:10].upper()}"
    stream = NatsEventStream(url, stream=name)
    versions = catalog_versions()
    try:
        stream.start()
        handled, seconds = timed_run(backend, count, lambda: stream_consumer(stream, versions))
        stored, distinct = stream_ids(url, name)
    finally:
        stream.close()
        delete_stream(url, name)
    verified = handled == stored == distinct == count
    print(
        f"{backend.name:8} publish to the stream: {handled} events in {seconds:.2f} s = "
        f"{handled / seconds:,.0f} events/s; stream holds {stored} ({distinct} distinct ids); "
        f"verified: {'yes' if verified else 'NO'}"
    )

    def nothing(_session: Session, _event: Event) -> None:
        return None

    handled, seconds = timed_run(backend, count, lambda: Consumer("nothing", ("*",), nothing))
    print(
        f"{backend.name:8} the same relay, a consumer doing nothing: "
        f"{handled / seconds:,.0f} deliveries/s"
    )


def bench_raw(count: int, url: str) -> None:
    name = f"OPENOMSBENCH{uuid.uuid4().hex[:10].upper()}"
    stream = NatsEventStream(url, stream=name)
    body = b"x" * 1000
    try:
        stream.start()
        started = time.perf_counter()
        for n in range(count):
            stream.publish(StreamMessage(f"{stream.subject_prefix}.bench", f"evt_{n}", body))
        seconds = time.perf_counter() - started
    finally:
        stream.close()
        delete_stream(url, name)
    print(f"{'none':8} publish and await the PubAck, no database: {count / seconds:,.0f} /s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--nats-url", default=NATS_URL)
    args = parser.parse_args()
    for line in machine("nats-py", "sqlalchemy"):
        print(line)
    print(f"events:   {args.events} per run, 1 kB payloads; NATS {args.nats_url}")
    bench_raw(args.events, args.nats_url)
    for name in args.backends.split(","):
        backend: Backend = (
            SqliteBackend("event_stream")
            if name == "sqlite"
            else PostgresBackend(args.postgres_url, "openoms_stream_bench")
        )
        try:
            print(f"{name:8} {backend.version()}")
            bench_backend(backend, args.events, args.nats_url)
        finally:
            backend.close()
    print(load("after the runs"))


if __name__ == "__main__":
    main()

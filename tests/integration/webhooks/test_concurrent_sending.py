"""Several workers sending at once (threads over one database; on PostgreSQL they claim
with SKIP LOCKED, on SQLite they interleave between transactions): each order's events
still reach the endpoint in the order they happened, each webhook-id succeeds once, and a
failing event holds back only its own order."""

from __future__ import annotations

import threading
import time

import httpx
from sqlalchemy import func, select

from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from openoms.services import webhooks as service
from openoms.worker.consumers import default_jobs, default_registry
from openoms.worker.runner import Worker
from tests.integration.webhooks.receiver import URL, Receiver, record, sender

ORDERS = 8
EVENTS_PER_ORDER = 4
WORKERS = 3
DEADLINE_SECONDS = 120


def test_three_workers_keep_each_orders_events_in_order(db: Database) -> None:
    with db.transaction() as session:
        endpoint = service.create_endpoint(
            session, url=URL, event_types=None, channels=None, description="", allow_private=False
        )
        secret = endpoint.secret
    happened: dict[str, list[str]] = {}
    for step in range(EVENTS_PER_ORDER):
        for n in range(ORDERS):
            order = f"os_{n}"
            happened.setdefault(order, []).append(
                record(db, "fulfillment_order.status_changed", order, s=step)
            )
    # The second event of every other order fails twice before it is taken.
    flaky = {happened[f"os_{n}"][1]: [httpx.Response(500)] * 2 for n in range(0, ORDERS, 2)}
    lock = threading.Lock()
    receiver = Receiver(secrets=[secret], answers=flaky)

    def receive(request: httpx.Request) -> httpx.Response:
        time.sleep(0.005)  # long enough for the workers to overlap
        with lock:
            return receiver(request)

    def run() -> None:
        jobs = default_jobs(db)
        wh = sender(receiver, schedule=(0.0, 0.0, 0.0, 0.0))
        wh.client = httpx.Client(transport=httpx.MockTransport(receive))
        jobs.kinds["send_webhook"] = wh.job_kind()
        worker = Worker(db, default_registry(), jobs=jobs, batch_size=5)
        deadline = time.monotonic() + DEADLINE_SECONDS
        while time.monotonic() < deadline and pending(db):
            if not worker.run_once():
                time.sleep(0.05)

    threads = [threading.Thread(target=run) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=DEADLINE_SECONDS + 30)

    assert pending(db) == 0
    successes = [r.webhook_id for r in receiver.ok()]
    assert sorted(successes) == sorted(e for events in happened.values() for e in events)
    for order, events in happened.items():
        assert [e for e in successes if e in events] == events, order
    assert len(receiver.received) == ORDERS * EVENTS_PER_ORDER + 2 * len(flaky)
    assert all(v == [secret] for v in receiver.verified)


def pending(db: Database) -> int:
    with db.reading() as session:
        hooks = session.scalar(
            select(func.count())
            .select_from(m.WebhookDelivery)
            .where(m.WebhookDelivery.status != "succeeded")
        )
        outbox = session.scalar(
            select(func.count())
            .select_from(m.EventDelivery)
            .where(m.EventDelivery.status == "pending")
        )
    return (hooks or 0) + (outbox or 0)

"""Webhooks end to end: real `openoms` processes over HTTP, a real receiver on a local port
that verifies every signature with the official `standardwebhooks` library.

- The §12 order's whole life, from capture to a refund, reaches a receiver that fails the
  first 3 attempts of every message: each webhook-id is received exactly once with success,
  each order's events in the order they happened, every signature valid.
- SIGKILL of the worker process in the middle of deliveries loses nothing: every event is
  received, a repeat is only ever a retry with the same webhook-id, order kept.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from tests.conftest import BACKENDS
from tests.e2e.common import OPENOMS, cli_env, fresh_database, run_cli
from tests.e2e.servers import ADMIN_KEY, eventually, reference, running_server, stock_over_http
from tests.e2e.webhook_receiver import Receiver, receiving
from tests.payloads import order_payload

pytestmark = pytest.mark.e2e

SETTINGS = {
    "OPENOMS_WEBHOOK_ALLOW_PRIVATE": "true",
    "OPENOMS_WEBHOOK_RETRY_SCHEDULE": "0,0.2,0.2,0.2,0.2,0.2,0.2,0.2",
    "OPENOMS_WORKER_POLL_SECONDS": "0.1",
}


def database_state(url: str) -> tuple[list[tuple[str, str | None]], int, int]:
    """(every event as (event id, order summary id) in the order it happened, pending
    outbox deliveries, pending webhook deliveries)."""
    db = Database(url)
    try:
        with db.reading() as session:
            events = session.execute(
                select(m.Event.event_id, m.Event.order_summary_id).order_by(m.Event.id)
            ).all()
            outbox = session.scalar(
                select(func.count())
                .select_from(m.EventDelivery)
                .where(m.EventDelivery.status == "pending")
            )
            hooks = session.scalar(
                select(func.count())
                .select_from(m.WebhookDelivery)
                .where(m.WebhookDelivery.status == "pending")
            )
        return [(e, o) for e, o in events], outbox or 0, hooks or 0
    finally:
        db.dispose()


def expire_leases(url: str) -> None:
    db = Database(url)
    try:
        with db.transaction() as session:
            session.execute(
                update(m.Job)
                .where(m.Job.status == "pending", m.Job.available_at > m.utcnow())
                .values(available_at=m.utcnow())
            )
    finally:
        db.dispose()


def quiet(url: str, seconds: float = 120) -> list[tuple[str, str | None]]:
    """Wait until every event is fanned out and every delivery finished; the events."""
    deadline = time.monotonic() + seconds
    while True:
        events, outbox, hooks = database_state(url)
        if outbox == 0 and hooks == 0:
            return events
        if time.monotonic() > deadline:
            pytest.fail(f"{outbox} outbox and {hooks} webhook deliveries pending after {seconds} s")
        time.sleep(0.2)


def register(admin: httpx.Client, receiver: Receiver) -> str:
    created = admin.post(
        "/api/v1/webhook-endpoints", json={"url": receiver.url, "description": "e2e receiver"}
    )
    assert created.status_code == 201, created.text
    receiver.secret = created.json()["secret"]
    endpoint_id: str = created.json()["id"]
    return endpoint_id


def post(client: httpx.Client, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
    return client.post(path, json=body or {}, headers={"Idempotency-Key": reference()})


def assert_order_kept(receiver: Receiver, events: list[tuple[str, str | None]]) -> None:
    """Per order, the first successful receipt of its events is in the order they happened."""
    first_success: list[str] = []
    for hit in receiver.successes():
        if hit.webhook_id not in first_success:
            first_success.append(hit.webhook_id)
    order_of = dict(events)
    for order_id in {o for _, o in events if o is not None}:
        happened = [e for e, o in events if o == order_id]
        received = [e for e in first_success if order_of.get(e) == order_id]
        assert received == happened, order_id


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_an_orders_life_from_capture_to_refund_reaches_a_receiver_that_fails_3_times(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    with (
        fresh_database(backend, tmp_path, request) as url,
        receiving(Receiver(fail_first=3)) as receiver,
        running_server(url, tmp_path, admin_key=ADMIN_KEY, worker=True, **SETTINGS) as server,
        server.client(ADMIN_KEY) as admin,
    ):
        endpoint_id = register(admin, receiver)
        stock_over_http(admin, units=50)
        captured = post(admin, "/api/v1/orders", order_payload(external_reference=reference()))
        assert captured.status_code == 201, captured.text
        order_id = captured.json()["id"]

        def view() -> dict[str, Any]:
            body: dict[str, Any] = admin.get(f"/api/v1/order-summaries/{order_id}").json()
            return body

        routed = eventually(view, lambda v: len(v["fulfillment_orders"]) == 2, "routing")
        for fo in routed["fulfillment_orders"]:
            shipped = post(admin, f"/api/v1/fulfillment-orders/{fo['id']}/actions/ship")
            assert shipped.status_code in (200, 201), shipped.text
        eventually(view, lambda v: v["payment_summaries"][0]["captured"] == "76.59", "capture")
        mug = next(i for i in view()["items"] if i["sku"] == "MUG")
        discount = {"order_item_summary_id": mug["id"], "type": "amount_with_tax"}
        adjusted = post(
            admin,
            f"/api/v1/order-summaries/{order_id}/actions/adjust-item-submit",
            {"items": [{**discount, "amount": "-2.00", "reason": "scratched"}]},
        )
        assert adjusted.status_code == 200, adjusted.text
        eventually(view, lambda v: v["payment_summaries"][0]["refunded"] == "2.00", "refund")
        events = quiet(url)
        log = run_cli(
            "webhooks", "deliveries", endpoint_id, "--limit", "1000", database_url=url, cwd=tmp_path
        )

    ours = [e for e, o in events if o == order_id]
    types = [h.body["type"] for h in receiver.successes() if h.webhook_id in ours]
    successes = Counter(h.webhook_id for h in receiver.successes())
    tries = Counter(h.webhook_id for h in receiver.hits)
    assert {"order_summary.created", "fulfillment_order.shipped", "invoice.created"} <= set(types)
    assert {"payment.captured", "refund.processed"} <= set(types)
    assert set(successes) == {e for e, _ in events}  # every event, of this order or none
    assert set(successes.values()) == {1}  # each webhook-id exactly once
    assert set(tries.values()) == {4}  # 3 failures, then the success, with the same id
    assert all(h.verified for h in receiver.hits)
    assert all(h.body["id"] == h.webhook_id for h in receiver.hits)
    assert_order_kept(receiver, events)
    assert log.returncode == 0, log.stderr
    assert log.stdout.count("succeeded") == len(events)


@contextmanager
def worker_process(url: str, workdir: Path, name: str) -> Iterator[subprocess.Popen[bytes]]:
    """`openoms worker` (one process) until the block ends."""
    with (workdir / f"{name}.log").open("wb") as log:
        process = subprocess.Popen(
            [str(OPENOMS), "worker"],
            env=cli_env(url, PYTHONUNBUFFERED="1", **SETTINGS),
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.postgres
def test_sigkill_of_the_worker_in_the_middle_of_deliveries_loses_nothing(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    with (
        fresh_database("postgres", tmp_path, request) as url,
        receiving(Receiver(delay_seconds=0.2)) as receiver,
        running_server(url, tmp_path, admin_key=ADMIN_KEY, worker=False, **SETTINGS) as server,
        server.client(ADMIN_KEY) as admin,
    ):
        register(admin, receiver)
        stock_over_http(admin, units=50)
        orders = []
        for _ in range(4):
            captured = post(admin, "/api/v1/orders", order_payload(external_reference=reference()))
            assert captured.status_code == 201, captured.text
            orders.append(captured.json()["id"])
        with worker_process(url, tmp_path, "first") as first:
            eventually(lambda: len(receiver.hits), lambda n: n >= 6, "some deliveries")
            os.kill(first.pid, signal.SIGKILL)
            assert first.wait(timeout=30) == -signal.SIGKILL
        received_before = len(receiver.hits)
        before = database_state(url)
        # What the killed worker had claimed (a batch of jobs, leased for 2 minutes:
        # adapters/jobs.py) is taken again once the lease runs out: run it out now rather
        # than wait for it (tests/integration/platform/test_jobs.py times the lease).
        expire_leases(url)
        with worker_process(url, tmp_path, "second"):
            events = quiet(url, seconds=120)

    assert before[1] + before[2] > 0  # the kill left work undone
    assert received_before < len(receiver.hits)
    successes = Counter(h.webhook_id for h in receiver.successes())
    assert set(successes) == {e for e, _ in events}  # nothing lost
    repeats = {i: n for i, n in successes.items() if n > 1}
    assert len(repeats) <= 1  # at most the one send the kill interrupted, same webhook-id
    assert all(h.verified for h in receiver.hits)
    assert {o for _, o in events if o is not None} >= set(orders)
    assert_order_kept(receiver, events)


def test_the_webhooks_commands_register_list_and_read_endpoints(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'openoms.db'}"
    refused = run_cli(
        "webhooks", "create", "http://127.0.0.1:9/hook", database_url=url, cwd=tmp_path
    )
    unknown = run_cli(
        "webhooks",
        "create",
        "https://hooks.example.com/",
        "-e",
        "order.teleported",
        database_url=url,
        cwd=tmp_path,
    )
    created = run_cli(
        "webhooks",
        "create",
        "http://127.0.0.1:9/hook",
        "-e",
        "invoice.created",
        "--description",
        "ERP",
        database_url=url,
        cwd=tmp_path,
        OPENOMS_WEBHOOK_ALLOW_PRIVATE="true",
    )
    listed = run_cli("webhooks", "list", database_url=url, cwd=tmp_path)
    endpoint_id, secret = created.stdout.split()[0], created.stdout.split()[-1]
    log = run_cli("webhooks", "deliveries", endpoint_id, database_url=url, cwd=tmp_path)
    missing = run_cli("webhooks", "deliveries", "whe_nope", database_url=url, cwd=tmp_path)

    assert refused.returncode == 1
    assert "non-public address (127.0.0.1)" in " ".join(refused.stderr.split())
    assert unknown.returncode == 1
    assert "unknown event types: order.teleported" in unknown.stderr
    assert created.returncode == 0, created.stderr
    assert endpoint_id.startswith("whe_")
    assert secret.startswith("whsec_")
    assert listed.returncode == 0
    assert endpoint_id in listed.stdout
    assert "invoice.created" in listed.stdout
    assert secret not in listed.stdout
    assert log.returncode == 0
    assert log.stdout.split() == [
        "id",
        "event",
        "webhook-id",
        "status",
        "attempts",
        "last",
        "code",
        "last",
        "error",
        "created",
    ]
    assert missing.returncode == 1
    assert "webhook endpoint whe_nope does not exist" in missing.stderr

"""The sandbox gateway behaves like the remote service it stands in for: every process over
one database sees one ledger, and a restart of `openoms serve` forgets nothing.

Each test runs real processes (`openoms demo`, `openoms serve`, `openoms worker`) and
checks, at the end, that the sandbox's ledger (its own tables) equals openoms' payments and
refunds."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from openoms.adapters.db import models as m
from openoms.adapters.db.migrate import upgrade
from openoms.adapters.db.session import Database
from tests.conftest import BACKENDS
from tests.e2e.common import OPENOMS, cli_env, fresh_database, run_cli
from tests.e2e.servers import ADMIN_KEY, eventually, reference, running_server, stock_over_http
from tests.integration.helpers import count, gateway_ledger, openoms_ledger
from tests.payloads import order_payload

pytestmark = pytest.mark.e2e


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path, request) as url:
        yield url


@contextmanager
def database(url: str) -> Iterator[Database]:
    db = Database(url)
    try:
        yield db
    finally:
        db.dispose()


@contextmanager
def extra_worker(database_url: str, workdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`openoms worker` in the background until the block ends."""
    with (workdir / "worker.out").open("wb") as out, (workdir / "worker.err").open("wb") as err:
        process = subprocess.Popen(
            [str(OPENOMS), "worker"],
            env=cli_env(database_url, PYTHONUNBUFFERED="1"),
            cwd=workdir,
            stdout=out,
            stderr=err,
        )
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)


def refund(client: httpx.Client, summary_id: str, ps_id: str, amount: str) -> httpx.Response:
    return client.post(
        f"/api/v1/order-summaries/{summary_id}/payment-summaries/{ps_id}/actions/refund",
        json={"amount": amount, "reason": "goodwill"},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )


def paid_payment_summary(db: Database) -> tuple[str, str, int]:
    """(order summary id, payment summary id, refundable minor units) of the first payment
    method with money left to refund."""
    with db.reading() as session:
        ps = session.scalars(
            select(m.OrderPaymentSummary)
            .where(m.OrderPaymentSummary.captured > m.OrderPaymentSummary.refunded)
            .order_by(m.OrderPaymentSummary.id)
        ).first()
    assert ps is not None, "nothing was captured"
    return ps.order_summary_id, ps.id, ps.captured - ps.refunded


def test_a_fresh_server_refunds_an_order_the_demo_paid_in_another_process(
    database_url: str, tmp_path: Path
) -> None:
    demo = run_cli("demo", database_url=database_url, cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    with database(database_url) as db:
        summary_id, ps_id, refundable = paid_payment_summary(db)
        before = openoms_ledger(db)
        with (
            running_server(database_url, tmp_path, admin_key=ADMIN_KEY) as server,
            server.client(ADMIN_KEY) as agent,
        ):
            answer = refund(agent, summary_id, ps_id, "1.00")

        assert answer.status_code == 201, answer.text
        assert [r["status"] for r in answer.json()["refunds"]] == ["PROCESSED"]
        after = openoms_ledger(db)
        assert len(after["refund"]) == len(before["refund"]) + 1
        assert after["capture"] == before["capture"]
        assert gateway_ledger(db) == after
        with db.reading() as session:
            ps = session.get(m.OrderPaymentSummary, ps_id)
            assert ps is not None
            assert ps.captured - ps.refunded == refundable - 100


def test_a_restarted_server_refunds_what_it_captured_before(
    database_url: str, tmp_path: Path
) -> None:
    upgrade(database_url)
    with (
        running_server(database_url, tmp_path, admin_key=ADMIN_KEY, worker=True) as first,
        first.client(ADMIN_KEY) as client,
    ):
        stock_over_http(client, units=10)
        created = client.post(
            "/api/v1/orders",
            json=order_payload(external_reference=reference()),
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert created.status_code == 201, created.text
        summary_id = created.json()["id"]
        captured = ship_everything_and_wait_for_capture(client, summary_id)
    ps_id = captured["payment_summaries"][0]["id"]
    assert captured["payment_summaries"][0]["captured"] == "76.59"

    with (
        running_server(database_url, tmp_path, admin_key=ADMIN_KEY) as second,
        second.client(ADMIN_KEY) as agent,
    ):
        answer = refund(agent, summary_id, ps_id, "76.59")
        view = agent.get(f"/api/v1/order-summaries/{summary_id}").json()

    assert answer.status_code == 201, answer.text
    assert {r["amount"] for r in answer.json()["refunds"]} == {"8.95", "67.64"}
    assert view["payment_summaries"][0]["refunded"] == "76.59"
    with database(database_url) as db:
        ledger = openoms_ledger(db)
        assert sum(amount for _, _, amount in ledger["refund"]) == 7659
        assert gateway_ledger(db) == ledger


def ship_everything_and_wait_for_capture(client: httpx.Client, summary_id: str) -> dict[str, Any]:
    """Wait for routing, ship every fulfillment order, wait until the worker captured the
    grand total; the order summary's view."""

    def view() -> dict[str, Any]:
        body: dict[str, Any] = client.get(f"/api/v1/order-summaries/{summary_id}").json()
        return body

    routed = eventually(view, lambda v: len(v["fulfillment_orders"]) == 2, "routing")
    for fo in routed["fulfillment_orders"]:
        shipped = client.post(
            f"/api/v1/fulfillment-orders/{fo['id']}/actions/ship",
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert shipped.status_code in (200, 201), shipped.text
    return eventually(
        view,
        lambda v: (
            v["payment_summaries"][0]["captured"] == v["totals"]["grand_total"]
            or bool(v["process_exceptions"])
        ),
        "capture of both invoices",
    )


ORDERS = 12


@pytest.mark.postgres
def test_serve_plus_one_more_worker_capture_every_shipped_order(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    with fresh_database("postgres", tmp_path, request) as url:
        upgrade(url)
        with (
            running_server(url, tmp_path, admin_key=ADMIN_KEY, worker=True) as server,
            extra_worker(url, tmp_path),
            server.client(ADMIN_KEY) as client,
        ):
            stock_over_http(client, units=ORDERS * 3)
            ids = []
            for _ in range(ORDERS):
                created = client.post(
                    "/api/v1/orders",
                    json=order_payload(external_reference=reference()),
                    headers={"Idempotency-Key": uuid.uuid4().hex},
                )
                assert created.status_code == 201, created.text
                ids.append(created.json()["id"])
            views = [ship_everything_and_wait_for_capture(client, i) for i in ids]

        assert [v["process_exceptions"] for v in views] == [[]] * ORDERS
        assert {v["payment_summaries"][0]["captured"] for v in views} == {"76.59"}
        with database(url) as db:
            assert count(db, m.Payment, m.Payment.status != "PROCESSED") == 0
            ledger = openoms_ledger(db)
            assert len(ledger["capture"]) == 2 * ORDERS
            assert gateway_ledger(db) == ledger

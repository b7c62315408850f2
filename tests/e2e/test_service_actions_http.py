"""The §12 example order through every service action, against the real server and its
worker over HTTP: partially cancelled before shipping, shipped, partially returned through
an RMA received at another location, discounted, and reshipped. At every step its totals,
quantities, stock and money reconcile; a bad request changes nothing.

The §12 order is TEE-M ×3 (60.00, "3 for 2" −6.00, tax 12.00) shipped home with a 4.99 + 1.00
delivery charge, and a MUG (8.00, tax 1.60) picked up at STORE-LDN, less WELCOME5 (−5.00,
shared −4.35 / −0.65): TEE-M 61.65, MUG 8.95, delivery 5.99, grand total 76.59.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from tests.conftest import BACKENDS
from tests.e2e.common import fresh_database
from tests.e2e.servers import (
    ADMIN_KEY,
    Server,
    assert_problem,
    eventually,
    reference,
    running_server,
    stock_over_http,
)
from tests.payloads import order_payload

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", params=BACKENDS)
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """`openoms serve` with its worker on an empty database per backend, stocked over HTTP."""
    workdir = tmp_path_factory.mktemp(f"actions-{request.param}")
    with (
        fresh_database(request.param, workdir, request) as url,
        running_server(url, workdir, admin_key=ADMIN_KEY, worker=True) as server,
    ):
        with server.client(ADMIN_KEY) as admin:
            stock_over_http(admin, units=50)
        yield server


def pending_deliveries(database_url: str) -> int:
    """Event deliveries the server's worker has not handled yet. A batch of deliveries is
    one transaction, so a delivery is done (and what its consumer wrote, e.g. an invoice,
    is there) or still pending: 0 means every event so far has been handled."""
    db = Database(database_url)
    try:
        with db.reading() as session:
            return (
                session.scalar(
                    select(func.count())
                    .select_from(m.EventDelivery)
                    .where(m.EventDelivery.status == "pending")
                )
                or 0
            )
    finally:
        db.dispose()


def cents(amount: str) -> int:
    units, _, fraction = amount.partition(".")
    sign = -1 if units.startswith("-") else 1
    return sign * (abs(int(units)) * 100 + int(fraction.ljust(2, "0")))


class Order:
    def __init__(self, client: httpx.Client, summary_id: str) -> None:
        self.client = client
        self.id = summary_id
        self.calls = 0

    def view(self) -> dict[str, Any]:
        response = self.client.get(f"/api/v1/order-summaries/{self.id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        self.calls += 1
        return self.client.post(
            path, json=body or {}, headers={"Idempotency-Key": f"{self.id}-{self.calls}"}
        )

    def action(self, name: str, body: dict[str, Any]) -> httpx.Response:
        return self.post(f"/api/v1/order-summaries/{self.id}/actions/{name}", body)

    def item(self, sku: str) -> dict[str, Any]:
        return next(i for i in self.view()["items"] if i["sku"] == sku and i["type"] == "product")

    def stock(self, location: str, sku: str) -> tuple[int, int]:
        response = self.client.post(
            "/api/v1/inventory/actions/get-availability",
            json={"skus": [sku], "locations": [location]},
        )
        assert response.status_code == 200, response.text
        (place,) = response.json()["locations"]
        (record,) = place["inventory_records"]
        return int(record["on_hand"]), int(record["reserved"])

    def money(self) -> tuple[int, int, int, int]:
        """(Σ invoices, Σ credit memos, captured, refunded)."""
        view = self.view()
        (ps,) = view["payment_summaries"]
        return (
            sum(cents(i["grand_total"]) for i in view["invoices"]),
            sum(cents(c["grand_total"]) for c in view["credit_memos"]),
            cents(ps["captured"]),
            cents(ps["refunded"]),
        )


def quantities(item: dict[str, Any]) -> tuple[int, ...]:
    return tuple(
        item[f"quantity_{name}"]
        for name in (
            "ordered",
            "canceled",
            "allocated",
            "fulfilled",
            "return_initiated",
            "returned",
            "reshipped",
            "available_to_return",
            "available_to_reship",
        )
    )


def test_the_section_12_order_through_every_service_action(live: Server) -> None:
    with live.client(ADMIN_KEY) as client:
        captured = client.post("/api/v1/orders", json=order_payload(external_reference=reference()))
        assert captured.status_code == 201, captured.text
        order = Order(client, captured.json()["id"])
        assert captured.json()["totals"]["grand_total"] == "76.59"
        view = eventually(
            order.view,
            lambda v: (
                len(v["fulfillment_orders"]) == 2
                and v["payment_summaries"][0]["authorized"] == "76.59"
            ),
            "routing and authorization",
        )
        tee = order.item("TEE-M")
        assert quantities(tee) == (3, 0, 3, 0, 0, 0, 0, 0, 0)
        assert order.stock("WH-LDN", "TEE-M") == (50, 3)

        # 1. Cancel one TEE-M before shipping: it comes off its fulfillment order first.
        too_many = order.action(
            "submit-cancel",
            {"items": [{"order_item_summary_id": tee["id"], "quantity": 4}]},
        )
        assert_problem(too_many, 409, "cancel_exceeds_available")
        assert order.view()["totals"] == view["totals"]
        preview = order.action(
            "preview-cancel",
            {"items": [{"order_item_summary_id": tee["id"], "quantity": 1, "reason": "dup"}]},
        )
        assert preview.status_code == 200, preview.text
        assert preview.json()["change_orders"][0]["grand_total"] == "-20.55"
        assert order.stock("WH-LDN", "TEE-M") == (50, 3)  # a preview moves nothing
        canceled = order.action(
            "submit-cancel",
            {"items": [{"order_item_summary_id": tee["id"], "quantity": 1, "reason": "dup"}]},
        )
        assert canceled.status_code == 200, canceled.text
        assert canceled.json()["to_refund"] == "0.00"  # nothing was captured for it
        view = order.view()
        assert view["totals"]["grand_total"] == "56.04"
        assert quantities(order.item("TEE-M")) == (3, 1, 2, 0, 0, 0, 0, 0, 0)
        assert order.stock("WH-LDN", "TEE-M") == (50, 2)

        # 2. Ship both fulfillment orders; each is invoiced and captured exactly.
        for fo in view["fulfillment_orders"]:
            shipped = order.post(f"/api/v1/fulfillment-orders/{fo['id']}/actions/ship")
            assert shipped.status_code in (200, 201), shipped.text
        eventually(order.money, lambda m: m[2] == 5604, "capture of both invoices")
        assert order.money() == (5604, 0, 5604, 0)
        assert order.stock("WH-LDN", "TEE-M") == (48, 0)
        assert order.view()["status"] == "FULFILLED"
        # The unused 20.55 of the authorization is given back once the order is settled.
        eventually(
            lambda: order.view()["payment_summaries"][0],
            lambda ps: ps["available_to_capture"] == "0.00",
            "reversal of the unused authorization",
        )

        # 3. Return one TEE-M through an RMA, received at the store (not where it shipped
        #    from) and restocked there; refunded only once received.
        tee = order.item("TEE-M")
        refused = order.post(
            "/api/v1/return-orders",
            {
                "order_summary_id": order.id,
                "items": [{"order_item_summary_id": tee["id"], "quantity": 3}],
            },
        )
        assert_problem(refused, 409, "return_exceeds_available")
        rma = order.post(
            "/api/v1/return-orders",
            {
                "order_summary_id": order.id,
                "items": [{"order_item_summary_id": tee["id"], "quantity": 1}],
                "reason": "too small",
                "expected_location": "STORE-LDN",
                "submit": True,
            },
        )
        assert rma.status_code == 201, rma.text
        rma_id = rma.json()["id"]
        assert quantities(order.item("TEE-M")) == (3, 1, 2, 2, 1, 0, 0, 1, 1)
        for step in ("approve", "mark-in-transit"):
            moved = order.post(f"/api/v1/return-orders/{rma_id}/actions/{step}")
            assert moved.status_code == 200, moved.text
        assert order.money() == (5604, 0, 5604, 0)  # no refund before it is received
        received = order.post(
            f"/api/v1/return-orders/{rma_id}/actions/receive",
            {
                "items": [
                    {
                        "return_order_line_item_id": rma.json()["lines"][0]["id"],
                        "quantity": 1,
                        "condition": "new",
                        "disposition": "restock",
                        "location": "STORE-LDN",
                    }
                ]
            },
        )
        assert received.status_code == 200, received.text
        illegal = order.post(f"/api/v1/return-orders/{rma_id}/actions/approve")
        assert_problem(illegal, 409, "illegal_transition")
        eventually(order.money, lambda m: m[3] == 2055, "refund of the returned unit")
        assert order.money() == (5604, 2055, 5604, 2055)
        assert order.view()["totals"]["grand_total"] == "35.49"
        assert quantities(order.item("TEE-M")) == (3, 1, 2, 2, 1, 1, 0, 1, 1)
        assert order.stock("STORE-LDN", "TEE-M") == (1, 0)

        # 4. Discount the MUG (picked up and paid): the post-fulfillment part is refunded.
        mug = order.item("MUG")
        positive = order.action(
            "adjust-item-submit",
            {
                "items": [
                    {"order_item_summary_id": mug["id"], "type": "amount_with_tax", "amount": "1"}
                ]
            },
        )
        assert_problem(positive, 400, "discount_invalid")
        discounted = order.action(
            "adjust-item-submit",
            {
                "items": [
                    {
                        "order_item_summary_id": mug["id"],
                        "type": "amount_with_tax",
                        "amount": "-2.00",
                        "reason": "scratched",
                    }
                ]
            },
        )
        assert discounted.status_code == 200, discounted.text
        assert discounted.json()["to_refund"] == "2.00"
        eventually(order.money, lambda m: m[3] == 2255, "refund of the discount")
        assert order.money() == (5604, 2255, 5604, 2255)
        assert order.view()["totals"]["grand_total"] == "33.49"

        # 5. Reship the TEE-M the customer kept but lost: a free fulfillment order.
        tee = order.item("TEE-M")
        too_many = order.action(
            "submit-reship",
            {
                "items": [{"order_item_summary_id": tee["id"], "quantity": 2}],
                "reason": "lost_in_transit",
            },
        )
        assert too_many.status_code == 409, too_many.text
        reship = order.action(
            "submit-reship",
            {
                "items": [{"order_item_summary_id": tee["id"], "quantity": 1}],
                "reason": "lost_in_transit",
            },
        )
        assert reship.status_code in (200, 201), reship.text
        view = eventually(
            order.view,
            lambda v: any(fo["type"] == "reship" for fo in v["fulfillment_orders"]),
            "routing of the reshipment",
        )
        (fo,) = [fo for fo in view["fulfillment_orders"] if fo["type"] == "reship"]
        shipped = order.post(f"/api/v1/fulfillment-orders/{fo['id']}/actions/ship")
        assert shipped.status_code in (200, 201), shipped.text
        eventually(
            order.view,
            lambda v: (
                next(f for f in v["fulfillment_orders"] if f["id"] == fo["id"])["status"]
                == "FULFILLED"
            ),
            "the reshipment shipped",
        )
        assert quantities(order.item("TEE-M")) == (3, 1, 2, 2, 1, 1, 1, 1, 0)
        on_hand = order.stock(fo["location"], "TEE-M")[0]
        assert (fo["location"], on_hand) == ("WH-LDN", 47)  # reshipped from stock
        # Invoicing answers a shipment's events: once they are handled, an invoice for the
        # reshipment would be there. There is none: a reship is free.
        eventually(
            lambda: pending_deliveries(live.database_url),
            lambda pending: pending == 0,
            "the worker handling every event",
        )
        invoiced, credited, captured, refunded = order.money()
        assert (invoiced, credited, captured, refunded) == (5604, 2255, 5604, 2255)

        # Everything reconciles: owed = grand total = captured − refunded, nothing open.
        assert invoiced - credited == cents(order.view()["totals"]["grand_total"]) == 3349
        report = client.get("/api/v1/finance/reconciliation")
        assert report.status_code == 200, report.text
        (row,) = [r for r in report.json()["orders"] if r["order_summary_id"] == order.id]
        assert row["outstanding"] == "0.00"
        assert row["mismatches"] == []

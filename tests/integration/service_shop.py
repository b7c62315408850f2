"""A shop for service-action tests over the HTTP API: the stocked network, the §12 order
captured through POST /orders, a worker (routing, invoicing, captures, refunds) driven
synchronously with the same sandbox gateway and carriers as the app, and snapshots of
everything an action may move (stock, reservations, money, change orders, the summary)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from openoms.adapters.carriers import Carriers, default_carriers
from openoms.adapters.db import models as m
from openoms.adapters.payments import Gateways, SandboxGateway
from openoms.worker.consumers import default_jobs
from openoms.worker.runner import Worker
from tests.integration.conftest import Api
from tests.integration.helpers import bookkeeping, stock
from tests.integration.worker import WorkerClock, drain, make_worker
from tests.payloads import order_payload

GRAND_TOTAL = 7659
# §12 amounts (minor units): TEE-M 3 × 20.00 less 6.00 and its 4.35 of WELCOME5, tax 12.00;
# MUG 8.00 less 0.65, tax 1.60; delivery 4.99 + tax 1.00.
TEE = (6000, -1035, 1200)
MUG = (800, -65, 160)
DELIVERY = (499, 0, 100)


@dataclass
class Shop:
    api: Api
    worker: Worker
    sandbox: SandboxGateway
    carriers: Carriers
    clock: WorkerClock
    summary_id: str = ""

    # --- driving ---------------------------------------------------------------------------

    def capture(self, **overrides: Any) -> str:
        answer = self.api.client.post(
            "/api/v1/orders", json=order_payload(**overrides), headers=self.api.headers()
        )
        assert answer.status_code == 201, answer.text
        self.summary_id = answer.json()["id"]
        return self.summary_id

    def drain(self) -> int:
        """Run the worker until it finds nothing due."""
        return drain(self.worker)

    def let_backoffs_run_out(self) -> None:
        """Move the worker's clock past every retry's backoff."""
        self.clock.advance()

    def action(
        self, name: str, body: dict[str, Any], *, key: str | None = None, scope: str = "agent"
    ) -> Any:
        headers = self.api.headers(scope, **({"Idempotency-Key": key} if key else {}))
        return self.api.client.post(
            f"/api/v1/order-summaries/{self.summary_id}/actions/{name}", json=body, headers=headers
        )

    def ship(self, location: str, items: dict[str, int] | None = None) -> Any:
        """Ship the live FO at `location` (everything, or `items` sku → units)."""
        (fo,) = [
            f
            for f in self.view()["fulfillment_orders"]
            if f["location"] == location and f["status"] not in ("CANCELED", "FULFILLED")
        ]
        return self.ship_fo(fo["id"], items)

    def ship_fo(self, fo_id: str, items: dict[str, int] | None = None) -> Any:
        body = {"items": [{"sku": s, "quantity": n} for s, n in items.items()]} if items else None
        answer = self.api.client.post(
            f"/api/v1/fulfillment-orders/{fo_id}/actions/ship",
            json=body,
            headers=self.api.headers("warehouse"),
        )
        assert answer.status_code in (200, 201), answer.text
        return answer.json()

    # --- reading ---------------------------------------------------------------------------

    def view(self) -> dict[str, Any]:
        answer = self.api.client.get(
            f"/api/v1/order-summaries/{self.summary_id}", headers=self.api.headers("agent")
        )
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def item_id(self, sku: str) -> str:
        (item,) = [i for i in self.view()["items"] if i["sku"] == sku and i["type"] == "product"]
        return str(item["id"])

    def charge_id(self, group: str = "home") -> str:
        (item,) = [
            i
            for i in self.view()["items"]
            if i["type"] == "delivery_charge" and i["delivery_group"] == group
        ]
        return str(item["id"])

    def item(self, sku: str) -> dict[str, Any]:
        (item,) = [i for i in self.view()["items"] if i["sku"] == sku]
        return dict(item)

    def fos(self) -> list[tuple[str, str, list[tuple[str, int, int, int]]]]:
        """(location, status, [(sku, original_quantity, quantity, shipped)])."""
        return [
            (
                f["location"],
                f["status"],
                [
                    (ln["sku"], ln["original_quantity"], ln["quantity"], ln["shipped"])
                    for ln in f["lines"]
                ],
            )
            for f in self.view()["fulfillment_orders"]
        ]

    def stock(self) -> dict[tuple[str, str], tuple[int, int]]:
        """(location, sku) → (on_hand, reserved)."""
        return stock(self.api.db)

    def held(self) -> dict[tuple[str, str], int]:
        """(location ref, sku) → units the order's reservations hold."""
        with self.api.db.reading() as session:
            rows = session.execute(
                select(m.Location.ref, m.ReservationLine.sku, m.ReservationLine.quantity)
                .join(m.Reservation, m.Reservation.id == m.ReservationLine.reservation_id)
                .join(m.Location, m.Location.id == m.ReservationLine.location_id)
                .where(m.Reservation.order_summary_id == self.summary_id)
            ).all()
        held: dict[tuple[str, str], int] = {}
        for ref, sku, quantity in rows:
            if quantity:
                held[ref, sku] = held.get((ref, sku), 0) + quantity
        return held

    def money(self) -> dict[str, Any]:
        """Invoices, credit memos, refunds, the payment summary and the sandbox's ledger."""
        with self.api.db.reading() as session:
            invoices = session.scalars(
                select(m.Invoice.grand_total)
                .where(m.Invoice.order_summary_id == self.summary_id)
                .order_by(m.Invoice.created_at, m.Invoice.id)
            ).all()
            memos = session.execute(
                select(m.CreditMemo.grand_total, m.CreditMemo.balance, m.CreditMemo.status)
                .where(m.CreditMemo.order_summary_id == self.summary_id)
                .order_by(m.CreditMemo.created_at, m.CreditMemo.id)
            ).all()
            refunds = session.execute(
                select(
                    m.Refund.amount, m.Refund.status, m.Refund.credit_memo_id.is_not(None)
                ).order_by(m.Refund.created_at, m.Refund.id)
            ).all()
            ps = session.scalars(
                select(m.OrderPaymentSummary).where(
                    m.OrderPaymentSummary.order_summary_id == self.summary_id
                )
            ).one()
            return {
                "invoices": list(invoices),
                "memos": [tuple(r) for r in memos],
                "refunds": [tuple(r) for r in refunds],
                "payment": (ps.authorized, ps.captured, ps.refunded),
                "ledger": [(e.operation, e.amount) for e in self.sandbox.ledger],
            }

    def change_orders(self) -> list[tuple[str, str | None, int]]:
        """(change kind, reason, grand total) of the summary's change orders, oldest first."""
        with self.api.db.reading() as session:
            rows = session.execute(
                select(m.Order.change_kind, m.Order.reason, m.Order.grand_total)
                .where(m.Order.order_summary_id == self.summary_id, m.Order.kind == "change")
                .order_by(m.Order.created_at, m.Order.id)
            ).all()
        return [(str(k), r, int(t)) for k, r, t in rows]

    def event_names(self) -> list[str]:
        with self.api.db.reading() as session:
            return list(
                session.scalars(
                    select(m.Event.name)
                    .where(m.Event.order_summary_id == self.summary_id)
                    .order_by(m.Event.id)
                )
            )

    def snapshot(self) -> dict[str, Any]:
        """Everything a refused action must leave as it was."""
        return {
            "view": self.view(),
            "stock": self.stock(),
            "held": self.held(),
            "money": self.money(),
            "change_orders": self.change_orders(),
            "events": self.event_names(),
            **bookkeeping(self.api.db),
        }


def make_shop(api: Api) -> Shop:
    """The app and a worker sharing one sandbox gateway and one set of carriers (the
    network must be stocked: use the `stocked` fixture)."""
    sandbox = SandboxGateway(api.db, "sandbox")
    gateways = Gateways({"sandbox": sandbox})
    carriers = default_carriers(api.db, env={})
    api.client.app.state.gateways = gateways  # type: ignore[attr-defined]
    api.client.app.state.carriers = carriers  # type: ignore[attr-defined]
    clock = WorkerClock()
    worker = make_worker(api.db, jobs=default_jobs(api.db, carriers, gateways), clock=clock)
    return Shop(api, worker, sandbox, carriers, clock)


def without_ids(body: Any) -> Any:
    """`body` with what differs between a preview and its submit left out: ids, times,
    and the event timeline (a preview writes no events)."""
    if isinstance(body, dict):
        return {
            k: without_ids(v)
            for k, v in body.items()
            if k not in ("id", "events", "created_at", "updated_at", "preview")
            and not k.endswith("_id")
        }
    if isinstance(body, list):
        return [without_ids(v) for v in body]
    return body


def minor(text: str) -> int:
    """ "12.34" → 1234."""
    sign = -1 if text.startswith("-") else 1
    whole, _, frac = text.lstrip("-").partition(".")
    return sign * (int(whole) * 100 + int(frac or 0))

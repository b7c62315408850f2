"""The split order and its worker: a three-line order whose one ship-to-home group no single
warehouse can fill (WH-LDN holds TEE-M and MUG, WH-MAN the only CAPs), so fewest_splits
routes it to two warehouses; captured, routed and paid through a sandbox gateway by a
worker on a test clock. The money-flow and reversal tests start here.

Amounts (minor units): TEE-M 2 × 20.00 (tax 8.00), MUG 8.00 (tax 1.60), CAP 12.00 (tax
2.40), delivery 4.99 (tax 1.00), order discount −5.00 spread by product value 40:8:12 →
−3.33, −0.67, −1.00. WH-LDN ships TEE-M + MUG and carries the delivery charge:
44.67 + 8.93 + 5.99 = 59.59; WH-MAN ships the CAP: 13.40. Grand total 72.99."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from openoms.adapters.carriers import Carriers, default_carriers
from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.adapters.payments import Gateways
from openoms.adapters.payments.sandbox import SandboxGateway
from openoms.services.finance import reconcile
from openoms.services.fulfillment import ship
from openoms.services.views import order_summary_view
from openoms.worker.consumers import default_jobs, default_registry
from openoms.worker.runner import Worker
from tests.integration.helpers import capture
from tests.integration.worker import WorkerClock, drain, make_worker
from tests.network import stock_network
from tests.payloads import order_payload

GRAND_TOTAL = 7299
LDN_INVOICE = 5959  # TEE-M ×2 44.67 + MUG 8.93 + delivery 5.99 (the first invoice has it)
MAN_INVOICE = 1340  # CAP 13.40
SPLIT_STOCK = {
    ("WH-LDN", "TEE-M"): 10,
    ("WH-LDN", "MUG"): 20,
    ("WH-MAN", "CAP"): 5,
    ("STORE-LDN", "MUG"): 10,
}
ITEMS = [
    {"sku": "TEE-M", "quantity": 2, "unit_price": "20.00", "tax": "8.00", "delivery_group": "home"},
    {"sku": "MUG", "quantity": 1, "unit_price": "8.00", "tax": "1.60", "delivery_group": "home"},
    {"sku": "CAP", "quantity": 1, "unit_price": "12.00", "tax": "2.40", "delivery_group": "home"},
]


def split_order(*payments: dict[str, Any]) -> dict[str, Any]:
    """The three-line order, one ship group, paid by `payments` (72.99 in all)."""
    payload = order_payload(
        external_reference="WEB-SPLIT-1",
        items=ITEMS,
        payments=[{"gateway": "sandbox", "amount": "72.99", **p} for p in payments],
    )
    payload["delivery_groups"] = [g for g in payload["delivery_groups"] if g["ref"] == "home"]
    return payload


@dataclass
class Flow:
    db: Database
    outbox: Outbox
    sandbox: SandboxGateway
    carriers: Carriers
    worker: Worker
    clock: WorkerClock
    summary_id: str

    def drain(self) -> int:
        """Run the worker until it finds nothing due; returns how much it handled."""
        return drain(self.worker)

    def backoff_passes(self) -> int:
        """Move the worker's clock past every backoff; returns how many pending jobs that
        made due."""
        now = self.clock.advance()
        with self.db.reading() as session:
            return len(
                session.scalars(
                    select(m.Job.id).where(m.Job.status == "pending", m.Job.available_at <= now)
                ).all()
            )

    def view(self) -> dict[str, Any]:
        with self.db.reading() as session:
            return order_summary_view(session, self.summary_id)

    def fulfillment_orders(self) -> dict[str, tuple[str, str, list[tuple[str, int]]]]:
        """location → (fo id, status, [(sku, quantity)])."""
        return {
            fo["location"]: (
                fo["id"],
                fo["status"],
                sorted((ln["sku"], ln["quantity"]) for ln in fo["lines"]),
            )
            for fo in self.view()["fulfillment_orders"]
        }

    def ship_from(self, location: str) -> None:
        """Ship everything of the fulfillment order at `location`."""
        fo_id = self.fulfillment_orders()[location][0]
        with self.db.transaction() as session:
            ship(session, self.outbox, fo_id, carrier_choice=self.carriers)

    def ship_all(self) -> None:
        """WH-LDN first (its invoice carries the delivery charge), then WH-MAN."""
        self.ship_from("WH-LDN")
        self.ship_from("WH-MAN")

    def invoices(self) -> dict[str, tuple[int, int, str]]:
        """invoice id → (grand total, balance, status)."""
        with self.db.reading() as session:
            rows = session.scalars(
                select(m.Invoice).where(m.Invoice.order_summary_id == self.summary_id)
            ).all()
            return {i.id: (i.grand_total, i.balance, i.status) for i in rows}

    def payments(self) -> list[tuple[str | None, int, str, str]]:
        """(invoice id, amount, status, key), oldest first."""
        with self.db.reading() as session:
            rows = session.scalars(select(m.Payment).order_by(m.Payment.created_at, m.Payment.id))
            return [(p.invoice_id, p.amount, p.status, p.idempotency_key) for p in rows]

    def payment_summary(self) -> tuple[int, int, int, int]:
        """(authorized, captured, pending_capture, refunded)."""
        with self.db.reading() as session:
            ps = session.scalars(
                select(m.OrderPaymentSummary).where(
                    m.OrderPaymentSummary.order_summary_id == self.summary_id
                )
            ).one()
            return ps.authorized, ps.captured, ps.pending_capture, ps.refunded

    def exceptions(self) -> list[tuple[str, str, str, str]]:
        """(category, severity, status, dedupe key) of the payment exceptions."""
        with self.db.reading() as session:
            rows = session.scalars(
                select(m.ProcessException)
                .where(m.ProcessException.category == "payment")
                .order_by(m.ProcessException.id)
            )
            return [(e.category, e.severity, e.status, e.dedupe_key) for e in rows]

    def ledger_captures(self) -> list[tuple[str, int]]:
        return [(e.idempotency_key, e.amount) for e in self.sandbox.movements("capture")]

    def reconciliation(self) -> dict[str, Any]:
        with self.db.reading() as session:
            (row,) = reconcile(session).orders
            return row.view()


def start(db: Database, *payments: dict[str, Any], **sandbox: Any) -> Flow:
    """Stock the split network, capture the order paid by `payments` (those marked
    `preauthorize` authorized at checkout), route it (and authorize bare tokens) with the
    worker."""
    stock_network(db, stock=SPLIT_STOCK)
    gateway = SandboxGateway(db, **sandbox)
    for payment in payments:
        if payment.pop("preauthorize", False):
            amount = int(payment.get("amount", "72.99").replace(".", ""))
            payment["authorization_reference"] = gateway.preauthorize(
                payment["token"], amount, "GBP", key=f"checkout:{payment['token']}"
            )
    registry = default_registry()
    outbox = Outbox(registry)
    carriers = default_carriers(db)
    summary_id = capture(db, outbox, split_order(*payments))
    jobs = default_jobs(db, carriers, Gateways({"sandbox": gateway}))
    clock = WorkerClock()
    worker = make_worker(db, registry, jobs, clock=clock)
    flow = Flow(db, outbox, gateway, carriers, worker, clock, summary_id)
    flow.drain()
    return flow

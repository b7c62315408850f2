"""The §12 order captured through the API, routed, shipped, invoiced and captured by the
worker over a sandbox gateway — the starting point of the return tests.

Amounts (minor units): TEE-M 3 × 20.00, line discount −6.00, its share of WELCOME5 −4.35,
tax 12.00 → 20.55 a unit; MUG 8.00 − 0.65 + 1.60 = 8.95; delivery 4.99 + 1.00 = 5.99.
Grand total 76.59. WH-LDN ships the 3 TEE-M (invoice 61.65 + 5.99), STORE-LDN hands over
the MUG (8.95)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from openoms.adapters.carriers import default_carriers
from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.adapters.payments import Gateways, SandboxGateway
from openoms.domain.money import Money
from openoms.domain.returns import ReturnOrderStatus
from openoms.services.fulfillment import ship
from openoms.services.orders import ChannelData, upsert_channel
from openoms.worker.consumers import default_jobs, default_registry
from openoms.worker.runner import Worker
from tests.integration.conftest import Api
from tests.integration.helpers import bookkeeping, stock
from tests.integration.worker import drain, make_worker
from tests.payloads import order_payload

GRAND_TOTAL = 7659
TEE_UNIT = 2055
MUG_UNIT = 895


@dataclass
class Shop:
    api: Api
    db: Database
    outbox: Outbox
    sandbox: SandboxGateway
    worker: Worker
    summary_id: str = ""

    # --- driving ---------------------------------------------------------------------------

    def drain(self) -> None:
        drain(self.worker)

    def policy(self, **data: Any) -> None:
        """Set the web-uk channel's policy (routed to "online", plus `data`)."""
        for name in ("returnless_threshold", "return_fee"):
            if name in data:
                data[name] = tuple(Money.parse(v, c) for c, v in data[name].items())
        if "refund_eligible_status" in data:
            data["refund_eligible_status"] = ReturnOrderStatus(data["refund_eligible_status"])
        with self.db.transaction() as session:
            upsert_channel(
                session, self.outbox, "web-uk", ChannelData(location_group="online", **data)
            )

    def order(self, *, ship_tees: int | None = 3, ship_mug: bool = True) -> str:
        """Capture the §12 order, route it; ship `ship_tees` TEE-M (None: none) and the MUG;
        let the worker invoice and capture."""
        answer = self.api.client.post(
            "/api/v1/orders", json=order_payload(), headers=self.api.headers("storefront")
        )
        assert answer.status_code == 201, answer.text
        self.summary_id = answer.json()["id"]
        self.drain()
        fos = {fo["location"]: fo["id"] for fo in self.view()["fulfillment_orders"]}
        assert set(fos) == {"WH-LDN", "STORE-LDN"}
        carriers = default_carriers(self.db, env={})
        with self.db.transaction() as session:
            if ship_tees:
                items = [("TEE-M", ship_tees)] if ship_tees < 3 else None
                ship(session, self.outbox, fos["WH-LDN"], items=items, carrier_choice=carriers)
            if ship_mug:
                ship(session, self.outbox, fos["STORE-LDN"], carrier_choice=carriers)
        self.drain()
        return self.summary_id

    def post(self, path: str, body: Any = None, *, scope: str = "agent", **headers: str) -> Any:
        return self.api.client.post(
            f"/api/v1{path}", json=body, headers=self.api.headers(scope, **headers)
        )

    def create(self, *lines: tuple[str, int], status: int = 201, **body: Any) -> dict[str, Any]:
        """POST /return-orders for (sku, units) of this order."""
        items = [{"order_item_summary_id": self.item_id(sku), "quantity": n} for sku, n in lines]
        answer = self.post(
            "/return-orders", {"order_summary_id": self.summary_id, "items": items, **body}
        )
        assert answer.status_code == status, answer.text
        return dict(answer.json())

    def act(self, ro_id: str, action: str, body: Any = None, status: int = 200) -> dict[str, Any]:
        answer = self.post(f"/return-orders/{ro_id}/actions/{action}", body)
        assert answer.status_code == status, answer.text
        return dict(answer.json())

    # --- reading ---------------------------------------------------------------------------

    def view(self) -> dict[str, Any]:
        answer = self.api.client.get(
            f"/api/v1/order-summaries/{self.summary_id}", headers=self.api.headers("agent")
        )
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def item_id(self, sku: str) -> str:
        return str(next(i["id"] for i in self.view()["items"] if i["sku"] == sku))

    def quantities(self, sku: str) -> tuple[int, int, int, int]:
        """(return_initiated, returned, available_to_return, available_to_reship)."""
        item = next(i for i in self.view()["items"] if i["sku"] == sku)
        return (
            item["quantity_return_initiated"],
            item["quantity_returned"],
            item["quantity_available_to_return"],
            item["quantity_available_to_reship"],
        )

    def money(self) -> dict[str, Any]:
        """Everything money: memos (grand total, balance, status), invoices, refunds, the
        payment summary and the sandbox ledger."""
        with self.db.reading() as session:
            memos = session.scalars(
                select(m.CreditMemo).order_by(m.CreditMemo.created_at, m.CreditMemo.id)
            ).all()
            invoices = session.scalars(
                select(m.Invoice).order_by(m.Invoice.created_at, m.Invoice.id)
            ).all()
            refunds = session.scalars(select(m.Refund).order_by(m.Refund.id)).all()
            ops = session.scalars(select(m.OrderPaymentSummary)).one()
            return {
                "memos": [(c.grand_total, c.balance, c.status) for c in memos],
                "invoices": [(i.grand_total, i.balance, i.status) for i in invoices],
                "refunds": [(r.amount, r.status) for r in refunds],
                "payments": (ops.authorized, ops.captured, ops.refunded, ops.pending_refund),
                "ledger": [(e.operation, e.amount) for e in self.sandbox.movements("refund")],
            }

    def stock(self) -> dict[tuple[str, str], tuple[int, int]]:
        return stock(self.db)

    def documents_net(self) -> int:
        """Σ invoices − Σ credit memos."""
        with self.db.reading() as session:
            invoiced = session.scalar(select(func.coalesce(func.sum(m.Invoice.grand_total), 0)))
            credited = session.scalar(select(func.coalesce(func.sum(m.CreditMemo.grand_total), 0)))
            return int(invoiced or 0) - int(credited or 0)

    def grand_total(self) -> int:
        with self.db.reading() as session:
            summary = session.get(m.OrderSummary, self.summary_id)
            assert summary is not None
            return summary.grand_total

    def events(self, name: str) -> list[dict[str, Any]]:
        with self.db.reading() as session:
            rows = session.scalars(select(m.Event).where(m.Event.name == name).order_by(m.Event.id))
            return [dict(e.payload) for e in rows]

    def count(self, model: type[m.Base]) -> int:
        with self.db.reading() as session:
            return session.scalar(select(func.count()).select_from(model)) or 0

    def snapshot(self) -> dict[str, Any]:
        """What a refused action must leave alone: the order body, the money, the stock and
        the return rows."""
        view = self.view()
        return {
            "view": view,
            "money": self.money(),
            "stock": self.stock(),
            "rows": [
                self.count(t) for t in (m.ReturnOrder, m.ReturnOrderLineItem, m.ReturnReceipt)
            ],
            **bookkeeping(self.db),
        }


def make_shop(db: Database, api: Api) -> Shop:
    registry = default_registry()
    sandbox = SandboxGateway(db, "sandbox")
    jobs = default_jobs(db, default_carriers(db, env={}), Gateways({"sandbox": sandbox}))
    return Shop(api, db, Outbox(registry), sandbox, make_worker(db, registry, jobs))

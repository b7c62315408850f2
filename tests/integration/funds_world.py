"""The §12 order on the stocked network, paid by one card authorized at checkout, and a
`Shop` to invoice it, ensure its funds and read what moved: the ensure-funds and agent-refund
tests start here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from openoms.adapters.db import models as m
from openoms.adapters.db.ids import new_id
from openoms.adapters.db.session import Database
from openoms.adapters.jobs import JobRegistry, run_due_jobs
from openoms.adapters.outbox import Outbox
from openoms.adapters.payments import Gateways
from openoms.adapters.payments.sandbox import SandboxGateway
from openoms.services import payments as service
from openoms.services.orders import ChannelData, upsert_channel
from openoms.services.routing import routing_job_kinds
from openoms.worker.consumers import default_registry
from tests.integration.helpers import capture
from tests.payloads import order_payload

GRAND_TOTAL = 7659  # the §12 example order


@dataclass
class Shop:
    db: Database
    outbox: Outbox
    sandbox: SandboxGateway
    gateways: Gateways
    summary_id: str

    def invoice(self, amount: int, *, ref: str = "1") -> str:
        invoice_id = new_id("inv")
        with self.db.transaction() as session:
            session.add(
                m.Invoice(
                    id=invoice_id,
                    order_summary_id=self.summary_id,
                    source_key=f"test:{self.summary_id}:{ref}",
                    currency="GBP",
                    grand_total=amount,
                    balance=amount,
                    status="POSTED",
                )
            )
        return invoice_id

    def ensure(self, **kwargs: Any) -> service.EnsureFundsResult:
        return service.ensure_funds(self.db, self.outbox, self.gateways, self.summary_id, **kwargs)

    def payment_summary(self) -> m.OrderPaymentSummary:
        with self.db.reading() as session:
            return session.scalars(
                select(m.OrderPaymentSummary).where(
                    m.OrderPaymentSummary.order_summary_id == self.summary_id
                )
            ).one()

    def payments(self) -> list[tuple[int, str, str]]:
        with self.db.reading() as session:
            rows = session.scalars(select(m.Payment).order_by(m.Payment.created_at)).all()
            return [(p.amount, p.status, p.idempotency_key) for p in rows]

    def get_invoice(self, invoice_id: str) -> tuple[int, str]:
        with self.db.reading() as session:
            invoice = session.get(m.Invoice, invoice_id)
            assert invoice is not None
            return invoice.balance, invoice.status

    def exceptions(self) -> list[tuple[str, str, str]]:
        with self.db.reading() as session:
            rows = session.scalars(select(m.ProcessException).order_by(m.ProcessException.id))
            return [(e.category, e.severity, e.status) for e in rows]


def shop_with(db: Database, token: str, **sandbox: Any) -> Shop:
    """The §12 order on the stocked network, paid with `token`, authorized at checkout (the
    channel takes it on trust), and routed (the job capture queued has run): these tests
    count the payment jobs they run."""
    outbox = Outbox(default_registry())
    with db.transaction() as session:
        channel = ChannelData(location_group="online", verify_authorizations=False)
        upsert_channel(session, outbox, "web-uk", channel)
    gateway = SandboxGateway(db, **sandbox)
    reference = gateway.preauthorize(token, GRAND_TOTAL, "GBP", key=f"checkout:{token}")
    payment = {
        "gateway": "sandbox",
        "token": token,
        "amount": "76.59",
        "authorization_reference": reference,
    }
    summary_id = capture(db, outbox, order_payload(payments=[payment]))
    assert run_due_jobs(db, outbox, JobRegistry(routing_job_kinds())) == 1  # its routing
    return Shop(db, outbox, gateway, Gateways({"sandbox": gateway}), summary_id)

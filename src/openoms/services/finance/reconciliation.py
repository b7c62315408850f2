"""Reconciliation: does the money agree with the documents? (DESIGN.md §3 invariants)

Per order summary (ordered in [from, to)) and per currency: authorized, captured, refunded,
reversed (over its payment summaries), invoiced and credited (its invoices and credit
memos), refunded_without_credit_memo, and
outstanding = invoiced − credited − captured + (refunded − refunded_without_credit_memo)
(what the customer still owes; negative: what we owe them). Every broken invariant is
listed by name.

A refund without a credit memo is an agent's refund (services/payments/actions.py, key
`refund:agent:…`): money given back by a person's decision, which no document owes. It is
not a mismatch — it was asked for, logged and evented — but it is shown on its own line and
set aside from `outstanding`, so a settled order with a goodwill refund reads 0 outstanding
and the goodwill amount stays visible. Refunds of excess funds also have no credit memo,
but they return money no document asks for, so they stay in `outstanding` (bringing it back
to 0) and are not counted here.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.domain.money import format_minor
from openoms.domain.payments import AGENT_REFUND_KEY_PREFIX, PaymentStatus
from openoms.domain.summary import OrderSummaryStatus

# Nothing is left to ship in these: the documents must add up to the summary's total.
_COMPLETE = {
    OrderSummaryStatus.FULFILLED.value,
    OrderSummaryStatus.CLOSED.value,
    OrderSummaryStatus.CANCELED.value,
}


@dataclass(slots=True)
class Ledger:
    order_summary_id: str | None
    currency: str
    authorized: int = 0
    captured: int = 0
    refunded: int = 0
    invoiced: int = 0
    credited: int = 0
    reversed: int = 0
    refunded_without_credit_memo: int = 0  # agent refunds, PROCESSED
    mismatches: list[str] = field(default_factory=list)

    @property
    def outstanding(self) -> int:
        documented_refunds = self.refunded - self.refunded_without_credit_memo
        return self.invoiced - self.credited - self.captured + documented_refunds

    def add(self, other: Ledger) -> None:
        self.authorized += other.authorized
        self.captured += other.captured
        self.refunded += other.refunded
        self.invoiced += other.invoiced
        self.credited += other.credited
        self.reversed += other.reversed
        self.refunded_without_credit_memo += other.refunded_without_credit_memo

    def view(self) -> dict[str, Any]:
        def money(minor: int) -> str:
            return format_minor(minor, self.currency)

        return {
            "order_summary_id": self.order_summary_id,
            "currency": self.currency,
            "authorized": money(self.authorized),
            "captured": money(self.captured),
            "refunded": money(self.refunded),
            "invoiced": money(self.invoiced),
            "credited": money(self.credited),
            "reversed": money(self.reversed),
            "refunded_without_credit_memo": money(self.refunded_without_credit_memo),
            "outstanding": money(self.outstanding),
            "mismatches": list(self.mismatches),
        }


@dataclass(frozen=True, slots=True)
class Reconciliation:
    orders: list[Ledger]
    totals: list[Ledger]  # one per currency

    def view(self) -> dict[str, Any]:
        return {
            "orders": [o.view() for o in self.orders],
            "totals": [t.view() for t in self.totals],
            "mismatches": sum(1 for o in self.orders if o.mismatches),
        }


def reconcile(
    session: Session, *, ordered_from: datetime | None = None, ordered_to: datetime | None = None
) -> Reconciliation:
    """Ledgers of the order summaries ordered in [ordered_from, ordered_to), with their
    mismatches, and totals per currency. Five grouped queries, however many orders."""
    where = []
    if ordered_from is not None:
        where.append(m.OrderSummary.ordered_at >= ordered_from)
    if ordered_to is not None:
        where.append(m.OrderSummary.ordered_at < ordered_to)
    summaries = session.execute(
        select(m.OrderSummary.id, m.OrderSummary.currency, m.OrderSummary.status)
        .add_columns(m.OrderSummary.grand_total)
        .where(*where)
        .order_by(m.OrderSummary.ordered_at, m.OrderSummary.id)
    ).all()
    ids = select(m.OrderSummary.id).where(*where).scalar_subquery()
    ledgers = {sid: Ledger(sid, currency) for sid, currency, _, _ in summaries}
    ops = m.OrderPaymentSummary
    for row in session.execute(
        select(
            ops.order_summary_id,
            ops.id,
            ops.authorized,
            ops.captured,
            ops.refunded,
            ops.reversed,
        ).where(ops.order_summary_id.in_(ids))
    ):
        ledger = ledgers[row.order_summary_id]
        ledger.authorized += row.authorized
        ledger.captured += row.captured
        ledger.refunded += row.refunded
        ledger.reversed += row.reversed
        if row.captured > row.authorized:
            ledger.mismatches.append(f"payment summary {row.id}: captured > authorized")
        if row.captured + row.reversed > row.authorized:
            ledger.mismatches.append(f"payment summary {row.id}: captured + reversed > authorized")
        if row.refunded > row.captured:
            ledger.mismatches.append(f"payment summary {row.id}: refunded > captured")
    for summary_id, total in session.execute(
        select(ops.order_summary_id, func.sum(m.Refund.amount))
        .join(ops, ops.id == m.Refund.order_payment_summary_id)
        .where(
            ops.order_summary_id.in_(ids),
            m.Refund.status == PaymentStatus.PROCESSED.value,
            m.Refund.credit_memo_id.is_(None),
            m.Refund.idempotency_key.startswith(AGENT_REFUND_KEY_PREFIX, autoescape=True),
        )
        .group_by(ops.order_summary_id)
    ):
        ledgers[summary_id].refunded_without_credit_memo = int(total)
    for summary_id, total in session.execute(
        select(m.Invoice.order_summary_id, func.sum(m.Invoice.grand_total))
        .where(m.Invoice.order_summary_id.in_(ids))
        .group_by(m.Invoice.order_summary_id)
    ):
        ledgers[summary_id].invoiced = int(total)
    fees: dict[str, int] = defaultdict(int)
    for summary_id, total in session.execute(
        select(m.Invoice.order_summary_id, func.sum(m.InvoiceLine.total_price + m.InvoiceLine.tax))
        .join(m.InvoiceLine, m.InvoiceLine.invoice_id == m.Invoice.id)
        .where(m.Invoice.order_summary_id.in_(ids), m.InvoiceLine.type == "fee")
        .group_by(m.Invoice.order_summary_id)
    ):
        fees[summary_id] = int(total)
    for summary_id, total in session.execute(
        select(m.CreditMemo.order_summary_id, func.sum(m.CreditMemo.grand_total))
        .where(m.CreditMemo.order_summary_id.in_(ids))
        .group_by(m.CreditMemo.order_summary_id)
    ):
        ledgers[summary_id].credited = int(total)
    totals: dict[str, Ledger] = defaultdict(lambda: Ledger(None, ""))
    for sid, currency, status, grand_total in summaries:
        ledger = ledgers[sid]
        # Fees (a return fee) are invoiced on top of what the order is worth.
        net = ledger.invoiced - ledger.credited - fees[sid]
        if status in _COMPLETE and net != grand_total:
            ledger.mismatches.append(
                f"invoices − credit memos{' − fees' if fees[sid] else ''} "
                f"{format_minor(net, currency)} ≠ grand total "
                f"{format_minor(grand_total, currency)}"
            )
        sums = totals[currency]
        sums.currency = currency
        sums.add(ledger)
    return Reconciliation(list(ledgers.values()), [totals[c] for c in sorted(totals)])

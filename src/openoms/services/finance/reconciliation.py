"""Reconciliation: does the money agree with the documents? (DESIGN.md §3 invariants)

Per order summary (ordered in [from, to)) and per currency: authorized, captured, refunded,
reversed (over its payment summaries), invoiced and credited (its invoices and credit
memos), refunded_without_credit_memo, and
outstanding = invoiced − credited − captured + (refunded − refunded_without_credit_memo)
(what the customer still owes; negative: what we owe them). Every broken invariant is
listed by name.

A refund without a credit memo is an agent's refund (services/payments/agent_refunds.py, key
`refund:agent:…`): money given back by a person's decision, which no document owes. It is
not a mismatch — it was asked for, logged and evented — but it is shown on its own line and
set aside from `outstanding`, so a settled order with a goodwill refund reads 0 outstanding
and the goodwill amount stays visible. A refund a channel's platform made itself (a
Shopify refund, key `refund:external:…`, services/payments/external.py) is counted the same
way: no openoms document owes it. Refunds of excess funds also have no credit memo,
but they return money no document asks for, so they stay in `outstanding` (bringing it back
to 0) and are not counted here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.db.repositories import finance as repo
from openoms.domain.money import format_minor
from openoms.domain.payments import (
    AGENT_REFUND_KEY_PREFIX,
    EXTERNAL_REFUND_KEY_PREFIX,
    PaymentStatus,
)
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
    mismatches, and totals per currency. One query for the summaries and six for their
    sums, however many orders."""
    summaries = repo.summaries_ordered_in(session, ordered_from, ordered_to)
    ledgers = {sid: Ledger(sid, currency) for sid, currency, _, _ in summaries}
    _add_payments(ledgers, repo.payment_summary_amounts(session, ordered_from, ordered_to))
    for prefix in (AGENT_REFUND_KEY_PREFIX, EXTERNAL_REFUND_KEY_PREFIX):
        undocumented = repo.processed_refunds_keyed(
            session,
            ordered_from,
            ordered_to,
            key_prefix=prefix,
            processed=PaymentStatus.PROCESSED.value,
        )
        for summary_id, total in undocumented.items():
            ledgers[summary_id].refunded_without_credit_memo += total
    for summary_id, total in repo.invoiced_per_summary(session, ordered_from, ordered_to).items():
        ledgers[summary_id].invoiced = total
    fees: dict[str, int] = defaultdict(int)
    fees.update(repo.fees_invoiced_per_summary(session, ordered_from, ordered_to))
    for summary_id, total in repo.credited_per_summary(session, ordered_from, ordered_to).items():
        ledgers[summary_id].credited = total
    for sid, _, status, grand_total in summaries:
        _check_documents(ledgers[sid], status, grand_total, fees[sid])
    return Reconciliation(list(ledgers.values()), _totals(summaries, ledgers))


def _add_payments(ledgers: dict[str, Ledger], rows: Sequence[Any]) -> None:
    """Sum each payment summary into its order's ledger and note what breaks its invariants."""
    for row in rows:
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


def _check_documents(ledger: Ledger, status: str, grand_total: int, fees: int) -> None:
    """An order with nothing left to ship: its invoices less its credit memos (and fees)
    must come to its grand total."""
    # Fees (a return fee) are invoiced on top of what the order is worth.
    net = ledger.invoiced - ledger.credited - fees
    if status in _COMPLETE and net != grand_total:
        currency = ledger.currency
        ledger.mismatches.append(
            f"invoices − credit memos{' − fees' if fees else ''} "
            f"{format_minor(net, currency)} ≠ grand total "
            f"{format_minor(grand_total, currency)}"
        )


def _totals(
    summaries: Sequence[tuple[str, str, str, int]], ledgers: dict[str, Ledger]
) -> list[Ledger]:
    """One ledger per currency, summing the orders' ledgers, by currency code."""
    totals: dict[str, Ledger] = defaultdict(lambda: Ledger(None, ""))
    for sid, currency, _, _ in summaries:
        sums = totals[currency]
        sums.currency = currency
        sums.add(ledgers[sid])
    return [totals[c] for c in sorted(totals)]

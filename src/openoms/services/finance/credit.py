"""Exchange credit (DESIGN.md §2): the credit memos of an exchange's return pay for its
new items first. While an exchange's new items are not all invoiced and paid, its return's
credit memos are held: ensure-refunds leaves them alone (`held_memo_ids`). When ensure-funds
covers an invoice that bills new items of an exchange, it first applies the exchange's memo
balances to it (`apply_exchange_credit`): invoice balance and memo balance both go down by
the smaller of the two, capped at what the invoice bills for the new items
(`credit_memos.apply_credit`, recorded as a CreditApplication). What a memo has left once its
exchange owes nothing more (`settled_exchange_memos`) is refunded. Memos are tied to an
exchange through the public `return_order.credited` / `return_order.returnless_refunded`
events of its return order (their `credit_memo_id`)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.repositories import finance as repo
from openoms.adapters.outbox import Outbox
from openoms.domain.finance import Amounts
from openoms.services.finance.credit_memos import apply_credit
from openoms.services.finance.documents import billed_per_item

CREDIT_EVENTS = ("return_order.credited", "return_order.returnless_refunded")


@dataclass(slots=True)
class _Exchange:
    return_order_id: str
    new_item_ids: set[str] = field(default_factory=set)
    memo_ids: list[str] = field(default_factory=list)


def _exchanges(session: Session, order_summary_id: str) -> list[_Exchange]:
    """The summary's exchanges with their new items and their return's credit memos."""
    returns = repo.exchange_returns(session, order_summary_id)
    if not returns:
        return []
    found = {ro: _Exchange(ro) for ro, _ in returns}
    by_change = {change: ro for ro, change in returns}
    for order_id, item_id in repo.change_order_items(session, list(by_change)):
        found[by_change[order_id]].new_item_ids.add(item_id)
    for ro, payload in repo.credit_event_payloads(
        session, order_summary_id, CREDIT_EVENTS, list(found)
    ):
        memo = payload.get("credit_memo_id")
        if memo:
            found[ro].memo_ids.append(str(memo))
    return list(found.values())


def _owing(session: Session, order_summary_id: str, exchange: _Exchange) -> bool:
    """Are the exchange's new items still to be invoiced or paid?"""
    items = [session.get(m.OrderItemSummary, i) for i in exchange.new_item_ids]
    billed = billed_per_item(session, order_summary_id)
    for item in items:
        assert item is not None  # foreign key
        net = item.quantity_ordered - item.quantity_canceled
        if net > billed.get(item.id, Amounts()).quantity:
            return True
    return bool(
        repo.count_unpaid_invoices_billing(session, order_summary_id, list(exchange.new_item_ids))
    )


def held_memo_ids(session: Session, order_summary_id: str) -> set[str]:
    """Credit memos ensure-refunds must leave alone now: those of an exchange's return while
    its new items are still to be invoiced or paid (the memo pays for them first)."""
    held: set[str] = set()
    for exchange in _exchanges(session, order_summary_id):
        if exchange.memo_ids and _owing(session, order_summary_id, exchange):
            held.update(exchange.memo_ids)
    return held


def apply_exchange_credit(
    session: Session, outbox: Outbox, summary: m.OrderSummary, invoice: m.Invoice
) -> int:
    """Before ensure-funds captures for `invoice`: pay what it bills for an exchange's new
    items from that exchange's credit memo balances. Emits `invoice.credit_applied` (and
    `invoice.paid`); a memo left with a balance once its exchange owes nothing more is
    queued for ensure-refunds. Returns the amount applied."""
    exchanges = _exchanges(session, summary.id)
    if not exchanges or invoice.balance <= 0:
        return 0
    billed_new: dict[str, int] = defaultdict(int)
    for item_id, total in repo.invoice_line_totals(session, invoice.id):
        billed_new[item_id] += total
    applied_total = 0
    for exchange in exchanges:
        room = sum(v for k, v in billed_new.items() if k in exchange.new_item_ids)
        for memo_id in exchange.memo_ids:
            memo = session.get(m.CreditMemo, memo_id, populate_existing=True)
            if memo is None or memo.status != "POSTED" or memo.balance <= 0:
                continue
            amount = apply_credit(session, outbox, invoice, memo, room)
            if amount <= 0:
                break
            room -= amount
            applied_total += amount
    if applied_total:
        session.flush()
    return applied_total


def settled_exchange_memos(session: Session, order_summary_id: str) -> list[str]:
    """Memos of exchanges that owe nothing more yet still hold a balance: what is left is
    owed back to the customer (ensure-funds queues the refund once credit was applied)."""
    settled: list[str] = []
    for exchange in _exchanges(session, order_summary_id):
        if _owing(session, order_summary_id, exchange):
            continue
        for memo_id in exchange.memo_ids:
            memo = session.get(m.CreditMemo, memo_id)
            if memo is not None and memo.status == "POSTED" and memo.balance > 0:
                settled.append(memo_id)
    return settled

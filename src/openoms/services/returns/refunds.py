"""The money of returns (DESIGN.md §4 ReturnOrder): crediting at the refund-eligible status,
returnless refunds, the return fee and the delivery charges of emptied groups.

- **Credit** when the return reaches its refund-eligible status (fixed on the RMA from the
  channel policy when it is made; RECEIVED by default): the units due (received, or expected
  back for an earlier status) become one RETURN change order with the credit memo of their
  invoiced share (`changes.return_line`), whose `credit_memo.created` queues ensure-refunds.
  `quantity_credited` per line makes sure no unit is credited twice.
- **Returnless refund** at submission: a line whose unit value (the item's running amounts
  incl. tax per net ordered unit) is under the channel's `returnless_threshold` is credited
  at once and never expected back (its `quantity_expected` is 0, `quantity_credited` the
  units): return_initiated and returned both rise, nothing is restocked.
- **Return fee** (channel `return_fee[currency]`): at the first credit of an RMA's returned
  units, one Invoice (`return_fee:{return_order_id}`, one "fee" line, tax included), capped
  at what the return is worth. It is settled from that credit memo in the same transaction
  (the memo's balance and the invoice's balance both go down by the smaller of the two), so
  ensure-refunds pays back only the rest and the customer is never charged a fee and
  refunded it again; only a fee larger than the memo leaves a balance for ensure-funds to
  capture. Once settled, Σ invoices − Σ credit memos = grand total + Σ return fees.
- **refund_shipping** (on the RMA, or the simple return): once an action has credited
  units, a delivery group's charge is canceled with the refund of what of it was invoiced
  (`changes.cancel_charge`) when nothing of the group is left with the customer or still to
  ship (every product's quantity is 0). A charge canceled already is left alone, so a later
  credit never refunds it twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.ids import new_id
from openoms.adapters.db.repositories import fulfillment as repo
from openoms.adapters.db.repositories import returns as returns_repo
from openoms.adapters.outbox import Outbox
from openoms.domain.changes import LineChange, cancel_charge, return_line
from openoms.domain.events import DomainEvent
from openoms.domain.order import ItemType
from openoms.domain.returns import ReturnOrderStatus
from openoms.domain.summary import ChangeKind, ChangeOrder
from openoms.services.finance import InvoiceStatus, apply_credit
from openoms.services.orders import (
    RecordedChange,
    billed_amounts,
    channel_policy,
    item_money,
    item_quantities,
    record_change,
)
from openoms.services.returns.common import (
    LockedReturn,
    ReturnOutcome,
    counters,
    money_format,
    record_event,
)

FEE_LINE_TYPE = "fee"


# --- crediting at the refund-eligible status --------------------------------------------------


def credit_due(session: Session, outbox: Outbox, ret: LockedReturn) -> ReturnOutcome:
    """Credit the units due at the return's status (see ReturnLine.due) as one RETURN
    change order, then the return fee on the RMA's first credit."""
    eligible = ReturnOrderStatus(ret.order.refund_eligible_status)
    due = {line.id: counters(line).due(ret.status, eligible) for line in ret.lines}
    due = {line_id: n for line_id, n in due.items() if n}
    if not due:
        return ret.nothing()
    first = not any(line.quantity_credited and line.quantity_expected for line in ret.lines)
    by_id = {line.id: line for line in ret.lines}
    units = [(by_id[i].order_item_summary_id, n) for i, n in due.items()]
    recorded = _record_return(session, outbox, ret, units, f"return {ret.order.id}")
    for line_id, n in due.items():
        by_id[line_id].quantity_credited += n
    record_event(
        session,
        outbox,
        ret,
        "credited",
        change_order_id=recorded.change_order_id,
        credit_memo_id=recorded.credit_memo_id,
        credited=money_format(ret.summary.currency)(recorded.credited),
        lines=[{"return_order_line_item_id": i, "quantity": n} for i, n in due.items()],
    )
    outcome = ReturnOutcome(ret.order.id, ret.summary.id, (recorded,))
    if first:
        outcome = outcome.then(_charge_fee(session, outbox, ret, recorded))
    return outcome


def _record_return(
    session: Session,
    outbox: Outbox,
    ret: LockedReturn,
    units: Sequence[tuple[str, int]],
    reason: str,
) -> RecordedChange:
    """One RETURN change order for (item id, units): each item's amounts from
    `changes.return_line`, the credit memo of their invoiced part, which names the return
    order (an exchange finds its credit by it)."""
    summary = ret.summary
    merged: dict[str, int] = defaultdict(int)
    for item_id, n in units:
        merged[item_id] += n
    items = repo.lock_items(session, merged)
    billed = billed_amounts(session, summary.id)
    changes = [
        return_line(item_money(items[item_id], billed), n) for item_id, n in sorted(merged.items())
    ]
    recorded = _record(session, outbox, ret, ChangeKind.RETURN, reason, changes)
    if recorded.credit_memo_id is not None:
        memo = session.get(m.CreditMemo, recorded.credit_memo_id)
        assert memo is not None  # made just now
        memo.return_order_id = ret.order.id
    return recorded


def _record(
    session: Session,
    outbox: Outbox,
    ret: LockedReturn,
    kind: ChangeKind,
    reason: str,
    changes: Sequence[LineChange],
) -> RecordedChange:
    """The change order, requested by whoever acts on the return."""
    change = ChangeOrder(kind, reason, tuple(c.change for c in changes))
    credit = [c.credit for c in changes if c.credit is not None]
    return record_change(session, outbox, ret.summary, change, credit=credit, requested_by=ret.by)


# --- returnless refunds -----------------------------------------------------------------------


def refund_returnless(session: Session, outbox: Outbox, ret: LockedReturn) -> ReturnOutcome:
    """Lines whose unit value is under the channel's returnless threshold: credited now,
    never expected back. The decision (values, threshold) goes to the event and messages."""
    currency = ret.summary.currency
    threshold = channel_policy(session, ret.summary.channel).returnless_threshold.get(currency)
    if not threshold:
        return ret.nothing()
    money = money_format(currency)
    under, kept, messages = _returnless_lines(ret, threshold)
    if not under:
        return ret.nothing(*messages)
    units = [(line.order_item_summary_id, line.quantity_expected) for line, _ in under]
    recorded = _record_return(session, outbox, ret, units, f"returnless refund {ret.order.id}")
    for line, _ in under:
        line.quantity_credited = line.quantity_expected
        line.quantity_expected = 0
    record_event(
        session,
        outbox,
        ret,
        "returnless_refunded",
        threshold=money(threshold),
        currency=currency,
        refunded=[value for _, value in under],
        expected_back=kept,
        change_order_id=recorded.change_order_id,
        credit_memo_id=recorded.credit_memo_id,
        credited=money(recorded.credited),
    )
    return ReturnOutcome(ret.order.id, ret.summary.id, (recorded,), tuple(messages))


def _returnless_lines(
    ret: LockedReturn, threshold: int
) -> tuple[list[tuple[m.ReturnOrderLineItem, dict[str, Any]]], list[dict[str, Any]], list[str]]:
    """(lines under the threshold with their values, values of the lines expected back,
    a message per line saying which and why)."""
    currency = ret.summary.currency
    money = money_format(currency)
    limit = f"the returnless threshold of {money(threshold)} {currency}"
    under, kept, messages = [], [], []
    for line in ret.lines:
        item = ret.items[line.order_item_summary_id]
        net = item.quantity_ordered - item.quantity_canceled
        total = item.total_price + item.adjustments + item.tax
        value = {
            "return_order_line_item_id": line.id,
            "sku": line.sku,
            "quantity": line.quantity_expected,
            "unit_value": money(total // max(net, 1)),
        }
        what = f"{line.quantity_expected} × {line.sku}"
        worth = f"unit value {value['unit_value']} {currency}"
        if net > 0 and total < threshold * net:  # unit value < threshold, exactly
            under.append((line, value))
            messages.append(f"{what} refunded without a return: {worth} is under {limit}")
        else:
            kept.append(value)
            messages.append(f"{what} expected back: {worth} is not under {limit}")
    return under, kept, messages


# --- the return fee ---------------------------------------------------------------------------


def _charge_fee(
    session: Session, outbox: Outbox, ret: LockedReturn, recorded: RecordedChange
) -> ReturnOutcome:
    """The channel's return fee as an invoice, capped at what the return is worth, settled
    from the return's credit memo as far as it goes (see the module docstring)."""
    currency = ret.summary.currency
    fee = channel_policy(session, ret.summary.channel).return_fee.get(currency, 0)
    fee = min(fee, -recorded.change.total)
    source_key = f"return_fee:{ret.order.id}"
    if fee <= 0 or returns_repo.invoice_id_by_source(session, source_key):
        return ret.nothing()
    invoice = m.Invoice(
        id=new_id("inv"),
        order_summary_id=ret.summary.id,
        source_key=source_key,
        currency=currency,
        status=InvoiceStatus.POSTED,
        grand_total=fee,
        balance=fee,
    )
    invoice.lines = [m.InvoiceLine(type=FEE_LINE_TYPE, quantity=1, total_price=fee)]
    session.add(invoice)
    session.flush()
    money = money_format(currency)
    created = {
        "invoice_id": invoice.id,
        "order_summary_id": ret.summary.id,
        "return_order_id": ret.order.id,
        "currency": currency,
        "grand_total": money(fee),
    }
    outbox.record(
        session, [DomainEvent("invoice.created", "invoice", invoice.id, created, ret.summary.id)]
    )
    memo = session.get(m.CreditMemo, recorded.credit_memo_id) if recorded.credit_memo_id else None
    applied = apply_credit(session, outbox, invoice, memo, fee) if memo is not None else 0
    message = f"return fee of {money(fee)} {currency} invoiced"
    if applied:
        message += f"; {money(applied)} of it is taken from the refund"
    return ret.nothing(message)


# --- delivery charges of emptied groups -------------------------------------------------------


def refund_shipping_if_asked(
    session: Session, outbox: Outbox, ret: LockedReturn, outcome: ReturnOutcome
) -> ReturnOutcome:
    """`outcome`, then — if the return order asks for refund_shipping and `outcome` credited
    units — the refund of the delivery charges of the groups that credit emptied. Every
    public return action ends here, once, so one action makes at most one such change."""
    if not (ret.order.refund_shipping and outcome.recorded):
        return outcome
    return outcome.then(_refund_shipping(session, outbox, ret))


def _refund_shipping(session: Session, outbox: Outbox, ret: LockedReturn) -> ReturnOutcome:
    """Cancel, with the refund of its invoiced part, the delivery charge of each group of
    the returned items that has nothing left with the customer or to ship."""
    items = repo.summary_items(session, ret.summary.id)
    groups = {ret.items[line.order_item_summary_id].delivery_group_summary_id for line in ret.lines}
    billed = billed_amounts(session, ret.summary.id)
    changes, messages = [], []
    for group in sorted(groups):
        of_group = [i for i in items if i.delivery_group_summary_id == group]
        kept = sum(
            item_quantities(i).quantity for i in of_group if i.type == ItemType.PRODUCT.value
        )
        for charge in of_group:
            if charge.type != ItemType.DELIVERY_CHARGE.value:
                continue
            if charge.quantity_ordered - charge.quantity_canceled <= 0:
                continue
            if kept:
                messages.append(
                    f"delivery charge {charge.sku} kept: {kept} unit(s) of its group are still "
                    "with the customer or to ship"
                )
                continue
            changes.append(cancel_charge(item_money(charge, billed)))
    if not changes:
        return ret.nothing(*messages)
    reason = f"shipping refunded with return {ret.order.id}"
    recorded = _record(session, outbox, ret, ChangeKind.CANCEL, reason, changes)
    credited = money_format(ret.summary.currency)(recorded.credited)
    messages.append(f"delivery charge refunded: {credited}")
    return ReturnOutcome(ret.order.id, ret.summary.id, (recorded,), tuple(messages))

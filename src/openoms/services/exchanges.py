"""Exchange (DESIGN.md §2): return items and order others in one action.

`submit_exchange`, in one transaction under the order summary's lock:

1. a return order for the returned units (`returns.create_return_order`, SUBMITTED: their
   quantity_return_initiated rises; credited when it reaches its refund-eligible status);
2. one new OrderItemSummary per new item (key `x1`, `x2`, …, type product, in the named
   delivery group, default the first returned item's), inserted at zero and raised by an
   ADD change order (`change_orders.record_change`): quantity_ordered and the amounts rise,
   and with them the summary's totals;
3. the return order's `exchange_change_order_id` names that ADD change order;
4. the next routing round of each new item's delivery group is queued
   (`routing.schedule_routing`): the job reserves and routes the new units like any order's
   (fresh reservations where the group holds none), then they ship and are invoiced;
5. `order_summary.exchanged`.

Money: the return's credit pays for the new items first. While an exchange's new items are
not all invoiced and paid, its return's credit memos are HELD: ensure-refunds leaves them
alone (`held_memo_ids`, a hook in services/refunds.py). When ensure-funds covers an
invoice that bills new items of an exchange, it first applies the exchange's memo balances
to it (`apply_exchange_credit`, a hook in services/payments.py): invoice balance and memo
balance both go down by the smaller of the two (capped at what the invoice bills for the
new items; `invoicing.apply_credit`, recorded as a CreditApplication), as the return fee
is settled in services/return_refunds.py. So an even exchange moves
no money, a dearer one captures exactly the difference, and a cheaper one leaves exactly
the difference on the memo, which ensure-refunds then pays back (the job is queued here).

Memos are tied to an exchange through the public `return_order.credited` /
`return_order.returnless_refunded` events of its return order (their `credit_memo_id`).
A return received after the new items were invoiced and paid is refunded as any return
(the new items were captured already): money is right, with one capture and one refund.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.ids import new_id
from openoms.adapters.db.repositories import fulfillment as repo
from openoms.adapters.db.repositories import routing as routing_repo
from openoms.adapters.jobs import enqueue
from openoms.adapters.outbox import Outbox
from openoms.domain.changes import return_line
from openoms.domain.errors import ExchangeInvalid
from openoms.domain.events import DomainEvent
from openoms.domain.finance import Amounts
from openoms.domain.money import Money, check_amount, format_minor
from openoms.domain.order import ItemType, Totals
from openoms.domain.quantities import check_line_quantity
from openoms.domain.summary import ChangeKind, ChangeLine, ChangeOrder
from openoms.services.change_orders import (
    RecordedChange,
    action_body,
    billed_amounts,
    item_money,
    locked_summary,
    record_change,
)
from openoms.services.invoicing import InvoiceStatus, apply_credit, billed_per_item
from openoms.services.return_checks import check_available, check_lines
from openoms.services.returns import ReturnLineRequest, create_return_order
from openoms.services.routing import schedule_routing

EXCHANGED_EVENT = "order_summary.exchanged"
CREDIT_EVENTS = ("return_order.credited", "return_order.returnless_refunded")


ExchangeReturn = ReturnLineRequest  # units of an item summary coming back: a return line


@dataclass(frozen=True, slots=True)
class NewItem:
    """An item sent instead: `unit_price` and `tax` (the line's) as decimal strings."""

    sku: str
    quantity: int
    unit_price: str
    tax: str = "0"
    name: str | None = None
    delivery_group: str | None = None


@dataclass(frozen=True, slots=True)
class SubmittedExchange:
    order_summary_id: str
    return_order_id: str
    change_order_id: str
    recorded: tuple[RecordedChange, ...]
    new_items: tuple[tuple[str, str, int, str], ...]  # (item id, sku, quantity, group ref)
    returned_value: int
    new_items_total: int
    messages: tuple[str, ...] = ()


# --- the action ---------------------------------------------------------------------------


def submit_exchange(
    session: Session,
    outbox: Outbox,
    order_summary_id: str,
    returns: Sequence[ExchangeReturn],
    new_items: Sequence[NewItem],
    *,
    reason: str | None = None,
    expected_location: str | None = None,
) -> SubmittedExchange:
    """Exchange `returns` for `new_items` (see the module docstring). Raises before writing
    anything it keeps: the return's refusals (return_exceeds_available, …, naming
    `return_items[i]`), an unknown delivery group or bad amount (400), a non-positive
    quantity (400)."""
    summary = locked_summary(session, order_summary_id)
    items = {i.id: i for i in repo.summary_items(session, summary.id)}
    # The return's own checks, here first so that refusals name this payload's fields.
    units = check_lines(returns, items, field_prefix="return_items")
    check_available(session, items, units, field="return_items")
    groups = {g.ref: g for g in _groups(session, summary.id)}
    default_group = items[returns[0].order_item_summary_id].delivery_group_summary_id
    placed = _place(summary.currency, new_items, groups, default_group)
    returned_value = _returned_value(session, summary.id, items, units)
    outcome = create_return_order(
        session,
        outbox,
        summary.id,
        returns,
        reason=reason or "exchange",
        expected_location=expected_location,
    )
    rows = _insert_items(session, summary.id, items, placed)
    change = ChangeOrder(
        ChangeKind.ADD,
        reason or f"exchange for return {outcome.return_order_id}",
        tuple(
            ChangeLine(row.id, qty, qty * price, 0, tax)
            for row, (_, qty, price, tax, _) in zip(rows, placed, strict=True)
        ),
    )
    _totals_after(summary, change).check(summary.currency)
    added = record_change(session, outbox, summary, change)
    order = session.get(m.ReturnOrder, outcome.return_order_id)
    assert order is not None  # made above
    order.exchange_change_order_id = added.change_order_id
    for group_id in sorted({row.delivery_group_summary_id for row in rows}):
        schedule_routing(
            session,
            group_id,
            routing_repo.last_round(session, group_id) + 1,
            reason=f"exchange {added.change_order_id}",
        )
    by_group = {g.id: ref for ref, g in groups.items()}
    exchange = SubmittedExchange(
        order_summary_id=summary.id,
        return_order_id=outcome.return_order_id,
        change_order_id=added.change_order_id,
        recorded=(*outcome.recorded, added),
        new_items=tuple(
            (row.id, row.sku, qty, by_group[row.delivery_group_summary_id])
            for row, (_, qty, _, _, _) in zip(rows, placed, strict=True)
        ),
        returned_value=returned_value,
        new_items_total=change.total,
        messages=outcome.messages,
    )
    outbox.record(session, [_exchanged_event(summary, exchange)])
    return exchange


Placed = tuple[NewItem, int, int, int, m.OrderDeliveryGroupSummary]  # item, qty, price, tax


def _place(
    currency: str,
    new_items: Sequence[NewItem],
    groups: dict[str, m.OrderDeliveryGroupSummary],
    default_group: str,
) -> list[Placed]:
    """Each new item with its quantity, unit price and tax in minor units and its group
    (`default_group`, an id, unless it names one)."""
    if not new_items:
        raise ExchangeInvalid("an exchange sends at least one new item", field="new_items")
    by_id = {g.id: g for g in groups.values()}
    placed = []
    for index, new in enumerate(new_items):
        where = f"new_items[{index}]"
        check_line_quantity(new.quantity, field=f"{where}.quantity")
        group = by_id[default_group]
        if new.delivery_group is not None:
            if new.delivery_group not in groups:
                raise ExchangeInvalid(
                    f"no delivery group {new.delivery_group!r} on this order; one of "
                    f"{', '.join(sorted(groups))}",
                    field=f"{where}.delivery_group",
                )
            group = groups[new.delivery_group]
        price = Money.parse(new.unit_price, currency, field=f"{where}.unit_price").minor
        tax = Money.parse(new.tax, currency, field=f"{where}.tax").minor
        check_amount(new.quantity * price + tax, currency, field=where, what=f"{where} total")
        placed.append((new, new.quantity, price, tax, group))
    return placed


def _totals_after(summary: m.OrderSummary, change: ChangeOrder) -> Totals:
    """The summary's totals once the new items (products) are added."""
    now = Totals(
        summary.total_product, summary.total_delivery, summary.total_adjustments, summary.total_tax
    )
    return now + Totals(
        product=sum(line.total_price for line in change.lines),
        tax=sum(line.tax for line in change.lines),
    )


def _returned_value(
    session: Session, summary_id: str, items: dict[str, m.OrderItemSummary], units: dict[str, int]
) -> int:
    """What the returned units would be credited now (`changes.return_line`): an estimate,
    the credit itself is worked out when the return is credited."""
    billed = billed_amounts(session, summary_id)
    return -sum(return_line(item_money(items[i], billed), n).change.total for i, n in units.items())


def _insert_items(
    session: Session,
    summary_id: str,
    items: dict[str, m.OrderItemSummary],
    placed: Sequence[Placed],
) -> list[m.OrderItemSummary]:
    """The new item summaries at zero (the ADD change order raises them)."""
    keys = {i.key for i in items.values()}
    position = max((i.position for i in items.values()), default=-1)
    rows = []
    n = 0
    for new, _, price, _, group in placed:
        n += 1
        while f"x{n}" in keys:
            n += 1
        position += 1
        row = m.OrderItemSummary(
            id=new_id("ois"),
            order_summary_id=summary_id,
            delivery_group_summary_id=group.id,
            position=position,
            key=f"x{n}",
            type=ItemType.PRODUCT.value,
            sku=new.sku,
            name=new.name,
            unit_price=price,
            quantity_ordered=0,
            total_price=0,
            adjustments=0,
            tax=0,
        )
        session.add(row)
        rows.append(row)
    session.flush()
    return rows


def _groups(session: Session, summary_id: str) -> list[m.OrderDeliveryGroupSummary]:
    return list(
        session.scalars(
            select(m.OrderDeliveryGroupSummary).where(
                m.OrderDeliveryGroupSummary.order_summary_id == summary_id
            )
        )
    )


def _exchanged_event(summary: m.OrderSummary, exchange: SubmittedExchange) -> DomainEvent:
    money = summary.currency
    return DomainEvent(
        EXCHANGED_EVENT,
        "order_summary",
        summary.id,
        {
            "order_summary_id": summary.id,
            "return_order_id": exchange.return_order_id,
            "change_order_id": exchange.change_order_id,
            "new_items": [
                {"order_item_summary_id": i, "sku": sku, "quantity": q, "delivery_group": g}
                for i, sku, q, g in exchange.new_items
            ],
            "returned_value": format_minor(exchange.returned_value, money),
            "new_items_total": format_minor(exchange.new_items_total, money),
        },
        summary.id,
    )


def exchange_result(
    session: Session, exchange: SubmittedExchange, *, preview: bool
) -> dict[str, Any]:
    """The answer of an exchange (schemas.reships.ExchangeOut); a preview leaves ids out."""
    base = action_body(
        session,
        exchange.order_summary_id,
        exchange.recorded,
        preview=preview,
        messages=exchange.messages,
    )
    summary = base["order_summary"]
    currency = summary["currency"]
    difference = exchange.new_items_total - exchange.returned_value
    money = format_minor(abs(difference), currency)
    if difference > 0:
        then = f"{money} {currency} more will be captured when the new items ship"
    elif difference < 0:
        then = f"{money} {currency} will be refunded once the return is credited"
    else:
        then = "an even exchange: no money moves"
    return {
        "order_summary_id": exchange.order_summary_id,
        "preview": preview,
        "return_order_id": None if preview else exchange.return_order_id,
        "change_orders": base["change_orders"],
        "new_items": [
            {
                "order_item_summary_id": None if preview else item_id,
                "sku": sku,
                "quantity": quantity,
                "delivery_group": group,
            }
            for item_id, sku, quantity, group in exchange.new_items
        ],
        "returned_value": format_minor(exchange.returned_value, currency),
        "new_items_total": format_minor(exchange.new_items_total, currency),
        "difference": format_minor(difference, currency),
        "messages": [*base["messages"], then],
        "order_summary": summary,
    }


# --- money: the return's credit pays for the new items --------------------------------------


@dataclass(slots=True)
class _Exchange:
    return_order_id: str
    new_item_ids: set[str] = field(default_factory=set)
    memo_ids: list[str] = field(default_factory=list)


def _exchanges(session: Session, order_summary_id: str) -> list[_Exchange]:
    """The summary's exchanges with their new items and their return's credit memos."""
    returns = session.execute(
        select(m.ReturnOrder.id, m.ReturnOrder.exchange_change_order_id).where(
            m.ReturnOrder.order_summary_id == order_summary_id,
            m.ReturnOrder.exchange_change_order_id.is_not(None),
        )
    ).all()
    if not returns:
        return []
    found = {ro: _Exchange(ro) for ro, _ in returns}
    by_change = {change: ro for ro, change in returns}
    for order_id, item_id in session.execute(
        select(m.OrderItem.order_id, m.OrderItem.order_item_summary_id).where(
            m.OrderItem.order_id.in_(list(by_change))
        )
    ):
        found[by_change[order_id]].new_item_ids.add(item_id)
    for ro, payload in session.execute(
        select(m.Event.aggregate_id, m.Event.payload)
        .where(
            m.Event.order_summary_id == order_summary_id,
            m.Event.name.in_(CREDIT_EVENTS),
            m.Event.aggregate_id.in_(list(found)),
        )
        .order_by(m.Event.id)
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
    unpaid = session.scalar(
        select(func.count())
        .select_from(m.Invoice)
        .join(m.InvoiceLine, m.InvoiceLine.invoice_id == m.Invoice.id)
        .where(
            m.Invoice.order_summary_id == order_summary_id,
            m.Invoice.status == InvoiceStatus.POSTED,
            m.Invoice.balance > 0,
            m.InvoiceLine.order_item_summary_id.in_(list(exchange.new_item_ids)),
        )
    )
    return bool(unpaid)


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
    lines = session.execute(
        select(
            m.InvoiceLine.order_item_summary_id,
            m.InvoiceLine.total_price + m.InvoiceLine.adjustments + m.InvoiceLine.tax,
        ).where(m.InvoiceLine.invoice_id == invoice.id)
    ).all()
    billed_new: dict[str, int] = defaultdict(int)
    for item_id, total in lines:
        billed_new[str(item_id)] += int(total)
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
        _release_rest(session, summary.id, exchanges)
    return applied_total


def _release_rest(session: Session, summary_id: str, exchanges: Sequence[_Exchange]) -> None:
    """What a memo has left once its exchange owes nothing is refunded: queue the job."""
    from openoms.services.refunds import REFUND_JOB, refund_job_key  # refunds hooks this module

    for exchange in exchanges:
        if _owing(session, summary_id, exchange):
            continue
        for memo_id in exchange.memo_ids:
            memo = session.get(m.CreditMemo, memo_id)
            if memo is not None and memo.status == "POSTED" and memo.balance > 0:
                enqueue(
                    session,
                    REFUND_JOB,
                    refund_job_key(summary_id, f"exchange:{memo_id}"),
                    {"order_summary_id": summary_id},
                )

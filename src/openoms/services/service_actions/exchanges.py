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

Money: the return's credit pays for the new items first (services/finance/credit.py): an
even exchange moves no money, a dearer one captures exactly the difference, and a cheaper
one leaves exactly the difference on the memo, which ensure-refunds then pays back.
A return received after the new items were invoiced and paid is refunded as any return
(the new items were captured already): money is right, with one capture and one refund.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.ids import new_id
from openoms.adapters.db.repositories import fulfillment as repo
from openoms.adapters.db.repositories import routing as routing_repo
from openoms.adapters.db.repositories import service_actions as actions_repo
from openoms.adapters.outbox import Outbox
from openoms.domain.changes import return_line
from openoms.domain.errors import ExchangeInvalid
from openoms.domain.events import DomainEvent
from openoms.domain.money import Money, check_amount, format_minor
from openoms.domain.order import ItemType, Totals
from openoms.domain.quantities import check_line_quantity
from openoms.domain.summary import ChangeKind, ChangeLine, ChangeOrder
from openoms.services.orders import (
    RecordedChange,
    billed_amounts,
    item_money,
    locked_summary,
    record_change,
)
from openoms.services.returns import (
    ReturnLineRequest,
    check_available,
    check_lines,
    create_return_order,
)
from openoms.services.routing import schedule_routing

EXCHANGED_EVENT = "order_summary.exchanged"


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
    requested_by: str | None = None  # who asked: `api_key:<id>`, `user:<email>`


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
    requested_by: str | None = None,
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
    groups = {g.ref: g for g in actions_repo.delivery_groups(session, summary.id)}
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
        by=requested_by,
    )
    rows = _insert_items(session, summary.id, items, placed)
    change = _add_change(reason or f"exchange for return {outcome.return_order_id}", rows, placed)
    _totals_after(summary, change).check(summary.currency)
    added = record_change(session, outbox, summary, change, requested_by=requested_by)
    order = session.get(m.ReturnOrder, outcome.return_order_id)
    assert order is not None  # made above
    order.exchange_change_order_id = added.change_order_id
    _route_new_items(session, rows, added.change_order_id)
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
        requested_by=requested_by,
    )
    outbox.record(session, [_exchanged_event(summary, exchange)])
    return exchange


def _add_change(
    reason: str, rows: Sequence[m.OrderItemSummary], placed: Sequence[Placed]
) -> ChangeOrder:
    """The ADD change order that raises the new items from zero to their units and amounts."""
    return ChangeOrder(
        ChangeKind.ADD,
        reason,
        tuple(
            ChangeLine(row.id, qty, qty * price, 0, tax)
            for row, (_, qty, price, tax, _) in zip(rows, placed, strict=True)
        ),
    )


def _route_new_items(
    session: Session, rows: Sequence[m.OrderItemSummary], change_order_id: str
) -> None:
    """Queue the next routing round of each new item's delivery group."""
    for group_id in sorted({row.delivery_group_summary_id for row in rows}):
        schedule_routing(
            session,
            group_id,
            routing_repo.last_round(session, group_id) + 1,
            reason=f"exchange {change_order_id}",
        )


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
            **({"requested_by": exchange.requested_by} if exchange.requested_by else {}),
        },
        summary.id,
    )

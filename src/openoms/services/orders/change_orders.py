"""Change orders (DESIGN.md §3): the one way a service action changes an order summary.

Every cancel, return, discount or addition is stored as an Order of kind 'change' with
signed item lines against the original; the item summaries' counters and amounts and the
summary's totals and status move with it, in the caller's transaction, and
`order_summary.changed` goes to the outbox with them. What the change gives back of what
was already invoiced becomes its credit memo (refunded by the ensure-refunds job the memo
queues); what was never invoiced needs none: later invoices bill the lower amounts.

Amounts of a change are worked out from what each item has been billed (see
`openoms.domain.finance`): a cancel takes its units' share of what is still unbilled, a
return its units' share of what the kept units were billed, so the item's running amounts
less what it was billed always belong to the units not invoiced yet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.ids import new_id
from openoms.adapters.db.models import utcnow
from openoms.adapters.db.repositories import fulfillment as repo
from openoms.adapters.outbox import Outbox
from openoms.domain.changes import ItemMoney
from openoms.domain.errors import (
    DomainError,
    OrderItemSummaryUnknown,
    QuantityInvalid,
    ValidationFailed,
)
from openoms.domain.events import DomainEvent
from openoms.domain.finance import Amounts, DocumentLine
from openoms.domain.money import format_minor
from openoms.domain.order import ItemType, PricedItem
from openoms.domain.summary import ChangeLine, ChangeOrder, ItemState, apply_change
from openoms.services.finance import billed_per_item, create_credit_memo
from openoms.services.orders.summary import item_quantities, refresh_summary_status

CHANGE_EVENT = "order_summary.changed"


@dataclass(frozen=True, slots=True)
class RecordedChange:
    change_order_id: str
    change: ChangeOrder
    credit_memo_id: str | None
    credited: int  # what the credit memo owes back (0 without one)
    stage: str | None = None  # a discount's part: pre_fulfillment, in_fulfillment, …


def item_amounts(item: m.OrderItemSummary) -> Amounts:
    """An item's running amounts, `quantity` = its net ordered units (ordered − canceled)."""
    return Amounts(
        item.quantity_ordered - item.quantity_canceled, item.total_price, item.adjustments, item.tax
    )


def billed_amounts(session: Session, order_summary_id: str) -> dict[str, Amounts]:
    """Per item summary id: units invoiced, amounts invoiced less change-order credits."""
    return billed_per_item(session, order_summary_id)


def item_money(item: m.OrderItemSummary, billed: Mapping[str, Amounts]) -> ItemMoney:
    """What `openoms.domain.changes` works an item's change out from (`billed`: as
    `billed_amounts` answers it)."""
    return ItemMoney(
        item.id, item_quantities(item), item_amounts(item), billed.get(item.id, Amounts())
    )


# --- the item lines a service action names ------------------------------------------------


class ItemLine(Protocol):
    """A line of a service action's request: units of an item summary."""

    @property
    def order_item_summary_id(self) -> str: ...

    @property
    def quantity(self) -> int: ...


def named_item(
    items: Mapping[str, m.OrderItemSummary],
    item_id: str,
    *,
    field: str,
    unknown: type[DomainError] = OrderItemSummaryUnknown,
) -> m.OrderItemSummary:
    """The item `item_id` of `items` (the order summary's), else `unknown` naming `field`."""
    item = items.get(item_id)
    if item is None:
        raise unknown(f"item {item_id!r} is not on this order summary", field=field)
    return item


def product_lines(
    items: Mapping[str, m.OrderItemSummary],
    requests: Sequence[ItemLine],
    *,
    action: str,
    not_product: type[DomainError],
    instead: str,
    unknown: type[DomainError] = OrderItemSummaryUnknown,
    duplicates: Literal["sum", "refuse"] = "sum",
    field_prefix: str = "items",
) -> dict[str, int]:
    """Units per item id of the lines an `action` ("cancel", "return", …) names, in the
    order first named; an item named twice has its units summed, or is refused
    (ValidationFailed) with `duplicates="refuse"`. Each line must name an item of `items`
    (else `unknown`), a product (else `not_product`, saying what to do `instead`) and a
    positive whole quantity (else QuantityInvalid); at least one line (else
    ValidationFailed). Errors name the line's field, e.g. `items[1].quantity`."""
    if not requests:
        raise ValidationFailed(f"name at least one item to {action}", field=field_prefix)
    units: dict[str, int] = {}
    for index, line in enumerate(requests):
        where = f"{field_prefix}[{index}]"
        item = named_item(
            items,
            line.order_item_summary_id,
            field=f"{where}.order_item_summary_id",
            unknown=unknown,
        )
        if item.type != ItemType.PRODUCT.value:
            raise not_product(
                f"item {item.id} ({item.sku}) is the delivery charge of its group: {instead}",
                field=f"{where}.order_item_summary_id",
            )
        if duplicates == "refuse" and item.id in units:
            raise ValidationFailed(
                f"{item.sku} is named twice: give its units to {action} on one line",
                field=f"{where}.order_item_summary_id",
            )
        if line.quantity <= 0:
            raise QuantityInvalid(
                f"quantity to {action} of {item.sku} must be a positive whole number, "
                f"got {line.quantity}",
                field=f"{where}.quantity",
            )
        units[item.id] = units.get(item.id, 0) + line.quantity
    return units


def record_change(
    session: Session,
    outbox: Outbox,
    summary: m.OrderSummary,
    change: ChangeOrder,
    *,
    credit: Sequence[DocumentLine] = (),
    stage: str | None = None,
    now: datetime | None = None,
    requested_by: str | None = None,
) -> RecordedChange:
    """Store `change` (lines keyed by item summary id) against the locked `summary`: the
    change order and its lines, the items' counters and amounts, the summary's totals and
    status, a credit memo of `credit` (positive amounts owed back of what was invoiced;
    none when empty or zero) and `order_summary.changed`. Raises without writing anything
    when a line breaks a quantity or amount rule. `requested_by` (who asked) goes on the
    event when given."""
    now = now or utcnow()
    items = repo.lock_items(session, {line.item_key for line in change.lines})
    states = {item_id: _state(item) for item_id, item in items.items()}
    changed = apply_change(states, change)  # raises before anything is written
    order_id = new_id("ord")
    session.add(_change_order_row(summary, change, order_id, items, now))
    for item_id, state in changed.items():
        _write_back(items[item_id], state)
    session.flush()
    _refresh_totals(session, summary)
    refresh_summary_status(session, outbox, summary.id)
    memo = None
    if credit and sum(line.total for line in credit) > 0:
        memo = create_credit_memo(
            session,
            outbox,
            summary.id,
            order_id,
            [line for line in credit if line.quantity or line.total],
            source_key=f"change:{order_id}",
        )
    event = _changed_event(summary, change, order_id, items, stage, memo)
    if requested_by:
        event.payload["requested_by"] = requested_by
    outbox.record(session, [event])
    return RecordedChange(
        change_order_id=order_id,
        change=change,
        credit_memo_id=memo.id if memo else None,
        credited=memo.grand_total if memo else 0,
        stage=stage,
    )


def _changed_event(
    summary: m.OrderSummary,
    change: ChangeOrder,
    order_id: str,
    items: Mapping[str, m.OrderItemSummary],
    stage: str | None,
    memo: m.CreditMemo | None,
) -> DomainEvent:
    return DomainEvent(
        CHANGE_EVENT,
        "order_summary",
        summary.id,
        {
            "order_summary_id": summary.id,
            "change_order_id": order_id,
            "change_kind": change.kind.value,
            "reason": change.reason,
            "stage": stage,
            "grand_total": format_minor(change.total, summary.currency),
            "credit_memo_id": memo.id if memo else None,
            "lines": [
                {
                    "order_item_summary_id": line.item_key,
                    "sku": items[line.item_key].sku,
                    "quantity": line.quantity,
                    "total": format_minor(line.total, summary.currency),
                }
                for line in change.lines
            ],
        },
        summary.id,
    )


def _state(item: m.OrderItemSummary) -> ItemState:
    priced = PricedItem(
        key=item.id,
        type=ItemType(item.type),
        sku=item.sku,
        delivery_group=item.delivery_group_summary_id,
        quantity=item.quantity_ordered,
        unit_price=item.unit_price,
        total_price=item.total_price,
        adjustments=item.adjustments,
        tax=item.tax,
        name=item.name,
    )
    return ItemState(
        original=priced,
        quantities=item_quantities(item),
        total_price=item.total_price,
        adjustments=item.adjustments,
        tax=item.tax,
    )


def _write_back(item: m.OrderItemSummary, state: ItemState) -> None:
    q = state.quantities
    item.quantity_ordered = q.ordered
    item.quantity_canceled = q.canceled
    item.quantity_returned = q.returned
    item.quantity_return_initiated = q.return_initiated
    item.quantity_allocated = q.allocated
    item.quantity_fulfilled = q.fulfilled
    item.quantity_reshipped = q.reshipped
    item.total_price = state.total_price
    item.adjustments = state.adjustments
    item.tax = state.tax


def _change_order_row(
    summary: m.OrderSummary,
    change: ChangeOrder,
    order_id: str,
    items: Mapping[str, m.OrderItemSummary],
    now: datetime,
) -> m.Order:
    lines = change.lines
    product = sum(
        ln.total_price for ln in lines if items[ln.item_key].type == ItemType.PRODUCT.value
    )
    delivery = sum(ln.total_price for ln in lines) - product
    adjustments = sum(ln.adjustments for ln in lines)
    tax = sum(ln.tax for ln in lines)
    order = m.Order(
        id=order_id,
        order_summary_id=summary.id,
        kind="change",
        change_kind=change.kind.value,
        original_order_id=summary.original_order_id,
        reason=change.reason[:500] if change.reason else None,
        channel=summary.channel,
        external_reference=summary.external_reference,
        currency=summary.currency,
        ordered_at=now,
        total_product=product,
        total_delivery=delivery,
        total_adjustments=adjustments,
        total_tax=tax,
        grand_total=product + delivery + adjustments + tax,
        order_adjustments=[],
        created_at=now,
    )
    order.items = [
        _order_item(order_id, position, ln, items[ln.item_key]) for position, ln in enumerate(lines)
    ]
    return order


def _order_item(
    order_id: str, position: int, line: ChangeLine, item: m.OrderItemSummary
) -> m.OrderItem:
    return m.OrderItem(
        id=new_id("oi"),
        order_id=order_id,
        order_item_summary_id=item.id,
        position=position,
        type=item.type,
        sku=item.sku,
        name=item.name,
        quantity=line.quantity,
        unit_price=item.unit_price,
        total_price=line.total_price,
        adjustments=line.adjustments,
        tax=line.tax,
        adjustment_details=[],
    )


def _refresh_totals(session: Session, summary: m.OrderSummary) -> None:
    items = repo.summary_items(session, summary.id)
    product = sum(i.total_price for i in items if i.type == ItemType.PRODUCT.value)
    summary.total_product = product
    summary.total_delivery = sum(i.total_price for i in items) - product
    summary.total_adjustments = sum(i.adjustments for i in items)
    summary.total_tax = sum(i.tax for i in items)
    summary.grand_total = (
        summary.total_product
        + summary.total_delivery
        + summary.total_adjustments
        + summary.total_tax
    )
    summary.updated_at = utcnow()

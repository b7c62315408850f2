"""What may be returned (DESIGN.md §3 quantities): a return's lines must name product items
of the order, once each, with positive units, and no item may be asked for more than its
quantity_available_to_return. Refusals say why in numbers an agent can act on: what shipped,
what is still to ship (cancel it instead) and which RMAs hold the rest."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.domain.errors import ReturnExceedsAvailable, ReturnItemNotReturnable, ValidationFailed
from openoms.domain.order import ItemType
from openoms.domain.returns import HOLDING, ReturnOrderStatus
from openoms.services.fulfillment import item_quantities

S = ReturnOrderStatus


class LineRequest(Protocol):
    """Units of an item summary asked back (a ReturnLineRequest)."""

    @property
    def order_item_summary_id(self) -> str: ...

    @property
    def quantity(self) -> int: ...


def check_lines(lines: Sequence[LineRequest], items: Mapping[str, m.OrderItemSummary]) -> None:
    """At least one line; each a product item of `items`, once, with positive units."""
    if not lines:
        raise ValidationFailed("a return needs at least one item", field="items")
    seen: set[str] = set()
    for index, request in enumerate(lines):
        where = f"items.{index}"
        item = items.get(request.order_item_summary_id)
        if item is None:
            raise ReturnItemNotReturnable(
                f"item {request.order_item_summary_id!r} is not on this order",
                field=f"{where}.order_item_summary_id",
            )
        if item.type != ItemType.PRODUCT.value:
            raise ReturnItemNotReturnable(
                f"{item.sku} is a delivery charge: it is not sent back; ask for "
                "refund_shipping on the return instead",
                field=f"{where}.order_item_summary_id",
            )
        if request.order_item_summary_id in seen:
            raise ValidationFailed(
                f"{item.sku} is listed twice: give its units on one line",
                field=f"{where}.order_item_summary_id",
            )
        seen.add(request.order_item_summary_id)
        if request.quantity <= 0:
            raise ValidationFailed(
                f"quantity must be a positive whole number, got {request.quantity}",
                field=f"{where}.quantity",
            )


def check_available(
    session: Session,
    items: Mapping[str, m.OrderItemSummary],
    wanted: Mapping[str, int],
    *,
    exclude: str | None = None,
) -> None:
    """ReturnExceedsAvailable for the first item asked for more than available to return
    (`exclude`: a return order whose own holds do not count as holders)."""
    for item_id, units in wanted.items():
        item = items[item_id]
        available = item_quantities(item).available_to_return
        if units <= available:
            continue
        raise ReturnExceedsAvailable(
            f"cannot return {units} {item.sku}: {_why_unavailable(session, item, exclude)}",
            field="items",
            order_item_summary_id=item_id,
            sku=item.sku,
            requested=units,
            available=available,
        )


def _why_unavailable(session: Session, item: m.OrderItemSummary, exclude: str | None) -> str:
    """What shipped, what is still to ship (cancel it) and which RMAs hold the rest."""
    q = item_quantities(item)
    sku, available = item.sku, q.available_to_return
    parts = []
    unshipped = q.net_ordered - q.fulfilled
    if unshipped > 0:
        have = "has" if q.fulfilled < 2 else "have"
        shipped = f"only {q.fulfilled} of {q.net_ordered} {sku} {have}"
        if not q.fulfilled:
            shipped = f"none of the {q.net_ordered} {sku} has"
        other = "them" if not q.fulfilled else f"the other {unshipped}"
        parts.append(f"{shipped} shipped; cancel {other} instead")
    if q.return_initiated:
        holders = _holders(session, item.id, exclude)
        on = f" on {_holder_names(holders)}" if holders else ""
        parts.append(
            f"{q.return_initiated} of {q.fulfilled} shipped {sku} are already being returned{on}"
        )
    detail = "; ".join(parts) or f"only {available} can be returned"
    if parts and available:
        detail += f" ({available} can be returned)"
    return detail


def _holders(session: Session, item_id: str, exclude: str | None) -> list[tuple[str, int]]:
    """(return order id, units still held) of the open RMAs holding units of the item."""
    rows = session.execute(
        select(
            m.ReturnOrder.id,
            m.ReturnOrderLineItem.quantity_expected,
            m.ReturnOrderLineItem.quantity_canceled,
            m.ReturnOrderLineItem.quantity_credited,
        )
        .join(m.ReturnOrderLineItem, m.ReturnOrderLineItem.return_order_id == m.ReturnOrder.id)
        .where(
            m.ReturnOrderLineItem.order_item_summary_id == item_id,
            m.ReturnOrder.status.in_([s.value for s in (*HOLDING, S.RECEIVED, S.CLOSED)]),
            m.ReturnOrder.id != (exclude or ""),
        )
        .order_by(m.ReturnOrder.id)
    ).all()
    return [(ro, max(exp, cred) - can) for ro, exp, can, cred in rows if max(exp, cred) - can]


def _holder_names(holders: Iterable[tuple[str, int]]) -> str:
    return ", ".join(f"RMA {ro} ({n})" for ro, n in holders)

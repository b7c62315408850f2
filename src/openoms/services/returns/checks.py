"""What may be returned (DESIGN.md §3 quantities): a return's lines must name product items
of the order, once each, with positive units, and no item may be asked for more than its
quantity_available_to_return. Refusals say why in numbers an agent can act on: what shipped,
what is still to ship (cancel it instead) and which RMAs hold the rest."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.repositories import returns as repo
from openoms.domain.errors import ReturnExceedsAvailable, ReturnItemNotReturnable
from openoms.domain.returns import HOLDING, ReturnOrderStatus
from openoms.services.orders import ItemLine, item_quantities, product_lines

S = ReturnOrderStatus


def check_lines(
    lines: Sequence[ItemLine],
    items: Mapping[str, m.OrderItemSummary],
    *,
    field_prefix: str = "items",
) -> dict[str, int]:
    """Units per item id: at least one line, each a product item of `items`, once (a return
    order has one line per item), with positive units."""
    return product_lines(
        items,
        lines,
        action="return",
        unknown=ReturnItemNotReturnable,
        not_product=ReturnItemNotReturnable,
        instead="it is not sent back; return the group's products with refund_shipping true "
        "to have it refunded",
        duplicates="refuse",
        field_prefix=field_prefix,
    )


def check_available(
    session: Session,
    items: Mapping[str, m.OrderItemSummary],
    wanted: Mapping[str, int],
    *,
    exclude: str | None = None,
    field: str = "items",
) -> None:
    """ReturnExceedsAvailable (naming `field`) for the first item asked for more than
    available to return (`exclude`: a return order whose own holds do not count as holders)."""
    for item_id, units in wanted.items():
        item = items[item_id]
        available = item_quantities(item).available_to_return
        if units <= available:
            continue
        raise ReturnExceedsAvailable(
            f"cannot return {units} {item.sku}: {_why_unavailable(session, item, exclude)}",
            field=field,
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
    rows = repo.item_return_lines(
        session,
        item_id,
        statuses=[s.value for s in (*HOLDING, S.RECEIVED, S.CLOSED)],
        exclude=exclude,
    )
    return [(ro, max(exp, cred) - can) for ro, exp, can, cred in rows if max(exp, cred) - can]


def _holder_names(holders: Iterable[tuple[str, int]]) -> str:
    return ", ".join(f"RMA {ro} ({n})" for ro, n in holders)

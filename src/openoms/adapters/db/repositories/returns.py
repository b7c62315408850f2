"""Queries of returns (DESIGN.md §4 ReturnOrder): the locked return order and its lines, the
open RMAs holding an item's units, restocking returned units, and the return fee's invoice.

Lock order of a return action: the order summary first (services/orders.locked_summary),
then the return order's row (`lock_return_order`), then the item summaries (sorted, in
repositories/fulfillment.lock_items), then the inventory records restocked (sorted).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.session import dialect_insert


def get_return_order(session: Session, return_order_id: str) -> m.ReturnOrder | None:
    return session.get(m.ReturnOrder, return_order_id)


def lock_return_order(session: Session, return_order_id: str) -> m.ReturnOrder:
    """The return order, row-locked and freshly read (it must exist)."""
    return session.scalars(
        select(m.ReturnOrder)
        .where(m.ReturnOrder.id == return_order_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def return_lines(session: Session, return_order_id: str) -> list[m.ReturnOrderLineItem]:
    """The return order's lines by id, freshly read (its row lock guards them)."""
    return list(
        session.scalars(
            select(m.ReturnOrderLineItem)
            .where(m.ReturnOrderLineItem.return_order_id == return_order_id)
            .order_by(m.ReturnOrderLineItem.id)
            .execution_options(populate_existing=True)
        )
    )


def item_return_lines(
    session: Session, item_id: str, *, statuses: Collection[str], exclude: str | None
) -> list[tuple[str, int, int, int]]:
    """(return order id, expected, canceled, credited) of the item's lines on return orders
    in `statuses`, other than `exclude`, by return order id."""
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
            m.ReturnOrder.status.in_(list(statuses)),
            m.ReturnOrder.id != (exclude or ""),
        )
        .order_by(m.ReturnOrder.id)
    ).all()
    return [(ro, expected, canceled, credited) for ro, expected, canceled, credited in rows]


def restock(session: Session, units: Mapping[tuple[str, str], int], now: datetime) -> None:
    """on_hand += units per (location id, SKU), one atomic upsert per inventory record (made
    when the location has none), in (location, SKU) order so two restocks never deadlock."""
    table = m.InventoryRecord.__table__
    assert isinstance(table, Table)
    for (location_id, sku), quantity in sorted(units.items()):
        insert = dialect_insert(session, table).values(
            location_id=location_id, sku=sku, on_hand=quantity, updated_at=now
        )
        session.execute(
            insert.on_conflict_do_update(
                index_elements=["location_id", "sku"],
                set_={"on_hand": table.c.on_hand + insert.excluded.on_hand, "updated_at": now},
            )
        )


def invoice_id_by_source(session: Session, source_key: str) -> str | None:
    """The invoice made for `source_key` (e.g. a return's fee), if any."""
    return session.scalar(select(m.Invoice.id).where(m.Invoice.source_key == source_key))

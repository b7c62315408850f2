"""Queries of the read models (services/views): an order summary's change orders with their
lines, and return orders with their lines and receipts."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openoms.adapters.db import models as m


def change_order_lines(session: Session, summary_id: str) -> list[tuple[m.Order, m.OrderItem]]:
    """The summary's change orders, each with every line: oldest first, lines in position."""
    rows = session.execute(
        select(m.Order, m.OrderItem)
        .join(m.OrderItem, m.OrderItem.order_id == m.Order.id)
        .where(m.Order.order_summary_id == summary_id, m.Order.kind == "change")
        .order_by(m.Order.created_at, m.Order.id, m.OrderItem.position)
    ).all()
    return [(order, line) for order, line in rows]


def list_return_orders(
    session: Session,
    *,
    order_summary_id: str | None,
    status: str | None,
    after_id: str | None,
    limit: int,
) -> list[m.ReturnOrder]:
    """Return orders in id (creation) order, filtered; at most `limit`."""
    query = select(m.ReturnOrder).order_by(m.ReturnOrder.id).limit(limit)
    if order_summary_id is not None:
        query = query.where(m.ReturnOrder.order_summary_id == order_summary_id)
    if status is not None:
        query = query.where(m.ReturnOrder.status == status)
    if after_id is not None:
        query = query.where(m.ReturnOrder.id > after_id)
    return list(session.scalars(query))


def summary_return_orders(session: Session, order_summary_id: str) -> list[m.ReturnOrder]:
    """The order summary's return orders, oldest first."""
    return list(
        session.scalars(
            select(m.ReturnOrder)
            .where(m.ReturnOrder.order_summary_id == order_summary_id)
            .order_by(m.ReturnOrder.id)
        ).all()
    )


def return_lines_with_receipts(
    session: Session, order_ids: Sequence[str]
) -> list[tuple[m.ReturnOrderLineItem, m.ReturnReceipt | None, str | None]]:
    """(line, receipt, receipt location's ref) of the return orders' lines, one row per
    receipt (receipt None for a line without one): by return order, the order's item
    position, then receipt time."""
    rows = session.execute(
        select(m.ReturnOrderLineItem, m.ReturnReceipt, m.Location.ref)
        .join(
            m.OrderItemSummary, m.OrderItemSummary.id == m.ReturnOrderLineItem.order_item_summary_id
        )
        .outerjoin(
            m.ReturnReceipt,
            m.ReturnReceipt.return_order_line_item_id == m.ReturnOrderLineItem.id,
        )
        .outerjoin(m.Location, m.Location.id == m.ReturnReceipt.location_id)
        .where(m.ReturnOrderLineItem.return_order_id.in_(order_ids))
        .order_by(
            m.ReturnOrderLineItem.return_order_id,
            m.OrderItemSummary.position,
            m.ReturnReceipt.received_at,
            m.ReturnReceipt.id,
        )
    ).all()
    return [(line, receipt, ref) for line, receipt, ref in rows]


def payment_totals(session: Session, summary_ids: Sequence[str]) -> dict[str, tuple[int, int, int]]:
    """Authorized, captured and refunded per order summary, summed over its payment methods."""
    if not summary_ids:
        return {}
    ps = m.OrderPaymentSummary
    rows = session.execute(
        select(
            ps.order_summary_id,
            func.sum(ps.authorized),
            func.sum(ps.captured),
            func.sum(ps.refunded),
        )
        .where(ps.order_summary_id.in_(summary_ids))
        .group_by(ps.order_summary_id)
    ).all()
    return {row[0]: (int(row[1] or 0), int(row[2] or 0), int(row[3] or 0)) for row in rows}


def active_hold_counts(session: Session, summary_ids: Sequence[str]) -> dict[str, int]:
    """How many holds not released yet each order summary has (held ones only), in one
    query for a page of summaries."""
    if not summary_ids:
        return {}
    hold = m.OrderSummaryHold
    rows = session.execute(
        select(hold.order_summary_id, func.count())
        .where(hold.order_summary_id.in_(summary_ids), hold.released_at.is_(None))
        .group_by(hold.order_summary_id)
    ).all()
    return {row[0]: int(row[1]) for row in rows}

"""Queries for fulfillment orders and shipments: what is loaded, what is locked, in which order.

Lock order of a fulfillment action (so two actions never deadlock each other, nor with
routing, which also starts at the summary): the order summary, the fulfillment order, its
item summaries sorted by id, the reservation, then the inventory records (sorted, inside
the reservation service).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from openoms.adapters.db import models as m


def get_fulfillment_order(
    session: Session, fo_id: str, *, lock: bool = False
) -> m.FulfillmentOrder | None:
    """The fulfillment order with its lines; `lock` takes its row lock first and refreshes
    what the session already holds."""
    query = (
        select(m.FulfillmentOrder)
        .where(m.FulfillmentOrder.id == fo_id)
        .options(selectinload(m.FulfillmentOrder.lines))
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalars(query).one_or_none()


def list_fulfillment_orders(
    session: Session,
    *,
    location_id: str | None,
    status: str | None,
    order_summary_id: str | None,
    after_id: str | None,
    limit: int,
) -> list[m.FulfillmentOrder]:
    """Oldest first (a warehouse works its queue in order), keyset-paginated on the id."""
    query = (
        select(m.FulfillmentOrder)
        .options(selectinload(m.FulfillmentOrder.lines))
        .order_by(m.FulfillmentOrder.id)
        .limit(limit)
    )
    if location_id is not None:
        query = query.where(m.FulfillmentOrder.location_id == location_id)
    if status is not None:
        query = query.where(m.FulfillmentOrder.status == status)
    if order_summary_id is not None:
        query = query.where(m.FulfillmentOrder.order_summary_id == order_summary_id)
    if after_id is not None:
        query = query.where(m.FulfillmentOrder.id > after_id)
    return list(session.scalars(query))


def lock_items(session: Session, item_ids: Collection[str]) -> dict[str, m.OrderItemSummary]:
    """Item summaries by id, row-locked in id order (their counters are read, then written)."""
    query = (
        select(m.OrderItemSummary)
        .where(m.OrderItemSummary.id.in_(sorted(item_ids)))
        .order_by(m.OrderItemSummary.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {item.id: item for item in session.scalars(query)}


def lock_summary(session: Session, summary_id: str) -> m.OrderSummary | None:
    query = (
        select(m.OrderSummary)
        .where(m.OrderSummary.id == summary_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.scalars(query).one_or_none()


def summary_items(session: Session, summary_id: str) -> Sequence[m.OrderItemSummary]:
    """Every item of the summary as committed now (after the session's own changes flush)."""
    return session.scalars(
        select(m.OrderItemSummary)
        .where(m.OrderItemSummary.order_summary_id == summary_id)
        .execution_options(populate_existing=True)
    ).all()


def get_shipment(session: Session, shipment_id: str, *, lock: bool = False) -> m.Shipment | None:
    query = (
        select(m.Shipment)
        .where(m.Shipment.id == shipment_id)
        .options(selectinload(m.Shipment.items))
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalars(query).one_or_none()


def shipments_of(session: Session, fo_ids: Collection[str]) -> list[m.Shipment]:
    """The shipments of these fulfillment orders with their items, oldest first."""
    if not fo_ids:
        return []
    return list(
        session.scalars(
            select(m.Shipment)
            .where(m.Shipment.fulfillment_order_id.in_(list(fo_ids)))
            .options(selectinload(m.Shipment.items))
            .order_by(m.Shipment.id)
        )
    )


def location_refs(session: Session, location_ids: Collection[str]) -> dict[str, str]:
    if not location_ids:
        return {}
    rows = session.execute(
        select(m.Location.id, m.Location.ref).where(m.Location.id.in_(list(location_ids)))
    )
    return {location_id: ref for location_id, ref in rows}


def group_refs(session: Session, group_ids: Collection[str]) -> dict[str, str]:
    if not group_ids:
        return {}
    rows = session.execute(
        select(m.OrderDeliveryGroupSummary.id, m.OrderDeliveryGroupSummary.ref).where(
            m.OrderDeliveryGroupSummary.id.in_(list(group_ids))
        )
    )
    return {group_id: ref for group_id, ref in rows}


def location_id_by_ref(session: Session, ref: str) -> str | None:
    return session.scalar(select(m.Location.id).where(m.Location.ref == ref))

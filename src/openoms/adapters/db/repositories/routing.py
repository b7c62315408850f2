"""Queries of routing (DESIGN.md §6): what one delivery group needs to be routed, where its
stock could come from, which groups wait for stock, and the fulfillment orders and process
exceptions an order summary shows."""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, func, literal, select
from sqlalchemy.orm import Session, joinedload, make_transient_to_detached, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from openoms.adapters.db import models as m
from openoms.domain.order import ItemType, Lifecycle

# ordered − (canceled + allocated): what routing may still place
_ITEM_ATF = (
    m.OrderItemSummary.quantity_ordered
    - m.OrderItemSummary.quantity_canceled
    - m.OrderItemSummary.quantity_allocated
)
_RECORD_ATF = (
    m.InventoryRecord.on_hand - m.InventoryRecord.reserved - m.InventoryRecord.safety_stock
)
_ORDERS = m.Base.metadata.tables["fulfillment_orders"]
_LINES = m.Base.metadata.tables["fulfillment_order_line_items"]


def get_group(session: Session, group_id: str) -> m.OrderDeliveryGroupSummary | None:
    return session.get(m.OrderDeliveryGroupSummary, group_id)


def lock_summary(session: Session, summary_id: str) -> m.OrderSummary | None:
    """The summary with its items, row-locked (PostgreSQL) and freshly read: whoever changes
    a summary's counters takes this lock first, so routing never works on stale counters."""
    return session.scalars(
        select(m.OrderSummary)
        .where(m.OrderSummary.id == summary_id)
        .options(selectinload(m.OrderSummary.items))
        .with_for_update(of=m.OrderSummary)
        .execution_options(populate_existing=True)
    ).one_or_none()


def lock_group_summary(
    session: Session, group_id: str
) -> tuple[m.OrderDeliveryGroupSummary, m.OrderSummary] | None:
    """The delivery group and its summary (with items), the summary row-locked and freshly
    read as in `lock_summary`, in one statement instead of two."""
    row = session.execute(
        select(m.OrderDeliveryGroupSummary, m.OrderSummary)
        .join(m.OrderSummary, m.OrderSummary.id == m.OrderDeliveryGroupSummary.order_summary_id)
        .where(m.OrderDeliveryGroupSummary.id == group_id)
        .options(selectinload(m.OrderSummary.items))
        .with_for_update(of=m.OrderSummary)
        .execution_options(populate_existing=True)
    ).one_or_none()
    return None if row is None else (row[0], row[1])


def lock_order_groups(
    session: Session, summary_id: str
) -> tuple[m.OrderSummary, list[m.OrderDeliveryGroupSummary]] | None:
    """The summary row-locked and freshly read with its items (as `lock_summary`), and its
    delivery groups by position: what routing all of an order's groups needs, read once."""
    summary = lock_summary(session, summary_id)
    if summary is None:
        return None
    groups = session.scalars(
        select(m.OrderDeliveryGroupSummary)
        .where(m.OrderDeliveryGroupSummary.order_summary_id == summary_id)
        .order_by(m.OrderDeliveryGroupSummary.position)
    )
    return summary, list(groups)


def group_ids(session: Session, summary_id: str) -> list[str]:
    return list(
        session.scalars(
            select(m.OrderDeliveryGroupSummary.id)
            .where(m.OrderDeliveryGroupSummary.order_summary_id == summary_id)
            .order_by(m.OrderDeliveryGroupSummary.position)
        )
    )


def get_fulfillment_order(session: Session, fo_id: str) -> m.FulfillmentOrder | None:
    return session.get(m.FulfillmentOrder, fo_id)


def last_round(session: Session, group_id: str) -> int:
    """The last routing round of the group that made a fulfillment order (0: none)."""
    found = session.scalar(
        select(func.max(m.FulfillmentOrder.routing_round)).where(
            m.FulfillmentOrder.delivery_group_summary_id == group_id
        )
    )
    return int(found or 0)


def group_fulfillment_orders(session: Session, group_id: str) -> list[m.FulfillmentOrder]:
    """Every fulfillment order of the group, any round or status, with its lines."""
    return list(
        session.scalars(
            select(m.FulfillmentOrder)
            .where(m.FulfillmentOrder.delivery_group_summary_id == group_id)
            .options(selectinload(m.FulfillmentOrder.lines))
            .order_by(m.FulfillmentOrder.routing_round, m.FulfillmentOrder.id)
        )
    )


def lock_reservation(session: Session, owner: str, key: str) -> m.Reservation | None:
    """The reservation with this (owner, idempotency key) and its lines, row-locked and
    freshly read (its lock serialises every change to its lines)."""
    return (
        session.scalars(
            select(m.Reservation)
            .where(m.Reservation.owner == owner, m.Reservation.idempotency_key == key)
            .options(joinedload(m.Reservation.lines))
            .with_for_update(of=m.Reservation)
            .execution_options(populate_existing=True)
        )
        .unique()
        .one_or_none()
    )


def lock_reservations(session: Session, ids: Sequence[str]) -> list[m.Reservation]:
    """Reservations with their lines, row-locked in id order."""
    if not ids:
        return []
    return list(
        session.scalars(
            select(m.Reservation)
            .where(m.Reservation.id.in_(sorted(ids)))
            .options(selectinload(m.Reservation.lines))
            .order_by(m.Reservation.id)
            .with_for_update(of=m.Reservation)
            .execution_options(populate_existing=True)
        )
    )


def ship_locations(session: Session, location_group_id: str | None) -> list[m.Location]:
    """Active locations that can ship: the group's members, or all when no group is named."""
    query = select(m.Location).where(m.Location.active.is_(True), m.Location.can_ship.is_(True))
    if location_group_id is not None:
        query = query.join(
            m.LocationGroupMember,
            and_(
                m.LocationGroupMember.location_id == m.Location.id,
                m.LocationGroupMember.group_id == location_group_id,
            ),
        )
    return list(session.scalars(query.order_by(m.Location.ref)))


_LOCATIONS = m.Base.metadata.tables["locations"]
_MEMBERS = m.Base.metadata.tables["location_group_members"]


def ship_location_rows(session: Session, location_group_id: str | None) -> list[Any]:
    """`ship_locations` as plain rows (id, lat, lon, shipping_costs), in the same order
    (by ref): what capture needs to run the channel's strategy, without ORM objects."""
    loc = _LOCATIONS.c
    query = select(loc.id, loc.lat, loc.lon, loc.shipping_costs).where(
        loc.active.is_(True), loc.can_ship.is_(True)
    )
    if location_group_id is not None:
        member = _MEMBERS.c
        query = query.join(
            _MEMBERS, and_(member.location_id == loc.id, member.group_id == location_group_id)
        )
    return list(session.execute(query.order_by(loc.ref)))


def location_by_ref(session: Session, ref: str) -> m.Location | None:
    return session.scalar(select(m.Location).where(m.Location.ref == ref))


def locations_by_ref(session: Session, refs: Collection[str]) -> dict[str, m.Location]:
    if not refs:
        return {}
    rows = session.scalars(select(m.Location).where(m.Location.ref.in_(list(refs))))
    return {location.ref: location for location in rows}


def available_to_fulfill(
    session: Session, location_ids: Collection[str], skus: Collection[str]
) -> dict[tuple[str, str], int]:
    """(location id, SKU) → on_hand − reserved − safety_stock, floored at 0."""
    if not location_ids or not skus:
        return {}
    rows = session.execute(
        select(m.InventoryRecord.location_id, m.InventoryRecord.sku, _RECORD_ATF).where(
            m.InventoryRecord.location_id.in_(list(location_ids)),
            m.InventoryRecord.sku.in_(list(skus)),
        )
    )
    return {(location_id, sku): max(atf, 0) for location_id, sku, atf in rows}


def waiting_groups(session: Session, skus: Collection[str] | None) -> list[tuple[str, int]]:
    """Delivery groups of managed orders with product units still to place (of `skus` when
    given), each with the last routing round that made a fulfillment order (0: none)."""
    item = m.OrderItemSummary
    last_round = (
        select(func.coalesce(func.max(m.FulfillmentOrder.routing_round), 0))
        .where(m.FulfillmentOrder.delivery_group_summary_id == item.delivery_group_summary_id)
        .correlate(item)
        .scalar_subquery()
    )
    query = (
        select(item.delivery_group_summary_id, last_round)
        .join(m.OrderSummary, m.OrderSummary.id == item.order_summary_id)
        .where(
            m.OrderSummary.lifecycle == Lifecycle.MANAGED.value,
            item.type == ItemType.PRODUCT.value,
            _ITEM_ATF > 0,
        )
        .group_by(item.delivery_group_summary_id)
        .order_by(item.delivery_group_summary_id)
    )
    if skus is not None:
        query = query.where(item.sku.in_(list(skus)))
    return [(group_id, int(round_)) for group_id, round_ in session.execute(query)]


def job_unfinished(session: Session, dedupe_key: str) -> bool:
    """Whether a job with this key is queued and not done (pending or dead)."""
    status = session.scalar(select(m.Job.status).where(m.Job.dedupe_key == dedupe_key))
    return status is not None and status != "done"


def any_job_unfinished(session: Session, dedupe_keys: Sequence[str]) -> bool:
    """Whether any job with one of these keys is queued and not done (one round trip)."""
    statuses = session.scalars(select(m.Job.status).where(m.Job.dedupe_key.in_(dedupe_keys)))
    return any(status != "done" for status in statuses)


def due_jobs(session: Session, keys: Sequence[str], now: datetime) -> set[str]:
    """Those of the job keys whose job is pending and due (or running) already."""
    due: set[str] = set()
    for start in range(0, len(keys), 500):
        due.update(
            session.scalars(
                select(m.Job.dedupe_key).where(
                    m.Job.dedupe_key.in_(keys[start : start + 500]),
                    m.Job.status == "pending",
                    m.Job.available_at <= now,
                )
            )
        )
    return due


def groups_routed_with_order(
    session: Session, group_ids: Sequence[str], key_prefix: str, now: datetime
) -> set[str]:
    """Those of the groups whose order's job (key `key_prefix` + order summary id) is
    pending and due (or running) already: it routes them."""
    group, job = m.OrderDeliveryGroupSummary, m.Job
    found: set[str] = set()
    for start in range(0, len(group_ids), 500):
        found.update(
            session.scalars(
                select(group.id)
                .join(job, job.dedupe_key == literal(key_prefix) + group.order_summary_id)
                .where(
                    group.id.in_(group_ids[start : start + 500]),
                    job.status == "pending",
                    job.available_at <= now,
                )
            )
        )
    return found


def insert_fulfillment_orders(
    session: Session,
    created: Sequence[tuple[m.FulfillmentOrder, Sequence[m.FulfillmentOrderLineItem]]],
) -> None:
    """Two Core INSERTs (the orders, then every line), then the objects join the session as
    persistent, lines loaded: a unit-of-work flush of the same rows costs several times the
    CPU, and routing pays it on every group."""
    if not created:
        return
    session.execute(_ORDERS.insert(), [_row(fo, _ORDERS) for fo, _ in created])
    rows = [_row(line, _LINES) for _, lines in created for line in lines]
    if rows:
        session.execute(_LINES.insert(), rows)
    for fo, lines in created:
        for obj in (fo, *lines):
            make_transient_to_detached(obj)  # in the database already: no INSERT
            session.add(obj)
        set_committed_value(fo, "lines", lines)


def _row(obj: object, table: Table) -> dict[str, Any]:
    return {key: getattr(obj, key) for key in _column_keys(table)}


@functools.cache
def _column_keys(table: Table) -> tuple[str, ...]:
    # Iterating `table.columns` builds a list each time: 2,000 lines paid it 2,000 times.
    return tuple(column.key for column in table.columns)


# --- the order summary read model ---------------------------------------------------------


def summary_fulfillment_orders(
    session: Session, summary_id: str
) -> Sequence[tuple[m.FulfillmentOrder, str]]:
    """The summary's fulfillment orders with their lines, each with its location's ref; by
    delivery group, routing round, then location ref."""
    group = m.OrderDeliveryGroupSummary
    rows = session.execute(
        select(m.FulfillmentOrder, m.Location.ref)
        .join(m.Location, m.Location.id == m.FulfillmentOrder.location_id)
        .join(group, group.id == m.FulfillmentOrder.delivery_group_summary_id)
        .where(m.FulfillmentOrder.order_summary_id == summary_id)
        .options(selectinload(m.FulfillmentOrder.lines))
        .order_by(
            group.position, m.FulfillmentOrder.routing_round, m.Location.ref, m.FulfillmentOrder.id
        )
    )
    return [(fo, ref) for fo, ref in rows]


def summary_process_exceptions(session: Session, summary_id: str) -> Sequence[m.ProcessException]:
    return session.scalars(
        select(m.ProcessException)
        .where(m.ProcessException.order_summary_id == summary_id)
        .order_by(m.ProcessException.created_at, m.ProcessException.id)
    ).all()

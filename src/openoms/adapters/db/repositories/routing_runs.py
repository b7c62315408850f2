"""Queries of routing runs (services/routing/runs.py): the delivery groups a run weighs, with
what each holds, and the runs themselves."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.sql.elements import ColumnElement

from openoms.adapters.db import models as m
from openoms.domain.fulfillment import FulfillmentOrderStatus
from openoms.domain.order import DeliveryMethod, ItemType, Lifecycle

_ITEM_ATF = (
    m.OrderItemSummary.quantity_ordered
    - m.OrderItemSummary.quantity_canceled
    - m.OrderItemSummary.quantity_allocated
)


def candidate_groups(
    session: Session, channel: str, *, allocated_too: bool
) -> list[tuple[m.OrderDeliveryGroupSummary, m.OrderSummary]]:
    """Ship groups of the channel's managed orders with units still to place, and (with
    `allocated_too`) those with an ALLOCATED fulfillment order; by order capture, then
    group position. Summaries come with their items."""
    item = m.OrderItemSummary
    group = m.OrderDeliveryGroupSummary
    open_units = exists().where(
        item.delivery_group_summary_id == group.id,
        item.type == ItemType.PRODUCT.value,
        _ITEM_ATF > 0,
    )
    wanted: ColumnElement[bool] = open_units
    if allocated_too:
        allocated = exists().where(
            m.FulfillmentOrder.delivery_group_summary_id == group.id,
            m.FulfillmentOrder.status == FulfillmentOrderStatus.ALLOCATED.value,
        )
        wanted = open_units | allocated
    rows = session.execute(
        select(group, m.OrderSummary)
        .join(m.OrderSummary, m.OrderSummary.id == group.order_summary_id)
        .where(
            m.OrderSummary.channel == channel,
            m.OrderSummary.lifecycle == Lifecycle.MANAGED.value,
            group.method == DeliveryMethod.SHIP.value,
            wanted,
        )
        .options(selectinload(m.OrderSummary.items))
        .order_by(m.OrderSummary.created_at, m.OrderSummary.id, group.position)
    )
    return [(g, s) for g, s in rows]


def fulfillment_orders_of(
    session: Session, group_ids: Collection[str]
) -> dict[str, list[m.FulfillmentOrder]]:
    out: dict[str, list[m.FulfillmentOrder]] = {gid: [] for gid in group_ids}
    ids = sorted(group_ids)
    for k in range(0, len(ids), 500):
        for fo in session.scalars(
            select(m.FulfillmentOrder)
            .where(m.FulfillmentOrder.delivery_group_summary_id.in_(ids[k : k + 500]))
            .options(selectinload(m.FulfillmentOrder.lines))
            .order_by(m.FulfillmentOrder.routing_round, m.FulfillmentOrder.id)
        ):
            out[fo.delivery_group_summary_id].append(fo)
    return out


def reservations_by_key(
    session: Session, owner: str, keys: Collection[str]
) -> dict[str, m.Reservation]:
    out: dict[str, m.Reservation] = {}
    wanted = sorted(keys)
    for k in range(0, len(wanted), 500):
        for r in session.scalars(
            select(m.Reservation)
            .where(
                m.Reservation.owner == owner,
                m.Reservation.idempotency_key.in_(wanted[k : k + 500]),
            )
            .options(selectinload(m.Reservation.lines))
        ):
            out[r.idempotency_key] = r
    return out


def held_summaries(session: Session, summary_ids: Collection[str]) -> set[str]:
    """Summaries with an active hold."""
    ids = sorted(summary_ids)
    out: set[str] = set()
    for k in range(0, len(ids), 500):
        out |= set(
            session.scalars(
                select(m.OrderSummaryHold.order_summary_id).where(
                    m.OrderSummaryHold.order_summary_id.in_(ids[k : k + 500]),
                    m.OrderSummaryHold.released_at.is_(None),
                )
            )
        )
    return out


def unfinished_jobs(session: Session, keys: Collection[str]) -> set[str]:
    """Of these job keys, those queued and not done."""
    wanted = sorted(keys)
    out: set[str] = set()
    for k in range(0, len(wanted), 500):
        out |= set(
            session.scalars(
                select(m.Job.dedupe_key).where(
                    m.Job.dedupe_key.in_(wanted[k : k + 500]), m.Job.status != "done"
                )
            )
        )
    return out


def add_run(session: Session, run: m.RoutingRun, groups: Sequence[m.RoutingRunGroup]) -> None:
    session.add(run)
    session.flush()
    session.add_all(groups)
    session.flush()


def get_run(session: Session, run_id: str) -> m.RoutingRun | None:
    return session.get(m.RoutingRun, run_id)


def run_groups(session: Session, run_id: str) -> list[m.RoutingRunGroup]:
    return list(
        session.scalars(
            select(m.RoutingRunGroup)
            .where(m.RoutingRunGroup.run_id == run_id)
            .order_by(m.RoutingRunGroup.id)
        )
    )


def list_runs(
    session: Session, channels: Collection[str] | None, limit: int, before: datetime | None
) -> list[m.RoutingRun]:
    query = select(m.RoutingRun).order_by(m.RoutingRun.created_at.desc(), m.RoutingRun.id.desc())
    if channels is not None:
        query = query.where(m.RoutingRun.channel.in_(sorted(channels)))
    if before is not None:
        query = query.where(m.RoutingRun.created_at < before)
    return list(session.scalars(query.limit(limit)))


def run_at_tick(session: Session, channel: str, tick_at: datetime) -> bool:
    return (
        session.scalar(
            select(m.RoutingRun.id).where(
                m.RoutingRun.channel == channel, m.RoutingRun.tick_at == tick_at
            )
        )
        is not None
    )


def scheduled_channels(session: Session) -> list[tuple[str, int]]:
    """(channel ref, seconds) of every channel with a run schedule."""
    rows = session.execute(
        select(m.Channel.ref, m.Channel.routing_run_every)
        .where(m.Channel.routing_run_every.is_not(None))
        .order_by(m.Channel.ref)
    )
    return [(ref, int(every)) for ref, every in rows if every]


def past_ship_demand(
    session: Session, channel: str, windows: Sequence[tuple[datetime, datetime]], before: datetime
) -> list[tuple[str, str | None, str, str, int]]:
    """(group id, country, currency, SKU, units ordered and not canceled) of the product
    items of the channel's managed ship groups ordered within one of the `windows` and
    before `before` (a look-ahead's past demand); by order time, then group, then SKU."""
    if not windows:
        return []
    item = m.OrderItemSummary
    group = m.OrderDeliveryGroupSummary
    summary = m.OrderSummary
    rows = session.execute(
        select(
            group.id,
            group.country,
            summary.currency,
            item.sku,
            item.quantity_ordered - item.quantity_canceled,
        )
        .join(summary, summary.id == group.order_summary_id)
        .join(item, item.delivery_group_summary_id == group.id)
        .where(
            summary.channel == channel,
            summary.lifecycle == Lifecycle.MANAGED.value,
            summary.ordered_at < before,
            or_(*(and_(summary.ordered_at >= a, summary.ordered_at < b) for a, b in windows)),
            group.method == DeliveryMethod.SHIP.value,
            item.type == ItemType.PRODUCT.value,
            item.quantity_ordered > item.quantity_canceled,
        )
        .order_by(summary.ordered_at, summary.id, group.position, item.sku)
    )
    return [(gid, country, currency, sku, int(q)) for gid, country, currency, sku, q in rows]

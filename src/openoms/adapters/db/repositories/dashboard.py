"""Queries of the operations dashboard (services/views/dashboard.py): every figure is a SQL
aggregate over the order summaries placed in a period (and on a channel), never a loop over
the orders in Python. Days are UTC days; durations are whole microseconds, computed exactly
on both backends (no floating point)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, and_, cast, func, literal, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from openoms.adapters.db import models as m

OS = m.OrderSummary


@dataclass(frozen=True, slots=True)
class Period:
    """Orders placed in [start, end) (UTC), on `channel` when given."""

    start: datetime
    end: datetime
    channel: str | None = None

    def orders(self) -> ColumnElement[bool]:
        where = and_(OS.ordered_at >= self.start, OS.ordered_at < self.end)
        return and_(where, OS.channel == self.channel) if self.channel else where


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _day(session: Session, column: Any) -> ColumnElement[str]:
    """The UTC day of a datetime column as YYYY-MM-DD."""
    if _dialect(session) == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    # SQLite keeps UTC datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff' (models/base.py).
    return func.substr(column, 1, 10)


def _micros_between(session: Session, start: Any, end: Any) -> ColumnElement[int]:
    """Whole microseconds from `start` to `end`, exact on both backends."""
    if _dialect(session) == "postgresql":
        # extract() answers numeric (exact) on PostgreSQL 14+.
        seconds = func.extract("epoch", end - start)
        return cast(func.round(seconds * 1_000_000), BigInteger)

    def micros(value: Any) -> ColumnElement[int]:
        whole = cast(func.strftime("%s", value), Integer) * literal(1_000_000)
        return whole + cast(func.substr(value, 21, 6), Integer)

    return micros(end) - micros(start)


def orders_per_day(session: Session, period: Period) -> list[tuple[str, str, int, int]]:
    """(day, currency, orders, Σ grand total) of the orders placed each day."""
    day = _day(session, OS.ordered_at)
    rows = session.execute(
        select(day, OS.currency, func.count(), func.sum(OS.grand_total))
        .where(period.orders())
        .group_by(day, OS.currency)
        .order_by(day, OS.currency)
    ).all()
    return [(str(d), str(c), int(n), int(total or 0)) for d, c, n, total in rows]


def _placed() -> ColumnElement[bool]:
    """A fulfillment order that counts as a placement: a standard one (not a reship) that its
    location did not reject (a rejected one's units were placed again elsewhere)."""
    fo = m.FulfillmentOrder
    return and_(fo.type == "standard", fo.status != "REJECTED")


def split_counts(session: Session, period: Period) -> tuple[int, int]:
    """(fulfillment orders, shipping groups with at least one) of the period's orders."""
    fo, group = m.FulfillmentOrder, m.OrderDeliveryGroupSummary
    row = session.execute(
        select(func.count(fo.id), func.count(func.distinct(fo.delivery_group_summary_id)))
        .join(group, group.id == fo.delivery_group_summary_id)
        .join(OS, OS.id == fo.order_summary_id)
        .where(period.orders(), _placed(), group.method == "ship")
    ).one()
    return int(row[0] or 0), int(row[1] or 0)


def location_counts(session: Session, period: Period) -> tuple[int, int]:
    """(distinct (order, location) pairs, orders with a fulfillment order)."""
    fo = m.FulfillmentOrder
    pairs = (
        select(fo.order_summary_id, fo.location_id)
        .join(OS, OS.id == fo.order_summary_id)
        .where(period.orders(), _placed())
        .distinct()
        .subquery()
    )
    row = session.execute(
        select(func.count(), func.count(func.distinct(pairs.c.order_summary_id))).select_from(pairs)
    ).one()
    return int(row[0] or 0), int(row[1] or 0)


def _ship_times(session: Session, period: Period) -> Any:
    """Per order of the period with a shipment: microseconds from capture (the summary's
    creation) to its first shipment (canceled shipments aside)."""
    ship = m.Shipment
    first = (
        select(ship.order_summary_id.label("id"), func.min(ship.created_at).label("at"))
        .where(ship.status != "CANCELED")
        .group_by(ship.order_summary_id)
        .subquery()
    )
    took = _micros_between(session, OS.created_at, first.c.at).label("took")
    return select(took).join(first, first.c.id == OS.id).where(period.orders()).subquery()


def ship_time_count(session: Session, period: Period) -> int:
    times = _ship_times(session, period)
    return int(session.scalar(select(func.count()).select_from(times)) or 0)


def ship_time_at_rank(session: Session, period: Period, rank: int) -> int:
    """The `rank`-th (1-based) smallest capture-to-ship time."""
    times = _ship_times(session, period)
    value = session.scalar(select(times.c.took).order_by(times.c.took).offset(rank - 1).limit(1))
    return int(value or 0)


def open_exceptions(
    session: Session, period: Period, statuses: Sequence[str]
) -> list[tuple[str, int]]:
    """(category, open exceptions) of the period's orders; with no channel, also those tied
    to no order raised in the period."""
    pe = m.ProcessException
    of_orders = (
        select(pe.category.label("category"))
        .join(OS, OS.id == pe.order_summary_id)
        .where(pe.status.in_(statuses), period.orders())
    )
    parts = [of_orders]
    if not period.channel:
        parts.append(
            select(pe.category.label("category")).where(
                pe.status.in_(statuses),
                pe.order_summary_id.is_(None),
                pe.created_at >= period.start,
                pe.created_at < period.end,
            )
        )
    found = parts[0].union_all(*parts[1:]).subquery() if len(parts) > 1 else of_orders.subquery()
    rows = session.execute(
        select(found.c.category, func.count()).group_by(found.c.category).order_by(found.c.category)
    ).all()
    return [(str(category), int(n)) for category, n in rows]


def refunds(session: Session, period: Period) -> list[tuple[str, int, int]]:
    """(currency, Σ refunded, orders with a refund) of the period's orders."""
    ps = m.OrderPaymentSummary
    per_order = (
        select(OS.id.label("id"), OS.currency.label("currency"), func.sum(ps.refunded).label("r"))
        .join(ps, ps.order_summary_id == OS.id)
        .where(period.orders())
        .group_by(OS.id, OS.currency)
        .subquery()
    )
    rows = session.execute(
        select(per_order.c.currency, func.sum(per_order.c.r), func.count())
        .where(per_order.c.r > 0)
        .group_by(per_order.c.currency)
        .order_by(per_order.c.currency)
    ).all()
    return [(str(c), int(total or 0), int(n)) for c, total, n in rows]


def return_counts(session: Session, period: Period) -> tuple[int, int, int]:
    """(return orders not canceled, orders they are for, units returned) of the period's
    orders."""
    ro = m.ReturnOrder
    row = session.execute(
        select(func.count(ro.id), func.count(func.distinct(ro.order_summary_id)))
        .join(OS, OS.id == ro.order_summary_id)
        .where(period.orders(), ro.status != "CANCELED")
    ).one()
    item = m.OrderItemSummary
    units = session.scalar(
        select(func.coalesce(func.sum(item.quantity_returned), 0))
        .join(OS, OS.id == item.order_summary_id)
        .where(period.orders())
    )
    return int(row[0] or 0), int(row[1] or 0), int(units or 0)


def backordered(session: Session, period: Period, limit: int) -> list[tuple[str, int, int]]:
    """(sku, units waiting, orders) of product units ordered, not canceled and not allocated
    to any location, on managed orders of the period that routing has tried: most units
    first, at most `limit` SKUs."""
    item = m.OrderItemSummary
    waiting = item.quantity_ordered - item.quantity_canceled - item.quantity_allocated
    units = func.sum(waiting)
    rows = session.execute(
        select(item.sku, units, func.count(func.distinct(item.order_summary_id)))
        .join(OS, OS.id == item.order_summary_id)
        .where(
            period.orders(),
            OS.lifecycle == "MANAGED",
            OS.routing_attempts > 0,
            item.type == "product",
            waiting > 0,
        )
        .group_by(item.sku)
        .order_by(units.desc(), item.sku)
        .limit(limit)
    ).all()
    return [(str(sku), int(n), int(orders)) for sku, n, orders in rows]


def channels_with_orders(session: Session) -> list[str]:
    return list(session.scalars(select(OS.channel).distinct().order_by(OS.channel)))

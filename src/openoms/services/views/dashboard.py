"""The operations dashboard's figures (docs/console.md, "Dashboard"): about the orders placed
in a period (UTC days, inclusive) on one channel or every channel, and what became of them.

- orders and revenue per day: how many orders were placed each day and the sum of their
  grand totals as they stand now (after cancels, returns and discounts), per currency;
- split rate: fulfillment orders per shipping group routed (standard fulfillment orders
  their location did not reject, over the ship delivery groups that have one);
- locations per order: the distinct locations fulfilling an order, averaged over the orders
  with a fulfillment order (same fulfillment orders);
- capture-to-ship time: per order shipped, from its capture (the summary's creation) to its
  first shipment; p50 and p90 by nearest rank (the value at rank ⌈p·n⌉ of n, smallest first);
- open exceptions (new, triaged, paused) by category, of the period's orders (and, with no
  channel chosen, those tied to no order raised in the period);
- refunds (Σ refunded over the orders' payment summaries, per currency, and the orders
  refunded); returns (return orders not canceled, the orders they are for, units returned);
- backordered SKUs: product units ordered, not canceled and not allocated to a location on
  managed orders that routing has already tried — units waiting for stock.

Every figure is one or two SQL aggregates (adapters/db/repositories/dashboard.py). Money is
exact (integer minor units, per currency); ratios are decimals rounded half up to 2 places.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from math import ceil

from sqlalchemy.orm import Session

from openoms.adapters.db.repositories import dashboard as repo
from openoms.adapters.db.repositories.dashboard import Period
from openoms.domain.errors import ValidationFailed
from openoms.domain.fulfillment import ACTIVE_EXCEPTION_STATUSES
from openoms.domain.money import format_minor

MAX_DAYS = 366
BACKORDER_ROWS = 50
PERCENTILES = (50, 90)


class DashboardPeriodInvalid(ValidationFailed):
    code = "dashboard_period_invalid"
    title = "The dashboard's period cannot be used"


@dataclass(frozen=True, slots=True)
class DashboardQuery:
    """Orders placed from `first` to `last` (UTC days, both included), on `channel` (None:
    every channel)."""

    first: date
    last: date
    channel: str | None = None

    def period(self) -> Period:
        if self.last < self.first:
            raise DashboardPeriodInvalid("the period ends before it starts", field="to")
        if (self.last - self.first).days + 1 > MAX_DAYS:
            raise DashboardPeriodInvalid(
                f"the period is longer than {MAX_DAYS} days; choose a shorter one", field="from"
            )
        start = datetime.combine(self.first, time(), tzinfo=UTC)
        end = datetime.combine(self.last + timedelta(days=1), time(), tzinfo=UTC)
        return Period(start, end, self.channel)

    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]


@dataclass(frozen=True, slots=True)
class Day:
    day: date
    orders: int
    revenue: dict[str, int]  # currency → minor units


@dataclass(frozen=True, slots=True)
class Backorder:
    sku: str
    units: int
    orders: int


@dataclass(frozen=True, slots=True)
class Refunds:
    currency: str
    amount: int  # minor units
    orders: int

    @property
    def text(self) -> str:
        return format_minor(self.amount, self.currency)


@dataclass(frozen=True, slots=True)
class Dashboard:
    """Every figure of the dashboard; money in minor units by currency."""

    query: DashboardQuery
    days: list[Day]
    fulfillment_orders: int
    shipping_groups: int
    order_locations: int
    orders_fulfilled: int
    orders_shipped: int
    ship_time_micros: dict[int, int]  # percentile → microseconds (empty: nothing shipped)
    open_exceptions: dict[str, int]  # category → open exceptions
    refunds: list[Refunds]
    return_orders: int
    orders_returned: int
    units_returned: int
    backordered: list[Backorder] = field(default_factory=list)

    @property
    def orders(self) -> int:
        return sum(d.orders for d in self.days)

    @property
    def currencies(self) -> list[str]:
        return sorted({c for d in self.days for c in d.revenue})

    def revenue(self, currency: str) -> int:
        return sum(d.revenue.get(currency, 0) for d in self.days)

    def revenue_text(self, currency: str) -> str:
        return format_minor(self.revenue(currency), currency)

    @property
    def split_rate(self) -> Decimal | None:
        return ratio(self.fulfillment_orders, self.shipping_groups)

    @property
    def locations_per_order(self) -> Decimal | None:
        return ratio(self.order_locations, self.orders_fulfilled)

    @property
    def open_exception_total(self) -> int:
        return sum(self.open_exceptions.values())


def ratio(numerator: int, denominator: int) -> Decimal | None:
    """numerator / denominator to 2 places (half up); None when there is nothing to divide."""
    if denominator == 0:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )


def nearest_rank(percentile: int, count: int) -> int:
    """The 1-based rank of `percentile` among `count` values (nearest-rank method)."""
    return max(1, ceil(percentile * count / 100))


def dashboard_figures(session: Session, query: DashboardQuery) -> Dashboard:
    """The dashboard's figures for `query` (DashboardPeriodInvalid for a period it cannot
    use)."""
    period = query.period()
    fulfillment_orders, shipping_groups = repo.split_counts(session, period)
    order_locations, orders_fulfilled = repo.location_counts(session, period)
    shipped = repo.ship_time_count(session, period)
    times = {
        p: repo.ship_time_at_rank(session, period, nearest_rank(p, shipped))
        for p in (PERCENTILES if shipped else ())
    }
    returns, orders_returned, units_returned = repo.return_counts(session, period)
    statuses = sorted(s.value for s in ACTIVE_EXCEPTION_STATUSES)
    return Dashboard(
        query=query,
        days=_days(query, repo.orders_per_day(session, period)),
        fulfillment_orders=fulfillment_orders,
        shipping_groups=shipping_groups,
        order_locations=order_locations,
        orders_fulfilled=orders_fulfilled,
        orders_shipped=shipped,
        ship_time_micros=times,
        open_exceptions=dict(repo.open_exceptions(session, period, statuses)),
        refunds=[Refunds(c, amount, n) for c, amount, n in repo.refunds(session, period)],
        return_orders=returns,
        orders_returned=orders_returned,
        units_returned=units_returned,
        backordered=[
            Backorder(sku, units, n)
            for sku, units, n in repo.backordered(session, period, BACKORDER_ROWS)
        ],
    )


def _days(query: DashboardQuery, rows: list[tuple[str, str, int, int]]) -> list[Day]:
    """Every day of the period, those without orders at zero."""
    orders: dict[date, int] = {}
    revenue: dict[date, dict[str, int]] = {}
    for day_text, currency, n, total in rows:
        day = date.fromisoformat(day_text)
        orders[day] = orders.get(day, 0) + n
        revenue.setdefault(day, {})[currency] = total
    return [Day(d, orders.get(d, 0), revenue.get(d, {})) for d in query.days()]


def dashboard_channels(session: Session) -> list[str]:
    """The channels that have orders, for the dashboard's channel filter."""
    return repo.channels_with_orders(session)

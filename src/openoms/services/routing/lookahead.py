"""A routing run's look-ahead (docs/routing-runs.md#look-ahead): the demand it expects, drawn
from the channel's own past orders.

Stock a run places for a waiting group is gone once the warehouse picks it; later orders
then find what is left. With the channel's `routing_lookahead_days` set to N, a run also
weighs the orders it expects over the next `LOOKAHEAD_HOURS`: the channel's ship groups of
two SKUs or more ordered in the same hours of each of the last N days (from now − d days to
now − d days + the horizon, d = 1..N: nothing ordered at or after now, and no order of
another channel).
At most `LOOKAHEAD_SAMPLES` of them, evenly spread over those orders by time, go into the
plan as expected groups (domain/routing/batch: they bid for stock and are given none), each
weighing the number of groups expected per day that it stands for.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.repositories import routing_runs as repo
from openoms.domain.routing import ShippingCost
from openoms.domain.routing.batch import ExpectedGroup
from openoms.services.orders import ChannelPolicy, shipping_cost

LOOKAHEAD_HOURS = 12
LOOKAHEAD_SAMPLES = 300
LOOKAHEAD_MIN_LINES = 2  # SKUs a past group needs to be expected


@dataclass(frozen=True, slots=True)
class Forecast:
    """The expected groups a run weighs, and where they came from (the run records it)."""

    expected: tuple[ExpectedGroup, ...]
    days: int
    hours: int
    past_groups: int  # ship groups of two SKUs or more ordered in the windows
    windows: tuple[tuple[datetime, datetime], ...] = field(default_factory=tuple)

    def record(self) -> dict[str, Any]:
        return {
            "days": self.days,
            "hours": self.hours,
            "past_groups": self.past_groups,
            "expected_groups": len(self.expected),
            "expected_per_day": round(self.past_groups / self.days, 2) if self.days else 0,
            "windows": [[a.isoformat(), b.isoformat()] for a, b in self.windows],
        }


def windows(now: datetime, days: int, hours: int) -> list[tuple[datetime, datetime]]:
    """The same hours ahead of now on each of the last `days` days (never reaching now)."""
    span = timedelta(hours=min(hours, 24))
    return [(now - timedelta(days=d), now - timedelta(days=d) + span) for d in range(1, days + 1)]


def forecast(
    session: Session,
    policy: ChannelPolicy,
    locations: Sequence[m.Location],
    now: datetime,
    days: int,
    *,
    hours: int = LOOKAHEAD_HOURS,
    samples: int = LOOKAHEAD_SAMPLES,
) -> Forecast:
    """The channel's expected demand over the next `hours` (module doc)."""
    spans = windows(now, days, hours)
    rows = repo.past_ship_demand(session, policy.channel, spans, now)
    need: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    where: dict[str, tuple[str | None, str]] = {}
    for group_id, country, currency, sku, q in rows:
        need[group_id][sku] += q
        where[group_id] = (country, currency)
    # In order of ordering. One-line groups are left out: they ship whole from any location
    # with their SKU, so there is no stock to keep together for them (docs/benchmarks.md:
    # leaving them out gave as much, with a smaller model).
    past = [gid for gid, skus in need.items() if len(skus) >= LOOKAHEAD_MIN_LINES]
    drawn = (
        [past[k * len(past) // samples] for k in range(samples)] if len(past) > samples else past
    )
    weight = len(past) / (days * len(drawn)) if drawn else 0.0
    expected = tuple(
        ExpectedGroup(
            key=f"expected:{group_id}",
            need=dict(need[group_id]),
            rates=_rates(locations, *where[group_id]),
            max_locations=policy.max_splits + 1,
            weight=weight,
        )
        for group_id in drawn
    )
    return Forecast(expected, days, hours, len(past), tuple(spans))


def _rates(
    locations: Sequence[m.Location], country: str | None, currency: str
) -> Mapping[str, ShippingCost]:
    """As a run prices a group of that country (runs._weigh): a location without a rate
    costs the dearest known one."""
    known = [shipping_cost(loc.shipping_costs, country, currency) for loc in locations]
    worst = ShippingCost(
        max((c.per_shipment for c in known if c), default=0),
        max((c.per_unit for c in known if c), default=0),
    )
    return {loc.id: c or worst for loc, c in zip(locations, known, strict=True)}

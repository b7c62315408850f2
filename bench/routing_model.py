"""Model-only replay of a seeded day (bench/batch_routing.py --model-only): no database.

The same day, the same stock and the same rules as the full replay, with the domain's
functions only:

- **one at a time**: each order, when it arrives, is routed by `fewest_splits` (the
  channel's strategy in the full replay: fewest locations, ties by distance then cost; a
  partial allocation when no complete route exists, as a backorder channel does) over the
  stock nobody holds.
- **with runs**: the same, and every `run_every` minutes `plan_batch` places again every
  order not yet released to the warehouse (scope `unreleased`), over the stock nobody
  holds plus what those orders hold; the plan is applied in full.
- Orders are released to the warehouse on the day's schedule (`routing_day.releases`:
  waves, or every few minutes after a delay); a released order's placement is fixed.
- **hindsight**: the whole day planned at once by `plan_batch`, starting from one-at-a-time's
  placements and under the same promise (no order more shipments than one at a time gave
  it), with a long budget: what knowing every order in advance could still remove.
- **structural**: orders no single location could ever ship whole (no location holds all
  their SKUs at the start of the day): their splits no routing can avoid.

Figures: orders placed, shipments (one per location an order ships from, per placement),
extra shipments (shipments − orders placed), cost, and for the runs their solve times.
"""

from __future__ import annotations

import math
import random
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from openoms.domain.routing import (
    Candidate,
    Destination,
    RoutingItem,
    RoutingPolicy,
    ShippingCost,
    fewest_splits,
)
from openoms.domain.routing.batch import BatchGroup, ExpectedGroup, plan_batch
from routing_day import COUNTRIES, Day, rate

Cell = tuple[str, str]
MAX_SPLITS = 2


@dataclass
class _Order:
    key: str
    minute: float
    country: str
    need: dict[str, int]
    rates: dict[str, ShippingCost]
    parts: list[dict[Cell, int]] = field(default_factory=list)  # released placements
    current: dict[Cell, int] = field(default_factory=dict)  # movable placement

    def open(self) -> dict[str, int]:
        placed: Counter[str] = Counter()
        for units in [*self.parts, self.current]:
            for (_, sku), q in units.items():
                placed[sku] += q
        return {s: q - placed[s] for s, q in self.need.items() if q > placed[s]}


def _orders(day: Day) -> list[_Order]:
    out = []
    for k, (minute, country, wanted) in enumerate(day.orders):
        rates = {
            ref: ShippingCost(*rate(lat, lon, country)) for ref, (lat, lon, _) in day.sites.items()
        }
        out.append(_Order(f"DAY-{k:05d}", minute, country, dict(wanted), rates))
    return out


def route_alone(day: Day, order: _Order, free: Mapping[Cell, int]) -> dict[Cell, int]:
    """What the worker's routing does with an order: fewest_splits over the free stock."""
    want = order.open()
    if not want:
        return {}
    candidates = [
        Candidate(
            location_id=ref,
            lat=lat,
            lon=lon,
            available={s: free.get((ref, s), 0) for s in want if free.get((ref, s), 0) > 0},
            shipping=order.rates[ref],
        )
        for ref, (lat, lon, _) in sorted(day.sites.items())
    ]
    lat, lon = COUNTRIES[order.country]
    result = fewest_splits(
        [RoutingItem(s, q) for s, q in sorted(want.items())],
        candidates,
        Destination(lat, lon),
        RoutingPolicy(max_splits=MAX_SPLITS, allow_partial=True),
    )
    return {(a.location_id, a.sku): a.quantity for a in result.allocations if a.quantity > 0}


@dataclass(frozen=True)
class Lookahead:
    """Expected demand for the runs (`plan_batch`'s `expected`): orders of `days` other days
    of the same shop (routing_day.history: the day's catalogue, other seeds, never the
    replayed day's orders) whose time of day falls in the `horizon` minutes after the run,
    at most `samples` of them drawn at random, each weighted by the expected number of such
    orders it stands for, times `scale`; with `min_lines` 2 only multi-line orders."""

    history: tuple[tuple[float, str, dict[str, int]], ...]
    days: int
    horizon: float
    samples: int
    scale: float = 1.0
    min_lines: int = 1
    seed: int = 0

    def expected(self, day: Day, now: float, run: int) -> list[ExpectedGroup]:
        window = [
            (country, wanted)
            for minute, country, wanted in self.history
            if now <= minute < now + self.horizon and len(wanted) >= self.min_lines
        ]
        if not window:
            return []
        rng = random.Random(self.seed * 100_003 + run)
        drawn = rng.sample(window, self.samples) if len(window) > self.samples else window
        weight = self.scale * len(window) / (self.days * len(drawn))
        out = []
        for k, (country, wanted) in enumerate(drawn):
            rates = {
                ref: ShippingCost(*rate(lat, lon, country))
                for ref, (lat, lon, _) in day.sites.items()
            }
            out.append(ExpectedGroup(f"EXP-{k:05d}", dict(wanted), rates, MAX_SPLITS + 1, weight))
        return out


def _take(free: dict[Cell, int], units: Mapping[Cell, int], sign: int = -1) -> None:
    for cell, q in units.items():
        free[cell] = free.get(cell, 0) + sign * q
        assert free[cell] >= 0, cell


def _batch_group(o: _Order) -> BatchGroup:
    """As routing runs weigh a group: its open units plus what it holds movably."""
    need = Counter(o.open())
    for (_, sku), q in o.current.items():
        need[sku] += q
    ships_now = len({loc for loc, _ in o.current})
    return BatchGroup(
        key=o.key,
        need=dict(need),
        current=dict(o.current),
        rates=o.rates,
        max_locations=max(MAX_SPLITS + 1, ships_now),
    )


def figures(orders: Sequence[_Order]) -> dict[str, int]:
    placed = shipments = cost = 0
    for o in orders:
        parts = [p for p in [*o.parts, o.current] if p]
        if not parts:
            continue
        placed += 1
        for p in parts:
            locs = {loc for loc, _ in p}
            shipments += len(locs)
            cost += sum(o.rates[loc].per_shipment for loc in locs)
            cost += sum(o.rates[loc].per_unit * q for (loc, _), q in p.items())
    return {
        "orders": len(orders),
        "orders_placed": placed,
        "shipments": shipments,
        "extra_shipments": shipments - placed,
        "cost": cost,
    }


def replay(
    day: Day,
    *,
    runs: bool,
    run_every: float,
    schedule: Sequence[tuple[float, float]],
    budget_ms: int,
    exact_every: int = 0,
    exact_ms: int = 30000,
    lookahead: Lookahead | None = None,
) -> tuple[dict[str, Any], list[_Order]]:
    orders = _orders(day)
    free = dict(day.stock)
    waiting: list[_Order] = []  # not released
    solve_ms: list[float] = []
    gaps: list[tuple[int, int, int, str]] = []  # (now, plan, whole window) shipments, status
    moved = 0
    next_run = run_every
    plan = list(schedule)  # (minute, captured before) of each release

    def release(before: float) -> None:
        nonlocal waiting
        for o in waiting:
            if o.minute < before and o.current:
                o.parts.append(o.current)
                o.current = {}
        waiting = [o for o in waiting if o.minute >= before]

    phantoms: list[int] = []

    def run() -> None:
        nonlocal moved
        expected = lookahead.expected(day, next_run, len(solve_ms)) if lookahead else []
        phantoms.append(len(expected))
        keys = {o.key for o in waiting}
        scope = [o for o in waiting if o.current or o.open()]
        scope += [o for o in seen if o.key not in keys and o.open()]
        groups = [_batch_group(o) for o in scope]
        pool = dict(free)
        for o in scope:
            for cell, q in o.current.items():
                pool[cell] = pool.get(cell, 0) + q
        started = time.perf_counter()
        plan = plan_batch(
            groups, pool, time_budget_ms=budget_ms, clock=time.perf_counter, expected=expected
        )
        solve_ms.append((time.perf_counter() - started) * 1000)
        if exact_every and len(solve_ms) % exact_every == 0 and groups:
            exact = plan_batch(groups, pool, time_budget_ms=exact_ms, whole_limit=10**9)
            gaps.append(
                (
                    sum(p.current_shipments for p in plan.groups),
                    sum(p.shipments for p in plan.groups),
                    sum(p.shipments for p in exact.groups),
                    exact.status,
                )
            )
        changed = [(o, p) for o, p in zip(scope, plan.groups, strict=True) if p.changed]
        for o, _ in changed:  # all given back first: the plan may swap units
            _take(free, o.current, +1)
        for o, p in changed:
            moved += 1
            o.current = dict(p.units)
            if o.key not in keys:  # a released order's remainder: a new placement
                waiting.append(o)
            _take(free, o.current)

    def tick(minute: float) -> None:
        nonlocal next_run
        while True:
            at = min(next_run if runs else math.inf, plan[0][0] if plan else math.inf)
            if at > minute:
                return
            if runs and next_run <= at:
                run()
                next_run += run_every
            else:
                release(plan.pop(0)[1])

    seen: list[_Order] = []
    for o in orders:
        tick(o.minute)
        seen.append(o)
        o.current = route_alone(day, o, free)
        _take(free, o.current)
        waiting.append(o)
    tick(plan[-1][0])
    release(math.inf)
    out: dict[str, Any] = figures(orders)
    if runs:
        out["runs"] = len(solve_ms)
        out["groups_moved"] = moved
        out["solve_ms_median"] = round(statistics.median(solve_ms)) if solve_ms else 0
        out["solve_ms_max"] = round(max(solve_ms, default=0))
        if lookahead:
            out["expected_groups_mean"] = round(statistics.mean(phantoms or [0]), 1)
    if gaps:
        out["window_checks"] = len(gaps)
        out["window_saved_by_plan"] = sum(now - plan for now, plan, _, _ in gaps)
        out["window_saved_by_whole_model"] = sum(now - whole for now, _, whole, _ in gaps)
        out["window_whole_statuses"] = dict(Counter(status for *_, status in gaps))
    return out, orders


def hindsight(day: Day, alone: Sequence[_Order], budget_ms: int) -> dict[str, Any]:
    """The whole day at once, from one-at-a-time's placements (module doc)."""
    groups = []
    for o in alone:
        current: dict[Cell, int] = defaultdict(int)
        for p in [*o.parts, o.current]:
            for cell, q in p.items():
                current[cell] += q
        groups.append(BatchGroup(o.key, dict(o.need), dict(current), o.rates, MAX_SPLITS + 1))
    started = time.perf_counter()
    plan = plan_batch(groups, dict(day.stock), time_budget_ms=budget_ms)
    ms = round((time.perf_counter() - started) * 1000)
    placed = sum(1 for p in plan.groups if p.placed)
    shipments = sum(p.shipments for p in plan.groups)
    return {
        "orders_placed": placed,
        "shipments": shipments,
        "extra_shipments": shipments - placed,
        "cost": sum(p.cost for p in plan.groups),
        "solve_ms": ms,
        "status": plan.status,
    }


def structural(day: Day) -> int:
    """Orders no single location holds every SKU of at the start of the day."""
    at: dict[str, set[str]] = defaultdict(set)
    for (loc, sku), q in day.stock.items():
        if q > 0:
            at[loc].add(sku)
    return sum(1 for _, _, wanted in day.orders if not any(set(wanted) <= s for s in at.values()))

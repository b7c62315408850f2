"""What a batch routing problem is made of: the groups, the stock pool, the plans and their
figures, the checks a plan must pass (stock never exceeded, every promise kept), and routing
one group alone (the fewest locations, then the least cost)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from openoms.domain.routing import fewest as fs
from openoms.domain.routing.model import (
    Candidate,
    RoutingInputInvalid,
    RoutingItem,
    ShippingCost,
    prepare,
)

Cell = tuple[str, str]  # (location id, SKU)


@dataclass(frozen=True, slots=True)
class BatchGroup:
    """One delivery group to place. `need`: SKU → units to place (those placed now
    included). `current`: (location, SKU) → units placed there now, part of `need`, and held
    there (so they count in the pool's stock). `rates`: location → shipping cost to this
    group, for every location it may ship from."""

    key: str
    need: Mapping[str, int]
    current: Mapping[Cell, int]
    rates: Mapping[str, ShippingCost]
    max_locations: int
    allow_partial: bool = True


@dataclass(frozen=True, slots=True)
class ExpectedGroup:
    """Demand the run expects before the stock it shares out is replenished: a group like
    the channel's past ones, that may arrive. `weight`: how many such groups are expected
    (a probability, or a count when one sample stands for several). It bids for stock in the
    plan and is given none: it has no promise, holds nothing, and its plan is dropped."""

    key: str
    need: Mapping[str, int]
    rates: Mapping[str, ShippingCost]
    max_locations: int
    weight: float


@dataclass(frozen=True, slots=True)
class GroupPlan:
    """Where one group's units go, and its figures now and in the plan."""

    key: str
    units: Mapping[Cell, int]
    placed: int
    shipments: int
    cost: int
    current_placed: int
    current_shipments: int
    current_cost: int

    current: Mapping[Cell, int] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        """Whether the plan moves any unit of the group."""
        return dict(self.units) != dict(self.current)


@dataclass(frozen=True, slots=True)
class BatchPlan:
    groups: tuple[GroupPlan, ...]
    status: str  # optimal | time_limit | fallback
    reason: str
    components: int = 0
    solved: int = 0  # components handed to the solver
    variables: int = 0
    expected: int = 0  # expected groups that bid for stock


@dataclass(frozen=True, slots=True)
class Totals:
    groups: int
    placed: int
    shipments: int
    splits: int  # shipments beyond the first of each group that ships
    cost: int


def totals(
    plans: Sequence[Mapping[Cell, int]], rates: Sequence[Mapping[str, ShippingCost]]
) -> Totals:
    placed = shipments = splits = cost = 0
    for units, rate in zip(plans, rates, strict=True):
        used = {loc for (loc, _), q in units.items() if q > 0}
        placed += sum(units.values())
        shipments += len(used)
        splits += max(0, len(used) - 1)
        cost += assignment_cost(units, rate)
    return Totals(len(plans), placed, shipments, splits, cost)


def assignment_cost(units: Mapping[Cell, int], rates: Mapping[str, ShippingCost]) -> int:
    used = {loc for (loc, _), q in units.items() if q > 0}
    return sum(rates[loc].per_shipment for loc in used) + sum(
        rates[loc].per_unit * q for (loc, _), q in units.items() if q > 0
    )


def check(groups: Sequence[BatchGroup], stock: Mapping[Cell, int]) -> None:
    seen: set[str] = set()
    for g in groups:
        if g.key in seen:
            raise RoutingInputInvalid(f"group {g.key} listed twice", field="groups")
        seen.add(g.key)
        if g.max_locations < 1:
            raise RoutingInputInvalid("max_locations must be at least 1", field="max_locations")
        for sku, q in g.need.items():
            if q < 0:
                raise RoutingInputInvalid(f"need of {sku} cannot be negative", field="need")
        placed: dict[str, int] = defaultdict(int)
        for (loc, sku), q in g.current.items():
            if q < 0 or loc not in g.rates:
                raise RoutingInputInvalid(
                    f"group {g.key} is placed at {loc}, which it may not ship from",
                    field="current",
                )
            placed[sku] += q
        if any(q > g.need.get(sku, 0) for sku, q in placed.items()):
            raise RoutingInputInvalid(
                f"group {g.key} has more placed than it needs", field="current"
            )
    held: dict[Cell, int] = defaultdict(int)
    for g in groups:
        for cell, q in g.current.items():
            held[cell] += q
    for cell, q in held.items():
        if stock.get(cell, 0) < q:
            raise RoutingInputInvalid(
                f"stock of {cell[1]} at {cell[0]} is less than the groups hold there",
                field="stock",
            )


@dataclass(slots=True)
class Instance:
    """The groups to plan, then the expected groups (indices from `real` on: no promise,
    each weighted), over one pool of stock."""

    groups: list[BatchGroup]
    stock: Mapping[Cell, int]
    cells: list[list[Cell]] = field(default_factory=list)  # per group: usable cells
    contested: set[Cell] = field(default_factory=set)
    weights: list[float] = field(default_factory=list)  # per group; 1 for a real one
    real: int = -1  # groups before this index are real; -1: all

    def __post_init__(self) -> None:
        if self.real < 0:
            self.real = len(self.groups)
        if not self.weights:
            self.weights = [1.0] * len(self.groups)

    def expected(self, gi: int) -> bool:
        return gi >= self.real


def check_expected(groups: Sequence[BatchGroup], expected: Sequence[ExpectedGroup]) -> None:
    keys = {g.key for g in groups}
    for e in expected:
        if e.key in keys:
            raise RoutingInputInvalid(f"group {e.key} listed twice", field="expected")
        keys.add(e.key)
        if not 0 < e.weight < math.inf:
            raise RoutingInputInvalid(
                f"expected group {e.key} needs a positive weight", field="expected"
            )
        if e.max_locations < 1 or any(q < 0 for q in e.need.values()):
            raise RoutingInputInvalid(
                f"expected group {e.key} needs at least 1 location and no negative need",
                field="expected",
            )


def as_group(e: ExpectedGroup) -> BatchGroup:
    return BatchGroup(e.key, e.need, {}, e.rates, e.max_locations)


def usable(g: BatchGroup, stock: Mapping[Cell, int]) -> list[Cell]:
    return [
        (loc, sku)
        for loc in sorted(g.rates)
        for sku in sorted(g.need)
        if g.need[sku] > 0 and stock.get((loc, sku), 0) > 0
    ]


def contested(inst: Instance) -> set[Cell]:
    asked: dict[Cell, int] = defaultdict(int)
    for g, cells in zip(inst.groups, inst.cells, strict=True):
        for cell in cells:
            asked[cell] += g.need[cell[1]]
    return {cell for cell, q in asked.items() if q > inst.stock.get(cell, 0)}


def alone(g: BatchGroup, stock: Mapping[Cell, int]) -> dict[Cell, int] | None:
    """The cheapest complete route with the fewest locations for a group that competes
    for no stock, or None when no complete route exists."""
    items = [RoutingItem(s, q) for s, q in sorted(g.need.items()) if q > 0]
    if not items:
        return {}
    candidates = [
        Candidate(
            location_id=loc,
            lat=None,
            lon=None,
            available={s: stock.get((loc, s), 0) for s in g.need if stock.get((loc, s), 0) > 0},
            shipping=rate,
        )
        for loc, rate in sorted(g.rates.items())
    ]
    problem = prepare(items, candidates, None)
    cover = fs.best_cover(problem, g.max_locations, by_cost=True)
    if cover is None:
        return None
    return {
        (problem.locations[i].location_id, problem.skus[j]): q
        for (i, j), q in problem.fill(cover).items()
        if q > 0
    }


def better_or_equal(g: BatchGroup, units: Mapping[Cell, int]) -> bool:
    """The promise (module doc): no fewer units; no more shipments unless more units."""
    placed, now = sum(units.values()), sum(g.current.values())
    ships = len({loc for (loc, _), q in units.items() if q > 0})
    ships_now = len({loc for (loc, _), q in g.current.items() if q > 0})
    if placed < now or ships > g.max_locations:
        return False
    total = sum(g.need.values())
    if not g.allow_partial and placed not in (0, total):
        return False
    return placed > now or ships <= ships_now


def valid(inst: Instance, plan: Mapping[int, Mapping[Cell, int]]) -> bool:
    """Stock never exceeded, no SKU over its need, no group over its limit, every promise."""
    used: dict[Cell, int] = defaultdict(int)
    for gi, units in plan.items():
        g = inst.groups[gi]
        got: dict[str, int] = defaultdict(int)
        for (loc, sku), q in units.items():
            if q < 0 or loc not in g.rates:
                return False
            got[sku] += q
            used[loc, sku] += q
        if any(q > g.need.get(sku, 0) for sku, q in got.items()):
            return False
        if not better_or_equal(g, units):
            return False
    return all(q <= inst.stock.get(cell, 0) for cell, q in used.items())


def group_plan(g: BatchGroup, units: Mapping[Cell, int]) -> GroupPlan:
    kept = {cell: q for cell, q in sorted(units.items()) if q > 0}
    current = {cell: q for cell, q in g.current.items() if q > 0}
    return GroupPlan(
        key=g.key,
        units=kept,
        placed=sum(kept.values()),
        shipments=len({loc for loc, _ in kept}),
        cost=assignment_cost(kept, g.rates),
        current_placed=sum(current.values()),
        current_shipments=len({loc for loc, _ in current}),
        current_cost=assignment_cost(current, g.rates),
        current=current,
    )


def one_at_a_time(groups: Sequence[BatchGroup], stock: Mapping[Cell, int]) -> list[dict[Cell, int]]:
    """What routing each group on its own, in the order given, would do from scratch over
    the same pool: the cheapest route with the fewest locations, else nothing (the
    comparison a run's savings are stated against)."""
    left = dict(stock)
    out: list[dict[Cell, int]] = []
    for g in groups:
        best = alone(g, left) or {}
        for cell, q in best.items():
            left[cell] -= q
        out.append(best)
    return out

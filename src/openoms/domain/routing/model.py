"""Routing values (DESIGN.md §6): what goes in, what comes out, and the prepared instance
every strategy works on. Pure: no session, no clock, no network.

Distances are kept as whole metres so that sums compare exactly; money is integer minor
units; a location's usable stock for a SKU is capped at the quantity the group asks for
(more than that never changes a routing decision, and the cap lets equal locations look
equal to the pruning in `fewest_splits`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from openoms.domain.errors import ValidationFailed

EARTH_RADIUS_KM = 6371.0088  # mean Earth radius (IUGG)
# Distance given to a location without coordinates: farther than any two points on Earth,
# so such a location ranks after every located one and an average that includes it is
# never mistaken for a real one.
NO_COORDINATES_M = 100_000_000


class RoutingStrategyUnknown(ValidationFailed):
    code = "routing_strategy_unknown"
    title = "Routing strategy is not known"


class RoutingInputInvalid(ValidationFailed):
    code = "routing_input_invalid"
    title = "Routing input is not valid"


@dataclass(frozen=True, slots=True)
class RoutingItem:
    sku: str
    quantity: int


@dataclass(frozen=True, slots=True)
class ShippingCost:
    """Carrier cost from one location to the destination, integer minor units."""

    per_shipment: int
    per_unit: int


@dataclass(frozen=True, slots=True)
class Candidate:
    """A location that may fulfil the group. `can_ship` is whether it can take this group
    (for a pickup group the caller passes the pickup store as the only, able, candidate).
    A `remaining_capacity` of 0 means the location takes no more work today; None means
    it has no capacity limit."""

    location_id: str
    lat: float | None
    lon: float | None
    available: Mapping[str, int]
    shipping: ShippingCost | None = None
    sla_days: int | None = None
    remaining_capacity: int | None = None
    can_ship: bool = True


@dataclass(frozen=True, slots=True)
class Destination:
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class ScoreWeights:
    """Weights of the `score` strategy; each factor is normalised to 0..1 over the candidates."""

    distance: float = 1.0
    stock_depth: float = 0.5
    shipping_cost: float = 1.0
    sla: float = 0.5
    capacity: float = 0.25


@dataclass(frozen=True, slots=True)
class RoutingPolicy:
    strategy: str = "fewest_splits"
    max_splits: int = 2
    allow_partial: bool = False
    weights: ScoreWeights = field(default_factory=ScoreWeights)
    time_budget_ms: int = 50
    split_penalty: int = 0  # minor units per location beyond the first (`optimal`)
    # `optimal` on a large instance hands the solver at most this many locations (those
    # left after exact pruning, best first); None hands it all of them.
    solver_location_limit: int | None = 120

    def __post_init__(self) -> None:
        if self.max_splits < 0:
            raise RoutingInputInvalid("max_splits cannot be negative", field="max_splits")
        if self.time_budget_ms < 0:
            raise RoutingInputInvalid("time_budget_ms cannot be negative", field="time_budget_ms")
        if self.split_penalty < 0:
            raise RoutingInputInvalid("split_penalty cannot be negative", field="split_penalty")
        if self.solver_location_limit is not None and self.solver_location_limit < 1:
            raise RoutingInputInvalid(
                "solver_location_limit must be at least 1", field="solver_location_limit"
            )


@dataclass(frozen=True, slots=True)
class Allocation:
    location_id: str
    sku: str
    quantity: int


@dataclass(frozen=True, slots=True)
class RoutingResult:
    """What a strategy decided. `strategy` names the strategy whose allocation this is (the
    fallback's name after a fallback; `reason` says why). `cost` is shipping cost plus the
    split penalty in minor units, unknown shipping costs counted at the dearest known rate."""

    allocations: tuple[Allocation, ...]
    locations: tuple[str, ...]
    complete: bool
    shortfall: Mapping[str, int]
    reason: str
    strategy: str
    cost: int = 0


@dataclass(frozen=True, slots=True)
class Route:
    """One way to fulfil the whole group from `locations` (best location first)."""

    locations: tuple[str, ...]
    allocations: tuple[Allocation, ...]
    average_distance_km: float | None
    cost: int


def haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance in km between two (lat, lon) points in degrees."""
    lat1, lon1 = math.radians(a[0]), math.radians(a[1])
    lat2, lon2 = math.radians(b[0]), math.radians(b[1])
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


@dataclass(slots=True)
class Problem:
    """One routing instance, prepared once and shared by the strategies.

    Only locations that are able (can_ship, capacity left) and hold some needed stock are
    kept, indexed in preference order: nearest first, then cheapest shipment, cheapest
    unit, location id. Bitsets over these indexes drive the `fewest_splits` search.
    """

    skus: tuple[str, ...]
    req: tuple[int, ...]
    locations: list[Candidate]
    dist: list[int]  # metres to the destination (0 without a destination)
    ship: list[int]  # per shipment, minor units
    unit: list[int]  # per unit, minor units
    caps: list[dict[int, int]]  # sku index -> min(available, requested), positive only
    masks: list[int]  # bit j set when the location holds some of sku j
    depth: list[int]  # units available of the needed SKUs, uncapped
    holders: list[list[tuple[int, int]]]  # per SKU: (capped quantity, location index)
    full: int  # bitset: locations that alone hold the whole group
    has_destination: bool
    no_coordinates: tuple[str, ...]  # kept locations without coordinates
    unable: int  # candidates left out: cannot ship or no capacity left
    unknown_cost: tuple[str, ...]  # kept locations whose shipping cost is unknown
    index_of: dict[str, int] = field(default_factory=dict)

    @property
    def total_units(self) -> int:
        return sum(self.req)

    def key_of(self, members: Sequence[int]) -> tuple[int, int]:
        """(sum of distances, cost) of fulfilling the group from these locations."""
        return sum(self.dist[i] for i in members), self.cost_of(members)

    def fill(self, members: Sequence[int]) -> dict[tuple[int, int], int]:
        """The cheapest split of every SKU over `members` (cheapest unit first, then
        preference order); assumes the members can cover the group."""
        out: dict[tuple[int, int], int] = {}
        order = sorted(members, key=lambda i: (self.unit[i], i))
        for j, need in enumerate(self.req):
            for i in order:
                if need == 0:
                    break
                take = min(self.caps[i].get(j, 0), need)
                if take:
                    out[i, j] = take
                    need -= take
        return out

    def cost_of(self, members: Sequence[int]) -> int:
        units = self.fill(members)
        shipping = sum(self.ship[i] for i in members)
        return shipping + sum(self.unit[i] * q for (i, _), q in units.items())

    def allocations(
        self, units: Mapping[tuple[int, int], int], order: Sequence[int] | None = None
    ) -> tuple[Allocation, ...]:
        """Allocations grouped by location (in `order`, default preference order), then SKU."""
        rank = {i: r for r, i in enumerate(order)} if order is not None else {}
        return tuple(
            Allocation(self.locations[i].location_id, self.skus[j], q)
            for (i, j), q in sorted(
                units.items(), key=lambda kv: (rank.get(kv[0][0], kv[0][0]), kv[0][1])
            )
            if q > 0
        )

    def allocation_cost(self, units: Mapping[tuple[int, int], int], split_penalty: int) -> int:
        used = {i for (i, _), q in units.items() if q > 0}
        if not used:
            return 0
        shipping = sum(self.ship[i] for i in used)
        per_unit = sum(self.unit[i] * q for (i, _), q in units.items())
        return shipping + per_unit + split_penalty * (len(used) - 1)

    def shortfall(self, units: Mapping[tuple[int, int], int]) -> dict[str, int]:
        got = [0] * len(self.skus)
        for (_, j), q in units.items():
            got[j] += q
        return {sku: r - g for sku, r, g in zip(self.skus, self.req, got, strict=True) if r > g}

    def average_distance_km(self, members: Sequence[int]) -> float | None:
        if not self.has_destination or not members:
            return None
        if any(self.dist[i] >= NO_COORDINATES_M for i in members):
            return None
        return round(sum(self.dist[i] for i in members) / len(members) / 1000, 1)

    def notes(self) -> list[str]:
        out: list[str] = []
        if self.unable:
            out.append(f"{self.unable} location(s) unable to ship or at capacity were skipped")
        if self.unknown_cost:
            out.append(
                f"shipping cost unknown for {len(self.unknown_cost)} location(s), counted at "
                "the dearest known rate"
            )
        return out


def merge_items(items: Sequence[RoutingItem]) -> dict[str, int]:
    """Requested units per SKU; two lines of one SKU in a group route as one."""
    wanted: dict[str, int] = {}
    for item in items:
        if isinstance(item.quantity, bool) or not isinstance(item.quantity, int):
            raise RoutingInputInvalid(f"quantity of {item.sku} must be an integer", field="items")
        if item.quantity <= 0:
            raise RoutingInputInvalid(
                f"quantity of {item.sku} must be positive, got {item.quantity}", field="items"
            )
        wanted[item.sku] = wanted.get(item.sku, 0) + item.quantity
    return wanted


def _distance_m(candidate: Candidate, destination: Destination | None) -> int:
    if destination is None:
        return 0
    if candidate.lat is None or candidate.lon is None:
        return NO_COORDINATES_M
    km = haversine_km((destination.lat, destination.lon), (candidate.lat, candidate.lon))
    return round(km * 1000)


def _check_destination(destination: Destination | None) -> None:
    if destination is None:
        return
    if not (-90 <= destination.lat <= 90 and -180 <= destination.lon <= 180):
        raise RoutingInputInvalid("destination coordinates are out of range", field="destination")


def _distances_m(rows: Sequence[Candidate], destination: Destination | None) -> list[int]:
    if destination is None:
        return [0] * len(rows)
    if len(rows) < 32:
        return [_distance_m(c, destination) for c in rows]
    # Vectorised haversine: the same formula as haversine_km, one numpy pass.
    located = [c.lat is not None and c.lon is not None for c in rows]
    lat = np.radians(np.array([c.lat if ok else 0.0 for c, ok in zip(rows, located, strict=True)]))
    lon = np.radians(np.array([c.lon if ok else 0.0 for c, ok in zip(rows, located, strict=True)]))
    lat0, lon0 = math.radians(destination.lat), math.radians(destination.lon)
    h = np.sin((lat - lat0) / 2) ** 2 + math.cos(lat0) * np.cos(lat) * np.sin((lon - lon0) / 2) ** 2
    km = 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(1.0, np.sqrt(h)))
    metres = np.rint(km * 1000).astype(np.int64).tolist()
    return [m if ok else NO_COORDINATES_M for m, ok in zip(metres, located, strict=True)]


def _stock_rows(
    candidates: Sequence[Candidate], skus: Sequence[str], req: Sequence[int]
) -> tuple[list[Candidate], list[tuple[dict[int, int], int, int, bool]], int]:
    """The able candidates holding some needed stock, each with (capped stock per SKU index,
    SKU bitmask, uncapped units, holds everything); and how many were unable."""
    m = len(skus)
    sku_index = {s: j for j, s in enumerate(skus)}
    unable = 0
    kept: list[Candidate] = []
    rows: list[tuple[dict[int, int], int, int, bool]] = []
    for cand in candidates:
        if not cand.can_ship or (
            cand.remaining_capacity is not None and cand.remaining_capacity <= 0
        ):
            unable += 1
            continue
        available = cand.available
        caps: dict[int, int] = {}
        mask = depth = full = 0
        # Walk whichever is shorter: the location's stock list or the group's SKUs.
        if len(available) < m:
            for s, a in available.items():
                j = sku_index.get(s, -1)
                if j >= 0 and a > 0:
                    r = req[j]
                    caps[j] = a if a < r else r
                    mask |= 1 << j
                    depth += a
                    full += a >= r
        else:
            get = available.get
            for j, s in enumerate(skus):
                a = get(s, 0)
                if a > 0:
                    r = req[j]
                    caps[j] = a if a < r else r
                    mask |= 1 << j
                    depth += a
                    full += a >= r
        if mask:
            kept.append(cand)
            rows.append((caps, mask, depth, full == m))
    return kept, rows, unable


def prepare(
    items: Sequence[RoutingItem],
    candidates: Sequence[Candidate],
    destination: Destination | None,
) -> Problem:
    wanted = merge_items(items)
    _check_destination(destination)
    ids = [c.location_id for c in candidates]
    if len(set(ids)) != len(ids):
        twice = sorted(i for i, n in Counter(ids).items() if n > 1)
        raise RoutingInputInvalid(
            f"location(s) listed twice: {', '.join(twice)}", field="candidates"
        )
    skus = tuple(sorted(wanted))
    req = tuple(wanted[s] for s in skus)
    kept, rows, unable = _stock_rows(candidates, skus, req)
    known = [c.shipping for c in kept if c.shipping is not None]
    worst = ShippingCost(
        max((s.per_shipment for s in known), default=0), max((s.per_unit for s in known), default=0)
    )
    dist = _distances_m(kept, destination)
    rates = [worst if c.shipping is None else c.shipping for c in kept]
    order = sorted(
        range(len(kept)),
        key=lambda k: (dist[k], rates[k].per_shipment, rates[k].per_unit, kept[k].location_id),
    )
    locations = [kept[k] for k in order]
    holders: list[list[tuple[int, int]]] = [[] for _ in skus]
    full_bits = 0
    for i, k in enumerate(order):
        for j, c in rows[k][0].items():
            holders[j].append((c, i))
        if rows[k][3]:
            full_bits |= 1 << i
    return Problem(
        skus=skus,
        req=req,
        locations=locations,
        dist=[dist[k] for k in order],
        ship=[rates[k].per_shipment for k in order],
        unit=[rates[k].per_unit for k in order],
        caps=[rows[k][0] for k in order],
        masks=[rows[k][1] for k in order],
        depth=[rows[k][2] for k in order],
        holders=holders,
        full=full_bits,
        has_destination=destination is not None,
        no_coordinates=tuple(c.location_id for c in locations if c.lat is None or c.lon is None),
        unable=unable,
        unknown_cost=tuple(c.location_id for c in locations if c.shipping is None),
        index_of={c.location_id: i for i, c in enumerate(locations)},
    )


def result(
    problem: Problem,
    units: Mapping[tuple[int, int], int],
    *,
    strategy: str,
    reason: str,
    split_penalty: int,
    order: Sequence[int] | None = None,
) -> RoutingResult:
    """Build a result; `order` gives the order of the used locations (default: preference)."""
    used = {i for (i, _), q in units.items() if q > 0}
    ranked = [i for i in order if i in used] if order is not None else sorted(used)
    shortfall = problem.shortfall(units)
    notes = [reason, *problem.notes()]
    return RoutingResult(
        allocations=problem.allocations(units, ranked),
        locations=tuple(problem.locations[i].location_id for i in ranked),
        complete=not shortfall,
        shortfall=shortfall,
        reason="; ".join(n for n in notes if n),
        strategy=strategy,
        cost=problem.allocation_cost(units, split_penalty),
    )

"""Batch routing: place many delivery groups together over shared stock (docs/routing-runs.md).

A routing run hands this module every delivery group in its scope, each with the units it
has to place, where those units are placed now, the locations it may ship from (with their
shipping cost to it) and its channel's limit on locations. Stock is one pool: each
location's free stock plus what the run's groups hold there now. The plan places every
group at once so that, in this order of importance:

1. as many units as possible are placed (a waiting group is worth placing);
2. as few shipments as possible are made (a shipment is a location used by a group);
3. shipping cost is least (per shipment plus per unit, integer minor units).

The weights make the order strict per group: one unit placed outweighs any one group's
shipments and cost, one shipment outweighs any one group's cost. A trade across many
groups (one shipment saved at the price of several groups each paying a little more) is
weighed by these sums.

**The promise.** No group is made worse than it is now. A group's promise is the units it
has placed and the shipments they go in: the plan gives it at least as many units placed,
and when it gets no more units, no more shipments. A group placed in full stays in full
with no more shipments than now. A group on a channel that refuses partial orders is
placed in full or not at all.

**The model.** A mixed-integer programme solved by HiGHS: x[g,l,s] units of SKU s of group
g from location l, y[g,l] = 1 when g uses l (x <= min(need, stock) * y), sum_l y <= the
group's max locations, sum_g x[g,l,s] <= stock[l,s], and the promise rows. Only
*contested* stock rows are written: a (location, SKU) whose stock is less than what the
groups that may use it ask for. Groups that share no contested row cannot affect each other,
so the run splits into independent components (union-find over contested rows) and each
is solved alone; a group in no contested row gets its best route exactly without the
solver (the cheapest route with the fewest locations, fewest_splits' search by cost).

**The time budget and the fallback.** The budget is shared among the components in
proportion to their size, and is each solve's `time_limit`. HiGHS starts from the current
assignment (always feasible: it is what the stock holds now). On timeout it returns the
best plan it found, which is never worse than the current assignment; if it found none, or
errs, or its answer fails the checks (stock never exceeded, every promise kept), the
component keeps its current assignment. `status` says which happened. The domain reads no
clock: the caller measures the time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import highspy
import numpy as np

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


def _check(groups: Sequence[BatchGroup], stock: Mapping[Cell, int]) -> None:
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
class _Instance:
    groups: list[BatchGroup]
    stock: Mapping[Cell, int]
    cells: list[list[Cell]] = field(default_factory=list)  # per group: usable cells
    contested: set[Cell] = field(default_factory=set)


def _usable(g: BatchGroup, stock: Mapping[Cell, int]) -> list[Cell]:
    return [
        (loc, sku)
        for loc in sorted(g.rates)
        for sku in sorted(g.need)
        if g.need[sku] > 0 and stock.get((loc, sku), 0) > 0
    ]


def _contested(inst: _Instance) -> set[Cell]:
    asked: dict[Cell, int] = defaultdict(int)
    for g, cells in zip(inst.groups, inst.cells, strict=True):
        for cell in cells:
            asked[cell] += g.need[cell[1]]
    return {cell for cell, q in asked.items() if q > inst.stock.get(cell, 0)}


def _components(inst: _Instance) -> list[list[int]]:
    parent = list(range(len(inst.groups)))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    owner: dict[Cell, int] = {}
    for gi, cells in enumerate(inst.cells):
        for cell in cells:
            if cell in inst.contested:
                other = owner.setdefault(cell, gi)
                ra, rb = find(other), find(gi)
                if ra != rb:
                    parent[ra] = rb
    comps: dict[int, list[int]] = defaultdict(list)
    for gi in range(len(inst.groups)):
        comps[find(gi)].append(gi)
    return sorted(comps.values(), key=lambda c: c[0])


def _alone(g: BatchGroup, stock: Mapping[Cell, int]) -> dict[Cell, int] | None:
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


def _better_or_equal(g: BatchGroup, units: Mapping[Cell, int]) -> bool:
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


def _weights(groups: Sequence[BatchGroup]) -> tuple[int, int]:
    """(per shipment, per unit placed) weights that make the objective's order strict per
    group (module doc)."""
    ship_max = max((r.per_shipment for g in groups for r in g.rates.values()), default=0)
    unit_max = max((r.per_unit for g in groups for r in g.rates.values()), default=0)
    biggest = max((sum(g.need.values()) for g in groups), default=0)
    most = max((g.max_locations for g in groups), default=1)
    per_shipment = ship_max * most + unit_max * biggest + 1  # more than any group's cost
    per_unit = per_shipment + ship_max + unit_max + 1
    return per_shipment, per_unit


class _Model:
    """One component's MIP, column-wise (see module doc)."""

    def __init__(self, inst: _Instance, members: Sequence[int]) -> None:
        self.inst = inst
        self.members = list(members)
        groups = [inst.groups[gi] for gi in members]
        self.ship_w, self.unit_w = _weights(groups)
        self.gap = max(0.999, self.ship_w / 2)
        self.xs: list[tuple[int, Cell, int]] = []  # (group index, cell, upper bound)
        self.ys: list[tuple[int, str]] = []
        self.ws: list[int] = []  # groups with a "more units" switch
        self.zs: list[int] = []  # all-or-nothing groups
        for gi in self.members:
            g = inst.groups[gi]
            locs: set[str] = set()
            for cell in inst.cells[gi]:
                cap = min(g.need[cell[1]], inst.stock.get(cell, 0))
                self.xs.append((gi, cell, cap))
                locs.add(cell[0])
            self.ys += [(gi, loc) for loc in sorted(locs)]
            total, now = sum(g.need.values()), sum(g.current.values())
            if now < total:
                self.ws.append(gi)
            if not g.allow_partial:
                self.zs.append(gi)

    @property
    def size(self) -> int:
        return len(self.xs) + len(self.ys)

    def solve(self, budget_ms: int) -> tuple[str, dict[int, dict[Cell, int]] | None]:
        inst = self.inst
        nx, ny, nw = len(self.xs), len(self.ys), len(self.ws)
        ncol = nx + ny + nw + len(self.zs)
        y_at = {key: nx + k for k, key in enumerate(self.ys)}
        w_at = {gi: nx + ny + k for k, gi in enumerate(self.ws)}
        z_at = {gi: nx + ny + nw + k for k, gi in enumerate(self.zs)}
        cost = np.zeros(ncol)
        upper = np.ones(ncol)
        wants_more = set(self.ws)
        for t, (gi, (loc, _), cap) in enumerate(self.xs):
            # A group placed in full now stays so (its promise row): no reward needed.
            reward = self.unit_w if gi in wants_more else 0
            cost[t] = inst.groups[gi].rates[loc].per_unit - reward
            upper[t] = cap
        staying = [
            col
            for (gi, loc), col in y_at.items()
            if any(c[0] == loc for c in inst.groups[gi].current)
        ]
        for (gi, loc), col in y_at.items():
            cost[col] = self.ship_w + inst.groups[gi].rates[loc].per_shipment
        for col in staying:  # a tie keeps groups where they are; all of it is under 1
            cost[col] -= STAY / (len(staying) + 1)
        rows: list[tuple[dict[int, float], float, float]] = []
        inf = highspy.kHighsInf
        x_of: dict[int, list[int]] = defaultdict(list)
        cell_rows: dict[Cell, dict[int, float]] = defaultdict(dict)
        for t, (gi, cell, cap) in enumerate(self.xs):
            x_of[gi].append(t)
            rows.append(({t: 1.0, y_at[gi, cell[0]]: -float(cap)}, -inf, 0.0))  # x <= cap*y
            if cell in inst.contested:
                cell_rows[cell][t] = 1.0
        for cell, coeffs in sorted(cell_rows.items()):
            rows.append((coeffs, -inf, float(inst.stock[cell])))
        for gi in self.members:
            self._group_rows(gi, rows, x_of[gi], y_at, w_at, z_at)
        return self._run(rows, cost, upper, budget_ms)

    def _group_rows(
        self,
        gi: int,
        rows: list[tuple[dict[int, float], float, float]],
        x_cols: list[int],
        y_at: Mapping[tuple[int, str], int],
        w_at: Mapping[int, int],
        z_at: Mapping[int, int],
    ) -> None:
        g = self.inst.groups[gi]
        inf = highspy.kHighsInf
        y_cols = [col for (gj, _), col in y_at.items() if gj == gi]
        by_sku: dict[str, dict[int, float]] = defaultdict(dict)
        for t in x_cols:
            by_sku[self.xs[t][1][1]][t] = 1.0
        for sku, need in sorted(g.need.items()):
            coeffs = dict(by_sku.get(sku, {}))
            if gi in z_at:  # all or nothing: sum_l x = need * z
                coeffs[z_at[gi]] = -float(need)
                rows.append((coeffs, 0.0, 0.0))
            else:
                rows.append((coeffs, -inf, float(need)))
        rows.append(({c: 1.0 for c in y_cols}, -inf, float(g.max_locations)))
        now = float(sum(g.current.values()))
        ships_now = float(len({loc for (loc, _), q in g.current.items() if q > 0}))
        placed = {t: 1.0 for t in x_cols}
        if gi in w_at:  # more units (w = 1), or as many in no more shipments (w = 0)
            w = w_at[gi]
            rows.append(({**placed, w: -1.0}, now, inf))
            rows.append(({**{c: 1.0 for c in y_cols}, w: -float(g.max_locations)}, -inf, ships_now))
        else:
            rows.append((placed, now, inf))
            rows.append(({c: 1.0 for c in y_cols}, -inf, ships_now))

    def _start(self, ncol: int) -> list[float]:
        """The current assignment as a starting solution."""
        inst = self.inst
        values = [0.0] * ncol
        used: set[tuple[int, str]] = set()
        for t, (gi, cell, _) in enumerate(self.xs):
            q = inst.groups[gi].current.get(cell, 0)
            values[t] = float(q)
            if q:
                used.add((gi, cell[0]))
        nx = len(self.xs)
        for k, key in enumerate(self.ys):
            values[nx + k] = 1.0 if key in used else 0.0
        # w = 0 and z = (placed in full) hold for the current assignment.
        for k, gi in enumerate(self.zs):
            g = inst.groups[gi]
            full = sum(g.current.values()) == sum(g.need.values()) and sum(g.need.values()) > 0
            values[nx + len(self.ys) + len(self.ws) + k] = 1.0 if full else 0.0
        return values

    def _run(
        self,
        rows: list[tuple[dict[int, float], float, float]],
        cost: np.ndarray,
        upper: np.ndarray,
        budget_ms: int,
    ) -> tuple[str, dict[int, dict[Cell, int]] | None]:
        ncol = len(cost)
        starts: list[int] = []
        index: list[int] = []
        value: list[float] = []
        for coeffs, _, _ in rows:
            starts.append(len(index))
            for col, v in sorted(coeffs.items()):
                index.append(col)
                value.append(v)
        h = highspy.Highs()  # type: ignore[no-untyped-call]  # highspy leaves __init__ unannotated
        h.setOptionValue("output_flag", False)
        h.setOptionValue("time_limit", max(budget_ms, 1) / 1000)
        h.setOptionValue("mip_rel_gap", 0.0)
        # Proof to within half a shipment: the shipments are exact, the cost nearly so.
        h.setOptionValue("mip_abs_gap", self.gap)
        h.setOptionValue("threads", 1)
        h.passModel(
            ncol,
            len(rows),
            len(index),
            2,  # row-wise matrix
            1,  # minimise
            0.0,
            cost,
            np.zeros(ncol),
            upper,
            np.array([lo for _, lo, _ in rows], dtype=np.float64),
            np.array([hi for _, _, hi in rows], dtype=np.float64),
            np.array(starts, dtype=np.int32),
            np.array(index, dtype=np.int32),
            np.array(value, dtype=np.float64),
            np.ones(ncol, dtype=np.int32),
        )
        start = highspy.HighsSolution()
        start.col_value = self._start(ncol)
        start.value_valid = True
        h.setSolution(start)
        h.run()
        status = h.modelStatusToString(h.getModelStatus())
        if h.getInfo().primal_solution_status != 2:  # 2: a feasible solution is held
            return status, None
        solution = h.getSolution().col_value
        out: dict[int, dict[Cell, int]] = {gi: {} for gi in self.members}
        for t, (gi, cell, _) in enumerate(self.xs):
            q = round(solution[t])
            if q > 0:
                out[gi][cell] = q
        return status, out


def _valid(inst: _Instance, plan: Mapping[int, Mapping[Cell, int]]) -> bool:
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
        if not _better_or_equal(g, units):
            return False
    return all(q <= inst.stock.get(cell, 0) for cell, q in used.items())


WHOLE_LIMIT = 3000  # a component with more columns is improved neighbourhood by neighbourhood
NEIGHBOURHOOD = 20  # groups to improve per neighbourhood
NEIGHBOURHOOD_GROUPS = 200  # at most this many groups freed per neighbourhood
NEIGHBOURHOOD_MS = 400  # the least time a neighbourhood gets: fewer are tried on a short budget
CONSOLIDATION_PASSES = 4
STAY = 0.5  # shared by the locations groups use now: breaks ties (never a real saving)


def plan_batch(
    groups: Sequence[BatchGroup],
    stock: Mapping[Cell, int],
    *,
    time_budget_ms: int,
    whole_limit: int = WHOLE_LIMIT,
) -> BatchPlan:
    """Place every group together (module doc). `stock`: (location, SKU) → free units plus
    the units the groups hold there now. A component of more than `whole_limit` columns is
    improved by consolidation and neighbourhoods instead of solved whole."""
    _check(groups, stock)
    inst = _Instance(list(groups), stock)
    inst.cells = [_usable(g, stock) for g in groups]
    inst.contested = _contested(inst)
    plan: dict[int, dict[Cell, int]] = {gi: dict(g.current) for gi, g in enumerate(groups)}
    comps = _components(inst)
    hard: list[list[int]] = []
    for comp in comps:
        if len(comp) == 1 and not any(c in inst.contested for c in inst.cells[comp[0]]):
            g = groups[comp[0]]
            best = _alone(g, stock)
            if best is not None and _better_or_equal(g, best):
                plan[comp[0]] = best
                continue
        hard.append(comp)
    sizes = [sum(len(inst.cells[gi]) for gi in comp) for comp in hard]
    log = _Log()
    for comp, budget in zip(hard, _share(time_budget_ms, sizes), strict=True):
        if sum(len(inst.cells[gi]) for gi in comp) <= whole_limit:
            log.add(_solve(_Model(inst, comp), budget), plan)
        else:
            log.consolidated += _consolidate(inst, comp, plan)
            _improve(inst, comp, plan, budget, log)
    return BatchPlan(
        groups=tuple(_group_plan(g, plan[gi]) for gi, g in enumerate(groups)),
        status=log.status(),
        reason=log.reason(len(groups), len(comps), len(hard)),
        components=len(comps),
        solved=log.solves,
        variables=log.variables,
    )


@dataclass(slots=True)
class _Log:
    statuses: set[str] = field(default_factory=set)
    notes: set[str] = field(default_factory=set)
    solves: int = 0
    variables: int = 0
    neighbourhoods: int = 0
    consolidated: int = 0

    def add(
        self,
        outcome: tuple[str, dict[int, dict[Cell, int]] | None, str, int],
        plan: dict[int, dict[Cell, int]],
    ) -> None:
        status, found, note, size = outcome
        self.solves += 1
        self.variables += size
        self.statuses.add(status)
        if found is not None:
            plan.update(found)
        elif note:
            self.notes.add(note)

    def status(self) -> str:
        if self.notes:
            return "fallback"
        if self.statuses - {"Optimal"}:
            return "time_limit"
        return "optimal" if not self.neighbourhoods else "improved"

    def reason(self, groups: int, comps: int, hard: int) -> str:
        why = (
            f"{groups} group(s) in {comps} independent component(s); {hard} component(s) "
            f"solved with HiGHS in {self.solves} model(s) ({self.variables} variables), "
            "the rest routed alone"
        )
        if self.consolidated:
            why += f"; {self.consolidated} split group(s) consolidated by moving others' units"
        if self.neighbourhoods:
            why += (
                f"; large components improved from the current assignment in "
                f"{self.neighbourhoods} neighbourhood(s), a local optimum"
            )
        if "Time limit reached" in self.statuses:
            why += "; the time budget ran out in some model(s): best plan found kept"
        if self.notes:
            why += "; " + "; ".join(sorted(self.notes))
        return why


def _improve(
    inst: _Instance, comp: Sequence[int], plan: dict[int, dict[Cell, int]], budget: int, log: _Log
) -> None:
    """Large-neighbourhood search on one big component: each neighbourhood frees a few
    groups that could do better (split, or not placed in full) and the groups holding the
    contested stock they could use; the rest keep their plan, and the freed groups are
    solved exactly over what is left (their current plan is the start, so no step makes
    anything worse)."""
    targets = [gi for gi in comp if _could_improve(inst.groups[gi], plan[gi])]
    chunks = [targets[k : k + NEIGHBOURHOOD] for k in range(0, len(targets), NEIGHBOURHOOD)]
    chunks = chunks[: max(1, budget // NEIGHBOURHOOD_MS)]
    if not targets:
        return
    holders: dict[Cell, set[int]] = defaultdict(set)
    for gi in comp:
        for cell in plan[gi]:
            holders[cell].add(gi)
    for chunk, share in zip(chunks, _share(budget, [1] * len(chunks)), strict=True):
        freed = _neighbourhood(inst, chunk, plan, holders)
        log.neighbourhoods += 1
        sub = _sub_instance(inst, freed, plan)
        outcome = _solve(_Model(sub, list(range(len(freed)))), share)
        status, found, note, size = outcome
        if found is not None:
            found = {freed[k]: units for k, units in found.items()}
            for gi in freed:
                for cell in plan[gi]:
                    holders[cell].discard(gi)
                for cell in found[gi]:
                    holders[cell].add(gi)
        log.add((status, found, note, size), plan)


def _consolidate(inst: _Instance, comp: Sequence[int], plan: dict[int, dict[Cell, int]]) -> int:
    """A fast first pass on a big component: ship each split group from one location,
    when the units it lacks there can be freed by moving other groups' units of those SKUs
    to locations those groups already ship from (so none of them ships more). Every step
    keeps every promise and the stock; returns how many groups were consolidated."""
    free: dict[Cell, int] = dict(inst.stock)
    holders: dict[Cell, set[int]] = defaultdict(set)
    for gi, units in plan.items():
        for cell, q in units.items():
            free[cell] = free.get(cell, 0) - q
            if gi in comp:
                holders[cell].add(gi)
    done = 0
    for _ in range(CONSOLIDATION_PASSES):
        split = [gi for gi in comp if len({loc for loc, _ in plan[gi]}) > 1]
        split.sort(key=lambda gi: (-len({loc for loc, _ in plan[gi]}), gi))
        found = sum(1 for gi in split if _one_location(inst, gi, plan, free, holders))
        done += found
        if not found:
            break
    return done


def _one_location(
    inst: _Instance,
    gi: int,
    plan: dict[int, dict[Cell, int]],
    free: dict[Cell, int],
    holders: dict[Cell, set[int]],
) -> bool:
    """Ship group gi from one location fewer: everything from one location, else the
    units of its smallest location from another location it already uses."""
    g = inst.groups[gi]
    mine = plan[gi]
    if sum(mine.values()) != sum(g.need.values()):
        return False
    used = sorted({loc for loc, _ in mine})
    ranked = sorted(
        g.rates,
        key=lambda loc: (-sum(min(q, mine.get((loc, s), 0)) for s, q in g.need.items()), loc),
    )
    options: list[tuple[str, dict[Cell, int]]] = [
        (loc, {(loc, s): q for s, q in g.need.items()}) for loc in ranked
    ]
    if len(used) > 2:
        by_size = sorted(
            used, key=lambda loc: (sum(q for (ol, _), q in mine.items() if ol == loc), loc)
        )
        drop = by_size[0]
        for loc in by_size[1:]:
            target = {cell: q for cell, q in mine.items() if cell[0] != drop}
            for (ol, s), q in mine.items():
                if ol == drop:
                    target[loc, s] = target.get((loc, s), 0) + q
            options.append((loc, target))
    for loc, target in options:
        wants = {s: q for (ol, s), q in target.items() if ol == loc}
        if any(inst.stock.get((loc, s), 0) < q for s, q in wants.items()):
            continue
        moves = _free_up(inst, gi, loc, wants, plan, free, holders)
        if moves is None:
            continue
        for other, (src, dst, sku, q) in moves:
            _shift(plan, free, holders, other, (src, sku), -q)
            _shift(plan, free, holders, other, (dst, sku), q)
        for cell, q in list(mine.items()):
            _shift(plan, free, holders, gi, cell, -q)
        for cell, q in target.items():
            _shift(plan, free, holders, gi, cell, q)
        return True
    return False


def _free_up(
    inst: _Instance,
    gi: int,
    loc: str,
    wants: Mapping[str, int],
    plan: Mapping[int, Mapping[Cell, int]],
    free: Mapping[Cell, int],
    holders: Mapping[Cell, set[int]],
) -> list[tuple[int, tuple[str, str, str, int]]] | None:
    """Moves of other groups' units that leave `loc` enough for group gi, or None. A group
    that gives way moves everything it ships from `loc` to one other location (one it
    already ships from, else a new one): it never ships from more locations than before."""
    pool = dict(free)
    for cell, q in plan[gi].items():  # what gi gives up is free for the others
        pool[cell] = pool.get(cell, 0) + q
    moves: list[tuple[int, tuple[str, str, str, int]]] = []
    moved: set[int] = set()
    for sku, need in sorted(wants.items()):
        for other in sorted(holders.get((loc, sku), ())):
            if need - pool.get((loc, sku), 0) <= 0:
                break
            if other == gi or other in moved:
                continue
            o = inst.groups[other]
            at_loc = {s: q for (ol, s), q in plan[other].items() if ol == loc}
            used = {ol for ol, _ in plan[other]}
            for dst in sorted(o.rates, key=lambda d: (d not in used, o.rates[d].per_shipment, d)):
                if dst == loc or any(pool.get((dst, s), 0) < q for s, q in at_loc.items()):
                    continue
                for s, q in at_loc.items():
                    moves.append((other, (loc, dst, s, q)))
                    pool[dst, s] -= q
                    pool[loc, s] = pool.get((loc, s), 0) + q
                moved.add(other)
                break
        if need - pool.get((loc, sku), 0) > 0:
            return None
    return moves


def _shift(
    plan: dict[int, dict[Cell, int]],
    free: dict[Cell, int],
    holders: dict[Cell, set[int]],
    gi: int,
    cell: Cell,
    q: int,
) -> None:
    units = plan[gi]
    units[cell] = units.get(cell, 0) + q
    free[cell] = free.get(cell, 0) - q
    if units[cell] == 0:
        del units[cell]
        holders[cell].discard(gi)
    else:
        holders[cell].add(gi)


def _could_improve(g: BatchGroup, units: Mapping[Cell, int]) -> bool:
    ships = len({loc for (loc, _), q in units.items() if q > 0})
    return ships > 1 or sum(units.values()) < sum(g.need.values())


def _neighbourhood(
    inst: _Instance,
    chunk: Sequence[int],
    plan: Mapping[int, Mapping[Cell, int]],
    holders: Mapping[Cell, set[int]],
) -> list[int]:
    """The chunk, then the groups holding the stock that stands between a chunk group and
    fewer shipments: at each location holding some of a group's SKUs, the holders of the
    SKUs it lacks there, most useful first."""
    weight: dict[int, int] = defaultdict(int)
    for gi in chunk:
        g = inst.groups[gi]
        mine = plan[gi]
        at: dict[str, set[str]] = defaultdict(set)
        for loc, sku in inst.cells[gi]:
            at[loc].add(sku)
        for loc, skus in at.items():
            for sku in g.need:
                cell = (loc, sku)
                if mine.get(cell, 0) >= g.need[sku]:
                    continue
                for other in holders.get(cell, ()):
                    if other != gi:
                        weight[other] += len(skus)
    chosen = list(dict.fromkeys(chunk))
    taken = set(chosen)
    room = NEIGHBOURHOOD_GROUPS - len(chosen)
    ranked = sorted((gi for gi in weight if gi not in taken), key=lambda gi: (-weight[gi], gi))
    return sorted(chosen + ranked[: max(room, 0)])


def _sub_instance(
    inst: _Instance, freed: Sequence[int], plan: Mapping[int, Mapping[Cell, int]]
) -> _Instance:
    """The freed groups over the stock the others leave (their current plan as `current`)."""
    members = set(freed)
    groups = [replace(inst.groups[gi], current=dict(plan[gi])) for gi in freed]
    # The pool: all stock the freed groups could use, less what everyone else holds there.
    cells = {cell for gi in freed for cell in inst.cells[gi]}
    left = {cell: inst.stock.get(cell, 0) for cell in cells}
    for gi, units in plan.items():
        if gi in members:
            continue
        for cell, q in units.items():
            if cell in left:
                left[cell] -= q
    sub = _Instance(groups, left)
    sub.cells = [[c for c in inst.cells[gi] if left.get(c, 0) > 0] for gi in freed]
    sub.contested = _contested(sub)
    return sub


def _share(budget_ms: int, sizes: Sequence[int]) -> list[int]:
    total = sum(sizes) or 1
    return [max(1, budget_ms * s // total) for s in sizes]


def _solve(mdl: _Model, budget_ms: int) -> tuple[str, dict[int, dict[Cell, int]] | None, str, int]:
    """(HiGHS status, the model's plan or None for "keep the current", why not, size)."""
    try:
        status, found = mdl.solve(budget_ms)
    except Exception as exc:  # a solver failure must not fail the run
        why = f"solver error {type(exc).__name__}: kept the current assignment"
        return "error", None, why, mdl.size
    if found is None:
        why = f"solver found no plan ({status}): kept the current assignment"
        return status, None, why, mdl.size
    if not _valid(mdl.inst, found):
        return (
            status,
            None,
            "solver's plan failed the checks: kept the current assignment",
            mdl.size,
        )
    return status, found, "", mdl.size


def _group_plan(g: BatchGroup, units: Mapping[Cell, int]) -> GroupPlan:
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
        best = _alone(g, left) or {}
        for cell, q in best.items():
            left[cell] -= q
        out.append(best)
    return out

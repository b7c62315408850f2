"""optimal: least total cost, exactly — shipping (per shipment for each location used, per
unit for each unit) plus split_penalty for each location beyond the first — with at most
max_splits + 1 locations, solved with a mixed-integer programming solver where one is needed.

Solver: HiGHS (`highspy`), not OR-Tools CP-SAT. The model is a capacitated
facility-location MIP (x units per location and SKU, y location used, x <= cap * y);
HiGHS, an LP-based branch and cut solver, takes it as flat arrays in one call, is
deterministic, single threaded by default, stops on a time limit, and brings one
dependency (numpy) where `ortools` brings protobuf, absl, pandas and immutabledict in an
80 MB install. Measured on the same 100 instances from generated 500-location networks
(10 and 20 lines, whole model): HiGHS proved the optimum with a median of 20 ms, CP-SAT
with one or two workers took a median of 80 ms and failed to prove six within 20 s.

How the optimum is found and proven:
1. The cheapest route with k* locations, the fewest any complete route needs, is found
   exactly by fewest_splits' bitset search ranked by cost instead of distance.
2. If max_splits + 1 == k*, every permitted route has k* locations, so that route is the
   optimum. So it is, too, when the cheapest conceivable route with more locations (the
   k* + 1 cheapest shipments, the penalty, each unit at its SKU's cheapest rate) costs more.
3. Otherwise HiGHS searches the routes with k* + 1 … max_splits + 1 locations that cost
   less than the route of step 1 (an objective cut-off): found, it is the optimum;
   infeasible, step 1's route is. The solver sees only locations that can be in such a
   route: those whose shipment plus k* cheapest other shipments, the penalties and the
   least unit cost stay under the cut-off, and that are not dominated on cost by
   max_splits + 1 others (no dearer per shipment and per unit, at least as much of every
   needed SKU: a route using one can swap it for a dominator it does not use). If more
   than `solver_location_limit` remain, it gets the most promising of them (lowest cost per
   unit they can supply) and the reason says the optimum is over that subset.

The time budget is the solver's time limit, so the domain reads no clock (steps 1-2 are
combinatorial and take a few milliseconds at 500 locations). With a budget of 0, on timeout
or on a solver error the answer falls back to fewest_splits: step 1's route (cheapest with
the fewest locations) when it is known, else fewest_splits' own — unless the solver had
already found a cheaper route, which is kept and marked as not proven optimal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import highspy
import numpy as np

from openoms.domain.routing import fewest as fs
from openoms.domain.routing.model import (
    Candidate,
    Destination,
    Problem,
    RoutingItem,
    RoutingPolicy,
    RoutingResult,
    prepare,
    result,
)

Units = dict[tuple[int, int], int]


def _unit_lb(problem: Problem) -> int:
    """Least unit cost of the whole group: each SKU at its cheapest holder's rate."""
    return sum(
        r * min((problem.unit[i] for _, i in h), default=0)
        for r, h in zip(problem.req, problem.holders, strict=True)
    )


def _coverage(problem: Problem) -> list[int]:
    return [sum(caps.values()) for caps in problem.caps]


def _pool(
    problem: Problem, search: fs.Search, limit: int, k_min: int, cutoff: int, penalty: int
) -> list[int]:
    """Locations that can be in a route of more than k_min locations costing at most
    `cutoff` (see module doc), in preference order."""
    unit_lb = _unit_lb(problem)
    ship_min = min(problem.ship, default=0)
    universe = 0
    for i in range(len(problem.locations)):
        if problem.ship[i] + k_min * (ship_min + penalty) + unit_lb <= cutoff:
            universe |= 1 << i
    # Strict order for dominance ties: cheaper shipment, cheaper unit, preference order.
    ranked = sorted(fs._bits(universe), key=lambda i: (problem.ship[i], problem.unit[i], i))
    keep: list[int] = []
    before = 0
    ship_le = fs._le_bits(problem.ship)
    unit_le = fs._le_bits(problem.unit)
    for i in ranked:
        dom = before & ship_le[problem.ship[i]] & unit_le[problem.unit[i]]
        if dom.bit_count() >= limit:
            for j, c in problem.caps[i].items():
                dom &= search.ge(j, c)
                if dom.bit_count() < limit:
                    break
        if dom.bit_count() < limit:
            keep.append(i)
        before |= 1 << i
    return sorted(keep)


def _restrict(problem: Problem, pool: list[int], size: int) -> list[int]:
    """The `size` most promising locations of the pool: lowest cost per unit supplied."""
    supply = _coverage(problem)
    promising = sorted(
        pool,
        key=lambda i: ((problem.ship[i] + problem.unit[i] * supply[i]) / supply[i], i),
    )
    return sorted(promising[:size])


def _columns(
    xs: Sequence[tuple[int, int, int]], pool: Sequence[int], m: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The constraint matrix, column-wise: each x column has a 1 in its SKU's demand row and
    in its own link row; each y column has -cap in its x columns' link rows and a 1 in the
    count row."""
    nx = len(xs)
    starts = [0]
    index: list[int] = []
    value: list[float] = []
    for t, (_, j, _) in enumerate(xs):
        index += [j, m + t]
        value += [1.0, 1.0]
        starts.append(len(index))
    links: dict[int, list[tuple[int, int]]] = {}
    for t, (i, _, c) in enumerate(xs):
        links.setdefault(i, []).append((t, c))
    for i in pool:
        for t, c in links.get(i, []):
            index.append(m + t)
            value.append(-float(c))
        index.append(m + nx)
        value.append(1.0)
        starts.append(len(index))
    return (
        np.array(starts[:-1], dtype=np.int32),
        np.array(index, dtype=np.int32),
        np.array(value, dtype=np.float64),
    )


def _solve_mip(
    problem: Problem,
    pool: Sequence[int],
    limits: tuple[int, int],
    penalty: int,
    budget_ms: int,
    cutoff: int,
) -> tuple[str, Units | None]:
    """Solve the MIP over `pool` for routes costing at most `cutoff`. Returns (status,
    units) — units None when the solver holds no such route."""
    xs = [(i, j, c) for i in pool for j, c in problem.caps[i].items()]
    nx, ny, m = len(xs), len(pool), len(problem.req)
    ncol, nrow = nx + ny, m + nx + 1
    # Columns: x (units of sku j from location i, 0..cap) then y (location i used, 0/1).
    # Rows: demand per SKU (= requested), link per x (x - cap*y <= 0), count of locations
    # (least <= sum y <= most).
    least, most = limits
    cost = np.array(
        [problem.unit[i] for i, _, _ in xs] + [problem.ship[i] + penalty for i in pool],
        dtype=np.float64,
    )
    upper = np.array([c for _, _, c in xs] + [1] * ny, dtype=np.float64)
    lower = np.zeros(ncol, dtype=np.float64)
    row_lo = np.array(
        list(problem.req) + [-highspy.kHighsInf] * nx + [float(least)], dtype=np.float64
    )
    row_hi = np.array(list(problem.req) + [0.0] * nx + [float(most)], dtype=np.float64)
    starts, index, value = _columns(xs, pool, m)
    h = highspy.Highs()  # type: ignore[no-untyped-call]  # highspy leaves __init__ unannotated
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", budget_ms / 1000)
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("mip_abs_gap", 0.999)  # costs are whole minor units: a gap < 1 is proof
    h.setOptionValue("objective_bound", cutoff + 0.5)  # prune everything dearer
    # Feasibility jump costs ~4 ms even on tiny models and finds routes above the cut-off.
    h.setOptionValue("mip_heuristic_run_feasibility_jump", False)
    h.passModel(
        ncol,
        nrow,
        len(index),
        1,  # column-wise matrix
        1,  # minimise
        -float(penalty),
        cost,
        lower,
        upper,
        row_lo,
        row_hi,
        starts,
        index,
        value,
        np.ones(ncol, dtype=np.int32),
    )
    h.run()
    status = h.modelStatusToString(h.getModelStatus())
    if h.getInfo().primal_solution_status != 2:  # 2: feasible solution held
        return status, None
    solution = h.getSolution().col_value
    units: Units = {}
    for t, (i, j, _) in enumerate(xs):
        q = round(solution[t])
        if q > 0:
            units[i, j] = q
    return status, units


def _valid(problem: Problem, units: Units, limit: int) -> bool:
    if problem.shortfall(units) or len({i for i, _ in units}) > limit:
        return False
    got = [0] * len(problem.req)
    for (i, j), q in units.items():
        if q > problem.caps[i].get(j, 0):
            return False
        got[j] += q
    return got == list(problem.req)


@dataclass(frozen=True, slots=True)
class _Known:
    """The cheapest route with the fewest locations (step 1)."""

    units: Units
    cost: int
    size: int


def _answer(
    problem: Problem, policy: RoutingPolicy, units: Units, why: str, strategy: str = "optimal"
) -> RoutingResult:
    return result(problem, units, strategy=strategy, reason=why, split_penalty=policy.split_penalty)


def _without_solver(problem: Problem, policy: RoutingPolicy, known: _Known) -> RoutingResult | None:
    """Step 2: the answer when no route with more locations can beat the known one."""
    limit = policy.max_splits + 1
    if known.size == limit:
        return _answer(
            problem,
            policy,
            known.units,
            f"optimal: least cost {known.cost}; every route within max_splits uses "
            f"{known.size} location(s) and all were searched",
        )
    more = (
        sum(sorted(problem.ship)[: known.size + 1])
        + known.size * policy.split_penalty
        + _unit_lb(problem)
    )
    if more >= known.cost:
        return _answer(
            problem,
            policy,
            known.units,
            f"optimal: least cost {known.cost} with {known.size} location(s); no route with "
            f"more locations can cost less (at least {more})",
        )
    return None


def _with_solver(problem: Problem, policy: RoutingPolicy, known: _Known) -> RoutingResult:
    """Step 3: HiGHS looks for a cheaper route with more locations."""
    limit = policy.max_splits + 1
    budget = policy.time_budget_ms
    cutoff = known.cost - 1
    pool = _pool(problem, fs.Search(problem), limit, known.size, cutoff, policy.split_penalty)
    proof = (
        f"optimal: least cost {known.cost} with {known.size} location(s); HiGHS proved no "
        "route with more locations costs less"
    )
    if len(pool) <= known.size:
        why = (
            f"optimal: least cost {known.cost} with {known.size} location(s); only "
            f"{len(pool)} location(s) could be part of a cheaper route with more locations"
        )
        return _answer(problem, policy, known.units, why)
    scope = f"{len(pool)} of {len(problem.locations)} stocked location(s) after exact pruning"
    if policy.solver_location_limit is not None and len(pool) > policy.solver_location_limit:
        pool = _restrict(problem, pool, policy.solver_location_limit)
        scope += f", restricted to the {len(pool)} most promising (optimum over those only)"
    fallback = (
        f"; fell back to fewest_splits, the cheapest route with {known.size} location(s), "
        f"cost {known.cost}"
    )
    try:
        status, units = _solve_mip(
            problem, pool, (known.size + 1, limit), policy.split_penalty, budget, cutoff
        )
    except Exception as exc:  # a solver failure must not fail routing
        why = f"optimal: solver error {type(exc).__name__}: {exc}{fallback}"
        return _answer(problem, policy, known.units, why, "fewest_splits")
    cost = None if units is None else problem.allocation_cost(units, policy.split_penalty)
    if (
        units is not None
        and cost is not None
        and cost < known.cost
        and _valid(problem, units, limit)
    ):
        used = len({i for i, _ in units})
        if status == "Optimal":
            why = (
                f"optimal: least cost {cost} with {used} location(s), proven by HiGHS over {scope}"
            )
        else:
            why = (
                f"optimal: time budget of {budget} ms reached ({status}); best route found, "
                f"cost {cost} with {used} location(s), not proven optimal; {scope}"
            )
        return _answer(problem, policy, units, why)
    if status in ("Optimal", "Infeasible"):  # nothing under the cut-off exists
        return _answer(problem, policy, known.units, f"{proof}, over {scope}")
    why = f"optimal: solver stopped ({status}) within {budget} ms{fallback}"
    return _answer(problem, policy, known.units, why, "fewest_splits")


def solve(problem: Problem, policy: RoutingPolicy) -> RoutingResult:
    if not problem.skus:
        return fs.solve(problem, policy)
    if policy.time_budget_ms == 0:
        prefix = "optimal: time budget of 0 ms leaves no time to solve; fell back to "
        return fs.solve(problem, policy, prefix=prefix)
    limit = policy.max_splits + 1
    cheapest = fs.best_cover(problem, limit, by_cost=True)
    if cheapest is None:
        why = f"optimal: no complete route from at most {limit} location(s)"
        return fs.no_route(problem, policy, "optimal", why)
    units = problem.fill(cheapest)
    known = _Known(units, problem.allocation_cost(units, policy.split_penalty), len(cheapest))
    return _without_solver(problem, policy, known) or _with_solver(problem, policy, known)


def optimal(
    items: Sequence[RoutingItem],
    candidates: Sequence[Candidate],
    destination: Destination | None,
    policy: RoutingPolicy,
) -> RoutingResult:
    return solve(prepare(items, candidates, destination), policy)

"""Greedy strategies: rank the able locations, then fill every SKU from the best-ranked
location that holds it, using at most max_splits + 1 locations.

rank_by_distance ranks by great-circle distance to the destination; score ranks by a
weighted sum of distance, stock depth, shipping cost, carrier SLA and remaining capacity.
A greedy fill can need more locations than the policy allows even when a route within the
limit exists; then the group is routed by fewest_splits instead (the reason says so), so
a group is never left unrouted that a permitted route could fulfil.
"""

from __future__ import annotations

from collections.abc import Sequence

from openoms.domain.routing.fewest import best_cover
from openoms.domain.routing.model import (
    NO_COORDINATES_M,
    Candidate,
    Destination,
    Problem,
    RoutingItem,
    RoutingPolicy,
    RoutingResult,
    ScoreWeights,
    prepare,
    result,
)


def _fill(
    problem: Problem, order: Sequence[int], limit: int
) -> tuple[dict[tuple[int, int], int], list[int]]:
    """Fill in rank order, skipping locations that add nothing, up to `limit` locations."""
    remaining = list(problem.req)
    units: dict[tuple[int, int], int] = {}
    used: list[int] = []
    for i in order:
        if len(used) == limit or not any(remaining):
            break
        took = False
        for j, c in problem.caps[i].items():
            take = min(c, remaining[j])
            if take:
                units[i, j] = take
                remaining[j] -= take
                took = True
        if took:
            used.append(i)
    return units, used


def greedy_route(
    problem: Problem,
    policy: RoutingPolicy,
    order: Sequence[int],
    name: str,
    notes: Sequence[str],
) -> RoutingResult:
    limit = policy.max_splits + 1
    units, used = _fill(problem, order, limit)
    extra = "".join(f"; {n}" for n in notes)
    if not problem.shortfall(units):
        return result(
            problem,
            units,
            strategy=name,
            reason=f"{name}: {len(used)} location(s) in ranked order{extra}",
            split_penalty=policy.split_penalty,
            order=used,
        )
    found = best_cover(problem, limit)
    if found is not None:
        return result(
            problem,
            problem.fill(found),
            strategy="fewest_splits",
            reason=f"{name}: ranked fill needs more than {limit} location(s); fell back to "
            f"fewest_splits, {len(found)} location(s){extra}",
            split_penalty=policy.split_penalty,
        )
    why = f"{name}: no complete route from at most {limit} location(s)"
    if not policy.allow_partial:
        return result(
            problem,
            {},
            strategy=name,
            reason=f"{why}; partial allocation not allowed{extra}",
            split_penalty=policy.split_penalty,
        )
    placed = sum(units.values())
    return result(
        problem,
        units,
        strategy=name,
        reason=f"{why}; partial allocation of {placed} of {problem.total_units} unit(s) in "
        f"ranked order{extra}",
        split_penalty=policy.split_penalty,
        order=used,
    )


def distance_order(problem: Problem) -> tuple[list[int], list[str]]:
    order = sorted(
        range(len(problem.locations)),
        key=lambda i: (problem.dist[i], problem.locations[i].location_id),
    )
    notes: list[str] = []
    if not problem.has_destination:
        notes.append("no destination: locations ranked by location id")
    elif problem.no_coordinates:
        notes.append(
            f"warning: {len(problem.no_coordinates)} location(s) without coordinates ranked "
            f"last ({', '.join(sorted(problem.no_coordinates))})"
        )
    return order, notes


def rank_by_distance(
    items: Sequence[RoutingItem],
    candidates: Sequence[Candidate],
    destination: Destination | None,
    policy: RoutingPolicy,
) -> RoutingResult:
    problem = prepare(items, candidates, destination)
    order, notes = distance_order(problem)
    return greedy_route(problem, policy, order, "rank_by_distance", notes)


def _normalise(values: Sequence[float | None], *, higher_is_better: bool) -> list[float]:
    """0..1 over the candidates, 1 for the best; unknown values score 0; all equal → 1."""
    known = [v for v in values if v is not None]
    if not known:
        return [0.0] * len(values)
    lo, hi = min(known), max(known)
    out: list[float] = []
    for v in values:
        if v is None:
            out.append(0.0)
        elif hi == lo:
            out.append(1.0)
        elif higher_is_better:
            out.append((v - lo) / (hi - lo))
        else:
            out.append((hi - v) / (hi - lo))
    return out


def scores(problem: Problem, weights: ScoreWeights) -> list[float]:
    """Each location's weighted score: distance (nearer is better), stock depth (units of the
    group's SKUs on hand, more is better), shipping cost of the whole group from there,
    carrier SLA days (fewer is better), remaining daily capacity (more is better; no limit
    counts as the most)."""
    locs = problem.locations
    units = problem.total_units
    factors: list[tuple[float, list[float]]] = [
        (
            weights.distance,
            _normalise(
                [
                    float(d) if problem.has_destination and d < NO_COORDINATES_M else None
                    for d in problem.dist
                ],
                higher_is_better=False,
            ),
        ),
        (weights.stock_depth, _normalise([float(d) for d in problem.depth], higher_is_better=True)),
        (
            weights.shipping_cost,
            _normalise(
                [
                    None
                    if c.shipping is None
                    else float(c.shipping.per_shipment + c.shipping.per_unit * units)
                    for c in locs
                ],
                higher_is_better=False,
            ),
        ),
        (
            weights.sla,
            _normalise(
                [None if c.sla_days is None else float(c.sla_days) for c in locs],
                higher_is_better=False,
            ),
        ),
    ]
    capacity = _normalise(
        [None if c.remaining_capacity is None else float(c.remaining_capacity) for c in locs],
        higher_is_better=True,
    )
    capacity = [
        1.0 if c.remaining_capacity is None else f for c, f in zip(locs, capacity, strict=True)
    ]
    factors.append((weights.capacity, capacity))
    return [sum(w * f[i] for w, f in factors) for i in range(len(locs))]


def score(
    items: Sequence[RoutingItem],
    candidates: Sequence[Candidate],
    destination: Destination | None,
    policy: RoutingPolicy,
) -> RoutingResult:
    problem = prepare(items, candidates, destination)
    values = scores(problem, policy.weights)
    order = sorted(
        range(len(problem.locations)),
        key=lambda i: (-values[i], problem.locations[i].location_id),
    )
    notes = [] if problem.has_destination else ["no destination: distance not scored"]
    if order:
        best = order[0]
        notes.insert(0, f"best score {values[best]:.3f} at {problem.locations[best].location_id}")
    return greedy_route(problem, policy, order, "score", notes)

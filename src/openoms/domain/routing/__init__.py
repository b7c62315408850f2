"""Routing (DESIGN.md §6): which locations fulfil which quantities of one delivery group.

A pure function of (items, candidate locations with availability, destination, policy)
→ allocations. Strategies are pure functions chosen from `STRATEGIES` by name:

- fewest_splits — fewest locations, ties by average distance then cost (fewest.py)
- rank_by_distance — nearest able location first, greedy fill (greedy.py)
- score — weighted distance, stock depth, cost, SLA and capacity, greedy fill (greedy.py)
- optimal — least shipping cost plus split penalty, exactly, with HiGHS (milp.py)

Every strategy uses at most max_splits + 1 locations, never allocates more than a location
has, and when complete allocates exactly what was asked for each SKU.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

from openoms.domain.routing.fewest import (
    complete_route_exists,
    fewest_splits,
    find_routes_with_fewest_splits,
)
from openoms.domain.routing.greedy import rank_by_distance, score
from openoms.domain.routing.milp import optimal
from openoms.domain.routing.model import (
    Allocation,
    Candidate,
    Destination,
    Route,
    RoutingInputInvalid,
    RoutingItem,
    RoutingPolicy,
    RoutingResult,
    RoutingStrategyUnknown,
    ScoreWeights,
    ShippingCost,
    haversine_km,
)

Strategy = Callable[
    [Sequence[RoutingItem], Sequence[Candidate], Destination | None, RoutingPolicy],
    RoutingResult,
]

STRATEGIES: Mapping[str, Strategy] = MappingProxyType(
    {
        "fewest_splits": fewest_splits,
        "rank_by_distance": rank_by_distance,
        "score": score,
        "optimal": optimal,
    }
)


def route(
    items: Sequence[RoutingItem],
    candidates: Sequence[Candidate],
    destination: Destination | None,
    policy: RoutingPolicy,
) -> RoutingResult:
    """Route one delivery group with the policy's strategy."""
    strategy = STRATEGIES.get(policy.strategy)
    if strategy is None:
        raise RoutingStrategyUnknown(
            f"unknown routing strategy {policy.strategy!r}; known: {', '.join(sorted(STRATEGIES))}",
            field="strategy",
        )
    return strategy(items, candidates, destination, policy)


__all__ = [
    "STRATEGIES",
    "Allocation",
    "Candidate",
    "Destination",
    "Route",
    "RoutingInputInvalid",
    "RoutingItem",
    "RoutingPolicy",
    "RoutingResult",
    "RoutingStrategyUnknown",
    "ScoreWeights",
    "ShippingCost",
    "Strategy",
    "complete_route_exists",
    "fewest_splits",
    "find_routes_with_fewest_splits",
    "haversine_km",
    "optimal",
    "rank_by_distance",
    "route",
    "score",
]

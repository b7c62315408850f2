"""Routing strategies (DESIGN.md §6): hand-made networks with exact answers, and
brute-force checks of fewest_splits, find_routes_with_fewest_splits and optimal on small
random networks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openoms.domain.errors import ValidationFailed
from openoms.domain.routing import (
    STRATEGIES,
    Allocation,
    Candidate,
    Destination,
    RoutingInputInvalid,
    RoutingItem,
    RoutingPolicy,
    RoutingResult,
    RoutingStrategyUnknown,
    ScoreWeights,
    ShippingCost,
    find_routes_with_fewest_splits,
    haversine_km,
    route,
)
from openoms.domain.routing.model import Problem, prepare

LONDON = Destination(51.5074, -0.1278)
BRIGHTON = (50.8225, -0.1372)  # 76.2 km from LONDON
OXFORD = (51.7520, -1.2577)  # 82.6 km
LEEDS = (53.8008, -1.5491)  # 272.4 km


def loc(
    location_id: str,
    *,
    at: tuple[float, float] | None = BRIGHTON,
    stock: Mapping[str, int],
    ship: tuple[int, int] | None = (500, 50),
    sla_days: int | None = 2,
    capacity: int | None = None,
    can_ship: bool = True,
) -> Candidate:
    return Candidate(
        location_id=location_id,
        lat=None if at is None else at[0],
        lon=None if at is None else at[1],
        available=dict(stock),
        shipping=None if ship is None else ShippingCost(*ship),
        sla_days=sla_days,
        remaining_capacity=capacity,
        can_ship=can_ship,
    )


def items(**quantities: int) -> list[RoutingItem]:
    return [RoutingItem(sku, q) for sku, q in quantities.items()]


def allocs(*rows: tuple[str, str, int]) -> tuple[Allocation, ...]:
    return tuple(Allocation(*row) for row in rows)


def check_allocations(
    result: RoutingResult, wanted: Sequence[RoutingItem], candidates: Sequence[Candidate]
) -> None:
    """Never more than a location has; complete means exactly what was asked."""
    by_id = {c.location_id: c for c in candidates}
    got: dict[str, int] = {}
    for a in result.allocations:
        assert 0 < a.quantity <= by_id[a.location_id].available.get(a.sku, 0)
        got[a.sku] = got.get(a.sku, 0) + a.quantity
    asked: dict[str, int] = {}
    for item in wanted:
        asked[item.sku] = asked.get(item.sku, 0) + item.quantity
    for sku, q in got.items():
        assert q <= asked[sku]
    assert result.complete == (got == asked)
    assert dict(result.shortfall) == {
        s: q - got.get(s, 0) for s, q in asked.items() if got.get(s, 0) < q
    }
    assert set(result.locations) == {a.location_id for a in result.allocations}


# --- hand-made networks ---------------------------------------------------------------------


def hub_network() -> list[Candidate]:
    return [
        loc("HUB", at=BRIGHTON, stock={"TEE": 10, "MUG": 10, "CAP": 10}, ship=(300, 20)),
        loc("OXF", at=OXFORD, stock={"TEE": 3, "MUG": 1}, ship=(400, 30)),
        loc("LDS", at=LEEDS, stock={"MUG": 5, "CAP": 5}, ship=(600, 40)),
        loc("FAR", at=None, stock={"TEE": 1, "CAP": 1}, ship=None),
    ]


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_one_location_holding_everything_ships_everything(strategy: str) -> None:
    wanted = items(TEE=3, MUG=2, CAP=1)
    result = route(wanted, hub_network(), LONDON, RoutingPolicy(strategy=strategy))
    assert result.locations == ("HUB",)
    assert result.allocations == allocs(("HUB", "CAP", 1), ("HUB", "MUG", 2), ("HUB", "TEE", 3))
    assert result.complete is True
    assert result.shortfall == {}
    assert result.strategy == strategy
    assert result.cost == 300 + 20 * 6


def test_fewest_splits_prefers_fewer_locations_over_nearer_ones() -> None:
    wanted = items(TEE=2, MUG=2)
    network = [
        loc("BTN", at=BRIGHTON, stock={"TEE": 2}),
        loc("OXF", at=OXFORD, stock={"MUG": 2}),
        loc("LDS", at=LEEDS, stock={"TEE": 5, "MUG": 5}),
    ]
    result = route(wanted, network, LONDON, RoutingPolicy())
    assert result.locations == ("LDS",)
    assert result.allocations == allocs(("LDS", "MUG", 2), ("LDS", "TEE", 2))
    assert result.reason == "fewest_splits: 1 location(s), average distance 272.4 km"


def test_fewest_splits_breaks_ties_by_average_distance_then_cost() -> None:
    wanted = items(TEE=1, MUG=1)
    network = [
        loc("A", at=LEEDS, stock={"TEE": 1}),
        loc("B", at=OXFORD, stock={"TEE": 1}),
        loc("C", at=BRIGHTON, stock={"MUG": 1}, ship=(900, 50)),
        loc("D", at=BRIGHTON, stock={"MUG": 1}, ship=(400, 50)),
    ]
    result = route(wanted, network, LONDON, RoutingPolicy())
    # {B, C} and {B, D} are equally near; D ships cheaper.
    assert result.locations == ("D", "B")
    assert result.allocations == allocs(("D", "MUG", 1), ("B", "TEE", 1))
    assert result.cost == 400 + 50 + 500 + 50


def test_rank_by_distance_fills_nearest_first() -> None:
    wanted = items(TEE=3, MUG=2)
    network = [
        loc("LDS", at=LEEDS, stock={"TEE": 5, "MUG": 5}),
        loc("OXF", at=OXFORD, stock={"TEE": 1, "MUG": 1}),
        loc("BTN", at=BRIGHTON, stock={"TEE": 1}),
    ]
    result = route(wanted, network, LONDON, RoutingPolicy(strategy="rank_by_distance"))
    assert result.locations == ("BTN", "OXF", "LDS")
    assert result.allocations == allocs(
        ("BTN", "TEE", 1),
        ("OXF", "MUG", 1),
        ("OXF", "TEE", 1),
        ("LDS", "MUG", 1),
        ("LDS", "TEE", 1),
    )
    assert result.reason == "rank_by_distance: 3 location(s) in ranked order"


def test_rank_by_distance_puts_locations_without_coordinates_last_with_a_warning() -> None:
    wanted = items(TEE=3)
    network = [
        loc("ZZZ", at=None, stock={"TEE": 9}),
        loc("BTN", at=BRIGHTON, stock={"TEE": 1}),
    ]
    result = route(wanted, network, LONDON, RoutingPolicy(strategy="rank_by_distance"))
    assert result.locations == ("BTN", "ZZZ")
    assert result.allocations == allocs(("BTN", "TEE", 1), ("ZZZ", "TEE", 2))
    assert result.reason == (
        "rank_by_distance: 2 location(s) in ranked order; "
        "warning: 1 location(s) without coordinates ranked last (ZZZ)"
    )


def test_rank_by_distance_without_destination_ranks_by_location_id() -> None:
    wanted = items(TEE=3, MUG=2)
    network = [
        loc("OXF", at=OXFORD, stock={"TEE": 1, "MUG": 1}),
        loc("LDS", at=LEEDS, stock={"TEE": 5, "MUG": 5}),
        loc("BTN", at=BRIGHTON, stock={"TEE": 1}),
    ]
    result = route(wanted, network, None, RoutingPolicy(strategy="rank_by_distance"))
    assert result.locations == ("BTN", "LDS")
    assert result.reason == (
        "rank_by_distance: 2 location(s) in ranked order; "
        "no destination: locations ranked by location id"
    )


def test_rank_by_distance_falls_back_when_the_ranked_fill_needs_too_many_locations() -> None:
    wanted = items(TEE=2, MUG=1)
    network = [
        loc("BTN", at=BRIGHTON, stock={"TEE": 1}),
        loc("OXF", at=OXFORD, stock={"MUG": 1}),
        loc("LDS", at=LEEDS, stock={"TEE": 2, "MUG": 1}),
    ]
    policy = RoutingPolicy(strategy="rank_by_distance", max_splits=1)
    result = route(wanted, network, LONDON, policy)
    assert result.locations == ("LDS",)
    assert result.strategy == "fewest_splits"
    assert result.reason.startswith(
        "rank_by_distance: ranked fill needs more than 2 location(s); fell back to fewest_splits"
    )


def test_score_weights_change_the_choice() -> None:
    wanted = items(TEE=1)
    network = [
        loc("NEAR", at=BRIGHTON, stock={"TEE": 5}, ship=(900, 100)),
        loc("CHEAP", at=LEEDS, stock={"TEE": 5}, ship=(300, 10)),
    ]
    near = ScoreWeights(distance=1, stock_depth=0, shipping_cost=0, sla=0, capacity=0)
    cheap = ScoreWeights(distance=0, stock_depth=0, shipping_cost=1, sla=0, capacity=0)
    by_distance = route(wanted, network, LONDON, RoutingPolicy(strategy="score", weights=near))
    by_cost = route(wanted, network, LONDON, RoutingPolicy(strategy="score", weights=cheap))
    assert by_distance.allocations == allocs(("NEAR", "TEE", 1))
    assert by_distance.reason == "score: 1 location(s) in ranked order; best score 1.000 at NEAR"
    assert by_cost.allocations == allocs(("CHEAP", "TEE", 1))
    assert by_cost.cost == 310


def test_score_counts_stock_depth_sla_and_capacity() -> None:
    wanted = items(TEE=1)
    network = [
        loc("A", stock={"TEE": 1}, sla_days=1, capacity=10),
        loc("B", stock={"TEE": 9}, sla_days=3, capacity=5),
    ]
    depth = ScoreWeights(distance=0, stock_depth=1, shipping_cost=0, sla=0, capacity=0)
    sla = ScoreWeights(distance=0, stock_depth=0, shipping_cost=0, sla=1, capacity=0)
    capacity = ScoreWeights(distance=0, stock_depth=0, shipping_cost=0, sla=0, capacity=1)
    for weights, winner in ((depth, "B"), (sla, "A"), (capacity, "A")):
        result = route(wanted, network, LONDON, RoutingPolicy(strategy="score", weights=weights))
        assert result.locations == (winner,)


def optimal_network() -> list[Candidate]:
    return [
        loc("P", at=BRIGHTON, stock={"A": 2, "B": 2}, ship=(1000, 10)),
        loc("Q", at=OXFORD, stock={"A": 2}, ship=(200, 10)),
        loc("R", at=LEEDS, stock={"B": 2}, ship=(200, 10)),
    ]


def test_optimal_splits_when_two_shipments_cost_less_than_one() -> None:
    result = route(items(A=2, B=2), optimal_network(), LONDON, RoutingPolicy(strategy="optimal"))
    assert result.allocations == allocs(("Q", "A", 2), ("R", "B", 2))
    assert result.cost == 440
    assert result.strategy == "optimal"
    fewest = route(items(A=2, B=2), optimal_network(), LONDON, RoutingPolicy())
    assert fewest.allocations == allocs(("P", "A", 2), ("P", "B", 2))
    assert fewest.cost == 1040


def test_optimal_weighs_the_split_penalty() -> None:
    policy = RoutingPolicy(strategy="optimal", split_penalty=700)
    result = route(items(A=2, B=2), optimal_network(), LONDON, policy)
    assert result.allocations == allocs(("P", "A", 2), ("P", "B", 2))
    assert result.cost == 1040  # Q + R would be 440 + 700


def test_optimal_respects_max_splits() -> None:
    policy = RoutingPolicy(strategy="optimal", max_splits=0)
    result = route(items(A=2, B=2), optimal_network(), LONDON, policy)
    assert result.locations == ("P",)


def test_optimal_with_no_time_falls_back_to_fewest_splits() -> None:
    policy = RoutingPolicy(strategy="optimal", time_budget_ms=0)
    result = route(items(A=2, B=2), optimal_network(), LONDON, policy)
    assert result.strategy == "fewest_splits"
    assert result.allocations == allocs(("P", "A", 2), ("P", "B", 2))
    assert result.reason == (
        "optimal: time budget of 0 ms leaves no time to solve; fell back to fewest_splits: "
        "1 location(s), average distance 76.2 km"
    )


def test_optimal_uses_the_solver_and_names_a_restricted_pool() -> None:
    # Four cheap single-SKU locations beat the dear all-in-one; the solver has to choose,
    # and with a location limit of 2 it sees only the two most promising.
    wanted = items(A=1, B=1)
    network = [
        loc("ALL", stock={"A": 1, "B": 1}, ship=(1000, 10)),
        loc("A1", stock={"A": 1}, ship=(100, 10)),
        loc("A2", stock={"A": 1}, ship=(150, 10)),
        loc("B1", stock={"B": 1}, ship=(120, 10)),
        loc("B2", stock={"B": 1}, ship=(130, 10)),
    ]
    result = route(wanted, network, LONDON, RoutingPolicy(strategy="optimal"))
    assert result.allocations == allocs(("A1", "A", 1), ("B1", "B", 1))
    assert result.cost == 240
    assert "proven by HiGHS" in result.reason
    limited = RoutingPolicy(strategy="optimal", solver_location_limit=2)
    result = route(wanted, network, LONDON, limited)
    assert result.allocations == allocs(("A1", "A", 1), ("B1", "B", 1))
    assert "restricted to the 2 most promising (optimum over those only)" in result.reason


def test_partial_allocation_when_allowed() -> None:
    wanted = items(TEE=5, MUG=2)
    network = [
        loc("X", stock={"TEE": 3, "MUG": 1}),
        loc("Y", at=OXFORD, stock={"TEE": 1}),
    ]
    policy = RoutingPolicy(max_splits=0, allow_partial=True)
    result = route(wanted, network, LONDON, policy)
    assert result.complete is False
    assert result.allocations == allocs(("X", "MUG", 1), ("X", "TEE", 3))
    assert result.shortfall == {"TEE": 2, "MUG": 1}
    assert result.reason == (
        "fewest_splits: no complete route from at most 1 location(s); partial allocation of "
        "4 of 7 unit(s) from the locations adding the most units (at most 1)"
    )


def test_no_partial_allocation_when_not_allowed() -> None:
    wanted = items(TEE=5, MUG=2)
    network = [loc("X", stock={"TEE": 3, "MUG": 1})]
    for strategy in sorted(STRATEGIES):
        result = route(wanted, network, LONDON, RoutingPolicy(strategy=strategy))
        assert result.complete is False
        assert result.allocations == ()
        assert result.locations == ()
        assert result.shortfall == {"TEE": 5, "MUG": 2}
        assert "no complete route from at most 3 location(s); partial allocation not allowed" in (
            result.reason
        )


def test_locations_unable_to_ship_or_at_capacity_are_skipped() -> None:
    wanted = items(TEE=1)
    network = [
        loc("SHUT", stock={"TEE": 1}, can_ship=False),
        loc("FULL", stock={"TEE": 1}, capacity=0),
        loc("OPEN", at=LEEDS, stock={"TEE": 1}, capacity=3),
    ]
    result = route(wanted, network, LONDON, RoutingPolicy())
    assert result.locations == ("OPEN",)
    assert result.reason.endswith("; 2 location(s) unable to ship or at capacity were skipped")


def test_unknown_shipping_cost_counts_at_the_dearest_known_rate() -> None:
    network = [
        loc("KNOWN", stock={"TEE": 1}, ship=(700, 70)),
        loc("UNKNOWN", stock={"TEE": 1}, ship=None),
    ]
    result = route(items(TEE=1), network, LONDON, RoutingPolicy(strategy="optimal"))
    assert result.cost == 770
    assert "shipping cost unknown for 1 location(s), counted at the dearest known rate" in (
        result.reason
    )


def test_unknown_strategy_is_a_validation_error_with_a_stable_code() -> None:
    with pytest.raises(RoutingStrategyUnknown) as caught:
        route(items(TEE=1), hub_network(), LONDON, RoutingPolicy(strategy="cheapest"))
    assert isinstance(caught.value, ValidationFailed)
    assert caught.value.code == "routing_strategy_unknown"
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("wanted", "network", "policy"),
    [
        (items(TEE=0), hub_network(), RoutingPolicy()),
        (items(TEE=-1), hub_network(), RoutingPolicy()),
        (items(TEE=1), [loc("X", stock={}), loc("X", stock={})], RoutingPolicy()),
    ],
)
def test_invalid_input_is_rejected(
    wanted: list[RoutingItem], network: list[Candidate], policy: RoutingPolicy
) -> None:
    with pytest.raises(RoutingInputInvalid) as caught:
        route(wanted, network, LONDON, policy)
    assert caught.value.code == "routing_input_invalid"


def test_invalid_policy_is_rejected() -> None:
    with pytest.raises(RoutingInputInvalid):
        RoutingPolicy(max_splits=-1)
    with pytest.raises(RoutingInputInvalid):
        RoutingPolicy(split_penalty=-5)


def test_two_lines_of_one_sku_route_as_one() -> None:
    wanted = [RoutingItem("TEE", 1), RoutingItem("TEE", 2)]
    result = route(wanted, hub_network(), LONDON, RoutingPolicy())
    assert result.allocations == allocs(("HUB", "TEE", 3))


def test_haversine() -> None:
    assert round(haversine_km((51.5074, -0.1278), (48.8566, 2.3522)), 3) == 343.557
    assert haversine_km((10.0, 20.0), (10.0, 20.0)) == 0.0


# --- find_routes_with_fewest_splits ---------------------------------------------------------


def test_find_routes_returns_every_minimal_route_best_first() -> None:
    network = [
        loc("A", at=LEEDS, stock={"TEE": 1}),
        loc("B", at=OXFORD, stock={"TEE": 1}),
        loc("C", at=BRIGHTON, stock={"MUG": 1}),
        loc("D", at=BRIGHTON, stock={"MUG": 1, "TEE": 0}),
    ]
    routes = find_routes_with_fewest_splits(items(TEE=1, MUG=1), network, 2, LONDON)
    assert [r.locations for r in routes] == [("C", "B"), ("D", "B"), ("C", "A"), ("D", "A")]
    assert routes[0].allocations == allocs(("C", "MUG", 1), ("B", "TEE", 1))
    assert routes[0].average_distance_km == 79.4
    assert routes[0].cost == 1100


def test_find_routes_with_no_route_is_empty() -> None:
    network = [loc("A", stock={"TEE": 1}), loc("B", stock={"MUG": 1})]
    assert find_routes_with_fewest_splits(items(TEE=2), network, 3, LONDON) == []
    assert find_routes_with_fewest_splits(items(TEE=1, MUG=1), network, 0, LONDON) == []


# --- brute force on small random networks ---------------------------------------------------

SKUS = ("S0", "S1", "S2", "S3")


@st.composite
def instances(draw: st.DrawFn) -> tuple[list[RoutingItem], list[Candidate], Destination | None]:
    n_skus = draw(st.integers(1, 4))
    skus = SKUS[:n_skus]
    wanted = [RoutingItem(s, draw(st.integers(1, 4))) for s in skus]
    network: list[Candidate] = []
    for n in range(draw(st.integers(1, 7))):
        located = draw(st.booleans()) or draw(st.booleans())
        network.append(
            Candidate(
                location_id=f"L{n}",
                lat=draw(st.floats(50, 56)) if located else None,
                lon=draw(st.floats(-4, 1)) if located else None,
                available={s: draw(st.integers(0, 4)) for s in skus},
                shipping=ShippingCost(draw(st.integers(0, 900)), draw(st.integers(0, 90))),
            )
        )
    destination = Destination(51.5, -0.1) if draw(st.booleans()) else None
    return wanted, network, destination


def covering_sets(problem: Problem, size: int) -> list[tuple[int, ...]]:
    out = []
    for members in combinations(range(len(problem.locations)), size):
        if all(
            sum(problem.caps[i].get(j, 0) for i in members) >= r for j, r in enumerate(problem.req)
        ):
            out.append(members)
    return out


def fewest(problem: Problem, max_locations: int) -> list[tuple[int, ...]]:
    for size in range(1, max_locations + 1):
        found = covering_sets(problem, size)
        if found:
            return found
    return []


def ids(problem: Problem, members: Sequence[int]) -> tuple[str, ...]:
    return tuple(sorted(problem.locations[i].location_id for i in members))


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(instances(), st.integers(0, 3))
def test_fewest_splits_matches_brute_force(
    instance: tuple[list[RoutingItem], list[Candidate], Destination | None], max_splits: int
) -> None:
    wanted, network, destination = instance
    policy = RoutingPolicy(max_splits=max_splits)
    result = route(wanted, network, destination, policy)
    check_allocations(result, wanted, network)
    problem = prepare(wanted, network, destination)
    minimal = fewest(problem, max_splits + 1)
    if not minimal:
        assert result.complete is False
        assert result.allocations == ()
        return
    assert result.complete is True
    assert len(result.locations) == len(minimal[0])
    chosen = [problem.index_of[i] for i in result.locations]
    assert problem.key_of(chosen) == min(problem.key_of(m) for m in minimal)


@st.composite
def look_alike_networks(
    draw: st.DrawFn,
) -> tuple[list[RoutingItem], list[Candidate], Destination | None]:
    """Many locations alike in stock and cost, no destination: ties everywhere, so the
    search leans on dominance (a location with k better-or-equal others is left out)."""
    wanted = [
        RoutingItem("S0", draw(st.integers(2, 5))),
        RoutingItem("S1", draw(st.integers(1, 3))),
    ]
    network = [
        Candidate(
            location_id=f"L{n}",
            lat=None,
            lon=None,
            available={"S0": draw(st.integers(0, 2)), "S1": draw(st.integers(0, 1))},
            shipping=ShippingCost(draw(st.sampled_from((300, 400))), 10),
        )
        for n in range(draw(st.integers(3, 9)))
    ]
    return wanted, network, None


@SETTINGS
@given(look_alike_networks())
def test_fewest_splits_with_look_alike_locations_matches_brute_force(
    instance: tuple[list[RoutingItem], list[Candidate], Destination | None],
) -> None:
    wanted, network, destination = instance
    result = route(wanted, network, destination, RoutingPolicy(max_splits=4))
    check_allocations(result, wanted, network)
    problem = prepare(wanted, network, destination)
    minimal = fewest(problem, 5)
    assert result.complete == bool(minimal)
    if minimal:
        chosen = [problem.index_of[i] for i in result.locations]
        assert len(chosen) == len(minimal[0])
        assert problem.key_of(chosen) == min(problem.key_of(m) for m in minimal)


@SETTINGS
@given(instances(), st.integers(0, 3))
def test_find_routes_matches_brute_force(
    instance: tuple[list[RoutingItem], list[Candidate], Destination | None], max_splits: int
) -> None:
    wanted, network, destination = instance
    routes = find_routes_with_fewest_splits(wanted, network, max_splits, destination)
    problem = prepare(wanted, network, destination)
    minimal = fewest(problem, max_splits + 1)
    assert sorted(tuple(sorted(r.locations)) for r in routes) == sorted(
        ids(problem, m) for m in minimal
    )
    keys = [problem.key_of([problem.index_of[i] for i in r.locations]) for r in routes]
    assert keys == sorted(keys)
    for r in routes:
        got: dict[str, int] = {}
        for a in r.allocations:
            assert a.quantity <= network[int(a.location_id[1:])].available[a.sku]
            got[a.sku] = got.get(a.sku, 0) + a.quantity
        assert got == {i.sku: i.quantity for i in wanted}
        assert {a.location_id for a in r.allocations} == set(r.locations)


def brute_force_optimum(problem: Problem, max_locations: int, penalty: int) -> int | None:
    best = None
    for size in range(1, max_locations + 1):
        for members in covering_sets(problem, size):
            cost = problem.cost_of(members) + penalty * (size - 1)
            best = cost if best is None else min(best, cost)
    return best


@SETTINGS
@given(instances(), st.integers(0, 3), st.integers(0, 400))
def test_optimal_is_the_brute_force_optimum_and_never_worse_than_any_strategy(
    instance: tuple[list[RoutingItem], list[Candidate], Destination | None],
    max_splits: int,
    penalty: int,
) -> None:
    wanted, network, destination = instance
    results = {
        name: route(
            wanted,
            network,
            destination,
            RoutingPolicy(
                strategy=name, max_splits=max_splits, split_penalty=penalty, time_budget_ms=10_000
            ),
        )
        for name in STRATEGIES
    }
    for result in results.values():
        check_allocations(result, wanted, network)
        assert len(result.locations) <= max_splits + 1
    best = results["optimal"]
    optimum = brute_force_optimum(prepare(wanted, network, destination), max_splits + 1, penalty)
    if optimum is None:
        assert not any(r.complete for r in results.values())
        return
    assert best.complete is True
    assert best.strategy == "optimal"
    assert best.cost == optimum
    for result in results.values():
        if result.complete:
            assert best.cost <= result.cost


@SETTINGS
@given(instances(), st.integers(0, 2))
def test_partial_allocations_never_exceed_stock(
    instance: tuple[list[RoutingItem], list[Candidate], Destination | None], max_splits: int
) -> None:
    wanted, network, destination = instance
    for name in STRATEGIES:
        policy = RoutingPolicy(strategy=name, max_splits=max_splits, allow_partial=True)
        result = route(wanted, network, destination, policy)
        check_allocations(result, wanted, network)
        assert len(result.locations) <= max_splits + 1

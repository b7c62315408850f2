"""Where a routing decision's units come from (services/routing_stock.plan_stock): pure."""

from __future__ import annotations

from collections import defaultdict

from hypothesis import given
from hypothesis import strategies as st

from openoms.domain.routing import Allocation
from openoms.services.routing import StockPlan, plan_stock


def test_units_held_where_they_ship_stay_put() -> None:
    plan = plan_stock({("L1", "A"): 3}, [Allocation("L1", "A", 3)], complete=True)

    assert plan == StockPlan()


def test_units_move_from_locations_not_chosen_first() -> None:
    own = {("L1", "A"): 2, ("L2", "A"): 3, ("L3", "A"): 2}
    allocations = [Allocation("L1", "A", 4), Allocation("L2", "A", 1)]

    plan = plan_stock(own, allocations, complete=False)

    # L1 keeps its 2 and needs 2 more: from L3 (not chosen) before L2's surplus
    assert plan == StockPlan(transfers={("L1", "L3"): {"A": 2}})


def test_a_location_needing_more_than_the_order_holds_gets_a_fresh_hold_of_everything() -> None:
    own = {("L1", "A"): 1, ("L2", "A"): 1, ("L1", "B"): 2}
    allocations = [Allocation("L1", "A", 3), Allocation("L1", "B", 2)]

    plan = plan_stock(own, allocations, complete=True)

    assert plan == StockPlan(
        releases={"L1": {"A": 1, "B": 2}, "L2": {"A": 1}},
        fresh={"L1": {"A": 3, "B": 2}},
    )


def test_units_left_over_are_given_back_only_once_the_group_is_complete() -> None:
    own = {("L1", "A"): 3, ("L2", "B"): 1}
    allocations = [Allocation("L1", "A", 2)]

    assert plan_stock(own, allocations, complete=False) == StockPlan()
    assert plan_stock(own, allocations, complete=True) == StockPlan(
        releases={"L1": {"A": 1}, "L2": {"B": 1}}
    )


_locations = st.sampled_from(["L1", "L2", "L3", "L4"])
_skus = st.sampled_from(["A", "B"])


@given(
    own=st.dictionaries(st.tuples(_locations, _skus), st.integers(1, 5)),
    wanted=st.dictionaries(st.tuples(_locations, _skus), st.integers(1, 5), min_size=1),
    complete=st.booleans(),
)
def test_every_allocated_unit_is_held_where_it_ships_and_no_unit_is_taken_twice(
    own: dict[tuple[str, str], int], wanted: dict[tuple[str, str], int], complete: bool
) -> None:
    allocations = [Allocation(loc, sku, q) for (loc, sku), q in sorted(wanted.items())]

    plan = plan_stock(own, allocations, complete=complete)

    # What the group's reservation holds once the plan is carried out.
    group: dict[tuple[str, str], int] = defaultdict(int, own)
    for (to, src), items in plan.transfers.items():
        assert to != src
        assert to not in plan.fresh
        for sku, units in items.items():
            group[src, sku] -= units
            group[to, sku] += units
    for src, items in plan.releases.items():
        for sku, units in items.items():
            group[src, sku] -= units
    assert all(units >= 0 for units in group.values())  # nothing given away twice
    for (loc, sku), units in wanted.items():
        if loc in plan.fresh:  # a fresh hold of everything the location ships
            assert plan.fresh[loc] == {s: q for (lo, s), q in wanted.items() if lo == loc}
        else:
            assert group[loc, sku] >= units
    if complete:  # nothing is held that no allocation uses
        for (loc, sku), units in group.items():
            expected = 0 if loc in plan.fresh else wanted.get((loc, sku), 0)
            assert units == expected

"""Batch routing's model (domain/routing/batch/): known optima on small instances, and
properties that hold for any instance: stock never exceeded, no group over its need or its
limit, and no group's promise made worse."""

from __future__ import annotations

from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openoms.domain.routing.batch import (
    BatchGroup,
    assignment_cost,
    one_at_a_time,
    plan_batch,
    totals,
)
from openoms.domain.routing.model import RoutingInputInvalid, ShippingCost
from tests.unit.strategies import batch_instances

CHEAP = ShippingCost(400, 10)
DEAR = ShippingCost(600, 10)


def group(
    key: str,
    need: dict[str, int],
    current: dict[tuple[str, str], int] | None = None,
    *,
    rates: dict[str, ShippingCost] | None = None,
    max_locations: int = 3,
    allow_partial: bool = True,
) -> BatchGroup:
    return BatchGroup(
        key=key,
        need=need,
        current=current or {},
        rates=rates or {"DC1": CHEAP, "DC2": DEAR},
        max_locations=max_locations,
        allow_partial=allow_partial,
    )


def test_a_single_line_order_moves_so_a_two_line_order_ships_once() -> None:
    # A (one line of X) took DC1's only X; B (X and Y) then had to split. Together: A ships
    # X from DC2, B ships both from DC1 — two shipments instead of three.
    stock = {("DC1", "X"): 1, ("DC1", "Y"): 1, ("DC2", "X"): 1}
    a = group("A", {"X": 1}, {("DC1", "X"): 1})
    b = group("B", {"X": 1, "Y": 1}, {("DC2", "X"): 1, ("DC1", "Y"): 1})

    plan = plan_batch([a, b], stock, time_budget_ms=2000)

    by_key = {p.key: p for p in plan.groups}
    assert by_key["A"].units == {("DC2", "X"): 1}
    assert by_key["B"].units == {("DC1", "X"): 1, ("DC1", "Y"): 1}
    assert (by_key["B"].current_shipments, by_key["B"].shipments) == (2, 1)
    assert by_key["A"].cost == 610
    assert by_key["A"].current_cost == 410
    assert plan.status == "optimal"


def test_one_at_a_time_routing_splits_the_same_instance() -> None:
    stock = {("DC1", "X"): 1, ("DC1", "Y"): 1, ("DC2", "X"): 1}
    a = group("A", {"X": 1})
    b = group("B", {"X": 1, "Y": 1})

    seq = one_at_a_time([a, b], stock)

    assert seq == [{("DC1", "X"): 1}, {("DC2", "X"): 1, ("DC1", "Y"): 1}]
    assert totals(seq, [a.rates, b.rates]).shipments == 3


def test_a_waiting_group_is_placed_with_the_stock_another_gives_up() -> None:
    # W waits (nothing placed); P holds the only X at DC1 but could ship from DC2.
    stock = {("DC1", "X"): 1, ("DC2", "X"): 1}
    p = group("P", {"X": 1}, {("DC1", "X"): 1})
    w = group("W", {"X": 1}, rates={"DC1": CHEAP})

    plan = plan_batch([p, w], stock, time_budget_ms=2000)

    by_key = {g.key: g for g in plan.groups}
    assert by_key["W"].units == {("DC1", "X"): 1}
    assert by_key["P"].units == {("DC2", "X"): 1}


def test_no_group_is_made_worse_to_help_another() -> None:
    # B could ship once if A split; A ships once now and must keep its one shipment.
    stock = {("DC1", "X"): 1, ("DC1", "Y"): 1, ("DC2", "Y"): 1}
    a = group("A", {"X": 1, "Y": 1}, {("DC1", "X"): 1, ("DC1", "Y"): 1})
    b = group("B", {"Y": 1}, {("DC2", "Y"): 1})

    plan = plan_batch([a, b], stock, time_budget_ms=2000)

    assert {g.key: g.units for g in plan.groups} == {
        "A": {("DC1", "X"): 1, ("DC1", "Y"): 1},
        "B": {("DC2", "Y"): 1},
    }
    assert not any(g.changed for g in plan.groups)


def test_an_all_or_nothing_group_is_not_placed_in_part() -> None:
    stock = {("DC1", "X"): 1}
    g = group("A", {"X": 1, "Y": 1}, allow_partial=False)

    plan = plan_batch([g], stock, time_budget_ms=1000)

    assert plan.groups[0].units == {}


def test_a_group_that_allows_partial_placement_gets_what_there_is() -> None:
    stock = {("DC1", "X"): 1}
    g = group("A", {"X": 1, "Y": 1})

    plan = plan_batch([g], stock, time_budget_ms=1000)

    assert plan.groups[0].units == {("DC1", "X"): 1}
    assert plan.groups[0].placed == 1


def test_a_group_alone_takes_its_cheapest_route_with_fewest_locations() -> None:
    stock = {("DC1", "X"): 5, ("DC2", "X"): 5, ("DC2", "Y"): 5}
    g = group("A", {"X": 1, "Y": 1}, {("DC1", "X"): 1, ("DC2", "Y"): 1})

    plan = plan_batch([g], stock, time_budget_ms=1000)

    assert plan.groups[0].units == {("DC2", "X"): 1, ("DC2", "Y"): 1}
    assert plan.components == 1
    assert plan.solved == 0


@pytest.mark.parametrize(
    ("groups", "stock", "field"),
    [
        ([group("A", {"X": 1}), group("A", {"X": 1})], {}, "groups"),
        ([group("A", {"X": 1}, max_locations=0)], {}, "max_locations"),
        ([group("A", {"X": -1})], {}, "need"),
        ([group("A", {"X": 1}, {("NOWHERE", "X"): 1})], {("NOWHERE", "X"): 1}, "current"),
        ([group("A", {"X": 1}, {("DC1", "X"): 2})], {("DC1", "X"): 2}, "current"),
        ([group("A", {"X": 1}, {("DC1", "X"): 1})], {}, "stock"),
    ],
)
def test_bad_input_is_refused(
    groups: list[BatchGroup], stock: dict[tuple[str, str], int], field: str
) -> None:
    with pytest.raises(RoutingInputInvalid) as caught:
        plan_batch(groups, stock, time_budget_ms=100)
    assert caught.value.field == field


@st.composite
def instances(draw: st.DrawFn) -> tuple[list[BatchGroup], dict[tuple[str, str], int]]:
    groups, stock, _ = draw(batch_instances(max_groups=6))
    return groups, stock


@settings(max_examples=60)
@given(instances())
def test_a_plan_keeps_stock_limits_and_promises(
    case: tuple[list[BatchGroup], dict[tuple[str, str], int]],
) -> None:
    groups, stock = case

    plan = plan_batch(groups, stock, time_budget_ms=2000)

    used: dict[tuple[str, str], int] = defaultdict(int)
    for g, p in zip(groups, plan.groups, strict=True):
        assert p.key == g.key
        got: dict[str, int] = defaultdict(int)
        for (loc, sku), q in p.units.items():
            used[loc, sku] += q
            got[sku] += q
        assert all(q <= g.need[sku] for sku, q in got.items())
        assert p.shipments <= g.max_locations
        assert p.placed >= p.current_placed  # never fewer units
        if p.placed == p.current_placed:  # no more shipments for the same units
            assert p.shipments <= p.current_shipments
        assert p.cost == assignment_cost(p.units, g.rates)
    assert all(q <= stock[cell] for cell, q in used.items())
    before = totals([g.current for g in groups], [g.rates for g in groups])
    after = totals([p.units for p in plan.groups], [g.rates for g in groups])
    assert after.placed >= before.placed


def test_a_big_component_is_consolidated_then_improved_by_neighbourhoods() -> None:
    # The same swap as above, taken by the path for big components (whole_limit 0): the
    # consolidation pass moves A to DC2 so B ships once from DC1.
    stock = {("DC1", "X"): 1, ("DC1", "Y"): 1, ("DC2", "X"): 1}
    a = group("A", {"X": 1}, {("DC1", "X"): 1})
    b = group("B", {"X": 1, "Y": 1}, {("DC2", "X"): 1, ("DC1", "Y"): 1})

    plan = plan_batch([a, b], stock, time_budget_ms=2000, whole_limit=0)

    assert {p.key: p.units for p in plan.groups} == {
        "A": {("DC2", "X"): 1},
        "B": {("DC1", "X"): 1, ("DC1", "Y"): 1},
    }
    assert "consolidated" in plan.reason


def test_a_three_location_group_drops_its_smallest_location() -> None:
    stock = {("L1", "A"): 1, ("L2", "B"): 1, ("L2", "C"): 1, ("L3", "C"): 1}
    rates = {loc: CHEAP for loc in ("L1", "L2", "L3")}
    g = group(
        "G", {"A": 1, "B": 1, "C": 1}, {("L1", "A"): 1, ("L2", "B"): 1, ("L3", "C"): 1}, rates=rates
    )
    other = group("O", {"C": 1}, {("L2", "C"): 1}, rates=rates)

    plan = plan_batch([g, other], stock, time_budget_ms=2000, whole_limit=0)

    by_key = {p.key: p for p in plan.groups}
    assert by_key["G"].shipments == 2
    assert by_key["O"].shipments == 1


@settings(max_examples=30)
@given(instances())
def test_the_big_component_path_keeps_stock_limits_and_promises(
    case: tuple[list[BatchGroup], dict[tuple[str, str], int]],
) -> None:
    groups, stock = case

    plan = plan_batch(groups, stock, time_budget_ms=2000, whole_limit=0)

    used: dict[tuple[str, str], int] = defaultdict(int)
    for g, p in zip(groups, plan.groups, strict=True):
        for cell, q in p.units.items():
            used[cell] += q
        assert p.shipments <= g.max_locations
        assert p.placed >= p.current_placed
        if p.placed == p.current_placed:
            assert p.shipments <= p.current_shipments
    assert all(q <= stock[cell] for cell, q in used.items())


def test_a_unit_that_needs_a_new_shipment_is_still_placed() -> None:
    # G ships B and C from two locations and lacks one A; two one-line groups want an A.
    # Three A in all: every one is placed, G's last one from a location it already uses
    # or a single-line group's from another (a unit outweighs a shipment: the solver may not
    # stop half a shipment short of placing it).
    rates = {loc: ShippingCost(100, 0) for loc in ("L1", "L2", "L3")}
    stock = {
        ("L1", "A"): 1,
        ("L1", "B"): 1,
        ("L1", "C"): 1,
        ("L2", "A"): 2,
        ("L2", "C"): 1,
        ("L3", "B"): 1,
    }
    groups = [
        group("G0", {"A": 1}, rates=rates, max_locations=1),
        group("G1", {"A": 1}, rates=rates, max_locations=1),
        group(
            "G",
            {"A": 2, "B": 1, "C": 1},
            {("L1", "B"): 1, ("L2", "C"): 1},
            rates=rates,
            max_locations=2,
        ),
    ]

    plan = plan_batch(groups, stock, time_budget_ms=2000)

    assert sum(p.placed for p in plan.groups) == 5
    assert plan.status == "optimal"

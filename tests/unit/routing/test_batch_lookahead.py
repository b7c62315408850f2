"""Batch routing with expected demand (plan_batch's `expected`, docs/routing-runs.md#look-ahead):
expected groups bid for stock so a run leaves scarce stock where later orders will need it,
and they never take a unit from a real group, never break a promise, never appear in the
plan."""

from __future__ import annotations

from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openoms.domain.routing.batch import BatchGroup, ExpectedGroup, plan_batch
from openoms.domain.routing.model import RoutingInputInvalid, ShippingCost
from tests.unit.strategies import BATCH_SKUS, batch_instances

CHEAP = ShippingCost(400, 10)
DEAR = ShippingCost(600, 10)
RATES = {"DC1": CHEAP, "DC2": DEAR}


def expected(key: str, need: dict[str, int], weight: float, **rates: ShippingCost) -> ExpectedGroup:
    return ExpectedGroup(key, need, rates or RATES, 3, weight)


# DC1 holds the only Y and one X; DC2 one X. A single-line order of X holds DC1's X.
STOCK = {("DC1", "X"): 1, ("DC1", "Y"): 1, ("DC2", "X"): 1}
SINGLE = BatchGroup("A", {"X": 1}, {("DC1", "X"): 1}, RATES, 3)


def test_without_look_ahead_the_single_line_order_keeps_the_only_consolidation_unit() -> None:
    plan = plan_batch([SINGLE], STOCK, time_budget_ms=2000)

    assert plan.groups[0].units == {("DC1", "X"): 1}
    assert plan.expected == 0


def test_expected_two_line_orders_move_the_single_line_order_off_the_unit_they_need() -> None:
    # An order of X and Y is expected (0.6 of one): it ships whole only from DC1, so the
    # single-line order ships from DC2, at 200 more, for 0.6 shipment expected to be saved.
    plan = plan_batch(
        [SINGLE], STOCK, time_budget_ms=2000, expected=[expected("E", {"X": 1, "Y": 1}, 0.6)]
    )

    assert [g.key for g in plan.groups] == ["A"]
    assert plan.groups[0].units == {("DC2", "X"): 1}
    assert plan.groups[0].shipments == 1
    assert plan.expected == 1
    assert plan.status == "optimal"


def test_unlikely_demand_is_not_worth_the_cost_of_moving() -> None:
    # 0.01 of a shipment saved is worth less than the 200 the move costs.
    plan = plan_batch(
        [SINGLE], STOCK, time_budget_ms=2000, expected=[expected("E", {"X": 1, "Y": 1}, 0.01)]
    )

    assert plan.groups[0].units == {("DC1", "X"): 1}


@pytest.mark.parametrize(("weight", "moves"), [(0.15, False), (0.6, True)])
def test_a_move_must_be_worth_a_quarter_shipment_of_expected_demand(
    weight: float, moves: bool
) -> None:
    # Both locations cost the same. Moving A saves `weight` of the expected order's second
    # shipment (its weight in the model and its rate); moving to a location A does not use
    # costs a quarter of a shipment's weight.
    free = {"DC1": CHEAP, "DC2": CHEAP}
    a = BatchGroup("A", {"X": 1}, {("DC1", "X"): 1}, free, 3)

    plan = plan_batch(
        [a],
        STOCK,
        time_budget_ms=2000,
        expected=[ExpectedGroup("E", {"X": 1, "Y": 1}, free, 3, weight)],
    )

    assert plan.groups[0].changed is moves


def test_expected_single_line_demand_does_not_move_anyone() -> None:
    # An expected order of X alone ships once from anywhere: nothing to leave for it.
    plan = plan_batch([SINGLE], STOCK, time_budget_ms=2000, expected=[expected("E", {"X": 1}, 5)])

    assert plan.groups[0].units == {("DC1", "X"): 1}


def test_expected_demand_never_keeps_a_unit_from_a_waiting_group() -> None:
    # W waits for the only X; any amount of expected demand for it does not hold it back.
    waiting = BatchGroup("W", {"X": 1}, {}, {"DC1": CHEAP}, 3)
    many = [expected(f"E{k}", {"X": 1, "Y": 1}, 50, DC1=CHEAP) for k in range(4)]

    plan = plan_batch(
        [waiting], {("DC1", "X"): 1, ("DC1", "Y"): 1}, time_budget_ms=2000, expected=many
    )

    assert plan.groups[0].units == {("DC1", "X"): 1}


def test_expected_demand_never_makes_a_real_group_ship_more() -> None:
    # A ships X and Y once from DC1; elsewhere it would take two shipments. Heavy expected
    # demand for DC1's X and Y does not split it.
    rates = {"DC1": CHEAP, "DC2": CHEAP, "DC3": CHEAP}
    stock = {("DC1", "X"): 1, ("DC1", "Y"): 1, ("DC2", "X"): 1, ("DC3", "Y"): 1}
    a = BatchGroup("A", {"X": 1, "Y": 1}, {("DC1", "X"): 1, ("DC1", "Y"): 1}, rates, 3)
    heavy = ExpectedGroup("E", {"X": 1, "Y": 1}, {"DC1": CHEAP}, 3, 100)

    plan = plan_batch([a], stock, time_budget_ms=2000, expected=[heavy])

    assert plan.groups[0].units == {("DC1", "X"): 1, ("DC1", "Y"): 1}


def test_a_group_placed_to_fewer_shipments_still_wins_over_expected_demand_it_outweighs() -> None:
    # B ships in two now and could ship once from DC1, which the expected order (0.3) also
    # wants: B's sure shipment saved outweighs 0.3 of one expected.
    rates = {"DC1": CHEAP, "DC2": CHEAP}
    stock = {("DC1", "X"): 1, ("DC1", "Y"): 1, ("DC2", "X"): 1, ("DC2", "Z"): 1}
    b = BatchGroup("B", {"X": 1, "Y": 1}, {("DC2", "X"): 1, ("DC1", "Y"): 1}, rates, 3)

    plan = plan_batch(
        [b],
        stock,
        time_budget_ms=2000,
        expected=[ExpectedGroup("E", {"X": 1, "Y": 1}, rates, 3, 0.3)],
    )

    assert plan.groups[0].units == {("DC1", "X"): 1, ("DC1", "Y"): 1}


@pytest.mark.parametrize(
    "bad",
    [
        expected("A", {"X": 1}, 1.0),  # the key of a real group
        expected("E", {"X": 1}, 0.0),
        expected("E", {"X": 1}, -1.0),
        expected("E", {"X": 1}, float("inf")),
        expected("E", {"X": -1}, 1.0),
        ExpectedGroup("E", {"X": 1}, RATES, 0, 1.0),
    ],
)
def test_bad_expected_groups_are_refused(bad: ExpectedGroup) -> None:
    with pytest.raises(RoutingInputInvalid) as caught:
        plan_batch([SINGLE], STOCK, time_budget_ms=100, expected=[bad])
    assert caught.value.field == "expected"


@st.composite
def instances(
    draw: st.DrawFn,
) -> tuple[list[BatchGroup], dict[tuple[str, str], int], list[ExpectedGroup]]:
    groups, stock, rates = draw(batch_instances(max_groups=5))
    ahead = [
        ExpectedGroup(
            f"e{n}",
            {
                s: draw(st.integers(1, 2))
                for s in draw(st.sets(st.sampled_from(BATCH_SKUS), min_size=1))
            },
            rates,
            draw(st.integers(1, 3)),
            draw(st.floats(0.05, 20)),
        )
        for n in range(draw(st.integers(1, 4)))
    ]
    return groups, stock, ahead


@settings(max_examples=40, deadline=None)
@given(instances(), st.sampled_from([20000, 0]))
def test_with_expected_demand_a_plan_keeps_stock_limits_and_promises(
    case: tuple[list[BatchGroup], dict[tuple[str, str], int], list[ExpectedGroup]],
    whole_limit: int,
) -> None:
    groups, stock, ahead = case

    plan = plan_batch(groups, stock, time_budget_ms=2000, expected=ahead, whole_limit=whole_limit)
    alone = plan_batch(groups, stock, time_budget_ms=2000, whole_limit=whole_limit)

    assert [p.key for p in plan.groups] == [g.key for g in groups]
    used: dict[tuple[str, str], int] = defaultdict(int)
    for g, p in zip(groups, plan.groups, strict=True):
        for cell, units in p.units.items():
            used[cell] += units
        assert p.shipments <= g.max_locations
        assert p.placed >= p.current_placed
        if p.placed == p.current_placed:
            assert p.shipments <= p.current_shipments
    assert all(q <= stock[cell] for cell, q in used.items())
    if whole_limit:  # solved whole: expected demand takes no unit from the real groups
        assert sum(p.placed for p in plan.groups) == sum(p.placed for p in alone.groups), repr(case)

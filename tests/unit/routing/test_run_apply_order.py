"""The order an applied routing run moves its groups in (services/routing/run_apply.py
`apply_order`): each group after the groups whose moves free its stock, groups that wait
for each other's stock together, and a group whose stock nothing frees last."""

from __future__ import annotations

from openoms.domain.routing.batch import BatchGroup, BatchPlan, GroupPlan
from openoms.domain.routing.model import ShippingCost
from openoms.services.routing.run_apply import apply_order
from openoms.services.routing.runs import Planned, Weighed

RATE = ShippingCost(400, 10)
Units = dict[tuple[str, str], int]


def planned(moves: dict[str, tuple[Units, Units]], pool: Units) -> Planned:
    """Groups key → (current, planned), every unit of SKU X."""
    weighed, plans = [], []
    for key, (current, units) in moves.items():
        need = {"X": sum(current.values()) or sum(units.values())}
        batch = BatchGroup(key, need, current, {loc: RATE for loc in ("L1", "L2", "L3", "L4")}, 3)
        weighed.append(Weighed(key, f"summary-{key}", "fp", batch, ()))
        plans.append(
            GroupPlan(
                key=key,
                units=units,
                placed=sum(units.values()),
                shipments=len({loc for loc, _ in units}),
                cost=0,
                current_placed=sum(current.values()),
                current_shipments=len({loc for loc, _ in current}),
                current_cost=0,
                current=current,
            )
        )
    return Planned("rrun", weighed, BatchPlan(tuple(plans), "optimal", ""), pool)


def test_a_chain_is_moved_from_its_free_end() -> None:
    # a needs b's unit at L2, b needs c's at L3, c moves to L1, which is free.
    plan = planned(
        {
            "a": ({("L1", "X"): 1}, {("L2", "X"): 1}),
            "b": ({("L2", "X"): 1}, {("L3", "X"): 1}),
            "c": ({("L3", "X"): 1}, {("L1", "X"): 1}),
        },
        pool={("L1", "X"): 2, ("L2", "X"): 1, ("L3", "X"): 1},
    )
    assert apply_order(plan, {"a", "b", "c"}) == [["c"], ["b"], ["a"]]


def test_groups_that_trade_stock_move_together_and_the_rest_alone() -> None:
    # a and b swap (nothing else free at L1 or L2); d takes c's unit at L3, c moves to L4.
    plan = planned(
        {
            "a": ({("L1", "X"): 1}, {("L2", "X"): 1}),
            "b": ({("L2", "X"): 1}, {("L1", "X"): 1}),
            "d": ({}, {("L3", "X"): 1}),
            "c": ({("L3", "X"): 1}, {("L4", "X"): 1}),
        },
        pool={("L1", "X"): 1, ("L2", "X"): 1, ("L3", "X"): 1, ("L4", "X"): 1},
    )
    assert apply_order(plan, {"a", "b", "c", "d"}) == [["c"], ["d"], ["a", "b"]]


def test_a_group_whose_stock_nothing_frees_comes_last() -> None:
    # the pool counted a unit at L2 that is not there (taken meanwhile): b waits for it.
    plan = planned(
        {
            "a": ({("L1", "X"): 1}, {("L3", "X"): 1}),
            "b": ({}, {("L2", "X"): 1}),
        },
        pool={("L1", "X"): 1, ("L3", "X"): 1},
    )
    assert apply_order(plan, {"a", "b"}) == [["a"], ["b"]]

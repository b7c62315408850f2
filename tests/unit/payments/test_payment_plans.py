"""plan_captures (DESIGN.md §7): excess first, then exact match, else largest, repeating."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openoms.domain.payments import CapturePlan, PlannedCapture, plan_captures


def test_excess_covers_everything_and_nothing_is_captured() -> None:
    assert plan_captures(500, 800, [("a", 1000)]) == CapturePlan(500, 500, (), 0)


def test_excess_first_then_the_rest_from_an_authorization() -> None:
    assert plan_captures(500, 200, [("a", 1000)]) == CapturePlan(
        500, 200, (PlannedCapture("a", 300),), 0
    )


def test_an_exact_match_wins_over_a_larger_authorization() -> None:
    plan = plan_captures(300, 0, [("big", 1000), ("exact", 300), ("small", 100)])
    assert plan.captures == (PlannedCapture("exact", 300),)


def test_without_an_exact_match_the_largest_is_used() -> None:
    plan = plan_captures(300, 0, [("small", 100), ("big", 1000), ("mid", 400)])
    assert plan.captures == (PlannedCapture("big", 300),)


def test_several_authorizations_largest_first_then_an_exact_remainder() -> None:
    plan = plan_captures(1000, 0, [("a", 300), ("b", 600), ("c", 100), ("d", 400)])
    # 600 first (largest), then 400 matches the 400 left exactly
    assert plan.captures == (PlannedCapture("b", 600), PlannedCapture("d", 400))
    assert plan.shortfall == 0


def test_ties_on_largest_keep_the_given_order() -> None:
    plan = plan_captures(100, 0, [("first", 500), ("second", 500)])
    assert plan.captures == (PlannedCapture("first", 100),)


def test_shortfall_when_not_coverable() -> None:
    plan = plan_captures(1000, 100, [("a", 300), ("b", 0), ("c", 200)])
    assert plan == CapturePlan(1000, 100, (PlannedCapture("a", 300), PlannedCapture("c", 200)), 400)


def test_zero_amount_plans_nothing() -> None:
    assert plan_captures(0, 50, [("a", 10)]) == CapturePlan(0, 0, (), 0)


def test_negative_input_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        plan_captures(-1, 0, [])


authorizations = st.lists(st.integers(min_value=0, max_value=10_000), max_size=6).map(
    lambda amounts: [(f"pa{i}", a) for i, a in enumerate(amounts)]
)


@given(
    amount=st.integers(min_value=0, max_value=50_000),
    excess=st.integers(min_value=0, max_value=20_000),
    auths=authorizations,
)
def test_a_plan_never_exceeds_what_is_available_and_sums_exactly(
    amount: int, excess: int, auths: list[tuple[str, int]]
) -> None:
    plan = plan_captures(amount, excess, auths)
    available = dict(auths)
    assert plan.from_excess == min(excess, amount)
    assert plan.from_excess + plan.to_capture + plan.shortfall == amount
    assert all(0 < c.amount <= available[c.authorization_id] for c in plan.captures)
    assert len({c.authorization_id for c in plan.captures}) == len(plan.captures)
    coverable = plan.from_excess + sum(available.values())
    assert plan.shortfall == max(amount - coverable, 0)

"""Inventory math (DESIGN.md §5): a record's availability, the futures horizon, group sums."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from openoms.domain.inventory import (
    DEFAULT_FUTURES_HORIZON,
    Availability,
    Future,
    Stock,
    group_availability,
    group_stock,
    incoming,
    location_availability,
    record_availability,
)

TODAY = date(2026, 11, 20)


def stock(
    *, on_hand: int = 0, reserved: int = 0, safety_stock: int = 0, futures: tuple[Future, ...] = ()
) -> Stock:
    return Stock(on_hand=on_hand, reserved=reserved, safety_stock=safety_stock, futures=futures)


def in_days(days: int, quantity: int) -> Future:
    return Future(quantity=quantity, expected_date=TODAY + timedelta(days=days))


# --- one record ---------------------------------------------------------------------------


def test_available_to_fulfill_is_on_hand_less_reserved_and_safety_stock() -> None:
    assert stock(on_hand=10, reserved=3, safety_stock=2).available_to_fulfill == 5


def test_available_to_fulfill_goes_negative_when_on_hand_falls_below_reservations() -> None:
    assert stock(on_hand=1, reserved=4, safety_stock=0).available_to_fulfill == -3


def test_available_to_order_adds_futures_up_to_and_including_the_horizon_end() -> None:
    s = stock(
        on_hand=10,
        reserved=2,
        safety_stock=1,
        futures=(in_days(-3, 1), in_days(0, 2), in_days(30, 4), in_days(31, 8)),
    )
    # overdue, today and day 30 count; day 31 is past the 30-day horizon
    assert s.available_to_order(TODAY) == 7 + 1 + 2 + 4
    assert s.available_to_order(TODAY, horizon=timedelta(days=31)) == 7 + 15
    assert s.available_to_order(TODAY, horizon=timedelta(days=0)) == 7 + 1 + 2


def test_default_horizon_is_thirty_days() -> None:
    assert timedelta(days=30) == DEFAULT_FUTURES_HORIZON


def test_incoming_counts_futures_due_by_the_end_of_the_horizon() -> None:
    futures = (in_days(-1, 1), in_days(30, 2), in_days(31, 4))
    assert incoming(futures, TODAY) == 3
    assert incoming(futures, TODAY, timedelta(days=31)) == 7
    assert incoming((), TODAY) == 0


def test_record_availability_adds_what_is_expected_to_what_is_free() -> None:
    assert record_availability(10, 2, 1, 5) == Availability(10, 2, 1, 7, 12)
    assert record_availability(10, 2, 1) == Availability(10, 2, 1, 7, 7)


def test_location_availability_reports_the_five_figures() -> None:
    s = stock(on_hand=10, reserved=2, safety_stock=1, futures=(in_days(5, 6), in_days(45, 9)))
    assert location_availability(s, TODAY) == Availability(
        on_hand=10, reserved=2, safety_stock=1, available_to_fulfill=7, available_to_order=13
    )


def test_location_availability_keeps_a_deficit_visible() -> None:
    s = stock(on_hand=0, reserved=5, safety_stock=0, futures=(in_days(1, 2),))
    assert location_availability(s, TODAY) == Availability(0, 5, 0, -5, -3)


# --- groups -------------------------------------------------------------------------------


def figures_of(members: list[Stock]) -> list[Availability]:
    return [location_availability(s, TODAY) for s in members]


def test_group_sums_its_members() -> None:
    members = [
        stock(on_hand=10, reserved=2, safety_stock=1, futures=(in_days(3, 5),)),
        stock(on_hand=4, reserved=0, safety_stock=0),
        stock(on_hand=0, futures=(in_days(40, 100),)),
    ]
    assert group_availability(figures_of(members)) == Availability(
        on_hand=14, reserved=2, safety_stock=1, available_to_fulfill=11, available_to_order=16
    )


def test_a_short_member_counts_as_zero_not_negative_in_a_group() -> None:
    members = [
        stock(on_hand=0, reserved=5),  # oversold by an import: -5 here
        stock(on_hand=3, safety_stock=4),  # safety stock above on hand: -1 here
        stock(on_hand=10, reserved=1),
    ]
    assert group_availability(figures_of(members)) == Availability(13, 6, 4, 9, 9)


def test_an_empty_group_has_nothing() -> None:
    assert group_availability([]) == Availability(0, 0, 0, 0, 0)


def test_group_stock_adds_counters_and_collects_futures() -> None:
    a = stock(on_hand=1, reserved=1, futures=(in_days(1, 1),))
    b = stock(on_hand=2, safety_stock=1, futures=(in_days(2, 2),))
    assert group_stock([a, b]) == Stock(3, 1, 1, (in_days(1, 1), in_days(2, 2)))


counts = st.integers(min_value=0, max_value=1_000)
stocks = st.builds(
    Stock,
    on_hand=counts,
    reserved=counts,
    safety_stock=counts,
    futures=st.lists(
        st.builds(Future, quantity=counts, expected_date=st.dates(TODAY, TODAY + timedelta(60))),
        max_size=3,
    ).map(tuple),
)


@given(st.lists(stocks, max_size=6))
def test_group_figures_are_the_sum_of_each_members_spare_stock(members: list[Stock]) -> None:
    group = group_availability(figures_of(members))
    assert group.on_hand == sum(s.on_hand for s in members)
    assert group.reserved == sum(s.reserved for s in members)
    assert group.safety_stock == sum(s.safety_stock for s in members)
    assert group.available_to_fulfill == sum(max(s.available_to_fulfill, 0) for s in members)
    assert group.available_to_order == sum(max(s.available_to_order(TODAY), 0) for s in members)
    assert 0 <= group.available_to_fulfill <= group.available_to_order
    # never less than the plain sum, equal to it when no member is short
    assert group.available_to_fulfill >= group_stock(members).available_to_fulfill
    if all(s.available_to_fulfill >= 0 for s in members):
        assert group.available_to_fulfill == group_stock(members).available_to_fulfill


@given(stocks)
def test_a_group_of_one_healthy_location_equals_that_location(s: Stock) -> None:
    if s.available_to_fulfill >= 0:
        assert group_availability(figures_of([s])) == location_availability(s, TODAY)

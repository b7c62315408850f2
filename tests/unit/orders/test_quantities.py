"""OrderItemSummary counters: derived fields, status (first match wins) and operations."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from openoms.domain.errors import QuantityInvalid, QuantityInvariantViolated
from openoms.domain.quantities import ItemQuantities, ItemStatus
from tests.unit.factories import make_quantities
from tests.unit.strategies import item_quantities

# --- derived fields -----------------------------------------------------------------------


def test_derived_fields_on_a_busy_item() -> None:
    # 10 ordered, 2 canceled, 7 allocated, 6 shipped, 1 reshipped, 3 return initiated of
    # which 2 received.
    q = ItemQuantities(
        ordered=10,
        canceled=2,
        returned=2,
        return_initiated=3,
        allocated=7,
        fulfilled=6,
        reshipped=1,
    )
    assert q.quantity == 6  # 10 - (2 + 2)
    assert q.net_ordered == 8  # 10 - 2
    assert q.available_to_fulfill == 1  # 10 - (2 + 7)
    assert q.available_to_cancel == 1
    assert q.available_to_return == 3  # 6 - 3
    assert q.available_to_reship == 2  # 6 - (1 + 3)


def test_derived_fields_of_a_new_item() -> None:
    q = ItemQuantities(ordered=4)
    assert (q.canceled, q.returned, q.return_initiated) == (0, 0, 0)
    assert (q.allocated, q.fulfilled, q.reshipped) == (0, 0, 0)
    assert q.quantity == 4
    assert q.net_ordered == 4
    assert q.available_to_fulfill == 4
    assert q.available_to_cancel == 4
    assert q.available_to_return == 0
    assert q.available_to_reship == 0


def test_derived_fields_fully_shipped_partly_returned() -> None:
    q = ItemQuantities(ordered=5, allocated=5, fulfilled=5, return_initiated=2, returned=1)
    assert q.quantity == 4
    assert q.net_ordered == 5
    assert q.available_to_fulfill == 0
    assert q.available_to_return == 3
    assert q.available_to_reship == 3


# --- status, first match wins ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("counters", "status"),
    [
        (
            {"ordered": 3, "allocated": 3, "fulfilled": 3, "return_initiated": 1},
            ItemStatus.RETURN_INITIATED,
        ),
        ({"ordered": 3, "allocated": 3, "fulfilled": 3, "reshipped": 1}, ItemStatus.RESHIPPED),
        (
            {"ordered": 3, "allocated": 3, "fulfilled": 3, "return_initiated": 1, "returned": 1},
            ItemStatus.RETURNED,
        ),
        ({"ordered": 3, "canceled": 3}, ItemStatus.CANCELED),
        ({"ordered": 3, "allocated": 3, "fulfilled": 3}, ItemStatus.FULFILLED),
        ({"ordered": 3, "allocated": 3, "fulfilled": 1}, ItemStatus.PARTIALLY_FULFILLED),
        ({"ordered": 3, "allocated": 3}, ItemStatus.ALLOCATED),
        ({"ordered": 3, "allocated": 1}, ItemStatus.PARTIALLY_ALLOCATED),
        ({"ordered": 3}, ItemStatus.ORDERED),
    ],
)
def test_each_status(counters: dict[str, int], status: ItemStatus) -> None:
    assert ItemQuantities(**counters).status is status


@pytest.mark.parametrize(
    ("counters", "status", "why"),
    [
        (
            {"ordered": 3, "allocated": 3, "fulfilled": 3, "reshipped": 1, "return_initiated": 1},
            ItemStatus.RETURN_INITIATED,
            "return initiated beats reshipped",
        ),
        (
            {
                "ordered": 3,
                "allocated": 3,
                "fulfilled": 3,
                "reshipped": 1,
                "return_initiated": 2,
                "returned": 1,
            },
            ItemStatus.RETURN_INITIATED,
            "an open return beats a received one",
        ),
        (
            {
                "ordered": 3,
                "allocated": 3,
                "fulfilled": 3,
                "reshipped": 1,
                "return_initiated": 1,
                "returned": 1,
            },
            ItemStatus.RESHIPPED,
            "reshipped beats returned",
        ),
        (
            {"ordered": 3, "allocated": 3, "fulfilled": 3, "return_initiated": 3, "returned": 3},
            ItemStatus.RETURNED,
            "everything back is returned",
        ),
        (
            {"ordered": 3, "allocated": 2, "fulfilled": 1, "return_initiated": 1, "returned": 1},
            ItemStatus.RETURNED,
            "returned beats partially fulfilled",
        ),
        (
            {"ordered": 3, "canceled": 1, "allocated": 2, "fulfilled": 2},
            ItemStatus.FULFILLED,
            "fulfilled means all of the net ordered quantity",
        ),
        (
            {"ordered": 3, "canceled": 1, "allocated": 2},
            ItemStatus.ALLOCATED,
            "allocated means all of the net ordered quantity",
        ),
        (
            {"ordered": 3, "canceled": 1, "allocated": 1},
            ItemStatus.PARTIALLY_ALLOCATED,
            "partly canceled and partly allocated",
        ),
        (
            {"ordered": 3, "canceled": 1},
            ItemStatus.ORDERED,
            "a partial cancel leaves it ordered",
        ),
        (
            {"ordered": 3, "allocated": 2, "fulfilled": 2},
            ItemStatus.PARTIALLY_FULFILLED,
            "shipped less than net ordered",
        ),
        ({"ordered": 0}, ItemStatus.CANCELED, "nothing net ordered"),
    ],
)
def test_status_precedence(counters: dict[str, int], status: ItemStatus, why: str) -> None:
    assert ItemQuantities(**counters).status is status, why


# --- construction refuses broken invariants --------------------------------------------------


@pytest.mark.parametrize(
    ("counters", "message"),
    [
        ({"ordered": -1}, "quantity_ordered cannot be negative"),
        ({"ordered": 3, "reshipped": -1}, "quantity_reshipped cannot be negative"),
        (
            {"ordered": 3, "canceled": 2, "allocated": 2},
            "canceled (2) + allocated (2) exceed ordered (3)",
        ),
        ({"ordered": 3, "allocated": 1, "fulfilled": 2}, "fulfilled (2) exceeds allocated (1)"),
        (
            {"ordered": 3, "allocated": 3, "fulfilled": 3, "return_initiated": 1, "returned": 2},
            "returned (2) exceeds return initiated (1)",
        ),
        (
            {"ordered": 3, "allocated": 3, "fulfilled": 2, "return_initiated": 3, "returned": 0},
            "return initiated (3) exceeds fulfilled (2)",
        ),
        (
            {"ordered": 3, "allocated": 3, "fulfilled": 2, "reshipped": 3},
            "reshipped (3) exceeds fulfilled (2)",
        ),
    ],
)
def test_construction_refuses_broken_invariants(counters: dict[str, int], message: str) -> None:
    with pytest.raises(QuantityInvariantViolated) as caught:
        ItemQuantities(**counters)
    assert caught.value.code == "quantity_invariant_violated"
    assert caught.value.status == 409
    assert caught.value.detail == message


def test_counters_are_frozen() -> None:
    q = make_quantities()
    with pytest.raises(dataclasses.FrozenInstanceError):
        q.canceled = 1  # type: ignore[misc]
    assert q == ItemQuantities(ordered=3)


# --- operations -----------------------------------------------------------------------------


def test_operations_return_new_counters() -> None:
    q = ItemQuantities(ordered=3)
    q1 = q.add(2)
    assert q1 == ItemQuantities(ordered=5)
    q2 = q1.allocate(4)
    assert q2 == ItemQuantities(ordered=5, allocated=4)
    q3 = q2.cancel(1)
    assert q3 == ItemQuantities(ordered=5, canceled=1, allocated=4)
    q4 = q3.deallocate(1)
    assert q4 == ItemQuantities(ordered=5, canceled=1, allocated=3)
    q5 = q4.fulfill(3)
    assert q5 == ItemQuantities(ordered=5, canceled=1, allocated=3, fulfilled=3)
    q6 = q5.initiate_return(2)
    assert q6 == ItemQuantities(ordered=5, canceled=1, allocated=3, fulfilled=3, return_initiated=2)
    q7 = q6.cancel_return(1)
    assert q7 == ItemQuantities(ordered=5, canceled=1, allocated=3, fulfilled=3, return_initiated=1)
    q8 = q7.receive_return(1)
    assert q8 == ItemQuantities(
        ordered=5, canceled=1, allocated=3, fulfilled=3, return_initiated=1, returned=1
    )
    q9 = q8.reship(2)
    assert q9 == ItemQuantities(
        ordered=5, canceled=1, allocated=3, fulfilled=3, return_initiated=1, returned=1, reshipped=2
    )
    assert q9.status is ItemStatus.RESHIPPED
    assert q9.available_to_reship == 0
    # the originals are untouched
    assert q == ItemQuantities(ordered=3)
    assert q4 == ItemQuantities(ordered=5, canceled=1, allocated=3)


# (operation name, counters, quantity over the limit, limit, wording)
REFUSALS: list[tuple[str, dict[str, int], int, int, str]] = [
    ("allocate", {"ordered": 3, "canceled": 1, "allocated": 1}, 2, 1, "available to fulfill"),
    ("deallocate", {"ordered": 3, "allocated": 3, "fulfilled": 2}, 2, 1, "allocated, unshipped"),
    ("cancel", {"ordered": 3, "allocated": 2}, 2, 1, "available to cancel"),
    ("fulfill", {"ordered": 3, "allocated": 2, "fulfilled": 1}, 2, 1, "allocated, unshipped"),
    (
        "initiate_return",
        {"ordered": 3, "allocated": 3, "fulfilled": 2, "return_initiated": 1},
        2,
        1,
        "shipped and not yet returned",
    ),
    (
        "cancel_return",
        {"ordered": 3, "allocated": 3, "fulfilled": 3, "return_initiated": 2, "returned": 1},
        2,
        1,
        "return initiated",
    ),
    (
        "receive_return",
        {"ordered": 3, "allocated": 3, "fulfilled": 3, "return_initiated": 2, "returned": 1},
        2,
        1,
        "return initiated",
    ),
    (
        "reship",
        {"ordered": 3, "allocated": 3, "fulfilled": 3, "reshipped": 1, "return_initiated": 1},
        2,
        1,
        "available to reship",
    ),
]

_VERB = {
    "allocate": "allocate",
    "deallocate": "deallocate",
    "cancel": "cancel",
    "fulfill": "fulfill",
    "initiate_return": "return",
    "cancel_return": "un-return",
    "receive_return": "receive",
    "reship": "reship",
}


def _op(q: ItemQuantities, name: str) -> Callable[[int], ItemQuantities]:
    op: Callable[[int], ItemQuantities] = getattr(q, name)
    return op


@pytest.mark.parametrize(("name", "counters", "quantity", "limit", "what"), REFUSALS)
def test_operation_refused_over_the_limit(
    name: str, counters: dict[str, int], quantity: int, limit: int, what: str
) -> None:
    q = ItemQuantities(**counters)
    before = dataclasses.asdict(q)
    with pytest.raises(QuantityInvariantViolated) as caught:
        _op(q, name)(quantity)
    assert caught.value.code == "quantity_invariant_violated"
    assert caught.value.detail == f"cannot {_VERB[name]} {quantity}: only {limit} {what}"
    assert caught.value.extra == {"requested": quantity, "available": limit}
    assert dataclasses.asdict(q) == before
    # exactly the limit is fine
    assert _op(q, name)(limit) != q


@pytest.mark.parametrize("name", ["add", *_VERB])
@pytest.mark.parametrize("quantity", [0, -1])
def test_operation_refuses_non_positive_quantities(name: str, quantity: int) -> None:
    q = ItemQuantities(
        ordered=5, allocated=4, fulfilled=3, return_initiated=2, returned=1, reshipped=1
    )
    before = dataclasses.asdict(q)
    with pytest.raises(QuantityInvalid) as caught:
        _op(q, name)(quantity)
    assert caught.value.code == "quantity_invalid"
    assert caught.value.detail == f"quantity must be a positive whole number, got {quantity}"
    assert dataclasses.asdict(q) == before


def test_every_unit_held_can_be_returned_after_a_reship() -> None:
    # 3 shipped, 1 lost and reshipped: the customer holds 3 and may return all of them;
    # nothing is then left to reship (floored at 0, not -1).
    q = ItemQuantities(ordered=3, allocated=3, fulfilled=3, reshipped=1)
    assert q.available_to_return == 3
    returned = q.initiate_return(3)
    assert (returned.return_initiated, returned.available_to_reship) == (3, 0)
    with pytest.raises(QuantityInvariantViolated):
        returned.initiate_return(1)


def test_allocated_units_are_canceled_by_deallocating_first() -> None:
    q = ItemQuantities(ordered=2, allocated=2)
    with pytest.raises(QuantityInvariantViolated):
        q.cancel(1)
    assert q.deallocate(2).cancel(2) == ItemQuantities(ordered=2, canceled=2)
    assert q.deallocate(2).cancel(2).status is ItemStatus.CANCELED


# --- random sequences -----------------------------------------------------------------------

OPERATIONS = ["add", *_VERB]


def _limit(q: ItemQuantities, name: str) -> int | None:
    """The most the operation may take, computed from DESIGN.md §3, independently of the code."""
    return {
        "add": None,
        "allocate": q.ordered - q.canceled - q.allocated,
        "deallocate": q.allocated - q.fulfilled,
        "cancel": q.ordered - q.canceled - q.allocated,
        "fulfill": q.allocated - q.fulfilled,
        "initiate_return": q.fulfilled - q.return_initiated,
        "cancel_return": q.return_initiated - q.returned,
        "receive_return": q.return_initiated - q.returned,
        "reship": max(q.fulfilled - q.reshipped - q.return_initiated, 0),
    }[name]


_FIELD = {
    "add": ("ordered", 1),
    "allocate": ("allocated", 1),
    "deallocate": ("allocated", -1),
    "cancel": ("canceled", 1),
    "fulfill": ("fulfilled", 1),
    "initiate_return": ("return_initiated", 1),
    "cancel_return": ("return_initiated", -1),
    "receive_return": ("returned", 1),
    "reship": ("reshipped", 1),
}


class ItemLifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.q = ItemQuantities(ordered=3)

    @initialize(q=st.one_of(st.builds(ItemQuantities, st.integers(0, 6)), item_quantities()))
    def start(self, q: ItemQuantities) -> None:
        # a new item, or one anywhere in its life
        self.q = q

    @rule(name=st.sampled_from(OPERATIONS), data=st.data())
    def operate(self, name: str, data: st.DataObject) -> None:
        q = self.q
        before = dataclasses.asdict(q)
        limit = _limit(q, name)
        upper = 8 if limit is None else limit + 2
        anything = st.integers(min_value=-1, max_value=upper)
        fits = st.integers(min_value=1, max_value=upper if limit is None else max(limit, 1))
        quantity = data.draw(st.one_of(fits, anything), label="quantity")
        outcome = "invalid" if quantity <= 0 else "applied"
        if limit is not None and quantity > limit:
            outcome = "over the limit"
        event(f"{name}: {outcome}")
        if quantity <= 0:
            with pytest.raises(QuantityInvalid):
                _op(q, name)(quantity)
        elif limit is not None and quantity > limit:
            with pytest.raises(QuantityInvariantViolated):
                _op(q, name)(quantity)
        else:
            new = _op(q, name)(quantity)
            field, sign = _FIELD[name]
            expected = dict(before)
            expected[field] += sign * quantity
            assert dataclasses.asdict(new) == expected
            self.q = new
        assert dataclasses.asdict(q) == before
        event(f"status {self.q.status}")

    @rule(data=st.data())
    def operate_at_the_limit(self, data: st.DataObject) -> None:
        # The random quantities above rarely hit a limit exactly; this does.
        name = data.draw(st.sampled_from(OPERATIONS[1:]), label="operation")
        limit = _limit(self.q, name)
        assert limit is not None
        if limit > 0:
            self.q = _op(self.q, name)(limit)
            assert _limit(self.q, name) == 0

    @invariant()
    def counters_are_consistent(self) -> None:
        q = self.q
        assert all(v >= 0 for v in dataclasses.asdict(q).values())
        assert q.canceled + q.allocated <= q.ordered
        assert q.fulfilled <= q.allocated
        assert q.returned <= q.return_initiated
        assert q.reshipped <= q.fulfilled
        assert q.return_initiated <= q.fulfilled

    @invariant()
    def derived_fields_follow_their_formulas(self) -> None:
        q = self.q
        assert q.quantity == q.ordered - (q.canceled + q.returned)
        assert q.net_ordered == q.ordered - q.canceled
        assert q.available_to_fulfill == q.ordered - (q.canceled + q.allocated)
        assert q.available_to_cancel == q.available_to_fulfill
        assert q.available_to_return == q.fulfilled - q.return_initiated
        assert q.available_to_reship == max(q.fulfilled - (q.reshipped + q.return_initiated), 0)
        assert q.quantity >= 0
        assert q.available_to_fulfill >= 0
        assert q.available_to_return >= 0
        assert q.available_to_reship >= 0

    @invariant()
    def status_follows_first_match(self) -> None:
        q = self.q
        if q.return_initiated > q.returned:
            expected = ItemStatus.RETURN_INITIATED
        elif q.reshipped:
            expected = ItemStatus.RESHIPPED
        elif q.returned:
            expected = ItemStatus.RETURNED
        elif q.ordered == q.canceled:
            expected = ItemStatus.CANCELED
        elif q.fulfilled == q.ordered - q.canceled:
            expected = ItemStatus.FULFILLED
        elif q.fulfilled:
            expected = ItemStatus.PARTIALLY_FULFILLED
        elif q.allocated == q.ordered - q.canceled:
            expected = ItemStatus.ALLOCATED
        elif q.allocated:
            expected = ItemStatus.PARTIALLY_ALLOCATED
        else:
            expected = ItemStatus.ORDERED
        assert q.status is expected


ItemLifecycle.TestCase.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
TestItemLifecycle = ItemLifecycle.TestCase

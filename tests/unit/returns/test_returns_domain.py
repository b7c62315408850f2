"""The return order lifecycle (DESIGN.md §4): the transition table, line counters, and when
units are due a refund."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openoms.domain.errors import IllegalTransition, QuantityInvalid, QuantityInvariantViolated
from openoms.domain.returns import (
    RETURN_ORDER_TRANSITIONS,
    ReturnLine,
    ReturnOrderStatus,
    check_return_transition,
    reached,
    status_after_cancel,
    status_after_receipt,
)

S = ReturnOrderStatus

LEGAL = [
    (S.DRAFT, S.SUBMITTED),
    (S.DRAFT, S.CANCELED),
    (S.SUBMITTED, S.APPROVED),
    (S.SUBMITTED, S.CANCELED),
    (S.APPROVED, S.IN_TRANSIT),
    (S.APPROVED, S.RECEIVED),
    (S.APPROVED, S.CANCELED),
    (S.IN_TRANSIT, S.RECEIVED),
    (S.IN_TRANSIT, S.CANCELED),
    (S.RECEIVED, S.CLOSED),
]


def test_the_table_holds_exactly_the_legal_moves() -> None:
    moves = [(a, b) for a, targets in RETURN_ORDER_TRANSITIONS.items() for b in targets]
    assert sorted(moves) == sorted(LEGAL)


@pytest.mark.parametrize(("current", "target"), LEGAL)
def test_legal_moves_pass(current: S, target: S) -> None:
    check_return_transition(current, target)


def test_an_illegal_move_names_both_statuses_and_the_allowed_ones() -> None:
    with pytest.raises(IllegalTransition) as raised:
        check_return_transition(S.RECEIVED, S.APPROVED)
    assert raised.value.detail == (
        "a return order that is RECEIVED cannot become APPROVED (allowed from RECEIVED: CLOSED)"
    )
    assert (raised.value.code, raised.value.status) == ("illegal_transition", 409)
    assert raised.value.extra == {
        "current": "RECEIVED",
        "target": "APPROVED",
        "allowed": ["CLOSED"],
    }
    with pytest.raises(IllegalTransition, match=r"CANCELED cannot become RECEIVED .*: none\)"):
        check_return_transition(S.CANCELED, S.RECEIVED)


@pytest.mark.parametrize("status", list(S))
def test_nothing_moves_to_itself(status: S) -> None:
    with pytest.raises(IllegalTransition):
        check_return_transition(status, status)


def test_reached_follows_the_path_and_never_canceled() -> None:
    assert reached(S.IN_TRANSIT, S.APPROVED)
    assert reached(S.RECEIVED, S.RECEIVED)
    assert not reached(S.APPROVED, S.RECEIVED)
    assert not reached(S.CANCELED, S.SUBMITTED)


def test_a_line_receives_at_most_what_is_still_expected() -> None:
    line = ReturnLine(expected=3).receive(2)
    assert (line.received, line.outstanding, line.cancelable) == (2, 1, 1)
    with pytest.raises(QuantityInvariantViolated, match="only 1 of 3 still expected"):
        line.receive(2)
    with pytest.raises(QuantityInvalid):
        line.receive(0)


def test_a_credited_or_received_unit_cannot_be_canceled() -> None:
    line = ReturnLine(expected=3, received=1, credited=2)  # refunded in transit: 2 of 3
    assert line.cancelable == 1
    with pytest.raises(QuantityInvariantViolated, match="only 1 of 3 are still expected"):
        line.cancel(2)
    assert line.cancel(1).canceled == 1


def test_counters_stay_consistent() -> None:
    with pytest.raises(QuantityInvariantViolated):
        ReturnLine(expected=2, received=2, canceled=1)
    with pytest.raises(QuantityInvariantViolated):
        ReturnLine(expected=-1)


@pytest.mark.parametrize(
    ("eligible", "status", "due"),
    [
        (S.RECEIVED, S.IN_TRANSIT, 0),  # received units wait for the RECEIVED status
        (S.RECEIVED, S.RECEIVED, 2),  # the received ones (1 of 3 canceled), less 0 credited
        (S.CLOSED, S.RECEIVED, 0),
        (S.CLOSED, S.CLOSED, 2),
        (S.IN_TRANSIT, S.APPROVED, 0),
        (S.IN_TRANSIT, S.IN_TRANSIT, 2),  # the units expected back (3 − 1 canceled)
        (S.SUBMITTED, S.RECEIVED, 2),
    ],
)
def test_units_due_follow_the_refund_eligible_status(eligible: S, status: S, due: int) -> None:
    line = ReturnLine(expected=3, received=2, canceled=1)
    assert line.due(status, eligible) == due


def test_a_unit_is_never_due_twice() -> None:
    line = ReturnLine(expected=3, received=2, credited=2)
    assert line.due(S.RECEIVED, S.RECEIVED) == 0
    assert ReturnLine(expected=0, credited=2).due(S.RECEIVED, S.IN_TRANSIT) == 0  # returnless


def test_statuses_after_receipt_and_cancel() -> None:
    assert status_after_receipt([ReturnLine(3, received=1)]) is S.IN_TRANSIT
    assert status_after_receipt([ReturnLine(3, received=1, canceled=2)]) is S.RECEIVED
    assert status_after_cancel(S.APPROVED, [ReturnLine(3, canceled=3)]) is S.CANCELED
    assert status_after_cancel(S.IN_TRANSIT, [ReturnLine(3, received=1, canceled=2)]) is S.RECEIVED
    assert status_after_cancel(S.SUBMITTED, [ReturnLine(3, canceled=1)]) is S.SUBMITTED


@given(
    expected=st.integers(0, 20),
    steps=st.lists(st.tuples(st.sampled_from(["receive", "cancel"]), st.integers(1, 5))),
)
def test_received_plus_canceled_never_exceed_expected(
    expected: int, steps: list[tuple[str, int]]
) -> None:
    line = ReturnLine(expected)
    for action, units in steps:
        try:
            line = line.receive(units) if action == "receive" else line.cancel(units)
        except QuantityInvariantViolated:
            continue
        assert line.received + line.canceled <= line.expected
        assert line.due(S.RECEIVED, S.RECEIVED) == line.received

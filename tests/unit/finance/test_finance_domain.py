"""Invoices, credit memos and refund plans (DESIGN.md §3 Amounts, §7): exact to the unit."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openoms.domain.errors import AmountInvalid
from openoms.domain.finance import (
    Amounts,
    DocumentLine,
    RefundPlan,
    credit_memo_lines,
    invoice_lines_for_shipment,
    plan_refunds,
)
from openoms.domain.summary import ChangeKind, ChangeLine, ChangeOrder

# The §12 TEE-M line: 3 × 20.00, −6.00 line discount and −4.35 of WELCOME5, tax 12.00.
TEE = Amounts(quantity=3, total_price=6000, adjustments=-1035, tax=1200)
CHARGE = Amounts(quantity=1, total_price=499, tax=100)


def bill(billed: dict[str, Amounts], lines: list[DocumentLine]) -> None:
    for line in lines:
        billed[line.item] = billed.get(line.item, Amounts()) + Amounts(
            line.quantity, line.total_price, line.adjustments, line.tax
        )


def test_first_shipment_takes_its_share_and_the_delivery_charge() -> None:
    lines = invoice_lines_for_shipment(
        [("tee", 1)], {"tee": TEE}, {}, delivery_charge=("delivery", CHARGE)
    )
    assert lines == [
        DocumentLine("tee", 1, 2000, -345, 400),
        DocumentLine("delivery", 1, 499, 0, 100),
    ]
    assert sum(line.total for line in lines) == 2654


def test_the_last_units_take_the_remainder() -> None:
    item = Amounts(quantity=3, total_price=1000, adjustments=-100, tax=200)
    billed: dict[str, Amounts] = {}
    totals = []
    for units in (1, 1, 1):
        lines = invoice_lines_for_shipment([("x", units)], {"x": item}, billed)
        bill(billed, lines)
        totals.append((lines[0].total_price, lines[0].adjustments, lines[0].tax))
    assert totals == [(333, -33, 66), (333, -33, 67), (334, -34, 67)]
    assert billed["x"] == item


def test_a_credit_before_the_last_shipment_is_not_billed_twice() -> None:
    """1 of 3 shipped and invoiced (20.55), then 1.00 of discount credited on it: the last
    shipment bills the rest at the discounted price, so invoices − credits = the item."""
    billed: dict[str, Amounts] = {}
    bill(billed, invoice_lines_for_shipment([("tee", 1)], {"tee": TEE}, billed))
    discounted = Amounts(3, 6000, -1035 - 300, 1200)  # a 3.00 discount on the item
    billed["tee"] = billed["tee"] - Amounts(0, 0, 100, 0)  # its invoiced third, credited
    lines = invoice_lines_for_shipment([("tee", 2)], {"tee": discounted}, billed)
    bill(billed, lines)
    assert billed["tee"] == discounted


@given(
    quantity=st.integers(min_value=1, max_value=30),
    price=st.integers(min_value=0, max_value=10**7),
    discount=st.integers(min_value=0, max_value=10**6),
    tax=st.integers(min_value=0, max_value=10**6),
    data=st.data(),
)
def test_invoices_of_any_split_sum_exactly_to_the_item(
    quantity: int, price: int, discount: int, tax: int, data: st.DataObject
) -> None:
    item = Amounts(quantity, price, -min(discount, price), tax)
    billed: dict[str, Amounts] = {}
    left = quantity
    while left:
        units = data.draw(st.integers(min_value=1, max_value=left))
        lines = invoice_lines_for_shipment([("x", units)], {"x": item}, billed)
        (line,) = lines
        exact = item.total * units / quantity
        assert abs(line.total - exact) < 4  # each share within a unit per amount of its part
        bill(billed, lines)
        left -= units
    assert billed["x"] == item


def test_credit_memo_lines_turn_a_cancel_round() -> None:
    change = ChangeOrder(ChangeKind.CANCEL, "customer", (ChangeLine("tee", -1, -2000, 345, -400),))
    assert credit_memo_lines(change) == [DocumentLine("tee", 1, 2000, -345, 400)]
    discount = ChangeOrder(ChangeKind.ADJUST, "goodwill", (ChangeLine("tee", 0, 0, -300, -60),))
    assert [line.total for line in credit_memo_lines(discount)] == [360]


def test_an_addition_is_not_credited() -> None:
    change = ChangeOrder(ChangeKind.ADD, "more", (ChangeLine("tee", 1, 2000, 0, 400),))
    with pytest.raises(AmountInvalid):
        credit_memo_lines(change)


# --- plan_refunds ---------------------------------------------------------------------------


def test_an_exact_match_wins() -> None:
    assert plan_refunds(500, [("a", 900), ("b", 500), ("c", 700)]) == RefundPlan((("b", 500),))


def test_else_the_smallest_that_covers() -> None:
    assert plan_refunds(500, [("a", 900), ("b", 400), ("c", 700)]) == RefundPlan((("c", 500),))


def test_else_several_largest_first() -> None:
    plan = plan_refunds(1000, [("a", 300), ("b", 600), ("c", 300)])
    assert plan == RefundPlan((("b", 600), ("a", 300), ("c", 100)))


def test_what_nothing_covers_is_the_shortfall() -> None:
    plan = plan_refunds(1000, [("a", 300), ("b", 0)])
    assert plan == RefundPlan((("a", 300),), shortfall=700)
    assert plan_refunds(0, [("a", 300)]) == RefundPlan(())


@given(
    amount=st.integers(min_value=0, max_value=10**6),
    refundable=st.lists(st.integers(min_value=0, max_value=10**6), max_size=6),
)
def test_a_plan_never_exceeds_a_payment_nor_the_amount(amount: int, refundable: list[int]) -> None:
    payments = [(f"p{i}", r) for i, r in enumerate(refundable)]
    plan = plan_refunds(amount, payments)
    left = dict(payments)
    assert plan.total + plan.shortfall == amount
    assert plan.shortfall == max(amount - sum(refundable), 0)
    assert len({pid for pid, _ in plan.parts}) == len(plan.parts)
    assert all(0 < part <= left[pid] for pid, part in plan.parts)

"""The money of cancels and discounts (openoms.domain.changes), and the discount rules of
adjust-item-submit (openoms.services.adjustments.discount_amounts, pure): worked examples
on the §12 TEE-M (3 × 20.00, adjustments −10.35, tax 12.00) and properties — a discount's
stages add up to it exactly and its credit is the invoiced kept units' share; canceling every
unit not invoiced takes exactly the unbilled remainder, one unit at a time or all at once."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openoms.domain.changes import ItemMoney, cancel_charge, cancel_line, split_discount
from openoms.domain.errors import AmountInvalid, DiscountInvalid, QuantityInvalid
from openoms.domain.finance import Amounts, DocumentLine, share
from openoms.domain.quantities import ItemQuantities
from openoms.domain.summary import ChangeLine
from openoms.services.service_actions import Discount, discount_amounts
from tests.unit.strategies import item_quantities

TEE = Amounts(3, 6000, -1035, 1200)


def tee(*, billed: Amounts = Amounts(), **counters: int) -> ItemMoney:
    return ItemMoney("tee", ItemQuantities(ordered=3, **counters), TEE, billed)


# --- cancel -------------------------------------------------------------------------------


def test_cancel_one_unit_never_invoiced() -> None:
    change = cancel_line(tee(), 1)
    assert change.change == ChangeLine("tee", -1, -2000, 345, -400)
    assert change.credit is None


def test_cancel_after_an_invoice_takes_the_unbilled_share() -> None:
    """One unit shipped and invoiced (20.00, −3.45, 4.00): the other two take the rest."""
    item = tee(allocated=3, fulfilled=1, billed=Amounts(1, 2000, -345, 400))
    assert cancel_line(item, 2).change == ChangeLine("tee", -2, -4000, 690, -800)
    assert cancel_line(item, 1).change == ChangeLine("tee", -1, -2000, 345, -400)


@pytest.mark.parametrize("units", [0, -1])
def test_cancel_needs_a_positive_quantity(units: int) -> None:
    with pytest.raises(QuantityInvalid):
        cancel_line(tee(), units)


def test_cancel_charge_credits_what_was_invoiced() -> None:
    charge = Amounts(1, 499, 0, 100)
    never = cancel_charge(ItemMoney("dc", ItemQuantities(ordered=1), charge, Amounts()))
    assert (never.change, never.credit) == (ChangeLine("dc", -1, -499, 0, -100), None)
    billed = cancel_charge(ItemMoney("dc", ItemQuantities(ordered=1), charge, charge))
    assert billed.credit == DocumentLine("dc", 1, 499, 0, 100)
    with pytest.raises(QuantityInvalid):
        cancel_charge(ItemMoney("dc", ItemQuantities(ordered=1, canceled=1), charge, Amounts()))


@st.composite
def billed_items(draw: st.DrawFn) -> ItemMoney:
    """An item with units shipped and invoiced (no returns), billed as invoices bill."""
    q = draw(item_quantities().filter(lambda q: q.net_ordered > 0 and q.return_initiated == 0))
    q = ItemQuantities(
        ordered=q.ordered, canceled=q.canceled, allocated=q.allocated, fulfilled=q.fulfilled
    )
    price = draw(st.integers(min_value=0, max_value=10**6))
    adjustments = -draw(st.integers(min_value=0, max_value=price))
    tax = draw(st.integers(min_value=0, max_value=2 * 10**5))
    amounts = Amounts(q.net_ordered, price, adjustments, tax)
    invoiced = draw(st.integers(min_value=0, max_value=q.fulfilled))
    billed = share(Amounts(invoiced, price, adjustments, tax), invoiced, q.net_ordered)
    return ItemMoney("x", q, amounts, billed)


@settings(max_examples=300, deadline=None)
@given(billed_items())
def test_canceling_every_unit_not_invoiced_takes_the_whole_unbilled_remainder(
    item: ItemMoney,
) -> None:
    left = item.amounts - item.billed
    units = left.quantity
    if units == 0:
        return
    whole = cancel_line(item, units).change
    assert (whole.quantity, whole.total_price, whole.adjustments, whole.tax) == (
        -units,
        -left.total_price,
        -left.adjustments,
        -left.tax,
    )
    # One unit at a time, each against what the previous cancels left: the same in sum.
    current, taken = item, Amounts()
    for _ in range(units):
        line = cancel_line(current, 1).change
        taken = taken + Amounts(-line.quantity, -line.total_price, -line.adjustments, -line.tax)
        amounts = current.amounts + Amounts(
            line.quantity, line.total_price, line.adjustments, line.tax
        )
        current = ItemMoney(current.key, current.quantities, amounts, current.billed)
    assert taken == Amounts(units, left.total_price, left.adjustments, left.tax)


# --- discounts: the split -----------------------------------------------------------------


def test_a_discount_on_units_in_every_stage() -> None:
    """3 units: one shipped and invoiced, one allocated, one not: −3.00, tax −0.73."""
    item = tee(allocated=2, fulfilled=1, billed=Amounts(1, 2000, -345, 400))
    split = split_discount(item, -300, -73)
    assert split.post_fulfillment == ChangeLine("tee", 0, 0, -100, -24)
    assert split.in_fulfillment == ChangeLine("tee", 0, 0, -100, -24)
    assert split.pre_fulfillment == ChangeLine("tee", 0, 0, -100, -25)
    assert split.credit == DocumentLine("tee", 0, 0, 100, 24)


def test_a_discount_before_anything_shipped_is_all_pre_fulfillment() -> None:
    split = split_discount(tee(), -497, -120)
    assert (split.post_fulfillment, split.in_fulfillment, split.credit) == (None, None, None)
    assert split.pre_fulfillment == ChangeLine("tee", 0, 0, -497, -120)


@pytest.mark.parametrize(("adjustment", "tax"), [(0, 0), (100, 0), (-100, 10), (-4966, 0)])
def test_split_refuses_what_is_not_a_discount_the_item_bears(adjustment: int, tax: int) -> None:
    with pytest.raises(AmountInvalid):
        split_discount(tee(), adjustment, tax)


@st.composite
def discounted_items(draw: st.DrawFn) -> tuple[ItemMoney, int, int]:
    q = draw(item_quantities().filter(lambda q: q.net_ordered - q.returned > 0))
    price = draw(st.integers(min_value=1, max_value=10**6))
    adjustments = -draw(st.integers(min_value=0, max_value=price - 1))
    tax = draw(st.integers(min_value=0, max_value=2 * 10**5))
    invoiced = draw(st.integers(min_value=q.returned, max_value=q.fulfilled))
    billed = share(Amounts(invoiced, price, adjustments, tax), invoiced, q.net_ordered)
    item = ItemMoney("x", q, Amounts(q.net_ordered, price, adjustments, tax), billed)
    off = draw(st.integers(min_value=0, max_value=price + adjustments))
    off_tax = draw(st.integers(min_value=0, max_value=tax))
    if off == off_tax == 0:
        off = 1
    return item, -off, -off_tax


@settings(max_examples=400, deadline=None)
@given(discounted_items())
def test_the_stages_add_up_to_the_discount_and_the_credit_is_the_invoiced_share(
    case: tuple[ItemMoney, int, int],
) -> None:
    item, adjustment, tax = case
    split = split_discount(item, adjustment, tax)
    q = item.quantities
    stages = {
        "post": (split.post_fulfillment, q.fulfilled - q.returned),
        "in": (split.in_fulfillment, q.allocated - q.fulfilled),
        "pre": (split.pre_fulfillment, q.net_ordered - q.allocated),
    }
    for line, units in stages.values():
        assert (line is None) == (units == 0)
        if line is not None:
            assert (line.quantity, line.total_price) == (0, 0)
            assert adjustment <= line.adjustments <= 0
            assert tax <= line.tax <= 0
    lines = [line for line, _ in stages.values() if line is not None]
    assert sum(line.adjustments for line in lines) == adjustment
    assert sum(line.tax for line in lines) == tax
    keeps = q.net_ordered - q.returned
    expected = share(Amounts(0, 0, adjustment, tax), item.invoiced_kept, keeps)
    if split.credit is None:
        assert item.invoiced_kept == 0 or expected.total == 0
    else:
        assert (split.credit.adjustments, split.credit.tax) == (
            -expected.adjustments,
            -expected.tax,
        )
        post = split.post_fulfillment
        assert post is not None
        if item.invoiced_kept == q.fulfilled - q.returned:  # nothing shipped un-invoiced
            assert (split.credit.adjustments, split.credit.tax) == (-post.adjustments, -post.tax)


# --- discounts: the amounts of each type --------------------------------------------------


def amounts(kind: str, amount: str, net_price: int = 4965, tax: int = 1200) -> Discount:
    return discount_amounts(kind, amount, net_price=net_price, tax=tax, currency="GBP")


def test_worked_examples() -> None:
    assert amounts("percentage", "10") == Discount(-497, -120)  # 496.5 up; 120.12
    assert amounts("percentage", "100") == Discount(-4965, -1200)
    assert amounts("percentage", "12.5") == Discount(-621, -150)  # 620.625; 150.09
    assert amounts("amount_with_tax", "-5.00", 735, 160) == Discount(-411, -89)
    assert amounts("amount_with_tax", "-8.95", 735, 160) == Discount(-735, -160)
    assert amounts("amount_without_tax", "-3.00") == Discount(-300, -73)  # 72.51
    assert amounts("amount_without_tax", "-1.00", 735, 160) == Discount(-100, -22)  # 21.77
    assert amounts("amount_with_tax", "-1.00", 500, 0) == Discount(-100, 0)


@pytest.mark.parametrize(
    ("kind", "amount", "net_price", "tax"),
    [
        ("percentage", "0", 4965, 1200),
        ("percentage", "100.01", 4965, 1200),
        ("percentage", "-10", 4965, 1200),
        ("percentage", "1e1", 4965, 1200),
        ("percentage", "0.001", 4965, 1200),  # rounds to nothing
        ("amount_with_tax", "5.00", 4965, 1200),
        ("amount_with_tax", "0.00", 4965, 1200),
        ("amount_with_tax", "-61.66", 4965, 1200),
        ("amount_without_tax", "-49.66", 4965, 1200),
        ("amount_without_tax", "-1.005", 4965, 1200),
        ("amount_without_tax", "-1.00", 0, 0),
    ],
)
def test_only_discounts_the_item_bears(kind: str, amount: str, net_price: int, tax: int) -> None:
    with pytest.raises(DiscountInvalid) as refused:
        amounts(kind, amount, net_price, tax)
    assert refused.value.code == "discount_invalid"
    assert refused.value.field == "amount"


prices = st.tuples(
    st.integers(min_value=1, max_value=10**6), st.integers(min_value=0, max_value=3 * 10**5)
)


@settings(max_examples=300, deadline=None)
@given(prices, st.data())
def test_an_amount_with_tax_splits_exactly_by_the_tax_rate(
    price: tuple[int, int], data: st.DataObject
) -> None:
    net_price, tax = price
    wanted = data.draw(st.integers(min_value=1, max_value=net_price + tax))
    found = amounts("amount_with_tax", f"-{wanted // 100}.{wanted % 100:02d}", net_price, tax)
    assert found.adjustment + found.tax == -wanted
    assert -net_price <= found.adjustment <= 0
    assert -tax <= found.tax <= 0
    exact = Fraction(wanted * net_price, net_price + tax)
    assert abs(-found.adjustment - exact) <= Fraction(1, 2)


@settings(max_examples=300, deadline=None)
@given(prices, st.integers(min_value=1, max_value=10000))
def test_a_percentage_lowers_price_and_tax_in_proportion(
    price: tuple[int, int], hundredths: int
) -> None:
    net_price, tax = price
    percent = f"{hundredths // 100}.{hundredths % 100:02d}"
    try:
        found = amounts("percentage", percent, net_price, tax)
    except DiscountInvalid:
        assert net_price * hundredths < 5000  # rounds to nothing
        return
    assert abs(-found.adjustment - Fraction(net_price * hundredths, 10000)) <= Fraction(1, 2)
    assert abs(-found.tax - Fraction(tax * -found.adjustment, net_price)) <= Fraction(1, 2)
    assert -net_price <= found.adjustment <= 0
    assert -tax <= found.tax <= 0

"""Exact money: parsing, formatting, arithmetic and the largest-remainder split."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openoms.domain.errors import AmountInvalid, AmountTooLarge, CurrencyMismatch, CurrencyUnknown
from openoms.domain.money import (
    Money,
    check_amount,
    currency_exponent,
    distribute,
    format_minor,
    max_minor,
)

# --- currencies ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "exponent"),
    [
        ("JPY", 0),
        ("KRW", 0),
        ("GBP", 2),
        ("USD", 2),
        ("EUR", 2),
        ("KWD", 3),
        ("BHD", 3),
        ("CLF", 4),
    ],
)
def test_currency_exponent(currency: str, exponent: int) -> None:
    assert currency_exponent(currency) == exponent


@pytest.mark.parametrize("currency", ["XXX", "gbp", "", "GBPX", "ABC"])
def test_unknown_currency_is_rejected(currency: str) -> None:
    with pytest.raises(CurrencyUnknown) as caught:
        currency_exponent(currency)
    assert caught.value.code == "currency_unknown"
    assert caught.value.status == 400
    assert f"'{currency}'" in caught.value.detail


def test_parse_with_unknown_currency() -> None:
    with pytest.raises(CurrencyUnknown) as caught:
        Money.parse("1.00", "ZZZ")
    assert caught.value.code == "currency_unknown"


def test_zero_checks_the_currency() -> None:
    assert Money.zero("JPY") == Money(0, "JPY")
    with pytest.raises(CurrencyUnknown):
        Money.zero("ZZZ")


# --- parse and format ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "currency", "minor", "formatted"),
    [
        ("12.34", "GBP", 1234, "12.34"),
        ("0.01", "GBP", 1, "0.01"),
        ("-0.01", "GBP", -1, "-0.01"),
        ("-6.00", "GBP", -600, "-6.00"),
        ("4.99", "GBP", 499, "4.99"),
        ("12.3", "GBP", 1230, "12.30"),
        ("12", "GBP", 1200, "12.00"),
        ("0", "GBP", 0, "0.00"),
        ("-0.00", "GBP", 0, "0.00"),
        ("1500", "JPY", 1500, "1500"),
        ("-7", "JPY", -7, "-7"),
        ("0", "JPY", 0, "0"),
        ("1.234", "KWD", 1234, "1.234"),
        ("0.005", "KWD", 5, "0.005"),
        ("-12.5", "KWD", -12500, "-12.500"),
        ("1.2345", "CLF", 12345, "1.2345"),
        ("999999999999999.99", "GBP", 99999999999999999, "999999999999999.99"),
    ],
)
def test_parse_and_format(text: str, currency: str, minor: int, formatted: str) -> None:
    money = Money.parse(text, currency)
    assert money == Money(minor, currency)
    assert str(money) == formatted
    assert format_minor(minor, currency) == formatted
    assert Money.parse(formatted, currency) == money


def test_parse_accepts_decimal_and_int() -> None:
    assert Money.parse(Decimal("19.99"), "GBP") == Money(1999, "GBP")
    assert Money.parse(5, "GBP") == Money(500, "GBP")
    assert Money.parse(5, "JPY") == Money(5, "JPY")


def test_to_decimal_is_exact() -> None:
    assert Money(1234, "GBP").to_decimal() == Decimal("12.34")
    assert Money(-5, "KWD").to_decimal() == Decimal("-0.005")
    assert Money(1500, "JPY").to_decimal() == Decimal("1500")


@pytest.mark.parametrize(
    ("text", "currency"),
    [("12.345", "GBP"), ("0.001", "USD"), ("1.5", "JPY"), ("0.1", "JPY"), ("1.2345", "KWD")],
)
def test_too_many_decimals_rejected(text: str, currency: str) -> None:
    with pytest.raises(AmountInvalid) as caught:
        Money.parse(text, currency, field="items[0].unit_price")
    assert caught.value.code == "amount_invalid"
    assert caught.value.field == "items[0].unit_price"
    exponent = currency_exponent(currency)
    assert caught.value.detail == (
        f"items[0].unit_price: '{text}' has more than {exponent} decimal places for {currency}"
    )


def test_long_amounts_are_never_rounded() -> None:
    # 17 significant digits: more than a float holds exactly.
    assert Money.parse("999999999999999.99", "GBP").minor == 99999999999999999
    with pytest.raises(AmountInvalid) as caught:
        Money.parse("12345678901234567890123456.789", "GBP")
    assert "more than 2 decimal places" in caught.value.detail


@pytest.mark.parametrize(
    ("text", "currency", "largest"),
    [
        ("1000000000000000", "JPY", "999999999999999"),
        ("1000000000000000.00", "GBP", "999999999999999.99"),
        ("-1000000000000000", "GBP", "999999999999999.99"),
        ("1000000000000000.000", "KWD", "999999999999999.999"),
        ("100000000000000", "CLF", "99999999999999.9999"),
        ("1234567890123456789012345678.91", "GBP", "999999999999999.99"),
    ],
)
def test_amounts_have_at_most_15_integer_digits(text: str, currency: str, largest: str) -> None:
    with pytest.raises(AmountTooLarge) as caught:
        Money.parse(text, currency, field="items[0].unit_price")
    assert (caught.value.code, caught.value.status) == ("amount_too_large", 400)
    assert caught.value.field == "items[0].unit_price"
    assert caught.value.extra == {"max_amount": largest}
    assert str(Money.parse(largest, currency)) == largest
    assert max_minor(currency) == Money.parse(largest, currency).minor < 2**63 // 2


def test_check_amount_names_the_computed_amount() -> None:
    assert check_amount(-99999999999999999, "GBP", field="grand_total") == -99999999999999999
    with pytest.raises(AmountTooLarge) as caught:
        check_amount(10**17, "GBP", field="grand_total", what="the order's grand_total total")
    assert caught.value.detail == (
        "the order's grand_total total would be 1000000000000000.00 GBP; amounts have at most "
        "15 integer digits"
    )


@pytest.mark.parametrize("text", ["abc", "", "1.2.3", "NaN", "Infinity", "-inf", "1e999999"])
def test_not_an_amount(text: str) -> None:
    with pytest.raises(AmountInvalid) as caught:
        Money.parse(text, "GBP")
    assert caught.value.code == "amount_invalid"
    assert caught.value.field == "amount"


@given(
    minor=st.integers(min_value=-(10**18) + 1, max_value=10**18 - 1),
    currency=st.sampled_from(["JPY", "GBP", "KWD", "CLF"]),
)
def test_format_parse_round_trip(minor: int, currency: str) -> None:
    minor = max(-max_minor(currency), min(minor, max_minor(currency)))
    text = format_minor(minor, currency)
    assert Money.parse(text, currency) == Money(minor, currency)
    exponent = currency_exponent(currency)
    if exponent:
        assert len(text.split(".")[1]) == exponent
    else:
        assert "." not in text


# --- arithmetic ---------------------------------------------------------------------------


def test_arithmetic() -> None:
    a, b = Money(1999, "GBP"), Money(501, "GBP")
    assert a + b == Money(2500, "GBP")
    assert a - b == Money(1498, "GBP")
    assert b - a == Money(-1498, "GBP")
    assert -a == Money(-1999, "GBP")
    assert a * 3 == Money(5997, "GBP")
    assert Money(0, "GBP").is_zero()
    assert not a.is_zero()


@pytest.mark.parametrize("op", ["add", "sub"])
def test_currency_mismatch(op: str) -> None:
    gbp, usd = Money(100, "GBP"), Money(100, "USD")
    with pytest.raises(CurrencyMismatch) as caught:
        _ = gbp + usd if op == "add" else gbp - usd
    assert caught.value.code == "currency_mismatch"
    assert caught.value.detail == "cannot combine GBP with USD"
    assert gbp == Money(100, "GBP")
    assert usd == Money(100, "USD")


# --- distribute: exact examples -------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "weights", "shares"),
    [
        (100, [1, 1, 1], [34, 33, 33]),
        (-100, [1, 1, 1], [-34, -33, -33]),
        (200, [1, 1, 1], [67, 67, 66]),
        (-500, [5400, 800], [-435, -65]),  # WELCOME5 on the §12 order
        (499, [5400], [499]),
        (10, [3, 0, 7], [3, 0, 7]),
        (10, [0, 0, 0], [4, 3, 3]),  # all-zero weights split evenly
        (-10, [0, 0], [-5, -5]),
        (0, [5, 7], [0, 0]),
        (0, [], []),
        (1, [1, 1, 1], [1, 0, 0]),  # ties go to the earliest
        (2, [1, 1, 1], [1, 1, 0]),
        (1, [1, 2], [0, 1]),  # larger remainder wins over earlier
        (7, [1, 1, 1, 1], [2, 2, 2, 1]),
        (1000, [333, 333, 334], [333, 333, 334]),
    ],
)
def test_distribute_examples(total: int, weights: list[int], shares: list[int]) -> None:
    assert distribute(total, weights) == shares


def test_distribute_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="no lines"):
        distribute(1, [])
    with pytest.raises(ValueError, match="must not be negative"):
        distribute(10, [1, -1])


def test_distribute_does_not_touch_weights() -> None:
    weights = [3, 1]
    distribute(-7, weights)
    assert weights == [3, 1]


# --- distribute: properties ---------------------------------------------------------------

_totals = st.integers(min_value=-(10**9), max_value=10**9)
_weights = st.lists(st.integers(min_value=0, max_value=10**7), min_size=1, max_size=12)


@settings(max_examples=300)
@given(total=_totals, weights=_weights)
def test_distribute_properties(total: int, weights: list[int]) -> None:
    shares = distribute(total, weights)
    assert len(shares) == len(weights)
    assert sum(shares) == total
    basis = weights if any(weights) else [1] * len(weights)
    for share, weight in zip(shares, basis, strict=True):
        exact = Fraction(total * weight, sum(basis))
        assert abs(share - exact) < 1
        # sign preserved: no share points the other way
        assert share * total >= 0
        if weight == 0 and any(weights):
            assert share == 0
    assert distribute(total, list(weights)) == shares


@settings(max_examples=200)
@given(total=_totals, weights=_weights)
def test_distribute_is_symmetric_in_sign(total: int, weights: list[int]) -> None:
    assert distribute(-total, weights) == [-s for s in distribute(total, weights)]


@settings(max_examples=200)
@given(total=st.integers(min_value=0, max_value=10**6), weights=_weights)
def test_distribute_never_exceeds_a_weight_when_total_fits(total: int, weights: list[int]) -> None:
    # What order adjustments rely on: a discount no larger than the lines never
    # takes more from a line than that line is worth.
    if total > sum(weights):
        total = sum(weights)
    if not any(weights):
        return
    for share, weight in zip(distribute(total, weights), weights, strict=True):
        assert 0 <= share <= weight

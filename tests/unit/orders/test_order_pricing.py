"""Pricing and validating an order draft (DESIGN.md §3 amounts, §12 example)."""

from __future__ import annotations

from datetime import datetime
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openoms.domain.errors import (
    AdjustmentInvalid,
    AmountInvalid,
    AmountTooLarge,
    CurrencyUnknown,
    DeliveryGroupInvalid,
    DomainError,
    PaymentsInsufficient,
    QuantityInvalid,
    QuantityTooLarge,
    TotalsMismatch,
    ValidationFailed,
)
from openoms.domain.order import (
    DELIVERY_CHARGE_SKU,
    Adjustment,
    DeliveryGroup,
    DeliveryMethod,
    ItemType,
    OrderDraft,
    OrderLine,
    PaymentMethod,
    PricedItem,
    Recipient,
    Totals,
    delivery_charge_shares,
    price_order,
)
from tests.unit.factories import (
    make_address,
    make_draft,
    make_line,
    make_mug_line,
    make_payment,
    make_pickup_group,
    make_priced,
    make_ship_group,
)

# --- the §12 example ------------------------------------------------------------------------


def test_example_order_totals() -> None:
    priced = make_priced()
    assert priced.totals == Totals(product=6800, delivery=499, adjustments=-1100, tax=1460)
    assert priced.totals.grand_total == 7659


def test_example_order_items() -> None:
    priced = make_priced()
    assert priced.items == (
        PricedItem(
            key="line:0",
            type=ItemType.PRODUCT,
            sku="TEE-M",
            delivery_group="home",
            quantity=3,
            unit_price=2000,
            total_price=6000,
            adjustments=-1035,  # -6.00 "3 for 2" and -4.35 of WELCOME5
            tax=1200,
            adjustment_details=(
                Adjustment(amount=-600, reason="3 for 2"),
                Adjustment(amount=-435, reason="WELCOME5"),
            ),
        ),
        PricedItem(
            key="line:1",
            type=ItemType.PRODUCT,
            sku="MUG",
            delivery_group="store",
            quantity=1,
            unit_price=800,
            total_price=800,
            adjustments=-65,  # -0.65 of WELCOME5
            tax=160,
            adjustment_details=(Adjustment(amount=-65, reason="WELCOME5"),),
        ),
        PricedItem(
            key="delivery:home",
            type=ItemType.DELIVERY_CHARGE,
            sku=DELIVERY_CHARGE_SKU,
            delivery_group="home",
            quantity=1,
            unit_price=499,
            total_price=499,
            tax=100,
            name="Delivery (standard)",
        ),
    )
    assert [i.total for i in priced.items] == [6165, 895, 599]
    assert sum(i.total for i in priced.items) == 7659


def test_welcome5_split_by_largest_remainder() -> None:
    # net prices 54.00 and 8.00: exact shares 4.3548… and 0.6451…; both floor to 4.35 and
    # 0.64, and the leftover penny goes to the larger remainder (MUG, .51 > .48).
    priced = make_priced()
    shares = [i.adjustment_details[-1] for i in priced.items if i.type is ItemType.PRODUCT]
    assert shares == [Adjustment(-435, "WELCOME5"), Adjustment(-65, "WELCOME5")]


def test_example_delivery_charge_shares() -> None:
    priced = make_priced()
    assert delivery_charge_shares(priced, "home") == {"line:0": 599}
    assert delivery_charge_shares(priced, "store") == {"line:1": 0}


def test_delivery_charge_shares_split_by_net_price() -> None:
    priced = make_priced(
        lines=(
            make_line(),  # net 54.00
            make_line(sku="TEE-L", quantity=1, tax=400, adjustments=()),  # net 20.00
            make_mug_line(),
        ),
        adjustments=(),
        payments=(),
    )
    # 5.99 (charge 4.99 + tax 1.00) over 54 : 20 → 437.1… and 161.8…
    assert delivery_charge_shares(priced, "home") == {"line:0": 437, "line:1": 162}


def test_order_on_account_and_overpayment_are_accepted() -> None:
    assert make_priced(payments=()).totals.grand_total == 7659
    assert make_priced(payments=(make_payment(amount=8000),)).totals.grand_total == 7659
    split = (make_payment(amount=5000), make_payment(token="tok_amex", amount=2659))
    assert make_priced(payments=split).totals.grand_total == 7659


def test_declared_totals_that_add_up_are_accepted() -> None:
    priced = make_priced(
        lines=(make_line(declared_total=6600), make_mug_line(declared_total=960)),
        declared_grand_total=7659,
    )
    assert priced.totals.grand_total == 7659


def test_adjustments_up_to_the_limit_are_accepted() -> None:
    # A line discounted to zero, and an order discount of everything that is left.
    priced = make_priced(
        lines=(
            make_line(adjustments=(Adjustment(-6000, "free"),)),
            make_mug_line(),
        ),
        adjustments=(Adjustment(-800, "all of it"),),
    )
    assert [(i.total_price, i.adjustments) for i in priced.items] == [
        (6000, -6000),
        (800, -800),
        (499, 0),
    ]
    assert priced.totals == Totals(product=6800, delivery=499, adjustments=-6800, tax=1460)


def test_adjustment_tax_is_spread_with_the_amount() -> None:
    priced = make_priced(
        lines=(make_line(adjustments=(Adjustment(-600, "3 for 2", tax=-120),)), make_mug_line()),
        adjustments=(Adjustment(-500, "WELCOME5", tax=-100),),
    )
    products = [i for i in priced.items if i.type is ItemType.PRODUCT]
    # -1.00 of tax over 54.00 : 8.00 → 87.09… and 12.90…
    assert [i.adjustment_details[-1] for i in products] == [
        Adjustment(-435, "WELCOME5", tax=-87),
        Adjustment(-65, "WELCOME5", tax=-13),
    ]
    assert [i.tax for i in products] == [1200 - 120 - 87, 160 - 13]
    assert priced.totals == Totals(product=6800, delivery=499, adjustments=-1100, tax=1240)


def test_delivery_charge_only_when_set() -> None:
    priced = make_priced(
        delivery_groups=(make_ship_group(charge=0, charge_tax=0), make_pickup_group()),
        payments=(),
    )
    assert [i.key for i in priced.items] == ["line:0", "line:1"]
    assert priced.totals.delivery == 0
    assert priced.totals.grand_total == 7659 - 599


def test_several_order_adjustments_apply_in_turn() -> None:
    priced = make_priced(
        adjustments=(Adjustment(-500, "WELCOME5"), Adjustment(-100, "LOYAL")),
    )
    # the second one splits over the prices net of the first: 49.65 and 7.35
    assert [i.adjustment_details[-1] for i in priced.items[:2]] == [
        Adjustment(-87, "LOYAL"),
        Adjustment(-13, "LOYAL"),
    ]
    assert priced.totals.adjustments == -1200


# --- validation -----------------------------------------------------------------------------


def _ship_group_without_address() -> DeliveryGroup:
    return make_ship_group(recipient=Recipient(name="Ada Lovelace"))


FAILURES: list[tuple[str, dict[str, Any], type[DomainError], str, str | None]] = [
    ("unknown currency", {"currency": "ZZZ"}, CurrencyUnknown, "currency_unknown", "currency"),
    ("empty channel", {"channel": " "}, ValidationFailed, "validation_failed", "channel"),
    (
        "empty external reference",
        {"external_reference": ""},
        ValidationFailed,
        "validation_failed",
        "external_reference",
    ),
    (
        "naive ordered_at",
        {"ordered_at": datetime(2026, 11, 20, 10, 0)},  # naive: the point of the test
        ValidationFailed,
        "validation_failed",
        "ordered_at",
    ),
    ("no items", {"lines": ()}, ValidationFailed, "validation_failed", "items"),
    (
        "no delivery groups",
        {"delivery_groups": ()},
        DeliveryGroupInvalid,
        "delivery_group_invalid",
        "delivery_groups",
    ),
    (
        "zero quantity",
        {"lines": (make_line(quantity=0), make_mug_line())},
        QuantityInvalid,
        "quantity_invalid",
        "items[0].quantity",
    ),
    (
        "negative quantity",
        {"lines": (make_line(), make_mug_line(quantity=-1))},
        QuantityInvalid,
        "quantity_invalid",
        "items[1].quantity",
    ),
    (
        "negative unit price",
        {"lines": (make_line(), make_mug_line(unit_price=-1))},
        AmountInvalid,
        "amount_invalid",
        "items[1].unit_price",
    ),
    (
        "negative tax",
        {"lines": (make_line(tax=-1), make_mug_line())},
        AmountInvalid,
        "amount_invalid",
        "items[0].tax",
    ),
    (
        "item in a missing group",
        {"lines": (make_line(), make_mug_line(), make_mug_line(delivery_group="office"))},
        DeliveryGroupInvalid,
        "delivery_group_invalid",
        "items[2].delivery_group",
    ),
    (
        "pickup group without location",
        {"delivery_groups": (make_ship_group(), make_pickup_group(pickup_location=None))},
        DeliveryGroupInvalid,
        "delivery_group_invalid",
        "delivery_groups[1].pickup_location",
    ),
    (
        "ship group without recipient",
        {"delivery_groups": (make_ship_group(recipient=None), make_pickup_group())},
        DeliveryGroupInvalid,
        "delivery_group_invalid",
        "delivery_groups[0].recipient",
    ),
    (
        "ship group without address",
        {"delivery_groups": (_ship_group_without_address(), make_pickup_group())},
        DeliveryGroupInvalid,
        "delivery_group_invalid",
        "delivery_groups[0].recipient",
    ),
    (
        "duplicate group ref",
        {
            "delivery_groups": (
                make_ship_group(),
                make_pickup_group(),
                make_pickup_group(pickup_location="STORE-MAN"),
            )
        },
        DeliveryGroupInvalid,
        "delivery_group_invalid",
        "delivery_groups[2].ref",
    ),
    (
        "group with no items",
        {
            "delivery_groups": (
                make_ship_group(),
                make_pickup_group(),
                make_pickup_group(ref="spare"),
            )
        },
        DeliveryGroupInvalid,
        "delivery_group_invalid",
        "delivery_groups[2]",
    ),
    (
        "negative delivery charge",
        {"delivery_groups": (make_ship_group(charge=-1), make_pickup_group())},
        AmountInvalid,
        "amount_invalid",
        "delivery_groups[0].delivery_charge",
    ),
    (
        "negative delivery charge tax",
        {"delivery_groups": (make_ship_group(), make_pickup_group(charge_tax=-1))},
        AmountInvalid,
        "amount_invalid",
        "delivery_groups[1].delivery_charge",
    ),
    (
        "positive line adjustment",
        {"lines": (make_line(), make_mug_line(adjustments=(Adjustment(1, "surcharge"),)))},
        AdjustmentInvalid,
        "adjustment_invalid",
        "items[1].adjustments[0].amount",
    ),
    (
        "positive line adjustment tax",
        {
            "lines": (
                make_line(adjustments=(Adjustment(-600, "3 for 2"), Adjustment(0, "odd", tax=1))),
                make_mug_line(),
            )
        },
        AdjustmentInvalid,
        "adjustment_invalid",
        "items[0].adjustments[1].tax",
    ),
    (
        "line adjustment larger than the line",
        {"lines": (make_line(adjustments=(Adjustment(-6001, "too much"),)), make_mug_line())},
        AdjustmentInvalid,
        "adjustment_invalid",
        "items[0].adjustments",
    ),
    (
        "line adjustments together larger than the line",
        {
            "lines": (
                make_line(),
                make_mug_line(adjustments=(Adjustment(-500, "a"), Adjustment(-301, "b"))),
            )
        },
        AdjustmentInvalid,
        "adjustment_invalid",
        "items[1].adjustments",
    ),
    (
        "line adjustment tax larger than the line tax",
        {"lines": (make_line(), make_mug_line(adjustments=(Adjustment(-100, "x", tax=-161),)))},
        AdjustmentInvalid,
        "adjustment_invalid",
        "items[1].adjustments",
    ),
    (
        "positive order adjustment",
        {"adjustments": (Adjustment(500, "surcharge"),)},
        AdjustmentInvalid,
        "adjustment_invalid",
        "adjustments[0].amount",
    ),
    (
        "positive order adjustment tax",
        {"adjustments": (Adjustment(-500, "WELCOME5", tax=1),)},
        AdjustmentInvalid,
        "adjustment_invalid",
        "adjustments[0].tax",
    ),
    (
        "order adjustment larger than the order",
        {"adjustments": (Adjustment(-6201, "too much"),)},  # net products are 62.00
        AdjustmentInvalid,
        "adjustment_invalid",
        "adjustments[0].amount",
    ),
    (
        "second order adjustment larger than what is left",
        {"adjustments": (Adjustment(-6000, "big"), Adjustment(-201, "more"))},
        AdjustmentInvalid,
        "adjustment_invalid",
        "adjustments[1].amount",
    ),
    (
        "order adjustment tax larger than a line's tax",
        {"adjustments": (Adjustment(-500, "WELCOME5", tax=-1300),)},  # MUG's share > 1.60
        AdjustmentInvalid,
        "adjustment_invalid",
        "adjustments[0].tax",
    ),
    (
        "declared line total off by a penny",
        {"lines": (make_line(declared_total=6601), make_mug_line())},
        TotalsMismatch,
        "totals_mismatch",
        "items[0].total",
    ),
    (
        "declared grand total off by a penny",
        {"declared_grand_total": 7658},
        TotalsMismatch,
        "totals_mismatch",
        "grand_total",
    ),
    (
        "payments a penny short",
        {"payments": (make_payment(amount=7658),)},
        PaymentsInsufficient,
        "payments_insufficient",
        "payments",
    ),
    (
        "split payments short",
        {"payments": (make_payment(amount=5000), make_payment(amount=2000))},
        PaymentsInsufficient,
        "payments_insufficient",
        "payments",
    ),
    (
        "zero payment",
        {"payments": (make_payment(), make_payment(amount=0))},
        AmountInvalid,
        "amount_invalid",
        "payments[1].amount",
    ),
    (
        "negative payment",
        {"payments": (make_payment(amount=-7659),)},
        AmountInvalid,
        "amount_invalid",
        "payments[0].amount",
    ),
]


@pytest.mark.parametrize(
    ("overrides", "error", "code", "field"),
    [pytest.param(*case[1:], id=case[0]) for case in FAILURES],
)
def test_validation_failure(
    overrides: dict[str, Any], error: type[DomainError], code: str, field: str | None
) -> None:
    draft = make_draft(**overrides)
    with pytest.raises(error) as caught:
        price_order(draft)
    assert type(caught.value) is error
    assert caught.value.code == code
    assert caught.value.field == field
    assert caught.value.status == 400
    assert isinstance(caught.value, ValidationFailed)
    assert draft == make_draft(**overrides)


BIGGEST = 99_999_999_999_999_999  # 999,999,999,999,999.99: 15 integer digits


@pytest.mark.parametrize(
    ("overrides", "error", "field", "detail"),
    [
        pytest.param(
            {
                "lines": (
                    make_line(quantity=93, unit_price=99_999_999_999_999_900, adjustments=()),
                ),
                "delivery_groups": (make_ship_group(),),
                "adjustments": (),
                "payments": (),
            },
            AmountTooLarge,
            "items[0]",
            "items[0] total price would be 92999999999999907.00 GBP; amounts have at most 15 "
            "integer digits",
            id="line total",
        ),
        pytest.param(
            {
                "lines": (make_line(unit_price=1, tax=BIGGEST, adjustments=()), make_mug_line()),
                "adjustments": (),
                "payments": (),
            },
            AmountTooLarge,
            "items[0]",
            "items[0] total would be 1000000000000000.02 GBP; amounts have at most 15 integer "
            "digits",
            id="line price and tax",
        ),
        pytest.param(
            {
                "lines": (
                    make_mug_line(unit_price=BIGGEST, tax=0),
                    make_mug_line(sku="CUP", unit_price=1, tax=0),
                ),
                "delivery_groups": (make_pickup_group(),),
                "adjustments": (),
                "payments": (),
            },
            AmountTooLarge,
            "totals.product",
            "the order's product total would be 1000000000000000.00 GBP; amounts have at most "
            "15 integer digits",
            id="product total",
        ),
        pytest.param(
            {
                "lines": (make_mug_line(unit_price=BIGGEST - 100, tax=0),),
                "delivery_groups": (make_pickup_group(charge=100, charge_tax=1),),
                "adjustments": (),
                "payments": (),
            },
            AmountTooLarge,
            "grand_total",
            "the order's grand_total total would be 1000000000000000.00 GBP; amounts have at "
            "most 15 integer digits",
            id="grand total",
        ),
        pytest.param(
            {"lines": (make_line(quantity=1_000_001), make_mug_line())},
            QuantityTooLarge,
            "items[0].quantity",
            "items[0].quantity is 1000001; one line carries at most 1,000,000 units",
            id="quantity",
        ),
    ],
)
def test_nothing_computed_outgrows_the_api_amounts(
    overrides: dict[str, Any], error: type[DomainError], field: str, detail: str
) -> None:
    with pytest.raises(error) as caught:
        price_order(make_draft(**overrides))
    assert type(caught.value) is error
    assert (caught.value.field, caught.value.detail, caught.value.status) == (field, detail, 400)


def test_the_largest_order_is_priced_exactly() -> None:
    priced = price_order(
        make_draft(
            lines=(make_mug_line(unit_price=BIGGEST - 1, tax=1),),
            delivery_groups=(make_pickup_group(),),
            adjustments=(),
            payments=(),
        )
    )
    assert priced.totals.grand_total == BIGGEST


def test_failure_messages_name_the_amounts() -> None:
    with pytest.raises(AdjustmentInvalid) as caught:
        price_order(make_draft(adjustments=(Adjustment(-6201, "too much"),)))
    assert caught.value.detail == (
        "adjustments[0] of -62.01 exceeds the discounted product total 62.00"
    )
    with pytest.raises(TotalsMismatch) as mismatch:
        price_order(make_draft(declared_grand_total=7658))
    assert mismatch.value.detail == (
        "grand_total is 76.58 but the items, delivery charges, adjustments and tax add up to 76.59"
    )
    with pytest.raises(PaymentsInsufficient) as short:
        price_order(make_draft(payments=(make_payment(amount=7658),)))
    assert short.value.extra == {"covered": "76.58", "grand_total": "76.59"}


def test_exponent_zero_currency() -> None:
    priced = make_priced(
        currency="JPY",
        delivery_groups=(make_ship_group(charge=500, charge_tax=50), make_pickup_group()),
        lines=(
            make_line(unit_price=2000, tax=600, adjustments=(Adjustment(-100, "x"),)),
            make_mug_line(unit_price=1000, tax=100),
        ),
        adjustments=(Adjustment(-100, "WELCOME"),),
        payments=(),
    )
    # 100 yen over 5900 : 1000 → 85.51… and 14.49…; the leftover yen goes to the larger
    # remainder, so -100 - 86 and -14.
    assert [i.adjustments for i in priced.items] == [-186, -14, 0]
    assert priced.totals.grand_total == 6000 + 1000 + 500 - 200 + 600 + 100 + 50


# --- random valid drafts --------------------------------------------------------------------


@st.composite
def drafts(draw: st.DrawFn) -> OrderDraft:
    n_groups = draw(st.integers(min_value=1, max_value=3))
    groups = []
    for g in range(n_groups):
        charge = draw(st.integers(min_value=0, max_value=1500))
        charge_tax = draw(st.integers(min_value=0, max_value=300))
        if draw(st.booleans()):
            groups.append(make_ship_group(ref=f"g{g}", charge=charge, charge_tax=charge_tax))
        else:
            groups.append(make_pickup_group(ref=f"g{g}", charge=charge, charge_tax=charge_tax))
    n_lines = draw(st.integers(min_value=n_groups, max_value=6))
    lines = []
    for i in range(n_lines):
        group = f"g{i}" if i < n_groups else f"g{draw(st.integers(0, n_groups - 1))}"
        quantity = draw(st.integers(min_value=1, max_value=10))
        unit_price = draw(st.integers(min_value=0, max_value=10_000))
        tax = draw(st.integers(min_value=0, max_value=3_000))
        price_left, tax_left = quantity * unit_price, tax
        adjustments = []
        for _ in range(draw(st.integers(min_value=0, max_value=2))):
            amount = draw(st.integers(min_value=0, max_value=price_left))
            adj_tax = draw(st.integers(min_value=0, max_value=tax_left))
            price_left, tax_left = price_left - amount, tax_left - adj_tax
            adjustments.append(Adjustment(-amount, f"line {i}", tax=-adj_tax))
        lines.append(
            OrderLine(
                sku=f"SKU-{i}",
                quantity=quantity,
                unit_price=unit_price,
                tax=tax,
                delivery_group=group,
                adjustments=tuple(adjustments),
            )
        )
    net_left = sum(
        ln.quantity * ln.unit_price + sum(a.amount for a in ln.adjustments) for ln in lines
    )
    # No share of an order adjustment's tax is larger than the adjustment's tax, so keeping
    # their sum under the smallest line tax keeps every line's tax non-negative.
    tax_budget = min(ln.tax + sum(a.tax for a in ln.adjustments) for ln in lines)
    order_adjustments = []
    for j in range(draw(st.integers(min_value=0, max_value=3))):
        amount = draw(st.integers(min_value=0, max_value=net_left))
        adj_tax = draw(st.integers(min_value=0, max_value=tax_budget))
        net_left, tax_budget = net_left - amount, tax_budget - adj_tax
        order_adjustments.append(Adjustment(-amount, f"order {j}", tax=-adj_tax))
    grand_total = _expected_grand_total(groups, lines, order_adjustments)
    payments: tuple[PaymentMethod, ...] = ()
    if grand_total > 0 and draw(st.booleans()):
        first = draw(st.integers(min_value=1, max_value=grand_total))
        payments = (make_payment(amount=first),)
        if first < grand_total:
            payments += (make_payment(token="tok_2", amount=grand_total - first),)
    currency = draw(st.sampled_from(["GBP", "JPY", "KWD"]))
    return make_draft(
        currency=currency,
        delivery_groups=tuple(groups),
        lines=tuple(lines),
        adjustments=tuple(order_adjustments),
        payments=payments,
        declared_grand_total=grand_total if draw(st.booleans()) else None,
    )


def _expected_grand_total(
    groups: list[DeliveryGroup], lines: list[OrderLine], adjustments: list[Adjustment]
) -> int:
    return (
        sum(g.charge + g.charge_tax for g in groups)
        + sum(
            ln.quantity * ln.unit_price + ln.tax + sum(a.amount + a.tax for a in ln.adjustments)
            for ln in lines
        )
        + sum(a.amount + a.tax for a in adjustments)
    )


@settings(max_examples=200, deadline=None)
@given(draft=drafts())
def test_random_drafts_price_exactly(draft: OrderDraft) -> None:
    priced = price_order(draft)
    totals = priced.totals
    products = [i for i in priced.items if i.type is ItemType.PRODUCT]
    charges = [i for i in priced.items if i.type is ItemType.DELIVERY_CHARGE]

    assert sum(i.total for i in priced.items) == totals.grand_total
    assert totals.grand_total == _expected_grand_total(
        list(draft.delivery_groups), list(draft.lines), list(draft.adjustments)
    )
    assert totals.product == sum(ln.quantity * ln.unit_price for ln in draft.lines)
    assert totals.delivery == sum(g.charge for g in draft.delivery_groups)
    assert totals.adjustments == sum(a.amount for ln in draft.lines for a in ln.adjustments) + sum(
        a.amount for a in draft.adjustments
    )

    assert [i.key for i in products] == [f"line:{n}" for n in range(len(draft.lines))]
    for item in products:
        assert -item.total_price <= item.adjustments <= 0
        assert item.tax >= 0
        assert item.adjustments == sum(a.amount for a in item.adjustment_details)
    assert [(c.delivery_group, c.total_price, c.tax) for c in charges] == [
        (g.ref, g.charge, g.charge_tax) for g in draft.delivery_groups if g.charge or g.charge_tax
    ]

    # Each order-level adjustment is split exactly, by largest remainder over net prices.
    weights = [
        ln.quantity * ln.unit_price + sum(a.amount for a in ln.adjustments) for ln in draft.lines
    ]
    for j, adjustment in enumerate(draft.adjustments):
        shares = [
            item.adjustment_details[len(line.adjustments) + j]
            for item, line in zip(products, draft.lines, strict=True)
        ]
        assert sum(s.amount for s in shares) == adjustment.amount
        assert sum(s.tax for s in shares) == adjustment.tax
        assert {s.reason for s in shares} == {adjustment.reason}
        if any(weights):
            for share, weight in zip(shares, weights, strict=True):
                exact = Fraction(adjustment.amount * weight, sum(weights))
                assert abs(share.amount - exact) < 1
        weights = [w + s.amount for w, s in zip(weights, shares, strict=True)]

    for group in draft.delivery_groups:
        shares_by_line = delivery_charge_shares(priced, group.ref)
        assert sum(shares_by_line.values()) == group.charge + group.charge_tax
        assert set(shares_by_line) == {i.key for i in products if i.delivery_group == group.ref}


def test_delivery_method_values() -> None:
    assert DeliveryMethod("ship") is DeliveryMethod.SHIP
    assert DeliveryMethod("pickup") is DeliveryMethod.PICKUP
    assert make_address().country == "GB"

"""The pure Shopify mapping: public payloads to drafts, the totals check to the cent, and
every refusal naming what it refuses; the HMAC check."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from openoms.domain.errors import DomainError
from openoms.domain.order import ItemType
from openoms.domain.shopify import (
    ShopifyOrderRefused,
    ShopifyTotalsMismatch,
    check_totals,
    order_draft,
    verify_hmac,
)

DATA = Path(__file__).parents[2] / "data" / "shopify"


def notification(year: int = 2019) -> dict[str, Any]:
    return json.loads((DATA / f"test_notification_{year}.json").read_text())


def python_api_order() -> dict[str, Any]:
    return json.loads((DATA / "shopify_python_api_order.json").read_text())["order"]


@pytest.mark.parametrize("year", [2019, 2022])
def test_the_test_notification_maps_to_a_draft_with_shopifys_totals(year: int) -> None:
    payload = notification(year)
    mapped = order_draft(payload, channel="shop")
    draft = mapped.draft
    assert (draft.channel, draft.external_reference, draft.currency) == (
        "shop",
        "820982911946154508",
        "USD",
    )
    assert mapped.name == "#9999"
    assert [(line.sku, line.quantity, line.unit_price, line.tax) for line in draft.lines] == [
        ("IPOD2008PINK", 1, 19900, 0),
        ("IPOD2008PINK", 1, 19900, 0),
    ]
    assert draft.lines[1].adjustments[0].amount == -500
    assert draft.lines[1].adjustments[0].reason == "shopify discount Discount"
    group = draft.delivery_groups[0]
    assert (group.charge, group.charge_tax, group.service) == (1000, 0, "Generic Shipping")
    assert group.recipient is not None
    assert group.recipient.address is not None
    assert (group.recipient.name, group.recipient.address.city) == ("Steve Shipper", "Shippington")
    assert (group.recipient.address.country, group.recipient.address.region) == ("US", "KY")
    assert (draft.customer.name, draft.customer.email) == ("John Smith", "jon@doe.ca")
    priced = check_totals(mapped, payload)
    totals = priced.totals
    assert (totals.product, totals.delivery, totals.adjustments, totals.tax) == (
        39800,
        1000,
        -500,
        0,
    )
    assert totals.grand_total == 40300  # Shopify's total_price 403.00
    assert [i.type for i in priced.items].count(ItemType.DELIVERY_CHARGE) == 1


def test_the_python_api_fixture_is_refused_naming_total_price() -> None:
    payload = python_api_order()
    mapped = order_draft(payload, channel="shop")
    assert mapped.draft.external_reference == "450789469"
    with pytest.raises(ShopifyTotalsMismatch) as refused:
        check_totals(mapped, payload)
    assert refused.value.field == "total_price"
    assert refused.value.extra == {
        "figure": "total_price",
        "shopify": "409.94",
        "openoms": "608.94",
    }
    assert "total_price is 409.94 in Shopify but the order would capture 608.94" in str(
        refused.value
    )


def order(**changes: Any) -> dict[str, Any]:
    """A consistent small order: 2 × 10.00 with 1.60 tax, 5.00 shipping with 0.40 tax."""
    payload: dict[str, Any] = {
        "id": 1001,
        "name": "#1001",
        "currency": "EUR",
        "created_at": "2026-11-20T10:00:00+01:00",
        "email": "ada@example.com",
        "taxes_included": False,
        "total_price": "27.00",
        "total_tax": "2.00",
        "total_discounts": "0.00",
        "line_items": [
            {
                "sku": "TEE",
                "name": "Tee",
                "quantity": 2,
                "price": "10.00",
                "gift_card": False,
                "tax_lines": [{"price": "1.60"}],
                "discount_allocations": [],
            }
        ],
        "shipping_lines": [
            {"title": "Standard", "price": "5.00", "tax_lines": [{"price": "0.40"}]}
        ],
        "shipping_address": {
            "name": "Ada Lovelace",
            "address1": "1 Main St",
            "city": "Berlin",
            "zip": "10115",
            "country_code": "DE",
            "latitude": "52.52",
            "longitude": "13.40",
        },
    }
    payload.update(changes)
    return payload


def test_taxes_included_splits_units_a_cent_apart_and_keeps_shopifys_totals() -> None:
    # 3 × 10.00 gross less 1.00 off, 4.79 tax included: net 25.21 does not divide by 3.
    payload = order(
        taxes_included=True,
        total_price="34.00",
        total_tax="5.19",
        total_discounts="1.00",
        line_items=[
            {
                "sku": "MUG",
                "quantity": 3,
                "price": "10.00",
                "tax_lines": [{"price": "4.79"}],
                "discount_allocations": [{"amount": "1.00", "discount_application_index": 0}],
            }
        ],
        discount_applications=[{"code": "SAVE1"}],
    )
    mapped = order_draft(payload, channel="shop")
    lines = mapped.draft.lines
    assert [(line.quantity, line.unit_price) for line in lines] == [(2, 840), (1, 841)]
    assert sum(line.tax for line in lines) == 479
    assert sum(a.amount for line in lines for a in line.adjustments) == -100
    assert {a.reason for line in lines for a in line.adjustments} == {"shopify discount SAVE1"}
    group = mapped.draft.delivery_groups[0]
    assert (group.charge, group.charge_tax) == (460, 40)  # 5.00 gross less 0.40 tax
    totals = check_totals(mapped, payload).totals
    assert (totals.grand_total, totals.tax, totals.adjustments) == (3400, 519, -100)


def test_a_shipping_discount_lowers_the_charge_and_counts_in_total_discounts() -> None:
    shipping = [
        {
            "title": "Standard",
            "price": "5.00",
            "tax_lines": [{"price": "0.40"}],
            "discount_allocations": [{"amount": "5.00"}],
        }
    ]
    payload = order(shipping_lines=shipping, total_price="22.00", total_discounts="5.00")
    mapped = order_draft(payload, channel="shop")
    assert mapped.shipping_discount == 500
    assert mapped.draft.delivery_groups[0].charge == 0
    assert check_totals(mapped, payload).totals.grand_total == 2200


@pytest.mark.parametrize(
    ("figure", "value", "ours"),
    [
        ("total_price", "27.01", "27.00"),
        ("total_tax", "1.99", "2.00"),
        ("total_discounts", "0.01", "0.00"),
    ],
)
def test_a_figure_a_cent_off_is_refused_naming_it(figure: str, value: str, ours: str) -> None:
    payload = order(**{figure: value})
    with pytest.raises(ShopifyTotalsMismatch) as refused:
        check_totals(order_draft(payload, channel="shop"), payload)
    assert refused.value.extra["figure"] == figure
    assert (refused.value.extra["shopify"], refused.value.extra["openoms"]) == (value, ours)


def line(**changes: Any) -> dict[str, Any]:
    item = copy.deepcopy(order()["line_items"][0])
    item.update(changes)
    return item


@pytest.mark.parametrize(
    ("payload", "field", "words"),
    [
        (order(line_items=[line(sku="")]), "line_items[0].sku", "has no SKU"),
        (order(line_items=[line(sku=None)]), "line_items[0].sku", "has no SKU"),
        (order(line_items=[line(gift_card=True)]), "line_items[0].gift_card", "gift card"),
        (order(line_items=[line(price="10.001")]), "line_items[0].price", "decimal places"),
        (order(line_items=[line(quantity=0)]), "line_items[0]", "whole number"),
        (order(line_items=[]), "line_items", "no line items"),
        (order(line_items="x"), "line_items", "missing"),
        (order(shipping_address=None), "shipping_address", "no shipping"),
        (order(currency=None), "currency", "missing"),
        (order(id=None), "id", "no order id"),
        (order(created_at="yesterday"), "created_at", "ISO 8601"),
        (order(created_at="2026-11-20T10:00:00"), "created_at", "time zone"),
        (order(total_tax=None), "total_tax", "missing"),
    ],
)
def test_what_openoms_cannot_take_is_refused_naming_the_field(
    payload: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(DomainError) as refused:
        check_totals(order_draft(payload, channel="shop"), payload)
    assert isinstance(refused.value, ShopifyOrderRefused)
    assert refused.value.field == field
    assert words in refused.value.detail


def test_without_a_shipping_address_the_billing_address_is_the_recipient() -> None:
    payload = order(
        shipping_address=None,
        billing_address={
            "first_name": "Bob",
            "last_name": "Biller",
            "address1": "1 Bill St",
            "city": "Billtown",
            "country_code": "US",
        },
        customer=None,
    )
    draft = order_draft(payload, channel="shop").draft
    recipient = draft.delivery_groups[0].recipient
    assert recipient is not None
    assert recipient.address is not None
    assert (recipient.name, recipient.address.line1) == ("Bob Biller", "1 Bill St")
    assert draft.customer.name == "Bob Biller"


def sign(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def test_hmac_is_the_base64_sha256_of_the_raw_body() -> None:
    body = b'{"id": 1}'
    assert verify_hmac(body, "s3cret", sign(body, "s3cret"))
    assert not verify_hmac(body + b" ", "s3cret", sign(body, "s3cret"))
    assert not verify_hmac(body, "other", sign(body, "s3cret"))
    assert not verify_hmac(body, "s3cret", None)
    assert not verify_hmac(body, "s3cret", "")
    assert not verify_hmac(body, "s3cret", "not base64 ünïcode")
    assert not verify_hmac(body, "", sign(body, ""))


def test_tax_given_only_for_the_order_is_spread_over_the_lines() -> None:
    payload = order(tax_lines=[{"price": "1.99"}], total_tax="1.99", total_price="26.99")
    payload["line_items"][0]["tax_lines"] = []
    payload["line_items"].append(line(sku="CAP", quantity=1, price="5.00", tax_lines=[]))
    payload["shipping_lines"][0]["tax_lines"] = []
    payload["shipping_lines"][0]["price"] = "0.00"
    mapped = order_draft(payload, channel="shop")
    assert [x.tax for x in mapped.draft.lines] == [159, 40]  # 1.99 by 20.00 : 5.00
    assert check_totals(mapped, payload).totals.grand_total == 2699
    with pytest.raises(ShopifyOrderRefused) as refused:
        order_draft({**payload, "taxes_included": True}, channel="shop")
    assert refused.value.field == "tax_lines"

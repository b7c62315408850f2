"""The pure mapping of a Shopify order's payment (`financial_status` and its transactions)
and of a refund's amount, on Shopify's public payloads (tests/data/shopify)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from openoms.domain.order import PaymentMethod
from openoms.domain.shopify import (
    REFUND_NOTE,
    ShopifyOrderRefused,
    made_by_openoms,
    order_payment,
    parse_payment_token,
    payment_token,
    refund_amount,
)

DATA = Path(__file__).parents[2] / "data" / "shopify"


def python_api_order() -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((DATA / "shopify_python_api_order.json").read_text())
    return dict(payload["order"])


def test_an_authorized_order_is_a_shopify_authorization_of_its_total() -> None:
    payload = python_api_order()  # financial_status "authorized", no transactions
    paid = order_payment(payload, channel="shopify-us", total=40994)
    assert paid.method == PaymentMethod(
        "shopify", "shopify-us:450789469", 40994, "shopify-order-450789469"
    )
    assert (paid.captured, paid.capture_reference) == (False, None)


def test_the_authorization_transaction_gives_the_reference() -> None:
    payload = python_api_order()
    payload["transactions"] = [
        {"id": 1, "kind": "authorization", "status": "failure"},
        {"id": 389404469, "kind": "authorization", "status": "success"},
        "not a transaction",
        {"id": True, "kind": "authorization", "status": "success"},
    ]
    paid = order_payment(payload, channel="c", total=100)
    assert paid.method is not None
    assert paid.method.authorization_reference == "389404469"


@pytest.mark.parametrize(
    ("transactions", "authorization", "capture"),
    [
        ([{"id": 7, "kind": "sale", "status": "success"}], "7", "7"),
        (
            [
                {"id": 5, "kind": "authorization", "status": "success"},
                {"id": 6, "kind": "capture", "status": "success", "parent_id": 5},
            ],
            "5",
            "6",
        ),
        ([], "shopify-order-450789469", "shopify-order-450789469"),
    ],
)
def test_a_paid_order_arrives_captured_with_the_capture_reference(
    transactions: list[dict[str, Any]], authorization: str, capture: str
) -> None:
    payload = {**python_api_order(), "financial_status": "paid", "transactions": transactions}
    paid = order_payment(payload, channel="c", total=100)
    assert paid.method is not None
    assert paid.method.authorization_reference == authorization
    assert (paid.captured, paid.capture_reference) == (True, capture)


def test_a_pending_order_is_on_account() -> None:
    payload = {**python_api_order(), "financial_status": "pending"}
    assert order_payment(payload, channel="c", total=100).method is None


def test_a_paid_order_of_nothing_is_on_account() -> None:
    payload = {**python_api_order(), "financial_status": "paid"}
    assert order_payment(payload, channel="c", total=0).method is None


@pytest.mark.parametrize(
    "status", ["partially_paid", "refunded", "partially_refunded", "voided", "unpaid", None]
)
def test_every_other_status_is_refused_naming_it(status: str | None) -> None:
    payload = {**python_api_order(), "financial_status": status}
    with pytest.raises(ShopifyOrderRefused, match=f"financial_status {status!r}") as refused:
        order_payment(payload, channel="c", total=100)
    assert refused.value.field == "financial_status"


def test_the_token_names_the_channel_and_the_order() -> None:
    token = payment_token("shopify:eu", "450789469")
    assert parse_payment_token(token) == ("shopify:eu", "450789469")


def test_a_refunds_amount_is_its_successful_refund_transactions() -> None:
    refund = {
        "transactions": [
            {"kind": "refund", "status": "success", "amount": "41.94"},
            {"kind": "refund", "amount": "1.06"},
            {"kind": "refund", "status": "failure", "amount": "9.00"},
            {"kind": "capture", "status": "success", "amount": "5.00"},
            "junk",
        ]
    }
    assert refund_amount(refund, "USD") == 4300
    assert refund_amount({}, "USD") == 0
    assert refund_amount({"transactions": "junk"}, "USD") == 0
    with pytest.raises(ShopifyOrderRefused, match=r"transactions\[0\].amount"):
        refund_amount({"transactions": [{"kind": "refund", "amount": "1.001"}]}, "USD")


def test_a_refund_openoms_made_is_known_by_its_note() -> None:
    assert made_by_openoms({"note": f"{REFUND_NOTE}refund:cm_1:pay_1"})
    assert not made_by_openoms({"note": "damaged"})
    assert not made_by_openoms({})

"""The Shopify REST connector's money calls over real HTTP, against the local stand-in for
Shopify (tests/shopify_stub.py): a capture of the authorization, a refund through the
Refund resource that a retry finds instead of making twice, a void, an authorization looked
up from the order's transactions, and Shopify's refusals and outages as the `shopify`
gateway maps them (PERMANENT_FAIL, INDETERMINATE)."""

from __future__ import annotations

from typing import Any

import pytest

from openoms.adapters.channels import ShopifyRestConnector
from openoms.domain.ports import (
    AuthorizationState,
    ChannelAuthorizationQuery,
    ChannelRejected,
    ChannelTransaction,
    ChannelUnavailable,
)
from openoms.domain.shopify import REFUND_NOTE
from tests.shopify_stub import TOKEN, ShopifyStub, serving

pytestmark = pytest.mark.e2e

ORDER = "450789469"
AUTH = 8000  # the stub numbers transactions from 8000


def stub() -> ShopifyStub:
    authorization = {"kind": "authorization", "status": "success", "amount": "409.94"}
    shop = ShopifyStub()
    shop._add(ORDER, authorization)
    return shop


def connector(url: str) -> ShopifyRestConnector:
    return ShopifyRestConnector(url, TOKEN, sleep=lambda _s: None, max_tries=2)


def money(kind: str, amount: int, parent: str | None, key: str = "k-1") -> ChannelTransaction:
    return ChannelTransaction(key, ORDER, kind, amount, "USD", parent)


def posted(shop: ShopifyStub) -> list[tuple[str, Any]]:
    return [(s.path.split("/")[-1], s.body) for s in shop.seen if s.method == "POST"]


def test_a_capture_is_one_transaction_on_its_authorization() -> None:
    with serving(stub()) as shop:
        answer = connector(shop.url).transact("shopify-us", money("capture", 20000, str(AUTH)))
        assert answer.reference == "8001"
        assert posted(shop) == [
            (
                "transactions.json",
                {
                    "transaction": {
                        "kind": "capture",
                        "parent_id": AUTH,
                        "amount": "200.00",
                        "currency": "USD",
                    }
                },
            )
        ]
        assert all(s.token == TOKEN for s in shop.seen)
        lookup = connector(shop.url).authorization(
            "shopify-us", ChannelAuthorizationQuery(ORDER, str(AUTH), 40994, "USD")
        )
        assert (lookup.state, lookup.amount, lookup.left) == (AuthorizationState.OPEN, 40994, 20994)


def test_a_capture_beyond_what_is_left_is_refused_by_shopify() -> None:
    with serving(stub()) as shop:
        rest = connector(shop.url)
        rest.transact("shopify-us", money("capture", 40994, str(AUTH)))
        with pytest.raises(ChannelRejected, match="422"):  # a replay never captures twice
            rest.transact("shopify-us", money("capture", 40994, str(AUTH)))
        lookup = rest.authorization(
            "shopify-us", ChannelAuthorizationQuery(ORDER, str(AUTH), 40994, "USD")
        )
        assert (lookup.state, lookup.left) == (AuthorizationState.CAPTURED, 0)


def test_a_refund_uses_the_refund_resource_and_a_retry_finds_it() -> None:
    with serving(stub()) as shop:
        rest = connector(shop.url)
        capture = rest.transact("shopify-us", money("capture", 40994, str(AUTH)))
        refund = money("refund", 1000, capture.reference, key="refund:cm_1:pay_1")
        first = rest.transact("shopify-us", refund)
        again = rest.transact("shopify-us", refund)  # its answer was lost: sent again
        assert first.reference == again.reference == "8002"
        (made,) = shop.refunds[ORDER]
        assert made["note"] == f"{REFUND_NOTE}refund:cm_1:pay_1"
        sent = [body for path, body in posted(shop) if path == "refunds.json"]
        assert sent == [
            {
                "refund": {
                    "currency": "USD",
                    "notify": False,
                    "note": f"{REFUND_NOTE}refund:cm_1:pay_1",
                    "transactions": [
                        {"kind": "refund", "amount": "10.00", "gateway": "bogus", "parent_id": 8001}
                    ],
                }
            }
        ]


def test_a_void_releases_the_authorization() -> None:
    with serving(stub()) as shop:
        rest = connector(shop.url)
        rest.transact("shopify-us", money("void", 40994, str(AUTH)))
        assert posted(shop)[0][1] == {"transaction": {"kind": "void", "parent_id": AUTH}}
        lookup = rest.authorization(
            "shopify-us", ChannelAuthorizationQuery(ORDER, str(AUTH), 40994, "USD")
        )
        assert (lookup.state, lookup.left) == (AuthorizationState.REVERSED, 0)


def test_an_order_reference_acts_on_the_orders_own_authorization() -> None:
    with serving(stub()) as shop:
        rest = connector(shop.url)
        query = ChannelAuthorizationQuery(ORDER, f"shopify-order-{ORDER}", 40994, "USD")
        assert rest.authorization("shopify-us", query).state is AuthorizationState.OPEN
        unknown = ChannelAuthorizationQuery(ORDER, "999", 40994, "USD")
        assert rest.authorization("shopify-us", unknown).state is AuthorizationState.UNKNOWN


def test_an_outage_is_unavailable_after_its_tries() -> None:
    with serving(stub()) as shop:
        shop.always = (503, {})
        with pytest.raises(ChannelUnavailable, match="503 after 2 tries"):
            connector(shop.url).transact("shopify-us", money("capture", 100, str(AUTH)))


def test_a_failed_transaction_is_rejected_and_unreadable_amounts_too() -> None:
    with serving(stub()) as shop:
        shop.transaction_status = "failure"
        with pytest.raises(ChannelRejected, match="status 'failure'"):
            connector(shop.url).transact("shopify-us", money("capture", 100, str(AUTH)))
        shop.transactions[ORDER][0]["amount"] = "four hundred"
        query = ChannelAuthorizationQuery(ORDER, str(AUTH), 40994, "USD")
        with pytest.raises(ChannelRejected, match="amounts unreadable"):
            connector(shop.url).authorization("shopify-us", query)

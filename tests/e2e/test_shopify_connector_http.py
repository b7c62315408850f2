"""The Shopify Admin REST connector over real HTTP, against a local stand-in for Shopify
(tests/shopify_stub.py): a shipment becomes one fulfillment with its tracking, a retry
after it landed creates nothing twice, a 429 waits its Retry-After, a 5xx is retried, and
what does not succeed raises what the sync job turns into a reschedule or an exception."""

from __future__ import annotations

import pytest

from openoms.adapters.channels import ShopifyRestConnector
from openoms.domain.ports import (
    ChannelCancel,
    ChannelFulfillment,
    ChannelLine,
    ChannelRejected,
    ChannelUnavailable,
)
from tests.shopify_stub import TOKEN, ShopifyStub, serving

pytestmark = pytest.mark.e2e

ORDER = "820982911946154508"


def shipment(key: str = "sync_channel:evt_1", **lines: int) -> ChannelFulfillment:
    return ChannelFulfillment(
        idempotency_key=key,
        external_reference=ORDER,
        carrier="sandbox",
        tracking_number="SBX123456",
        # By default the order's two lines of one SKU, as a shipment of both reports them.
        lines=tuple(ChannelLine(sku, n) for sku, n in lines.items())
        or (ChannelLine("IPOD2008PINK", 1), ChannelLine("IPOD2008PINK", 1)),
    )


def stub() -> ShopifyStub:
    return ShopifyStub(orders={ORDER: [(1, "IPOD2008PINK", 1), (2, "IPOD2008PINK", 1)]})


def connector(url: str, waits: list[float], token: str = TOKEN) -> ShopifyRestConnector:
    return ShopifyRestConnector(url, token, sleep=waits.append, max_tries=3, max_wait=2.0)


def test_a_shipment_becomes_one_fulfillment_with_its_tracking_through_a_429() -> None:
    waits: list[float] = []
    with serving(stub()) as shop:
        shop.faults = [(429, {"Retry-After": "1.5"})]
        answer = connector(shop.url, waits).fulfill("shopify-us", shipment())
        assert answer.reference == "5001"
        assert waits == [1.5]  # Shopify's Retry-After, waited once
        (fulfillment,) = shop.fulfillments
        assert fulfillment == {
            "line_items_by_fulfillment_order": [
                {
                    "fulfillment_order_id": 7000,
                    "fulfillment_order_line_items": [
                        {"id": 9001, "quantity": 1},
                        {"id": 9002, "quantity": 1},
                    ],
                }
            ],
            "tracking_info": {"company": "sandbox", "number": "SBX123456"},
            "notify_customer": True,
        }
        assert {s.token for s in shop.seen} == {TOKEN}
        assert [(s.method, s.path.split("?")[0]) for s in shop.seen] == [
            ("GET", f"/admin/api/2024-10/orders/{ORDER}.json"),
            ("GET", f"/admin/api/2024-10/orders/{ORDER}.json"),
            ("GET", f"/admin/api/2024-10/orders/{ORDER}/fulfillment_orders.json"),
            ("POST", "/admin/api/2024-10/fulfillments.json"),
        ]
        # The same shipment again (its answer was lost): nothing open, nothing created.
        again = connector(shop.url, waits).fulfill("shopify-us", shipment())
        assert again.reference is None
        assert len(shop.fulfillments) == 1


def test_5xx_is_retried_and_three_in_a_row_is_unavailable() -> None:
    waits: list[float] = []
    with serving(stub()) as shop:
        shop.faults = [(503, {}), (502, {})]
        assert connector(shop.url, waits).fulfill("shopify-us", shipment()).reference == "5001"
        assert waits == [0.5, 1.0]
        shop.always = (500, {})
        waits.clear()
        with pytest.raises(ChannelUnavailable) as unavailable:
            connector(shop.url, waits).cancel("shopify-us", cancel())
        assert "500 after 3 tries" in str(unavailable.value)
        assert unavailable.value.retry_after is None
        assert TOKEN not in str(unavailable.value)


def test_429_on_every_try_is_unavailable_with_the_wait_shopify_asked() -> None:
    waits: list[float] = []
    with serving(stub()) as shop:
        shop.always = (429, {"Retry-After": "30"})
        with pytest.raises(ChannelUnavailable) as unavailable:
            connector(shop.url, waits).fulfill("shopify-us", shipment())
        assert waits == [2.0, 2.0]  # capped at max_wait within the call
        assert unavailable.value.retry_after == 2.0
        assert "429 rate limited" in str(unavailable.value)


def test_a_refusal_is_rejected_and_never_retried() -> None:
    waits: list[float] = []
    with serving(stub()) as shop:
        with pytest.raises(ChannelRejected) as rejected:
            connector(shop.url, waits, token="wrong").fulfill("shopify-us", shipment())
        assert "401" in str(rejected.value)
        assert "wrong" not in str(rejected.value)
        assert len(shop.seen) == 1
        with pytest.raises(ChannelRejected, match="no open units for 1 × MUG"):
            connector(shop.url, waits).fulfill("shopify-us", shipment(IPOD2008PINK=2, MUG=1))
        assert shop.fulfillments == []
        assert waits == []


def cancel(complete: bool = True) -> ChannelCancel:
    return ChannelCancel(
        "sync_channel:evt_2", ORDER, "customer asked", (ChannelLine("IPOD2008PINK", 2),), complete
    )


def test_a_whole_order_cancel_is_sent_and_a_partial_one_refused() -> None:
    waits: list[float] = []
    with serving(stub()) as shop:
        with pytest.raises(
            ChannelRejected, match="cancels whole orders only; cancel 2 × IPOD2008PINK"
        ):
            connector(shop.url, waits).cancel("shopify-us", cancel(complete=False))
        assert shop.seen == []
        assert connector(shop.url, waits).cancel("shopify-us", cancel()).reference == ORDER
        assert shop.cancelled == [ORDER]
        with pytest.raises(ChannelRejected, match="422"):
            connector(shop.url, waits).cancel("shopify-us", cancel())


def test_a_network_failure_is_unavailable() -> None:
    waits: list[float] = []
    with serving(stub()) as shop:
        url = shop.url
    with pytest.raises(ChannelUnavailable, match="ConnectError after 3 tries"):
        connector(url, waits).fulfill("shopify-us", shipment())

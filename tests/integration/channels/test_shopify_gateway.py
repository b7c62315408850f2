"""The `shopify` payment gateway over real connectors: the sandbox's ledger and the REST
connector against the local stand-in for Shopify. Every outcome maps as every gateway's does:
an answer is SUCCESS, an outage INDETERMINATE, a refusal PERMANENT_FAIL; lookups of
references openoms never recorded are UNKNOWN."""

from __future__ import annotations

import pytest

from openoms.adapters.channels import (
    ChannelConnectors,
    SandboxChannelConnector,
    ShopifyGateway,
    ShopifyRestConnector,
    default_connectors,
)
from openoms.adapters.payments import default_gateways
from openoms.domain.ports import (
    AuthorizationState,
    GatewayRequest,
    GatewayResult,
    GatewayUnavailable,
)
from tests.integration.channels.shop import CHANNEL, Shop, notification, open_shop
from tests.integration.conftest import Api
from tests.shopify_stub import TOKEN, ShopifyStub, serving

ORDER = "820982911946154508"
R = GatewayResult


def request(key: str = "capture:inv_1:pa_1:1", reference: str | None = "8000") -> GatewayRequest:
    return GatewayRequest(key, f"{CHANNEL}:{ORDER}", 40300, "USD", reference)


def authorized(api: Api) -> Shop:
    shop = open_shop(api)
    payload = notification(financial_status="authorized")
    payload["transactions"] = [{"id": 8000, "kind": "authorization", "status": "success"}]
    shop.deliver("orders/create", payload)
    shop.drain()
    return shop


def test_the_sandbox_stands_for_shopify_until_the_authorization_is_voided(api: Api) -> None:
    shop = authorized(api)
    gateway = default_gateways(api.db).get("shopify")
    found = gateway.get_authorization("8000")
    assert (found.state, found.amount, found.currency, found.left) == (
        AuthorizationState.OPEN,
        40300,
        "USD",
        40300,
    )
    voided = gateway.reverse_authorization(request("reverse:pa_1:1"))
    assert voided.result is R.SUCCESS
    assert [c["operation"] for c in shop.told()] == ["void"]
    assert gateway.get_authorization("8000").state is AuthorizationState.REVERSED
    again = gateway.reverse_authorization(request("reverse:pa_1:1"))  # its answer was lost
    assert (again.result, again.message) == (R.SUCCESS, "voided")
    assert [c["operation"] for c in shop.told()] == ["void"]  # voided once
    assert gateway.get_authorization("never-recorded").state is AuthorizationState.UNKNOWN


def test_a_partly_captured_authorization_is_not_voided(api: Api) -> None:
    shop = authorized(api)
    gateway = default_gateways(api.db).get("shopify")
    captured = gateway.capture(GatewayRequest("c1", f"{CHANNEL}:{ORDER}", 10000, "USD", "8000"))
    assert captured.result is R.SUCCESS
    answer = gateway.reverse_authorization(request("reverse:pa_1:1"))
    assert answer.result is R.SUCCESS
    assert "lapses" in answer.message
    assert [c["operation"] for c in shop.told()] == ["capture"]  # no void sent


def test_shopify_authorizes_at_checkout_never_openoms(api: Api) -> None:
    gateway = ShopifyGateway(api.db, default_connectors(api.db))
    answer = gateway.authorize(request("authorize:pa_1:1", None))
    assert answer.result is R.PERMANENT_FAIL
    assert "checkout" in answer.message


def test_a_channel_without_a_shopify_adapter_is_refused(api: Api) -> None:
    shop = authorized(api)
    gateway = ShopifyGateway(api.db, default_connectors(api.db))
    shop.api.client.put(
        f"/api/v1/channels/{CHANNEL}",
        json={"location_group": "online", "adapter": None},
        headers=api.headers("admin"),
    )
    answer = gateway.capture(request())
    assert answer.result is R.PERMANENT_FAIL
    assert "has no Shopify adapter" in answer.message
    assert gateway.get_authorization("8000").state is AuthorizationState.UNKNOWN


def test_a_connector_that_cannot_be_built_is_indeterminate(api: Api) -> None:
    shop = authorized(api)
    shop.configure(
        connector={"type": "shopify_rest", "base_url": "http://127.0.0.1:9", "access_token": "t"}
    )
    sandbox_only = ChannelConnectors({"sandbox": lambda _u, _t: SandboxChannelConnector(api.db)})
    answer = ShopifyGateway(api.db, sandbox_only).capture(request())
    assert answer.result is R.INDETERMINATE  # asked again later with the same key


def test_shopify_over_rest_unavailable_and_unknown(api: Api) -> None:
    with serving(ShopifyStub()) as stub:
        shop = authorized(api)
        shop.configure(
            connector={"type": "shopify_rest", "base_url": stub.url, "access_token": TOKEN}
        )
        connectors = ChannelConnectors(
            {
                "shopify_rest": lambda url, token: ShopifyRestConnector(
                    url or "", token or "", sleep=lambda _s: None, max_tries=1
                )
            }
        )
        gateway = ShopifyGateway(api.db, connectors)
        stub.faults = [(503, {}), (503, {}), (404, {})]
        answer = gateway.capture(request())
        assert answer.result is R.INDETERMINATE
        with pytest.raises(GatewayUnavailable, match="503"):
            gateway.get_authorization("8000")
        assert gateway.get_authorization("8000").state is AuthorizationState.UNKNOWN  # 404
        refused = gateway.refund(request("refund:cm_1:pay_1", "8001"))
        assert refused.result is R.PERMANENT_FAIL  # Shopify knows no capture 8001
        assert "422" in refused.message
        stub.faults = [(503, {})]
        unknown = gateway.reverse_authorization(request("reverse:pa_1:1"))
        assert unknown.result is R.INDETERMINATE  # Shopify could not say: asked again later

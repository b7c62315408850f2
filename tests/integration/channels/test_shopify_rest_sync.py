"""Sync back through the Shopify REST connector, over real HTTP to a local stand-in for
Shopify (tests/shopify_stub.py): a shipment reaches it with its tracking; a shop that keeps
failing becomes a process exception once the job's attempts run out, and an agent's retry
sends it when the shop is back; a refusal is an exception at once."""

from __future__ import annotations

from typing import Any

from openoms.adapters.channels import (
    ChannelConnectors,
    SandboxChannelConnector,
    ShopifyRestConnector,
)
from openoms.adapters.jobs import JobRegistry
from openoms.worker.consumers import default_jobs
from tests.integration.channels.shop import Shop, notification, open_shop
from tests.integration.conftest import Api
from tests.integration.worker import WorkerClock, drain, make_worker
from tests.shopify_stub import TOKEN, ShopifyStub, serving

ORDER = "820982911946154508"


def jobs(shop: Shop) -> JobRegistry:
    """The built-in jobs, with a Shopify connector that does not sleep between its tries."""
    sandbox = SandboxChannelConnector(shop.db)
    connectors = ChannelConnectors(
        {
            "sandbox": lambda _u, _t: sandbox,
            "shopify_rest": lambda url, token: ShopifyRestConnector(
                url or "", token or "", sleep=lambda _s: None
            ),
        }
    )
    return default_jobs(shop.db, connectors=connectors)


def shipped(api: Api, stub: ShopifyStub) -> tuple[Shop, dict[str, Any]]:
    shop = open_shop(api)
    shop.configure(connector={"type": "shopify_rest", "base_url": stub.url, "access_token": TOKEN})
    shop.deliver("orders/create", notification(), webhook_id="wh-create")
    shop.drain()
    (summary,) = shop.summaries()
    (fo,) = shop.view(summary.id)["fulfillment_orders"]
    answer = api.client.post(
        f"/api/v1/fulfillment-orders/{fo['id']}/actions/ship", headers=api.headers("warehouse")
    )
    assert answer.status_code in (200, 201), answer.text
    return shop, answer.json()


def test_a_shipment_reaches_shopify_with_its_tracking(api: Api) -> None:
    with serving(
        ShopifyStub(orders={ORDER: [(1, "IPOD2008PINK", 1), (2, "IPOD2008PINK", 1)]})
    ) as stub:
        shop, shipment = shipped(api, stub)
        drain(make_worker(shop.db, jobs=jobs(shop)))
        (fulfillment,) = stub.fulfillments
        assert fulfillment["tracking_info"] == {
            "company": shipment["carrier"],
            "number": shipment["tracking_number"],
        }
        assert stub.fulfilled == {1: 1, 2: 1}
        assert shop.exceptions() == []


def test_a_shop_that_keeps_failing_becomes_an_exception_and_a_retry_sends_it(api: Api) -> None:
    with serving(ShopifyStub(orders={ORDER: [(1, "IPOD2008PINK", 2)]})) as stub:
        stub.always = (503, {})
        shop, shipment = shipped(api, stub)
        clock = WorkerClock()
        worker = make_worker(shop.db, jobs=jobs(shop), clock=clock)
        for _ in range(14):
            drain(worker)
            clock.advance()
        (exception,) = shop.exceptions()
        assert exception.severity == "medium"
        assert "did not reach its channel: no answer after 12 attempts" in exception.message
        assert "503 after 3 tries" in exception.message
        assert TOKEN not in exception.message
        assert stub.fulfillments == []
        stub.always = None
        answer = api.client.post(
            f"/api/v1/process-exceptions/{exception.id}/actions/retry",
            json={},
            headers=api.headers("agent"),
        )
        assert answer.status_code == 202, answer.text
        drain(worker)
        (fulfillment,) = stub.fulfillments
        assert fulfillment["tracking_info"]["number"] == shipment["tracking_number"]
        (resolved,) = shop.exceptions()
        assert resolved.status == "RESOLVED"


def test_a_partial_cancel_is_refused_by_the_connector_and_needs_a_person(api: Api) -> None:
    with serving(
        ShopifyStub(orders={ORDER: [(1, "IPOD2008PINK", 1), (2, "IPOD2008PINK", 1)]})
    ) as stub:
        shop = open_shop(api)
        shop.configure(
            connector={"type": "shopify_rest", "base_url": stub.url, "access_token": TOKEN}
        )
        shop.deliver("orders/create", notification())
        shop.drain()
        (summary,) = shop.summaries()
        item = next(i for i in shop.view(summary.id)["items"] if i["type"] == "product")
        answer = api.client.post(
            f"/api/v1/order-summaries/{summary.id}/actions/submit-cancel",
            json={"items": [{"order_item_summary_id": item["id"], "quantity": 1}]},
            headers=api.headers("agent"),
        )
        assert answer.status_code in (200, 201), answer.text
        drain(make_worker(shop.db, jobs=jobs(shop)))
        (exception,) = shop.exceptions()
        assert "Shopify cancels whole orders only; cancel 1 × IPOD2008PINK" in exception.message
        assert exception.order_summary_id == summary.id
        assert stub.cancelled == []

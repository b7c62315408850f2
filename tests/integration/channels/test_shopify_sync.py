"""After capture: Shopify's cancellations and refunds applied to the order, and openoms's
shipments (with carrier and tracking) and cancellations told back through the channel's
connector (the sandbox here; tests/e2e has the Shopify REST connector over HTTP)."""

from __future__ import annotations

from typing import Any

from openoms.adapters.db import models as m
from openoms.adapters.outbox import Outbox
from openoms.domain.events import DomainEvent
from openoms.worker.consumers import default_registry
from tests.integration.channels.shop import CHANNEL, SECRET, Shop, notification, open_shop
from tests.integration.conftest import Api
from tests.integration.helpers import assert_problem


def captured(api: Api) -> tuple[Shop, dict[str, Any]]:
    shop = open_shop(api)
    assert shop.deliver("orders/create", notification(), webhook_id="wh-create").status_code == 200
    shop.drain()
    (summary,) = shop.summaries()
    return shop, shop.view(summary.id)


def test_a_shipment_reaches_the_sandbox_connector_with_its_tracking(api: Api) -> None:
    shop, view = captured(api)
    (fo,) = view["fulfillment_orders"]
    answer = api.client.post(
        f"/api/v1/fulfillment-orders/{fo['id']}/actions/ship",
        json=None,
        headers=api.headers("warehouse"),
    )
    assert answer.status_code in (200, 201), answer.text
    shipment = answer.json()
    assert shipment["tracking_number"]
    assert shop.told() == []  # told by the worker, after commit
    shop.drain()
    (call,) = shop.told()
    assert call["operation"] == "fulfillment"
    assert call["external_reference"] == "820982911946154508"
    assert call["carrier"] == shipment["carrier"]
    assert call["tracking_number"] == shipment["tracking_number"]
    assert call["lines"] == [
        {"sku": "IPOD2008PINK", "quantity": 1},
        {"sku": "IPOD2008PINK", "quantity": 1},
    ]
    shop.drain()
    assert len(shop.told()) == 1  # told once


def test_orders_cancelled_cancels_what_has_not_shipped_and_is_not_told_back(api: Api) -> None:
    shop, view = captured(api)
    payload = {**notification(), "cancel_reason": "customer"}
    assert shop.deliver("orders/cancelled", payload, webhook_id="wh-cancel").status_code == 200
    shop.drain()
    after = shop.view(view["id"])
    assert after["status"] == "CANCELED"
    products = [i for i in after["items"] if i["type"] == "product"]
    assert [i["quantity_canceled"] for i in products] == [1, 1]
    cancel = shop.inbox()[-1]
    assert (cancel.status, cancel.order_summary_id) == ("processed", view["id"])
    assert cancel.outcome == f"canceled what had not shipped of {view['id']}: -403.00 USD"
    assert shop.count(m.ProcessException) == 0
    assert shop.told() == []  # Shopify cancelled it: nothing to tell Shopify


def test_a_cancel_made_in_openoms_is_told_back(api: Api) -> None:
    shop, view = captured(api)
    items = [
        {"order_item_summary_id": i["id"], "quantity": 1, "reason": "customer asked"}
        for i in view["items"]
        if i["type"] == "product"
    ]
    answer = api.client.post(
        f"/api/v1/order-summaries/{view['id']}/actions/submit-cancel",
        json={"items": items, "refund_shipping": True},
        headers=api.headers("agent"),
    )
    assert answer.status_code in (200, 201), answer.text
    shop.drain()
    (call,) = shop.told()
    assert call["operation"] == "cancel"
    assert call["complete"] is True
    assert call["lines"] == [
        {"sku": "IPOD2008PINK", "quantity": 1},
        {"sku": "IPOD2008PINK", "quantity": 1},
    ]


def test_a_cancel_of_an_order_never_captured_is_refused_with_an_exception(api: Api) -> None:
    shop = open_shop(api)
    assert shop.deliver("orders/cancelled", notification()).status_code == 200
    shop.drain()
    (delivery,) = shop.inbox()
    assert delivery.status == "refused"
    (exception,) = shop.exceptions()
    assert "no order was captured for Shopify order 820982911946154508" in exception.message


def test_refunds_create_of_an_order_on_account_is_noted_only(api: Api) -> None:
    shop, _view = captured(api)
    refund = {
        "id": 509562969,
        "order_id": 820982911946154508,
        "note": "damaged",
        "transactions": [
            {"id": 1, "kind": "refund", "status": "success", "amount": "41.94"},
            {"id": 2, "kind": "refund", "status": "failure", "amount": "9.00"},
        ],
    }
    assert shop.deliver("refunds/create", refund, webhook_id="wh-refund").status_code == 200
    shop.drain()
    delivery = shop.inbox()[-1]
    assert delivery.status == "processed"
    note = "Shopify refund 509562969: 41.94 USD refunded in Shopify (order on account: noted only)"
    assert delivery.outcome == note
    with api.db.reading() as session:
        notes = [
            e.payload["note"]
            for e in session.query(m.Event).filter(m.Event.name == "order_summary.note_added")
        ]
    assert notes == [note]


def test_get_channel_shows_the_adapter_never_its_secrets(api: Api) -> None:
    shop = open_shop(api)
    answer = api.client.get(f"/api/v1/channels/{CHANNEL}", headers=api.headers("agent"))
    assert answer.status_code == 200
    assert answer.json()["adapter"] == {
        "type": "shopify",
        "shop_domain": "openoms-test.myshopify.com",
        "webhook_secret_set": True,
        "webhook_path": f"/api/v1/channels/{CHANNEL}/adapters/shopify/webhooks",
        "connector": {"type": "sandbox", "base_url": None, "access_token_set": False},
    }
    assert SECRET not in answer.text
    listed = api.client.get("/api/v1/channels", headers=api.headers("agent"))
    assert SECRET not in listed.text
    # Set again without the secret: the stored one is kept, deliveries still verify.
    again = shop.configure(webhook_secret=None)
    assert again["adapter"]["webhook_secret_set"] is True
    assert shop.deliver("orders/create", notification()).status_code == 200
    # A PUT without `adapter` keeps it; `adapter: null` removes it.
    keep = api.client.put(
        f"/api/v1/channels/{CHANNEL}",
        json={"location_group": "online"},
        headers=api.headers("admin"),
    )
    assert keep.json()["adapter"]["type"] == "shopify"
    removed = api.client.put(
        f"/api/v1/channels/{CHANNEL}",
        json={"location_group": "online", "adapter": None},
        headers=api.headers("admin"),
    )
    assert removed.json()["adapter"] is None
    assert_problem(
        shop.deliver("orders/create", notification()), 401, "channel_webhook_unauthenticated"
    )


def test_adapter_settings_are_checked_and_a_refusal_changes_nothing(api: Api) -> None:
    shop = open_shop(api)
    cases = [
        ({"webhook_secret": None}, "web-uk", "adapter.webhook_secret"),
        ({"shop_domain": "https://x.myshopify.com/"}, CHANNEL, "adapter.shop_domain"),
        ({"connector": {"type": "shopify_rest"}}, CHANNEL, "adapter.connector.base_url"),
        (
            {"connector": {"type": "shopify_rest", "base_url": "https://x.myshopify.com"}},
            CHANNEL,
            "adapter.connector.access_token",
        ),
    ]
    for changes, channel, field in cases:
        body = {
            "type": "shopify",
            "shop_domain": "x.myshopify.com",
            "webhook_secret": "s",
            **changes,
        }
        answer = api.client.put(
            f"/api/v1/channels/{channel}",
            json={"location_group": "online", "adapter": body},
            headers=api.headers("admin"),
        )
        problem = assert_problem(answer, 400, "channel_adapter_invalid")
        assert problem["field"] == field, problem
    view = api.client.get(f"/api/v1/channels/{CHANNEL}", headers=api.headers("agent")).json()
    assert view["adapter"]["shop_domain"] == "openoms-test.myshopify.com"
    # The refused PUT of a new channel did not create it either.
    uk = api.client.get("/api/v1/channels/web-uk", headers=api.headers("agent"))
    assert_problem(uk, 404, "channel_not_found")
    # A shopify_rest connector with its token: shown as set, never shown.
    rest = shop.configure(
        connector={
            "type": "shopify_rest",
            "base_url": "https://x.example",
            "access_token": "shpat_1",
        }
    )
    assert rest["adapter"]["connector"] == {
        "type": "shopify_rest",
        "base_url": "https://x.example",
        "access_token_set": True,
    }


def test_no_sync_delivery_is_written_while_no_channel_has_an_adapter(api: Api) -> None:
    event = DomainEvent(
        "fulfillment_order.shipped", "fulfillment_order", "fo_x", {"shipment_id": "sh_x"}, "os_x"
    )

    def sync_deliveries() -> int:
        with api.db.reading() as session:
            return (
                session.query(m.EventDelivery)
                .filter(m.EventDelivery.consumer == "channel-sync")
                .count()
            )

    outbox = Outbox(default_registry())
    with api.db.transaction() as session:
        outbox.record(session, [event])
    assert sync_deliveries() == 0
    shop = open_shop(api)
    with api.db.transaction() as session:
        outbox.record(session, [event])
    assert sync_deliveries() == 1
    shop.drain()  # an event of an order that does not exist: the consumer queues nothing
    with api.db.reading() as session:
        kinds = [j.kind for j in session.query(m.Job)]
    assert "sync_channel" not in kinds

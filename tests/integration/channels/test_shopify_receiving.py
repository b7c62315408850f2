"""Receiving Shopify's webhooks: public payloads captured with Shopify's totals to the cent,
replays making exactly one order, unauthenticated deliveries refused with nothing stored,
wrong money refused with a process exception naming the figure."""

from __future__ import annotations

import pytest

from openoms.adapters.db import models as m
from tests.integration.channels.shop import (
    CHANNEL,
    DOMAIN,
    SECRET,
    notification,
    open_shop,
    python_api_order,
    sign,
)
from tests.integration.conftest import Api
from tests.integration.helpers import assert_problem


@pytest.mark.parametrize("year", [2019, 2022])
def test_the_public_test_notifications_are_captured_with_shopifys_totals(
    api: Api, year: int
) -> None:
    shop = open_shop(api)
    answer = shop.deliver("orders/create", notification(year), webhook_id="wh-1")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"received": True, "duplicate": False}
    assert shop.summaries() == []  # stored and answered; the worker captures
    shop.drain()
    (summary,) = shop.summaries()
    view = shop.view(summary.id)
    assert view["external_reference"] == "820982911946154508"
    assert view["currency"] == "USD"
    assert view["totals"] == {
        "product": "398.00",
        "delivery": "10.00",
        "adjustments": "-5.00",
        "tax": "0.00",
        "grand_total": "403.00",  # Shopify's total_price
    }
    products = [i for i in view["items"] if i["type"] == "product"]
    assert [(i["sku"], i["quantity_ordered"]) for i in products] == [
        ("IPOD2008PINK", 1),
        ("IPOD2008PINK", 1),
    ]
    assert view["status"] != "CANCELED"
    (delivery,) = shop.inbox()
    assert (delivery.status, delivery.order_summary_id) == ("processed", summary.id)
    assert (delivery.external_reference, delivery.order_name) == ("820982911946154508", "#9999")
    assert delivery.topic == "orders/create"
    assert delivery.shop_domain == DOMAIN
    # Captured as an API order is: its stock reserved and routed.
    assert len(view["fulfillment_orders"]) == 1


def test_each_replay_three_times_still_makes_exactly_one_order(api: Api) -> None:
    shop = open_shop(api)
    payload = notification()
    answers = [shop.deliver("orders/create", payload, webhook_id="wh-same") for _ in range(3)]
    assert [a.json()["duplicate"] for a in answers] == [False, True, True]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert len(shop.inbox()) == 1
    shop.drain()
    # The same Shopify order under three other webhook ids (Shopify resends, or two topics
    # carry it): stored, processed, no second order.
    for n in range(3):
        assert shop.deliver("orders/create", payload, webhook_id=f"wh-other-{n}").status_code == 200
        shop.drain()
    (summary,) = shop.summaries()
    assert shop.count(m.OrderSummary) == 1
    inbox = shop.inbox()
    assert len(inbox) == 4
    assert {(d.status, d.order_summary_id) for d in inbox} == {("processed", summary.id)}
    assert "captured before" in (inbox[-1].outcome or "")
    with api.db.reading() as session:
        created = session.query(m.Event).filter(m.Event.name == "order_summary.created").count()
    assert created == 1


@pytest.mark.parametrize(
    "case", ["wrong secret", "no signature", "bad signature", "other shop", "no adapter"]
)
def test_an_unauthenticated_delivery_is_401_and_stores_nothing(api: Api, case: str) -> None:
    shop = open_shop(api)
    jobs_before = shop.count(m.Job)
    kwargs: dict[str, object] = {
        "wrong secret": {"secret": "not-the-secret"},
        "no signature": {"signature": ""},
        "bad signature": {"signature": "AAAA"},
        "other shop": {"domain": "someone-else.myshopify.com"},
        "no adapter": {"path": "/api/v1/channels/web-uk/adapters/shopify/webhooks"},
    }[case]
    answer = shop.deliver("orders/create", notification(), **kwargs)  # type: ignore[arg-type]
    assert_problem(answer, 401, "channel_webhook_unauthenticated")
    assert SECRET not in answer.text
    assert shop.inbox() == []
    assert shop.count(m.Job) == jobs_before
    shop.drain()
    assert shop.summaries() == []


def test_a_body_changed_after_signing_is_refused(api: Api) -> None:
    shop = open_shop(api)
    body = notification()
    signature = sign(b"{}")
    answer = shop.deliver("orders/create", body, signature=signature)
    assert_problem(answer, 401, "channel_webhook_unauthenticated")
    assert shop.inbox() == []


@pytest.mark.parametrize(
    ("missing", "body", "field"),
    [
        ("X-Shopify-Webhook-Id", b'{"id": 1}', "X-Shopify-Webhook-Id"),
        ("X-Shopify-Topic", b'{"id": 1}', "X-Shopify-Topic"),
        (None, b'{"id": "\xff"}', "body"),  # not UTF-8
    ],
)
def test_a_delivery_missing_what_shopify_always_sends_is_400_and_stores_nothing(
    api: Api, missing: str | None, body: bytes, field: str
) -> None:
    shop = open_shop(api)
    headers = {
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Hmac-Sha256": sign(body),
        "X-Shopify-Shop-Domain": DOMAIN,
        "X-Shopify-Webhook-Id": "wh-1",
    }
    if missing:
        del headers[missing]
    answer = api.keyless.post(
        f"/api/v1/channels/{CHANNEL}/adapters/shopify/webhooks", content=body, headers=headers
    )
    problem = assert_problem(answer, 400, "channel_webhook_invalid")
    assert problem["field"] == field
    assert shop.inbox() == []


def test_totals_that_differ_are_refused_with_a_process_exception_naming_the_figure(
    api: Api,
) -> None:
    shop = open_shop(api)
    assert shop.deliver("orders/create", python_api_order(), webhook_id="wh-bad").status_code == 200
    shop.drain()
    assert shop.summaries() == []
    assert shop.count(m.Reservation) == 0
    (delivery,) = shop.inbox()
    assert delivery.status == "refused"
    assert delivery.outcome is not None
    assert delivery.outcome.startswith("shopify_totals_mismatch")
    (exception,) = shop.exceptions()
    assert exception.severity == "high"
    assert exception.status == "NEW"
    assert exception.order_summary_id is None
    assert "total_price is 409.94 in Shopify but the order would capture 608.94" in (
        exception.message
    )
    assert "#1001" in exception.message
    # The same delivery again (Shopify retrying it) stores nothing; the exception stays one.
    assert shop.deliver("orders/create", python_api_order(), webhook_id="wh-bad").json() == {
        "received": True,
        "duplicate": True,
    }
    shop.drain()
    assert len(shop.exceptions()) == 1


def test_an_agents_retry_of_a_refused_delivery_runs_it_again(api: Api) -> None:
    shop = open_shop(api)
    payload = notification()
    payload["line_items"][0]["sku"] = ""
    shop.deliver("orders/create", payload, webhook_id="wh-nosku")
    shop.drain()
    (exception,) = shop.exceptions()
    assert "line_items[0] (IPod Nano - 8GB) has no SKU" in exception.message
    answer = api.client.post(
        f"/api/v1/process-exceptions/{exception.id}/actions/retry",
        json={},
        headers=api.headers("agent"),
    )
    assert answer.status_code == 202, answer.text
    shop.drain()
    # Still no SKU: refused again, the same exception counts it.
    (again,) = shop.exceptions()
    assert (again.id, again.occurrences, again.status) == (exception.id, 2, "NEW")
    assert shop.summaries() == []


def test_an_unknown_topic_is_stored_and_ignored(api: Api) -> None:
    shop = open_shop(api)
    assert shop.deliver("products/update", {"id": 5}).status_code == 200
    shop.drain()
    (delivery,) = shop.inbox()
    assert delivery.status == "ignored"
    assert shop.exceptions() == []


def test_a_body_that_is_not_json_is_refused_in_processing(api: Api) -> None:
    shop = open_shop(api)
    assert shop.deliver("orders/create", b"not json").status_code == 200
    shop.drain()
    (delivery,) = shop.inbox()
    assert delivery.status == "refused"
    (exception,) = shop.exceptions()
    assert "the body is not JSON" in exception.message


def test_the_order_is_found_by_shopifys_name(api: Api) -> None:
    shop = open_shop(api)
    shop.deliver("orders/create", notification())
    shop.drain()
    (summary,) = shop.summaries()
    for reference in ("#9999", "820982911946154508"):
        answer = api.client.get(
            "/api/v1/order-summaries",
            params={"external_reference": reference},
            headers=api.headers("agent"),
        )
        assert [s["id"] for s in answer.json()["items"]] == [summary.id]
    answer = api.client.get(
        "/api/v1/order-summaries", params={"external_reference": "#1"}, headers=api.headers("agent")
    )
    assert answer.json()["items"] == []

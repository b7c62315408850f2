"""A Shopify order's money in openoms: `financial_status` authorized is an authorization with
Shopify's reference, captured through the `shopify` gateway (the sandbox connector here)
when the order ships; `paid` arrives captured and nothing is captured again; a Shopify
refund is recorded against the payments once, however often it is delivered, and never
sent back to Shopify; every other status has its documented decision."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from openoms.adapters.channels import (
    ChannelConnectors,
    SandboxChannelConnector,
    ShopifyGateway,
    ShopifyRestConnector,
)
from openoms.adapters.db import models as m
from openoms.adapters.jobs import JobRegistry
from openoms.adapters.outbox import Outbox
from openoms.adapters.payments import Gateways, default_gateways
from openoms.domain.ports import AuthorizationState
from openoms.services.payments import record_external_capture
from openoms.worker.consumers import default_jobs, default_registry
from tests.integration.channels.shop import Shop, notification, open_shop, raw_notification
from tests.integration.conftest import Api
from tests.integration.worker import ONE_DRAIN, WorkerClock, drain, make_worker
from tests.shopify_stub import TOKEN, ShopifyStub, serving

ORDER = "820982911946154508"  # the test notification's id; its total_price is 403.00


def authorization(txn_id: int = 389404469, amount: str = "403.00") -> dict[str, Any]:
    return {"id": txn_id, "kind": "authorization", "status": "success", "amount": amount}


def order(status: str, *transactions: dict[str, Any]) -> dict[str, Any]:
    payload = notification(financial_status=status)
    if transactions:
        payload["transactions"] = list(transactions)
    return payload


def capture(shop: Shop, payload: dict[str, Any]) -> dict[str, Any]:
    assert shop.deliver("orders/create", payload).status_code == 200
    shop.drain()
    (summary,) = shop.summaries()
    return shop.view(summary.id)


def ship(api: Api, shop: Shop, view: dict[str, Any]) -> dict[str, Any]:
    (fo,) = view["fulfillment_orders"]
    answer = api.client.post(
        f"/api/v1/fulfillment-orders/{fo['id']}/actions/ship", headers=api.headers("warehouse")
    )
    assert answer.status_code in (200, 201), answer.text
    shop.drain()
    return shop.view(view["id"])


def money_calls(shop: Shop) -> list[dict[str, Any]]:
    """What the sandbox connector was asked to do with the order's money in Shopify."""
    return [c for c in shop.told() if c["operation"] in ("capture", "refund", "void")]


def refund_payload(refund_id: int = 509562969, amount: str = "41.94") -> dict[str, Any]:
    return {
        "id": refund_id,
        "order_id": int(ORDER),
        "note": "damaged",
        "refund_line_items": [],
        "transactions": [
            {"id": 7001, "kind": "refund", "status": "success", "amount": amount},
            {"id": 7002, "kind": "refund", "status": "failure", "amount": "9.00"},
        ],
    }


def test_an_authorized_order_is_captured_through_shopify_when_it_ships(api: Api) -> None:
    shop = open_shop(api)
    view = capture(shop, order("authorized", authorization()))
    (ps,) = view["payment_summaries"]
    assert (ps["gateway"], ps["authorized"], ps["captured"]) == ("shopify", "403.00", "0.00")
    assert ORDER not in ps["method"]  # the token is never shown whole
    (auth,) = ps["authorizations"]
    with api.db.reading() as session:
        row = session.get(m.PaymentAuthorization, auth["id"])
        assert row is not None
        assert (row.gateway_reference, row.status) == ("389404469", "AUTHORIZED")
    (delivery,) = shop.inbox()
    assert delivery.outcome.endswith("403.00 USD, authorized in Shopify")
    assert money_calls(shop) == []  # nothing is captured before the order ships

    view = ship(api, shop, view)
    (call,) = money_calls(shop)
    assert call["operation"] == "capture"
    assert call["external_reference"] == ORDER
    assert (call["parent"], call["amount"], call["currency"]) == ("389404469", 40300, "USD")
    (ps,) = view["payment_summaries"]
    assert ps["captured"] == "403.00"
    assert [i["status"] for i in view["invoices"]] == ["PAID"]
    shop.drain()
    assert len(money_calls(shop)) == 1  # captured once
    found = default_gateways(api.db).get("shopify").get_authorization("389404469")
    assert (found.state, found.left) == (AuthorizationState.CAPTURED, 0)


def test_an_authorization_without_transactions_is_referenced_by_the_order(api: Api) -> None:
    shop = open_shop(api)
    view = capture(shop, order("authorized"))
    ship(api, shop, view)
    (call,) = money_calls(shop)
    assert call["parent"] == f"shopify-order-{ORDER}"


def test_a_paid_order_arrives_captured_and_nothing_is_captured_at_ship(api: Api) -> None:
    shop = open_shop(api)
    sale = {"id": 1001, "kind": "sale", "status": "success", "amount": "403.00"}
    view = capture(shop, order("paid", sale))
    (ps,) = view["payment_summaries"]
    assert (ps["authorized"], ps["captured"], ps["available_to_capture"]) == (
        "403.00",
        "403.00",
        "0.00",
    )
    with api.db.reading() as session:
        (payment,) = session.scalars(select(m.Payment)).all()
        assert (payment.status, payment.gateway_reference) == ("PROCESSED", "1001")
        assert payment.idempotency_key.startswith("capture:external:")
    view = ship(api, shop, view)
    assert [i["status"] for i in view["invoices"]] == ["PAID"]
    assert view["payment_summaries"][0]["captured"] == "403.00"
    assert money_calls(shop) == []  # Shopify captured it; openoms never asks again
    assert shop.count(m.Payment) == 1


def test_a_paid_order_is_recorded_captured_once(api: Api) -> None:
    shop = open_shop(api)
    view = capture(shop, order("paid"))
    with api.db.transaction() as session:
        again = record_external_capture(session, Outbox(default_registry()), view["id"], "x")
    assert again == 0
    assert shop.count(m.Payment) == 1
    assert shop.view(view["id"])["payment_summaries"][0]["captured"] == "403.00"


def test_a_refund_without_an_id_is_refused_and_one_without_money_only_noted(api: Api) -> None:
    shop = open_shop(api)
    capture(shop, order("paid"))
    no_id = refund_payload()
    del no_id["id"]
    shop.deliver("refunds/create", no_id)
    shop.drain()
    assert shop.inbox()[-1].status == "refused"
    (exception,) = shop.exceptions()
    assert "the refund has no id" in exception.message
    failed = refund_payload(refund_id=11)
    failed["transactions"] = [failed["transactions"][1]]  # its only transaction failed
    shop.deliver("refunds/create", failed)
    shop.drain()
    assert shop.inbox()[-1].outcome == "Shopify refund 11: 0.00 USD refunded in Shopify"
    assert shop.count(m.Refund) == 0


def test_a_shopify_refund_replayed_is_recorded_once_and_never_sent(api: Api) -> None:
    shop = open_shop(api)
    sale = {"id": 1001, "kind": "sale", "status": "success", "amount": "403.00"}
    view = ship(api, shop, capture(shop, order("paid", sale)))
    for n in range(3):  # Shopify's retries and a replay under new webhook ids
        answer = shop.deliver("refunds/create", refund_payload(), webhook_id=f"wh-refund-{n}")
        assert answer.status_code == 200
        shop.drain()
    deliveries = [d for d in shop.inbox() if d.topic == "refunds/create"]
    assert [d.status for d in deliveries] == ["processed"] * 3
    assert deliveries[0].outcome == "Shopify refund 509562969: 41.94 USD refunded in Shopify"
    assert deliveries[1].outcome == "Shopify refund 509562969 was recorded before"
    with api.db.reading() as session:
        (refund,) = session.scalars(select(m.Refund)).all()
        assert (refund.amount, refund.status, refund.credit_memo_id) == (4194, "PROCESSED", None)
        assert refund.gateway_reference == "7001"
    view = shop.view(view["id"])
    (ps,) = view["payment_summaries"]
    assert (ps["captured"], ps["refunded"], ps["available_to_refund"]) == (
        "403.00",
        "41.94",
        "361.06",
    )
    assert money_calls(shop) == []  # Shopify gave the money back: nothing is sent to it
    report = api.client.get("/api/v1/finance/reconciliation", headers=api.headers("agent"))
    assert report.status_code == 200, report.text
    (ledger,) = report.json()["orders"]
    assert ledger["refunded"] == "41.94"
    assert ledger["refunded_without_credit_memo"] == "41.94"
    assert ledger["outstanding"] == "0.00"
    assert ledger["mismatches"] == []


def test_a_refund_of_money_openoms_does_not_hold_is_refused_with_an_exception(api: Api) -> None:
    shop = open_shop(api)
    capture(shop, order("authorized", authorization()))  # not shipped: nothing captured
    shop.deliver("refunds/create", refund_payload(), webhook_id="wh-refund")
    shop.drain()
    delivery = shop.inbox()[-1]
    assert delivery.status == "refused"
    (exception,) = shop.exceptions()
    assert "refunded 41.94 USD but openoms holds only 0.00 captured" in exception.message
    assert shop.count(m.Refund) == 0


def test_an_agents_refund_of_a_shopify_order_goes_through_shopify(api: Api) -> None:
    shop = open_shop(api)
    capture_txn = {"id": 2002, "kind": "capture", "status": "success", "amount": "403.00"}
    view = capture(shop, order("paid", authorization(), capture_txn))
    (ps,) = view["payment_summaries"]
    answer = api.client.post(
        f"/api/v1/order-summaries/{view['id']}/payment-summaries/{ps['id']}/actions/refund",
        json={"amount": "10.00", "reason": "goodwill"},
        headers={**api.headers("agent"), "Idempotency-Key": "agent-refund-1"},
    )
    assert answer.status_code == 201, answer.text
    (call,) = money_calls(shop)
    assert (call["operation"], call["parent"], call["amount"]) == ("refund", "2002", 1000)


@pytest.mark.parametrize(
    ("status", "why"),
    [
        ("partially_paid", "part of the order is paid"),
        ("refunded", "refunded before openoms saw the order"),
        ("partially_refunded", "part of the payment was refunded"),
        ("voided", "authorization was voided"),
        ("unpaid_someday", "openoms does not know this payment state"),
    ],
)
def test_each_status_openoms_does_not_take_is_refused_naming_it(
    api: Api, status: str, why: str
) -> None:
    shop = open_shop(api)
    shop.deliver("orders/create", order(status))
    shop.drain()
    assert shop.summaries() == []
    (delivery,) = shop.inbox()
    assert delivery.status == "refused"
    (exception,) = shop.exceptions()
    assert f"financial_status '{status}' is not taken" in exception.message
    assert why in exception.message


def test_shopifys_own_test_notification_is_voided_and_refused(api: Api) -> None:
    shop = open_shop(api)
    shop.deliver("orders/create", raw_notification(2022))
    shop.drain()
    assert shop.summaries() == []
    (exception,) = shop.exceptions()
    assert "financial_status 'voided'" in exception.message


def test_a_pending_order_is_captured_on_account(api: Api) -> None:
    shop = open_shop(api)
    view = capture(shop, order("pending"))
    assert view["payment_summaries"] == []
    (delivery,) = shop.inbox()
    assert delivery.outcome.endswith("on account (payment pending)")
    view = ship(api, shop, view)
    assert money_calls(shop) == []


# --- through the Shopify REST connector, over real HTTP to the local stand-in -------------


def rest_jobs(shop: Shop) -> JobRegistry:
    """The built-in jobs, the `shopify` gateway and sync over connectors that do not sleep."""
    sandbox = SandboxChannelConnector(shop.db)
    connectors = ChannelConnectors(
        {
            "sandbox": lambda _u, _t: sandbox,
            "shopify_rest": lambda url, token: ShopifyRestConnector(
                url or "", token or "", sleep=lambda _s: None
            ),
        }
    )
    gateways = Gateways({"shopify": ShopifyGateway(shop.db, connectors)})
    return default_jobs(shop.db, gateways=gateways, connectors=connectors)


def rest_shop(api: Api, stub: ShopifyStub, *transactions: dict[str, Any]) -> Shop:
    stub.orders[ORDER] = [(1, "IPOD2008PINK", 1), (2, "IPOD2008PINK", 1)]
    for transaction in transactions:
        stub._add(ORDER, transaction)
    shop = open_shop(api)
    shop.configure(connector={"type": "shopify_rest", "base_url": stub.url, "access_token": TOKEN})
    return shop


def rest_drain(shop: Shop, registry: JobRegistry) -> None:
    drain(make_worker(shop.db, jobs=registry, clock=WorkerClock(ahead=ONE_DRAIN)))


def payment_exceptions(shop: Shop) -> list[m.ProcessException]:
    with shop.db.reading() as session:
        return list(
            session.scalars(
                select(m.ProcessException).where(m.ProcessException.category == "payment")
            )
        )


def test_an_authorized_order_is_verified_and_captured_in_shopify_over_rest(api: Api) -> None:
    with serving(ShopifyStub()) as stub:
        shop = rest_shop(
            api, stub, {"kind": "authorization", "status": "success", "amount": "403.00"}
        )
        registry = rest_jobs(shop)
        shop.deliver("orders/create", order("authorized", authorization(8000)))
        rest_drain(shop, registry)
        (summary,) = shop.summaries()
        view = shop.view(summary.id)
        assert view["fulfillment_orders"]  # verified in Shopify's transactions, then routed
        (fo,) = view["fulfillment_orders"]
        shipped = api.client.post(
            f"/api/v1/fulfillment-orders/{fo['id']}/actions/ship", headers=api.headers("warehouse")
        )
        assert shipped.status_code in (200, 201), shipped.text
        rest_drain(shop, registry)
        captures = [t for t in stub.transactions[ORDER] if t["kind"] == "capture"]
        assert [(t["parent_id"], t["amount"]) for t in captures] == [(8000, "403.00")]
        view = shop.view(summary.id)
        assert view["payment_summaries"][0]["captured"] == "403.00"
        assert [i["status"] for i in view["invoices"]] == ["PAID"]
        assert payment_exceptions(shop) == []


def test_a_capture_shopify_refuses_is_a_high_payment_exception(api: Api) -> None:
    with serving(ShopifyStub()) as stub:
        # The merchant captured it in Shopify's admin already: Shopify refuses a second one.
        shop = rest_shop(
            api, stub, {"kind": "authorization", "status": "success", "amount": "403.00"}
        )
        stub._add(
            ORDER, {"kind": "capture", "status": "success", "amount": "403.00", "parent_id": 8000}
        )
        registry = rest_jobs(shop)
        shop.deliver("orders/create", order("authorized", authorization(8000)))
        rest_drain(shop, registry)
        (summary,) = shop.summaries()
        (fo,) = shop.view(summary.id)["fulfillment_orders"]
        api.client.post(
            f"/api/v1/fulfillment-orders/{fo['id']}/actions/ship", headers=api.headers("warehouse")
        )
        rest_drain(shop, registry)
        (exception,) = payment_exceptions(shop)
        assert exception.severity == "high"
        assert "exceeds the amount left to capture" in exception.message
        assert shop.view(summary.id)["payment_summaries"][0]["captured"] == "0.00"


def test_shopify_down_at_capture_is_retried_with_a_medium_exception(api: Api) -> None:
    with serving(ShopifyStub()) as stub:
        shop = rest_shop(
            api, stub, {"kind": "authorization", "status": "success", "amount": "403.00"}
        )
        registry = rest_jobs(shop)
        shop.deliver("orders/create", order("authorized", authorization(8000)))
        rest_drain(shop, registry)
        (summary,) = shop.summaries()
        (fo,) = shop.view(summary.id)["fulfillment_orders"]
        stub.always = (503, {})
        api.client.post(
            f"/api/v1/fulfillment-orders/{fo['id']}/actions/ship", headers=api.headers("warehouse")
        )
        rest_drain(shop, registry)
        (exception,) = payment_exceptions(shop)
        assert exception.severity == "medium"
        assert "answer unknown; retrying with the same key" in exception.message
        with shop.db.reading() as session:
            (payment,) = session.scalars(select(m.Payment)).all()
            assert payment.status == "PENDING"  # sent again later with its key


def test_a_refund_openoms_made_in_shopify_is_not_recorded_twice(api: Api) -> None:
    shop = open_shop(api)
    sale = {"id": 1001, "kind": "sale", "status": "success", "amount": "403.00"}
    view = capture(shop, order("paid", sale))
    webhook = refund_payload()
    webhook["note"] = "openoms refund refund:agent:pay_x:1"
    shop.deliver("refunds/create", webhook)
    shop.drain()
    delivery = shop.inbox()[-1]
    assert delivery.outcome == "Shopify refund 509562969 (41.94 USD) was made by openoms"
    assert shop.count(m.Refund) == 0
    assert shop.view(view["id"])["payment_summaries"][0]["refunded"] == "0.00"


def test_a_cancel_with_its_refund_in_shopify_never_refunds_again(api: Api) -> None:
    shop = open_shop(api)
    sale = {"id": 1001, "kind": "sale", "status": "success", "amount": "403.00"}
    view = capture(shop, order("paid", sale))
    cancelled = order("paid", sale)
    cancelled["cancel_reason"] = "customer"
    cancelled["refunds"] = [refund_payload(refund_id=77, amount="403.00")]
    shop.deliver("orders/cancelled", cancelled)
    shop.drain()
    view = shop.view(view["id"])
    assert view["status"] == "CANCELED"
    (ps,) = view["payment_summaries"]
    assert (ps["captured"], ps["refunded"], ps["pending_refund"]) == ("403.00", "403.00", "0.00")
    assert money_calls(shop) == []  # Shopify refunded it: nothing is sent back to it
    # Shopify's own refunds/create for that refund arrives too: recorded once.
    shop.deliver("refunds/create", refund_payload(refund_id=77, amount="403.00"))
    shop.drain()
    assert shop.inbox()[-1].outcome == "Shopify refund 77 was recorded before"
    assert shop.count(m.Refund) == 1


def test_a_cancelled_authorized_order_voids_its_authorization_in_shopify(api: Api) -> None:
    shop = open_shop(api)
    view = capture(shop, order("authorized", authorization()))
    shop.deliver("orders/cancelled", {**order("authorized"), "cancel_reason": "fraud"})
    shop.drain()
    assert shop.view(view["id"])["status"] == "CANCELED"
    (call,) = money_calls(shop)
    assert (call["operation"], call["parent"]) == ("void", "389404469")
    (ps,) = shop.view(view["id"])["payment_summaries"]
    assert (ps["captured"], ps["reversed"]) == ("0.00", "403.00")


def test_an_agents_cancel_after_a_shopify_refund_refunds_only_the_rest(api: Api) -> None:
    shop = open_shop(api)
    sale = {"id": 1001, "kind": "sale", "status": "success", "amount": "403.00"}
    view = capture(shop, order("paid", sale))
    shop.deliver("refunds/create", refund_payload())  # 41.94 given back in Shopify
    shop.drain()
    item = next(i for i in view["items"] if i["type"] == "product")
    answer = api.client.post(
        f"/api/v1/order-summaries/{view['id']}/actions/submit-cancel",
        json={"items": [{"order_item_summary_id": item["id"], "quantity": 1}]},
        headers=api.headers("agent", **{"Idempotency-Key": "cancel-1"}),
    )
    assert answer.status_code == 200, answer.text
    shop.drain()
    view = shop.view(view["id"])
    owed = Decimal(view["totals"]["grand_total"])
    (call,) = money_calls(shop)  # only what the cancel made excess beyond Shopify's refund
    assert call["operation"] == "refund"
    assert Decimal(call["amount"]) / 100 == Decimal("403.00") - owed - Decimal("41.94")
    (ps,) = view["payment_summaries"]
    assert Decimal(ps["captured"]) - Decimal(ps["refunded"]) == owed  # to the cent

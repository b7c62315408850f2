"""Cancel through the HTTP API, on SQLite and PostgreSQL: preview-cancel and submit-cancel
on the §12 order (3× TEE-M shipped home from WH-LDN, 1× MUG picked up at STORE-LDN) before
routing, after routing, after a partial shipment, with a backorder, with refund_shipping,
after money was captured, on an unmanaged order, retried with an Idempotency-Key, and every
refusal — each asserting exact stock, reservations, money and counters, and that a refusal
or a preview changes nothing.

Amounts (minor units): TEE-M 60.00 − 10.35 + tax 12.00 = 61.65 (20.55 a unit), MUG 8.95,
delivery 5.99; grand total 76.59."""

from __future__ import annotations

from typing import Any

import pytest

from openoms.adapters.db.session import Database
from openoms.services.orders import ShortagePolicy
from tests.integration.conftest import Api
from tests.integration.service_shop import Shop, make_shop, minor, without_ids
from tests.network import stock_network

INITIAL_STOCK = {
    ("WH-LDN", "MUG"): (20, 0),
    ("WH-LDN", "TEE-M"): (10, 3),
    ("WH-MAN", "TEE-M"): (5, 0),
    ("STORE-LDN", "MUG"): (10, 1),
}


@pytest.fixture
def shop(api: Api, stocked: Database) -> Shop:
    shop = make_shop(api)
    shop.capture()
    return shop


def cancel(shop: Shop, *lines: tuple[str, int], **extra: Any) -> dict[str, Any]:
    return {
        "items": [{"order_item_summary_id": i, "quantity": n} for i, n in lines],
        **extra,
    }


def submit(shop: Shop, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    answer = shop.action("submit-cancel", body, **kwargs)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def counters(shop: Shop, sku: str) -> tuple[int, int, int, int, str]:
    """(canceled, allocated, fulfilled, available to cancel, status) of the item."""
    item = shop.item(sku)
    return (
        item["quantity_canceled"],
        item["quantity_allocated"],
        item["quantity_fulfilled"],
        item["quantity_available_to_cancel"],
        item["status"],
    )


def owed(shop: Shop) -> int:
    """Σ invoices − Σ credit memos."""
    money = shop.money()
    return sum(money["invoices"]) - sum(total for total, _, _ in money["memos"])


# --- before routing -----------------------------------------------------------------------


def test_cancel_before_routing_releases_the_capture_hold(shop: Shop) -> None:
    tee = shop.item_id("TEE-M")
    body = cancel(shop, (tee, 1), reason="changed mind")
    before = shop.snapshot()
    preview = shop.action("preview-cancel", body)
    assert preview.status_code == 200, preview.text
    assert shop.snapshot() == before  # a preview changes nothing

    result = submit(shop, body)
    assert without_ids(preview.json()) == without_ids(result)
    assert (preview.json()["preview"], result["preview"]) == (True, False)
    [change] = result["change_orders"]
    assert change["id"] is not None
    assert change["credit_memo_id"] is None
    assert (change["kind"], change["stage"], change["reason"], change["grand_total"]) == (
        "cancel",
        None,
        "changed mind",
        "-20.55",
    )
    assert [
        {k: v for k, v in ln.items() if k != "order_item_summary_id"} for ln in change["lines"]
    ] == [
        {
            "sku": "TEE-M",
            "quantity": -1,
            "total_price": "-20.00",
            "adjustments": "3.45",
            "tax": "-4.00",
            "total": "-20.55",
        }
    ]
    assert (result["to_refund"], result["messages"]) == ("0.00", [])
    summary = result["order_summary"]
    assert summary["totals"] == {
        "product": "48.00",
        "delivery": "4.99",
        "adjustments": "-7.55",
        "tax": "10.60",
        "grand_total": "56.04",
    }
    assert summary["status"] == "CREATED"
    assert counters(shop, "TEE-M") == (1, 0, 0, 2, "ORDERED")
    assert shop.stock() == {**INITIAL_STOCK, ("WH-LDN", "TEE-M"): (10, 2)}
    assert shop.held() == {("WH-LDN", "TEE-M"): 2, ("STORE-LDN", "MUG"): 1}
    assert shop.change_orders() == [("cancel", "changed mind", -2055)]
    new_events = shop.event_names()[len(before["events"]) :]
    assert sorted(new_events) == ["order_summary.changed", "reservation.released"]

    shop.drain()  # routing places the two units left
    assert shop.fos() == [
        ("WH-LDN", "ALLOCATED", [("TEE-M", 2, 2, 0)]),
        ("STORE-LDN", "ALLOCATED", [("MUG", 1, 1, 0)]),
    ]
    assert shop.stock() == {**INITIAL_STOCK, ("WH-LDN", "TEE-M"): (10, 2)}


def test_duplicate_items_are_summed(shop: Shop) -> None:
    tee = shop.item_id("TEE-M")
    result = submit(shop, cancel(shop, (tee, 1), (tee, 1)))
    [change] = result["change_orders"]
    assert [(ln["sku"], ln["quantity"], ln["total"]) for ln in change["lines"]] == [
        ("TEE-M", -2, "-41.10")
    ]
    assert counters(shop, "TEE-M") == (2, 0, 0, 1, "ORDERED")
    assert shop.held() == {("WH-LDN", "TEE-M"): 1, ("STORE-LDN", "MUG"): 1}


# --- after routing ------------------------------------------------------------------------


def test_cancel_after_routing_shrinks_the_fulfillment_order(shop: Shop) -> None:
    shop.drain()
    tee = shop.item_id("TEE-M")
    assert counters(shop, "TEE-M") == (0, 3, 0, 0, "ALLOCATED")
    result = submit(shop, cancel(shop, (tee, 2)))
    assert result["change_orders"][0]["grand_total"] == "-41.10"
    assert result["order_summary"]["status"] == "WAITING_TO_FULFILL"
    assert shop.fos() == [
        ("WH-LDN", "ALLOCATED", [("TEE-M", 3, 1, 0)]),
        ("STORE-LDN", "ALLOCATED", [("MUG", 1, 1, 0)]),
    ]
    assert counters(shop, "TEE-M") == (2, 1, 0, 0, "ALLOCATED")
    assert shop.stock() == {**INITIAL_STOCK, ("WH-LDN", "TEE-M"): (10, 1)}
    assert shop.held() == {("WH-LDN", "TEE-M"): 1, ("STORE-LDN", "MUG"): 1}
    assert "fulfillment_order.lines_canceled" in shop.event_names()

    # The rest ships and is invoiced at the lower amounts: Σ invoices = grand total.
    shop.ship("WH-LDN")
    shop.ship("STORE-LDN")
    shop.drain()
    view = shop.view()
    assert view["status"] == "FULFILLED"
    assert view["totals"]["grand_total"] == "35.49"
    assert sorted(shop.money()["invoices"]) == [895, 2654]  # MUG; 1 TEE-M 20.55 + 5.99
    assert owed(shop) == 3549
    assert shop.money()["payment"] == (7659, 3549, 0)
    assert shop.stock() == {
        **INITIAL_STOCK,
        ("WH-LDN", "TEE-M"): (9, 0),
        ("STORE-LDN", "MUG"): (9, 0),
    }


def test_a_backordered_unit_holds_nothing_to_release(api: Api) -> None:
    """WH-LDN has 2 TEE-M and the channel backorders: capture holds 2, routing allocates 2,
    one unit waits. Canceling 2 takes the waiting unit first (it holds nothing), then one
    unit of the FO (its hold is released)."""
    stock_network(
        api.db,
        stock={("WH-LDN", "TEE-M"): 2, ("STORE-LDN", "MUG"): 10},
        shortage_policy=ShortagePolicy.BACKORDER,
    )
    shop = make_shop(api)
    shop.capture()
    shop.drain()
    tee = shop.item_id("TEE-M")
    assert counters(shop, "TEE-M") == (0, 2, 0, 1, "PARTIALLY_ALLOCATED")
    assert shop.held() == {("WH-LDN", "TEE-M"): 2, ("STORE-LDN", "MUG"): 1}
    submit(shop, cancel(shop, (tee, 2)))
    assert counters(shop, "TEE-M") == (2, 1, 0, 0, "ALLOCATED")
    assert shop.fos()[0] == ("WH-LDN", "ALLOCATED", [("TEE-M", 2, 1, 0)])
    assert shop.stock()[("WH-LDN", "TEE-M")] == (2, 1)
    assert shop.held() == {("WH-LDN", "TEE-M"): 1, ("STORE-LDN", "MUG"): 1}


# --- after a partial shipment -------------------------------------------------------------


def test_cancel_the_rest_after_a_partial_shipment(shop: Shop) -> None:
    shop.drain()
    shop.ship("WH-LDN", {"TEE-M": 2})
    shop.ship("STORE-LDN")
    shop.drain()
    tee = shop.item_id("TEE-M")
    assert shop.view()["status"] == "PARTIALLY_FULFILLED"

    before = shop.snapshot()
    for action in ("preview-cancel", "submit-cancel"):
        refused = shop.action(action, cancel(shop, (tee, 2)))
        assert refused.status_code == 409
        problem = refused.json()
        assert problem["code"] == "cancel_exceeds_available"
        assert problem["detail"] == (
            "cannot cancel 2 TEE-M: 2 of 3 TEE-M are already shipped; cancel at most 1; "
            "return shipped units instead"
        )
        assert (problem["requested"], problem["available"], problem["shipped"]) == (2, 1, 2)
    assert shop.snapshot() == before

    result = submit(shop, cancel(shop, (tee, 1)))
    assert result["change_orders"][0]["grand_total"] == "-20.55"
    assert result["order_summary"]["status"] == "FULFILLED"
    assert counters(shop, "TEE-M") == (1, 2, 2, 0, "FULFILLED")
    assert shop.fos() == [
        ("WH-LDN", "FULFILLED", [("TEE-M", 3, 2, 2)]),
        ("STORE-LDN", "FULFILLED", [("MUG", 1, 1, 1)]),
    ]
    assert shop.stock() == {
        **INITIAL_STOCK,
        ("WH-LDN", "TEE-M"): (8, 0),
        ("STORE-LDN", "MUG"): (9, 0),
    }
    shop.drain()
    assert owed(shop) == minor(shop.view()["totals"]["grand_total"]) == 5604
    money = shop.money()
    assert money["payment"] == (7659, 5604, 0)
    assert money["refunds"] == []


# --- refund_shipping ----------------------------------------------------------------------


def test_refund_shipping_cancels_the_charge_of_an_emptied_group(shop: Shop) -> None:
    tee = shop.item_id("TEE-M")
    kept = shop.action("preview-cancel", cancel(shop, (tee, 1), refund_shipping=True)).json()
    assert [ln["sku"] for ln in kept["change_orders"][0]["lines"]] == ["TEE-M"]
    assert kept["messages"] == [
        "the delivery charge DELIVERY is kept: 2 units of its group are still ordered"
    ]
    unasked = shop.action("preview-cancel", cancel(shop, (tee, 3))).json()
    assert unasked["messages"] == [
        "the delivery charge DELIVERY is kept: nothing is left to ship in its group; "
        "cancel with refund_shipping true to give it back"
    ]

    result = submit(shop, cancel(shop, (tee, 3), refund_shipping=True))
    [change] = result["change_orders"]
    assert [(ln["sku"], ln["quantity"], ln["total"]) for ln in change["lines"]] == [
        ("TEE-M", -3, "-61.65"),
        ("DELIVERY", -1, "-5.99"),
    ]
    assert (change["grand_total"], change["credited"], result["messages"]) == ("-67.64", "0.00", [])
    summary = result["order_summary"]
    assert summary["totals"] == {
        "product": "8.00",
        "delivery": "0.00",
        "adjustments": "-0.65",
        "tax": "1.60",
        "grand_total": "8.95",
    }
    assert summary["status"] == "CREATED"
    assert shop.item("DELIVERY")["status"] == "CANCELED"
    assert shop.held() == {("STORE-LDN", "MUG"): 1}
    assert shop.stock() == {**INITIAL_STOCK, ("WH-LDN", "TEE-M"): (10, 0)}
    shop.drain()  # only the MUG is routed
    assert shop.fos() == [("STORE-LDN", "ALLOCATED", [("MUG", 1, 1, 0)])]


def test_canceling_a_captured_order_refunds_the_excess(shop: Shop) -> None:
    """Money taken at order time (an agent's capture of 76.59 before anything shipped): the
    whole order canceled → CANCELED, every hold released, every FO canceled, and the worker
    refunds the 76.59 once through the sandbox gateway."""
    shop.drain()
    ps = shop.view()["payment_summaries"][0]["id"]
    captured = shop.api.client.post(
        f"/api/v1/order-summaries/{shop.summary_id}/payment-summaries/{ps}/actions/capture",
        json={"amount": "76.59"},
        headers=shop.api.headers("agent"),
    )
    assert captured.status_code == 201, captured.text
    tee, mug = shop.item_id("TEE-M"), shop.item_id("MUG")
    result = submit(shop, cancel(shop, (tee, 3), (mug, 1), refund_shipping=True))
    assert result["change_orders"][0]["grand_total"] == "-76.59"
    assert result["order_summary"]["status"] == "CANCELED"
    assert result["order_summary"]["totals"]["grand_total"] == "0.00"
    assert [status for _, status, _ in shop.fos()] == ["CANCELED", "CANCELED"]
    assert shop.held() == {}
    assert shop.stock() == {
        **INITIAL_STOCK,
        ("WH-LDN", "TEE-M"): (10, 0),
        ("STORE-LDN", "MUG"): (10, 0),
    }

    shop.drain()
    money = shop.money()
    assert money["refunds"] == [(7659, "PROCESSED", False)]
    assert money["payment"] == (7659, 7659, 7659)
    assert money["ledger"] == [("authorize", 7659), ("capture", 7659), ("refund", 7659)]
    assert shop.view()["payment_summaries"][0]["refunded"] == "76.59"
    shop.drain()
    assert len(shop.sandbox.movements("refund")) == 1


# --- idempotency, unmanaged ---------------------------------------------------------------


def test_a_retry_with_the_same_key_cancels_nothing_more(shop: Shop) -> None:
    tee = shop.item_id("TEE-M")
    body = cancel(shop, (tee, 1))
    first = shop.action("submit-cancel", body, key="cancel-1")
    after_first = shop.snapshot()
    again = shop.action("submit-cancel", body, key="cancel-1")
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    assert shop.snapshot() == after_first
    assert len(shop.change_orders()) == 1
    assert counters(shop, "TEE-M") == (1, 0, 0, 2, "ORDERED")
    other = shop.action("submit-cancel", cancel(shop, (tee, 2)), key="cancel-1")
    assert (other.status_code, other.json()["code"]) == (409, "idempotency_key_reused")


def test_an_unmanaged_order_is_canceled_without_stock(api: Api, stocked: Database) -> None:
    shop = make_shop(api)
    shop.capture(lifecycle="UNMANAGED", external_reference="EXT-1")
    assert shop.held() == {}
    result = submit(shop, cancel(shop, (shop.item_id("TEE-M"), 2)))
    assert result["order_summary"]["totals"]["grand_total"] == "35.49"
    assert counters(shop, "TEE-M") == (2, 0, 0, 1, "ORDERED")
    assert shop.stock() == {
        **INITIAL_STOCK,
        ("WH-LDN", "TEE-M"): (10, 0),
        ("STORE-LDN", "MUG"): (10, 0),
    }


# --- refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "status", "code", "field"),
    [
        ([("nope", 1)], 400, "order_item_summary_unknown", "items[0].order_item_summary_id"),
        (
            [("TEE-M", 1), ("DELIVERY", 1)],
            400,
            "delivery_charge_cancel_invalid",
            "items[1].order_item_summary_id",
        ),
        ([("TEE-M", 0)], 400, "quantity_invalid", "items[0].quantity"),
        ([("MUG", -1)], 400, "quantity_invalid", "items[0].quantity"),
        ([("TEE-M", 4)], 409, "cancel_exceeds_available", None),
        ([("TEE-M", 2), ("MUG", 1), ("TEE-M", 2)], 409, "cancel_exceeds_available", None),
    ],
)
def test_refusals_change_nothing(
    shop: Shop, lines: list[tuple[str, int]], status: int, code: str, field: str | None
) -> None:
    ids = {"TEE-M": shop.item_id("TEE-M"), "MUG": shop.item_id("MUG"), "DELIVERY": shop.charge_id()}
    body = cancel(shop, *[(ids.get(sku, sku), n) for sku, n in lines])
    before = shop.snapshot()
    for action in ("preview-cancel", "submit-cancel"):
        answer = shop.action(action, body, key=f"{action}-1")
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert (answer.json()["code"], answer.json().get("field")) == (code, field)
    assert shop.snapshot() == before


def test_refused_requests_without_a_business_rule(shop: Shop) -> None:
    body = cancel(shop, (shop.item_id("TEE-M"), 1))
    before = shop.snapshot()
    forbidden = shop.action("submit-cancel", body, scope="storefront")
    assert (forbidden.status_code, forbidden.json()["code"]) == (403, "forbidden")
    assert shop.action("submit-cancel", body, scope="admin").status_code == 200
    after_admin = shop.snapshot()
    assert after_admin != before
    malformed = shop.action("submit-cancel", {"items": []})
    assert (malformed.status_code, malformed.json()["code"]) == (422, "payload_invalid")
    shop.summary_id, real = "os_nope", shop.summary_id
    missing = shop.action("submit-cancel", body)
    assert (missing.status_code, missing.json()["code"]) == (404, "order_summary_not_found")
    shop.summary_id = real
    assert shop.snapshot() == after_admin

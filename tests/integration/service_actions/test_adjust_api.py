"""Discounts through the HTTP API, on SQLite and PostgreSQL: adjust-item-preview and
adjust-item-submit on the §12 order before shipment (later invoices bill less), after
shipment and capture (a credit memo refunded once through the sandbox gateway), across all
three stages (three change orders), on a delivery charge, retried with an Idempotency-Key,
and every refusal — each asserting that a refusal or a preview changes nothing.

Amounts (minor units): TEE-M net price 60.00 − 10.35 = 49.65, tax 12.00; MUG 7.35, tax
1.60; delivery 4.99, tax 1.00; grand total 76.59."""

from __future__ import annotations

from typing import Any

import pytest

from openoms.adapters.db.session import Database
from openoms.services.inventory import InventoryLine, apply_inventory_import
from openoms.services.orders import ShortagePolicy
from tests.integration.conftest import Api
from tests.integration.service_shop import Shop, make_shop, minor, without_ids
from tests.network import stock_network


@pytest.fixture
def shop(api: Api, stocked: Database) -> Shop:
    shop = make_shop(api)
    shop.capture()
    return shop


def discount(item: str, kind: str, amount: str, **extra: Any) -> dict[str, Any]:
    return {"order_item_summary_id": item, "type": kind, "amount": amount, **extra}


def submit(shop: Shop, *items: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    answer = shop.action("adjust-item-submit", {"items": list(items)}, **kwargs)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def stages(result: dict[str, Any]) -> list[tuple[str, str, list[tuple[str, str, str]], str]]:
    """(stage, grand total, [(sku, adjustments, tax)], credited) per change order."""
    return [
        (
            c["stage"],
            c["grand_total"],
            [(ln["sku"], ln["adjustments"], ln["tax"]) for ln in c["lines"]],
            c["credited"],
        )
        for c in result["change_orders"]
    ]


def owed(shop: Shop) -> int:
    money = shop.money()
    return sum(money["invoices"]) - sum(total for total, _, _ in money["memos"])


# --- before shipment ----------------------------------------------------------------------


def test_a_discount_before_shipment_lowers_later_invoices(shop: Shop) -> None:
    """10% of TEE-M: 4.965 → 4.97 off (half up), its tax 12.00 × 4.97 / 49.65 → 1.20."""
    tee = shop.item_id("TEE-M")
    body = {"items": [discount(tee, "percentage", "10")], "reason": "late delivery"}
    before = shop.snapshot()
    preview = shop.action("adjust-item-preview", body)
    assert preview.status_code == 200, preview.text
    assert shop.snapshot() == before

    result = shop.action("adjust-item-submit", body).json()
    assert without_ids(preview.json()) == without_ids(result)
    assert stages(result) == [("pre_fulfillment", "-6.17", [("TEE-M", "-4.97", "-1.20")], "0.00")]
    assert result["change_orders"][0]["reason"] == "late delivery"
    assert (result["to_refund"], result["change_orders"][0]["credit_memo_id"]) == ("0.00", None)
    assert result["order_summary"]["totals"] == {
        "product": "68.00",
        "delivery": "4.99",
        "adjustments": "-15.97",
        "tax": "13.40",
        "grand_total": "70.42",
    }
    assert shop.stock() == before["stock"]
    assert shop.change_orders() == [("adjust", "late delivery", -617)]

    shop.drain()
    shop.ship("WH-LDN", {"TEE-M": 1})
    shop.ship("WH-LDN")
    shop.ship("STORE-LDN")
    shop.drain()
    money = shop.money()
    assert money["memos"] == []
    # 1 TEE-M: 20.00 − 5.10 (15.32 / 3, toward zero) + 3.60 = 18.50, + delivery 5.99; then
    # the 2 others take the rest, 36.98; the MUG 8.95.
    assert sorted(money["invoices"]) == [895, 2449, 3698]
    assert owed(shop) == minor(shop.view()["totals"]["grand_total"]) == 7042
    assert money["payment"] == (7659, 7042, 0)
    assert shop.view()["status"] == "FULFILLED"


# --- after shipment and capture -----------------------------------------------------------


def shipped_and_captured(shop: Shop) -> None:
    shop.drain()
    shop.ship("WH-LDN")
    shop.ship("STORE-LDN")
    shop.drain()
    assert shop.money()["payment"] == (7659, 7659, 0)


def test_a_discount_after_capture_is_credited_and_refunded_once(shop: Shop) -> None:
    """−5.00 with tax on the MUG (7.35 + 1.60): 5.00 × 7.35 / 8.95 = 4.11 net, 0.89 tax."""
    shipped_and_captured(shop)
    mug = shop.item_id("MUG")
    result = submit(shop, discount(mug, "amount_with_tax", "-5.00", reason="chipped"))
    assert stages(result) == [("post_fulfillment", "-5.00", [("MUG", "-4.11", "-0.89")], "5.00")]
    assert result["change_orders"][0]["reason"] == "chipped"
    assert result["to_refund"] == "5.00"
    [memo] = result["order_summary"]["credit_memos"]
    assert memo["id"] == result["change_orders"][0]["credit_memo_id"]
    assert memo["grand_total"] == "5.00"
    assert shop.money()["refunds"] == []  # the worker refunds it

    shop.drain()
    money = shop.money()
    assert money["memos"] == [(500, 0, "REFUNDED")]
    assert money["refunds"] == [(500, "PROCESSED", True)]
    assert money["payment"] == (7659, 7659, 500)
    assert shop.sandbox.movements("refund")[0].amount == 500
    assert shop.view()["payment_summaries"][0]["refunded"] == "5.00"
    assert owed(shop) == minor(shop.view()["totals"]["grand_total"]) == 7159
    shop.drain()
    assert len(shop.sandbox.movements("refund")) == 1


def test_a_delivery_charge_can_be_discounted(shop: Shop) -> None:
    shipped_and_captured(shop)
    result = submit(shop, discount(shop.charge_id(), "percentage", "100"))
    assert stages(result) == [
        ("post_fulfillment", "-5.99", [("DELIVERY", "-4.99", "-1.00")], "5.99")
    ]
    shop.drain()
    assert shop.money()["refunds"] == [(599, "PROCESSED", True)]
    assert shop.view()["totals"]["delivery"] == "4.99"  # list price stays, discounted to 0
    assert shop.view()["totals"]["grand_total"] == "70.60"


# --- all three stages ---------------------------------------------------------------------


def test_a_discount_across_three_stages(api: Api) -> None:
    """WH-LDN has 2 TEE-M and the channel backorders: 2 allocated, 1 waits; 1 ships. −3.00
    before tax on TEE-M (tax 12.00 × 3.00 / 49.65 = 0.725 → 0.73) spreads 1.00 + 0.24 per
    stage, the last one taking the remainder: shipped (credited), allocated, waiting."""
    stock_network(
        api.db,
        stock={("WH-LDN", "TEE-M"): 2, ("STORE-LDN", "MUG"): 10},
        shortage_policy=ShortagePolicy.BACKORDER,
    )
    shop = make_shop(api)
    shop.capture()
    shop.drain()
    shop.ship("WH-LDN", {"TEE-M": 1})
    shop.drain()
    assert shop.money()["invoices"] == [2654]  # 1 TEE-M 20.55 + delivery 5.99

    tee = shop.item_id("TEE-M")
    result = submit(shop, discount(tee, "amount_without_tax", "-3.00"))
    assert stages(result) == [
        ("pre_fulfillment", "-1.25", [("TEE-M", "-1.00", "-0.25")], "0.00"),
        ("in_fulfillment", "-1.24", [("TEE-M", "-1.00", "-0.24")], "0.00"),
        ("post_fulfillment", "-1.24", [("TEE-M", "-1.00", "-0.24")], "1.24"),
    ]
    assert [c[0] for c in shop.change_orders()] == ["adjust", "adjust", "adjust"]
    assert result["to_refund"] == "1.24"
    shop.drain()
    assert shop.money()["refunds"] == [(124, "PROCESSED", True)]

    # The waiting unit's stock arrives: it is routed, everything ships, all reconciles.
    apply_inventory_import(
        api.db,
        api.client.app.state.outbox,  # type: ignore[attr-defined]
        [InventoryLine(line=1, location="WH-LDN", sku="TEE-M", on_hand=2)],
        mode="delta",
    )
    shop.drain()
    for fo in shop.view()["fulfillment_orders"]:
        if fo["status"] not in ("FULFILLED", "CANCELED"):
            shop.ship_fo(fo["id"])
    shop.drain()
    assert shop.view()["status"] == "FULFILLED"
    assert owed(shop) == minor(shop.view()["totals"]["grand_total"]) == 7659 - 373
    assert shop.money()["payment"] == (7659, 7659 - 373 + 124, 124)


# --- idempotency --------------------------------------------------------------------------


def test_a_retry_with_the_same_key_discounts_nothing_more(shop: Shop) -> None:
    body = {"items": [discount(shop.item_id("MUG"), "amount_without_tax", "-1.00")]}
    first = shop.action("adjust-item-submit", body, key="adj-1")
    after_first = shop.snapshot()
    again = shop.action("adjust-item-submit", body, key="adj-1")
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    assert shop.snapshot() == after_first
    assert shop.change_orders() == [("adjust", None, -122)]  # 1.00 + tax 1.60 × 1.00 / 7.35


# --- refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sku", "kind", "amount", "field"),
    [
        ("MUG", "amount_with_tax", "5.00", "items[0].amount"),
        ("MUG", "amount_without_tax", "0", "items[0].amount"),
        ("MUG", "amount_with_tax", "-8.96", "items[0].amount"),
        ("MUG", "amount_without_tax", "-7.36", "items[0].amount"),
        ("MUG", "amount_with_tax", "-0.001", "items[0].amount"),
        ("MUG", "amount_with_tax", "abc", "items[0].amount"),
        ("MUG", "percentage", "0", "items[0].amount"),
        ("MUG", "percentage", "100.5", "items[0].amount"),
        ("MUG", "percentage", "-10", "items[0].amount"),
        ("MUG", "percentage", "0.01", "items[0].amount"),
        ("TEE-M", "percentage", "1e2", "items[0].amount"),
    ],
)
def test_refused_discounts_change_nothing(
    shop: Shop, sku: str, kind: str, amount: str, field: str
) -> None:
    body = {"items": [discount(shop.item_id(sku), kind, amount)]}
    before = shop.snapshot()
    for action in ("adjust-item-preview", "adjust-item-submit"):
        answer = shop.action(action, body, key=f"{action}-1")
        assert answer.status_code == 400, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert (answer.json()["code"], answer.json()["field"]) == ("discount_invalid", field)
    assert shop.snapshot() == before


def test_other_refusals_change_nothing(shop: Shop) -> None:
    mug = shop.item_id("MUG")
    before = shop.snapshot()
    summed = shop.action(
        "adjust-item-submit",
        {"items": [discount(mug, "percentage", "60"), discount(mug, "percentage", "60")]},
    )
    assert (summed.status_code, summed.json()["code"], summed.json()["field"]) == (
        400,
        "discount_invalid",
        "items[1].amount",
    )
    unknown = shop.action(
        "adjust-item-submit",
        {"items": [discount(mug, "percentage", "5"), discount("ois_nope", "percentage", "5")]},
    )
    assert (unknown.status_code, unknown.json()["code"], unknown.json()["field"]) == (
        400,
        "order_item_summary_unknown",
        "items[1].order_item_summary_id",
    )
    bad_type = shop.action("adjust-item-submit", {"items": [discount(mug, "fixed", "-1.00")]})
    assert (bad_type.status_code, bad_type.json()["code"]) == (422, "payload_invalid")
    forbidden = shop.action(
        "adjust-item-submit", {"items": [discount(mug, "percentage", "5")]}, scope="warehouse"
    )
    assert forbidden.status_code == 403
    assert shop.snapshot() == before


def test_a_canceled_item_cannot_be_discounted(shop: Shop) -> None:
    mug = shop.item_id("MUG")
    canceled = shop.action(
        "submit-cancel", {"items": [{"order_item_summary_id": mug, "quantity": 1}]}
    )
    assert canceled.status_code == 200
    before = shop.snapshot()
    answer = shop.action("adjust-item-submit", {"items": [discount(mug, "percentage", "5")]})
    assert (answer.status_code, answer.json()["code"]) == (400, "discount_invalid")
    assert (
        answer.json()["detail"] == "MUG has no units left to discount (1 canceled, 0 returned of 1)"
    )
    assert shop.snapshot() == before

"""Return orders through the API on SQLite and PostgreSQL (DESIGN.md §4 ReturnOrder): the
§12 order shipped, then returned through an RMA (refund only at the refund-eligible status,
exactly once), receiving at another location than shipped from (restock, write-off),
refusals that change nothing, cancel, returnless refunds, the return fee, the simple return
and its preview, Idempotency-Key retries, and the documents adding up at the end.
Setup and amounts: tests/integration/returns_world.py."""

from __future__ import annotations

import re
from typing import Any

import pytest

from openoms.adapters.db.session import Database
from tests.integration.conftest import Api
from tests.integration.returns_world import GRAND_TOTAL, MUG_UNIT, TEE_UNIT, Shop, make_shop


@pytest.fixture
def shop(stocked: Database, api: Api) -> Shop:
    return make_shop(stocked, api)


def agent_key(shop: Shop) -> str:
    """How events name the agent's key (`api_key:<id>`)."""
    (event,) = shop.events("return_order.created")[:1]
    by = str(event["by"])
    assert re.fullmatch(r"api_key:key_\w+", by)
    return by


def line_of(ro: dict[str, Any], sku: str) -> dict[str, Any]:
    return next(line for line in ro["lines"] if line["sku"] == sku)


# --- the RMA end to end ---------------------------------------------------------------------


def test_rma_partially_returned_is_refunded_once_at_received(shop: Shop) -> None:
    shop.order()
    assert shop.stock()[("WH-LDN", "TEE-M")] == (7, 0)
    assert shop.stock()[("WH-MAN", "TEE-M")] == (5, 0)
    assert shop.money()["payments"] == (GRAND_TOTAL, GRAND_TOTAL, 0, 0)
    assert shop.quantities("TEE-M") == (0, 0, 3, 3)

    ro = shop.create(("TEE-M", 2), reason="too small", expected_location="WH-LDN")
    assert (ro["status"], ro["expected_location"], ro["refund_eligible_status"]) == (
        "SUBMITTED",
        "WH-LDN",
        "RECEIVED",
    )
    tee = line_of(ro, "TEE-M")
    assert (tee["quantity_expected"], tee["quantity_received"], tee["quantity_credited"]) == (
        2,
        0,
        0,
    )
    assert (tee["reason"], tee["returnless"], tee["receipts"]) == ("too small", False, [])
    assert shop.quantities("TEE-M") == (2, 0, 1, 1)
    no_refund = shop.money()

    assert shop.act(ro["id"], "approve")["status"] == "APPROVED"
    assert shop.act(ro["id"], "mark-in-transit")["status"] == "IN_TRANSIT"
    shop.drain()
    assert shop.money() == no_refund
    assert no_refund["memos"] == []

    # One unit arrives at WH-MAN (not where it shipped from, not where it was expected).
    answer = shop.post(
        f"/return-orders/{ro['id']}/actions/receive",
        {"items": [{"return_order_line_item_id": tee["id"], "quantity": 1, "location": "WH-MAN"}]},
        scope="warehouse",
    )
    assert answer.status_code == 200, answer.text
    first = answer.json()
    assert first["status"] == "IN_TRANSIT"
    assert line_of(first, "TEE-M")["receipts"] == [
        {
            "location": "WH-MAN",
            "quantity": 1,
            "condition": "new",
            "disposition": "restock",
            "received_at": line_of(first, "TEE-M")["receipts"][0]["received_at"],
        }
    ]
    assert first["messages"] == ["1 × TEE-M received (new) and restocked at WH-MAN"]
    assert shop.stock()[("WH-MAN", "TEE-M")] == (6, 0)
    assert shop.stock()[("WH-LDN", "TEE-M")] == (7, 0)
    shop.drain()
    assert shop.money() == no_refund  # not RECEIVED yet: no credit memo, no refund
    assert shop.quantities("TEE-M") == (2, 0, 1, 1)

    # The other arrives damaged: written off.
    second = shop.act(
        ro["id"],
        "receive",
        {
            "items": [
                {
                    "return_order_line_item_id": tee["id"],
                    "quantity": 1,
                    "condition": "damaged",
                    "disposition": "damaged",
                }
            ]
        },
    )
    assert second["status"] == "RECEIVED"
    assert line_of(second, "TEE-M")["quantity_received"] == 2
    assert line_of(second, "TEE-M")["quantity_credited"] == 2
    assert [(r["location"], r["disposition"]) for r in line_of(second, "TEE-M")["receipts"]] == [
        ("WH-MAN", "restock"),
        ("WH-LDN", "damaged"),
    ]
    assert shop.stock()[("WH-MAN", "TEE-M")] == (6, 0)
    assert shop.stock()[("WH-LDN", "TEE-M")] == (7, 0)
    assert shop.quantities("TEE-M") == (2, 2, 1, 1)
    assert shop.money()["memos"] == [(2 * TEE_UNIT, 2 * TEE_UNIT, "POSTED")]

    shop.drain()
    shop.drain()
    money = shop.money()
    assert money["memos"] == [(2 * TEE_UNIT, 0, "REFUNDED")]
    assert money["refunds"] == [(2 * TEE_UNIT, "PROCESSED")]
    assert money["ledger"] == [("refund", 2 * TEE_UNIT)]
    assert money["payments"] == (GRAND_TOTAL, GRAND_TOTAL, 2 * TEE_UNIT, 0)

    closed = shop.act(ro["id"], "close")
    assert closed["status"] == "CLOSED"
    shop.drain()
    assert shop.money() == money
    assert shop.grand_total() == GRAND_TOTAL - 2 * TEE_UNIT
    assert shop.documents_net() == shop.grand_total()
    view = shop.view()
    assert [r["id"] for r in view["return_orders"]] == [ro["id"]]
    assert view["return_orders"][0]["status"] == "CLOSED"
    assert [c["kind"] for c in view["change_orders"]] == ["return"]
    names = [e["name"] for e in view["events"] if e["name"].startswith("return_order.")]
    assert names == [
        "return_order.created",
        "return_order.submitted",
        "return_order.approved",
        "return_order.marked_in_transit",
        "return_order.received",
        "return_order.received",
        "return_order.credited",
        "return_order.closed",
    ]
    # Each records the key that acted: the warehouse's for the first receipt (the credit
    # follows the agent's second receipt), the agent's for the rest.
    who = [e["payload"]["by"] for e in view["events"] if e["name"].startswith("return_order.")]
    agent, warehouse = who[0], who[4]
    assert re.fullmatch(r"api_key:key_\w+", agent)
    assert re.fullmatch(r"api_key:key_\w+", warehouse)
    assert warehouse != agent
    assert who == [agent] * 4 + [warehouse] + [agent] * 3
    (changed,) = [e for e in view["events"] if e["name"] == "order_summary.changed"]
    assert changed["payload"]["requested_by"] == agent
    assert shop.events("inventory.restocked") == [
        {
            "return_order_id": ro["id"],
            "lines": [{"location": "WH-MAN", "sku": "TEE-M", "quantity": 1}],
        }
    ]


# --- refusals that change nothing -----------------------------------------------------------


def assert_refused(answer: Any, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body = dict(answer.json())
    assert body["code"] == code, body
    return body


def test_returning_more_than_shipped_and_unreturned_is_refused(shop: Shop) -> None:
    shop.order()
    before = shop.snapshot()
    item = shop.item_id("TEE-M")
    body = {
        "order_summary_id": shop.summary_id,
        "items": [{"order_item_summary_id": item, "quantity": 4}],
    }
    refused = assert_refused(shop.post("/return-orders", body), 409, "return_exceeds_available")
    assert refused["detail"] == "cannot return 4 TEE-M: only 3 can be returned"
    assert shop.snapshot() == before

    ro = shop.create(("TEE-M", 2))
    held = shop.snapshot()
    body["items"][0]["quantity"] = 2
    refused = assert_refused(shop.post("/return-orders", body), 409, "return_exceeds_available")
    assert refused["detail"] == (
        f"cannot return 2 TEE-M: 2 of 3 shipped TEE-M are already being returned on RMA "
        f"{ro['id']} (2) (1 can be returned)"
    )
    assert shop.snapshot() == held


def test_returning_unshipped_goods_is_refused_with_a_way_out(shop: Shop) -> None:
    shop.order(ship_tees=1, ship_mug=False)
    before = shop.snapshot()
    tee = {"order_item_summary_id": shop.item_id("TEE-M"), "quantity": 3}
    mug = {"order_item_summary_id": shop.item_id("MUG"), "quantity": 1}
    for items, detail in (
        (
            [tee],
            "cannot return 3 TEE-M: only 1 of 3 TEE-M has shipped; cancel the other 2 "
            "instead (1 can be returned)",
        ),
        ([mug], "cannot return 1 MUG: none of the 1 MUG has shipped; cancel them instead"),
    ):
        body = {"order_summary_id": shop.summary_id, "items": items}
        refused = assert_refused(shop.post("/return-orders", body), 409, "return_exceeds_available")
        assert refused["detail"] == detail
        simple = shop.post(
            f"/order-summaries/{shop.summary_id}/actions/submit-return",
            {"items": items, "location": "WH-LDN"},
        )
        assert assert_refused(simple, 409, "return_exceeds_available")["detail"] == detail
    charge = next(i["id"] for i in shop.view()["items"] if i["type"] == "delivery_charge")
    body = {
        "order_summary_id": shop.summary_id,
        "items": [{"order_item_summary_id": charge, "quantity": 1}],
    }
    assert_refused(shop.post("/return-orders", body), 400, "return_item_not_returnable")
    assert shop.snapshot() == before


def test_illegal_moves_are_refused_and_change_nothing(shop: Shop) -> None:
    shop.order()
    canceled = shop.create(("TEE-M", 1))
    shop.act(canceled["id"], "cancel")
    tee_line = canceled["lines"][0]["id"]
    received = shop.create(("TEE-M", 1), expected_location="WH-LDN")
    shop.act(received["id"], "approve")
    shop.act(
        received["id"],
        "receive",
        {"items": [{"return_order_line_item_id": received["lines"][0]["id"], "quantity": 1}]},
    )
    shop.drain()
    before = shop.snapshot()
    receive = {"items": [{"return_order_line_item_id": tee_line, "quantity": 1}]}
    refused = assert_refused(
        shop.post(f"/return-orders/{canceled['id']}/actions/receive", receive),
        409,
        "illegal_transition",
    )
    assert refused["detail"] == (
        "a return order that is CANCELED cannot receive units: units are received while it "
        "is APPROVED or IN_TRANSIT (allowed from CANCELED: none)"
    )
    refused = assert_refused(
        shop.post(f"/return-orders/{received['id']}/actions/approve"), 409, "illegal_transition"
    )
    assert refused["detail"] == (
        "a return order that is RECEIVED cannot become APPROVED (allowed from RECEIVED: CLOSED)"
    )
    for action in ("cancel", "mark-in-transit", "submit"):
        assert_refused(
            shop.post(f"/return-orders/{received['id']}/actions/{action}"),
            409,
            "illegal_transition",
        )
    assert_refused(
        shop.post(f"/return-orders/{canceled['id']}/actions/close"), 409, "illegal_transition"
    )
    # More than expected on an open return.
    open_ro = shop.create(("TEE-M", 1), expected_location="WH-LDN")
    shop.act(open_ro["id"], "approve")
    before = shop.snapshot()
    too_many = {"items": [{"return_order_line_item_id": open_ro["lines"][0]["id"], "quantity": 2}]}
    refused = assert_refused(
        shop.post(f"/return-orders/{open_ro['id']}/actions/receive", too_many),
        409,
        "quantity_invariant_violated",
    )
    assert refused["detail"] == "cannot receive 2: only 1 of 1 still expected on this return line"
    assert shop.snapshot() == before
    missing = shop.api.client.get(
        "/api/v1/return-orders/ro_nope", headers=shop.api.headers("agent")
    )
    assert_refused(missing, 404, "return_order_not_found")


def test_cancel_gives_return_initiated_back(shop: Shop) -> None:
    shop.order()
    draft = shop.create(("TEE-M", 3), submit=False)
    assert draft["status"] == "DRAFT"
    assert shop.quantities("TEE-M") == (0, 0, 3, 3)  # a draft holds nothing
    submitted = shop.act(draft["id"], "submit")
    assert submitted["status"] == "SUBMITTED"
    assert shop.quantities("TEE-M") == (3, 0, 0, 0)
    line = submitted["lines"][0]["id"]
    part = shop.act(
        draft["id"], "cancel", {"items": [{"return_order_line_item_id": line, "quantity": 1}]}
    )
    assert (part["status"], part["lines"][0]["quantity_canceled"]) == ("SUBMITTED", 1)
    assert shop.quantities("TEE-M") == (2, 0, 1, 1)
    rest = shop.act(draft["id"], "cancel")
    assert (rest["status"], rest["lines"][0]["quantity_canceled"]) == ("CANCELED", 3)
    assert shop.quantities("TEE-M") == (0, 0, 3, 3)
    shop.drain()
    assert shop.money()["memos"] == []
    canceled = shop.events("return_order.canceled")
    assert [(e["status"], e["canceled"][0]["quantity"]) for e in canceled] == [
        ("SUBMITTED", 1),
        ("CANCELED", 2),
    ]
    assert {e["by"] for e in canceled + shop.events("return_order.submitted")} == {agent_key(shop)}


def test_canceling_the_rest_of_a_partly_received_return_makes_it_received(shop: Shop) -> None:
    shop.order()
    ro = shop.create(("TEE-M", 3), expected_location="WH-MAN")
    shop.act(ro["id"], "approve")
    line = ro["lines"][0]["id"]
    shop.act(ro["id"], "receive", {"items": [{"return_order_line_item_id": line, "quantity": 1}]})
    assert shop.money()["memos"] == []
    done = shop.act(ro["id"], "cancel")
    assert done["status"] == "RECEIVED"
    assert [
        (x["quantity_received"], x["quantity_canceled"], x["quantity_credited"])
        for x in done["lines"]
    ] == [(1, 2, 1)]
    assert shop.quantities("TEE-M") == (1, 1, 2, 2)
    assert shop.money()["memos"] == [(TEE_UNIT, TEE_UNIT, "POSTED")]
    assert shop.stock()[("WH-MAN", "TEE-M")] == (6, 0)


# --- refund-eligible status, returnless refunds, the return fee ----------------------------


def test_refund_eligible_in_transit_credits_the_expected_units_once(shop: Shop) -> None:
    shop.policy(refund_eligible_status="IN_TRANSIT")
    shop.order()
    ro = shop.create(("TEE-M", 2), expected_location="WH-LDN")
    assert ro["refund_eligible_status"] == "IN_TRANSIT"
    shop.act(ro["id"], "approve")
    shop.drain()
    assert shop.money()["memos"] == []
    moving = shop.act(ro["id"], "mark-in-transit")
    assert moving["lines"][0]["quantity_credited"] == 2
    assert shop.quantities("TEE-M") == (2, 2, 1, 1)
    shop.drain()
    assert shop.money()["ledger"] == [("refund", 2 * TEE_UNIT)]
    # A refunded unit can no longer be canceled.
    refused = assert_refused(
        shop.post(f"/return-orders/{ro['id']}/actions/cancel"), 409, "quantity_invariant_violated"
    )
    assert "no units left to cancel" in refused["detail"]
    line = ro["lines"][0]["id"]
    done = shop.act(
        ro["id"], "receive", {"items": [{"return_order_line_item_id": line, "quantity": 2}]}
    )
    assert (done["status"], done["lines"][0]["quantity_credited"]) == ("RECEIVED", 2)
    shop.drain()
    assert shop.money()["memos"] == [(2 * TEE_UNIT, 0, "REFUNDED")]
    assert shop.money()["ledger"] == [("refund", 2 * TEE_UNIT)]
    assert shop.stock()[("WH-LDN", "TEE-M")] == (9, 0)


def test_returnless_refund_under_the_threshold_only(shop: Shop) -> None:
    shop.policy(returnless_threshold={"GBP": "10.00"})
    shop.order()
    ro = shop.create(("TEE-M", 1), ("MUG", 1), expected_location="WH-LDN")
    assert ro["status"] == "SUBMITTED"
    assert ro["messages"] == [
        "1 × TEE-M expected back: unit value 20.55 GBP is not under the returnless threshold "
        "of 10.00 GBP",
        "1 × MUG refunded without a return: unit value 8.95 GBP is under the returnless "
        "threshold of 10.00 GBP",
    ]
    mug, tee = line_of(ro, "MUG"), line_of(ro, "TEE-M")
    assert (mug["quantity_expected"], mug["quantity_credited"], mug["returnless"]) == (0, 1, True)
    assert (tee["quantity_expected"], tee["quantity_credited"], tee["returnless"]) == (1, 0, False)
    assert shop.quantities("MUG") == (1, 1, 0, 0)
    assert shop.quantities("TEE-M") == (1, 0, 2, 2)
    [event] = shop.events("return_order.returnless_refunded")
    assert (event["threshold"], event["currency"], event["credited"]) == ("10.00", "GBP", "8.95")
    assert [(v["sku"], v["unit_value"]) for v in event["refunded"]] == [("MUG", "8.95")]
    assert [(v["sku"], v["unit_value"]) for v in event["expected_back"]] == [("TEE-M", "20.55")]
    shop.drain()
    assert shop.money()["ledger"] == [("refund", MUG_UNIT)]
    before = shop.stock()
    done = shop.act(ro["id"], "approve")
    done = shop.act(
        ro["id"], "receive", {"items": [{"return_order_line_item_id": tee["id"], "quantity": 1}]}
    )
    assert done["status"] == "RECEIVED"
    shop.drain()
    assert sorted(shop.money()["ledger"]) == sorted([("refund", MUG_UNIT), ("refund", TEE_UNIT)])
    after = shop.stock()
    assert after[("WH-LDN", "TEE-M")] == (before[("WH-LDN", "TEE-M")][0] + 1, 0)
    assert after[("STORE-LDN", "MUG")] == before[("STORE-LDN", "MUG")]  # nothing restocked


def test_an_all_returnless_rma_is_received_at_once(shop: Shop) -> None:
    shop.policy(returnless_threshold={"GBP": "9.00"})
    shop.order()
    ro = shop.create(("MUG", 1))
    assert ro["status"] == "RECEIVED"
    assert shop.quantities("MUG") == (1, 1, 0, 0)
    assert shop.money()["memos"] == [(MUG_UNIT, MUG_UNIT, "POSTED")]


def test_return_fee_is_taken_from_the_refund(shop: Shop) -> None:
    shop.policy(return_fee={"GBP": "2.95"})
    shop.order()
    answer = shop.post(
        f"/order-summaries/{shop.summary_id}/actions/submit-return",
        {
            "items": [{"order_item_summary_id": shop.item_id("TEE-M"), "quantity": 1}],
            "location": "WH-LDN",
        },
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (
        body["messages"][-1]
        == "return fee of 2.95 GBP invoiced; 2.95 of it is taken from the refund"
    )
    fee = next(
        i for i in body["order_summary"]["invoices"] if i["source_key"].startswith("return_fee:")
    )
    assert fee["source_key"] == f"return_fee:{body['return_order']['id']}"
    assert (fee["grand_total"], fee["balance"], fee["status"]) == ("2.95", "0.00", "PAID")
    assert [(ln["type"], ln["order_item_summary_id"], ln["total"]) for ln in fee["lines"]] == [
        ("fee", None, "2.95")
    ]
    shop.drain()
    money = shop.money()
    assert money["memos"] == [(TEE_UNIT, 0, "REFUNDED")]
    assert money["ledger"] == [("refund", TEE_UNIT - 295)]
    assert money["payments"] == (GRAND_TOTAL, GRAND_TOTAL, TEE_UNIT - 295, 0)
    assert shop.documents_net() == shop.grand_total() + 295
    assert shop.grand_total() == GRAND_TOTAL - TEE_UNIT


# --- the simple return, its preview, idempotency --------------------------------------------

ID = re.compile(r"\b[a-z]{2,4}_[0-9A-HJKMNP-TV-Z]{26}\b")
VOLATILE = {
    "id",
    "credit_memo_id",
    "created_at",
    "updated_at",
    "received_at",
    "occurred_at",
    "preview",
}


def stable(value: Any) -> Any:
    """`value` without ids and timestamps (a preview's are not the submit's)."""
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [stable(v) for v in value]
    if isinstance(value, str):
        return ID.sub("<id>", value)
    return value


def test_simple_return_preview_equals_submit_and_retries_change_nothing(shop: Shop) -> None:
    shop.order()
    path = f"/order-summaries/{shop.summary_id}/actions"
    body = {
        "items": [
            {"order_item_summary_id": shop.item_id("TEE-M"), "quantity": 3, "reason": "too big"},
            {
                "order_item_summary_id": shop.item_id("MUG"),
                "quantity": 1,
                "condition": "damaged",
                "disposition": "discard",
            },
        ],
        "location": "WH-MAN",
        "refund_shipping": True,
    }
    before = shop.snapshot()
    preview = shop.post(f"{path}/preview-return", body)
    assert preview.status_code == 200, preview.text
    assert shop.snapshot() == before
    assert preview.json()["return_order"]["id"] is None
    assert preview.json()["change_orders"][0]["id"] is None

    submit = shop.post(f"{path}/submit-return", body, **{"Idempotency-Key": "ret-1"})
    assert submit.status_code == 200, submit.text
    assert stable(preview.json()) == stable(submit.json())
    result = submit.json()
    assert result["return_order"]["status"] == "RECEIVED"
    assert [(c["kind"], c["grand_total"], c["credited"]) for c in result["change_orders"]] == [
        ("return", "-70.60", "70.60"),
        ("cancel", "-5.99", "5.99"),
    ]
    assert result["to_refund"] == "76.59"
    assert shop.stock()[("WH-MAN", "TEE-M")] == (8, 0)
    assert shop.stock()[("STORE-LDN", "MUG")] == before["stock"][("STORE-LDN", "MUG")]
    assert shop.quantities("TEE-M") == (3, 3, 0, 0)
    assert result["order_summary"]["status"] == "CLOSED"
    moves = ["created", "submitted", "approved", "received"]
    assert [shop.events(f"return_order.{move}")[0]["by"] for move in moves] == [agent_key(shop)] * 4

    after = shop.snapshot()
    again = shop.post(f"{path}/submit-return", body, **{"Idempotency-Key": "ret-1"})
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == submit.json()
    assert shop.snapshot() == after

    shop.drain()
    money = shop.money()
    # Two captures (67.64 at WH-LDN's shipment, 8.95 at the store): 70.60 takes the larger
    # and 2.96 of the other, the delivery charge's 5.99 the rest of it.
    assert money["ledger"] == [("refund", 6764), ("refund", 296), ("refund", 599)]
    assert money["memos"] == [(7060, 0, "REFUNDED"), (599, 0, "REFUNDED")]
    assert money["payments"] == (GRAND_TOTAL, GRAND_TOTAL, GRAND_TOTAL, 0)
    assert shop.grand_total() == 0
    assert shop.documents_net() == shop.grand_total()


def test_rma_create_retry_with_the_same_key_changes_nothing(shop: Shop) -> None:
    shop.order()
    key = {"Idempotency-Key": "rma-1"}
    body = {
        "order_summary_id": shop.summary_id,
        "items": [{"order_item_summary_id": shop.item_id("TEE-M"), "quantity": 1}],
    }
    first = shop.post("/return-orders", body, **key)
    assert first.status_code == 201
    after = shop.snapshot()
    again = shop.post("/return-orders", body, **key)
    assert (again.status_code, again.json()) == (201, first.json())
    assert shop.snapshot() == after
    assert shop.quantities("TEE-M") == (1, 0, 2, 2)
    listed = shop.api.client.get(
        f"/api/v1/return-orders?order_summary_id={shop.summary_id}&status=SUBMITTED",
        headers=shop.api.headers("warehouse"),
    )
    assert [r["id"] for r in listed.json()["items"]] == [first.json()["id"]]


def test_channel_return_policy_round_trips_and_is_validated(shop: Shop) -> None:
    put = {
        "location_group": "online",
        "return_fee": {"GBP": "2.95"},
        "refund_eligible_status": "IN_TRANSIT",
        "returnless_threshold": {"GBP": "5.00"},
    }
    answer = shop.api.client.put(
        "/api/v1/channels/web-uk", json=put, headers=shop.api.headers("admin")
    )
    assert answer.status_code in (200, 201), answer.text
    got = answer.json()
    assert (got["return_fee"], got["refund_eligible_status"]) == ({"GBP": "2.95"}, "IN_TRANSIT")
    bad = shop.api.client.put(
        "/api/v1/channels/web-uk",
        json={**put, "refund_eligible_status": "DRAFT"},
        headers=shop.api.headers("admin"),
    )
    assert bad.status_code == 422
    bad = shop.api.client.put(
        "/api/v1/channels/web-uk",
        json={**put, "return_fee": {"XXQ": "1.00"}},
        headers=shop.api.headers("admin"),
    )
    assert bad.status_code in (400, 422)


# --- refund_shipping on an RMA --------------------------------------------------------------

DELIVERY = 599  # the TEE-M group's delivery charge: 4.99 + 1.00 tax


def receive_all(shop: Shop, ro: dict[str, Any]) -> dict[str, Any]:
    """Approve the RMA and receive every expected unit at its expected location."""
    shop.act(ro["id"], "approve")
    items = [
        {"return_order_line_item_id": line["id"], "quantity": line["quantity_expected"]}
        for line in ro["lines"]
    ]
    return shop.act(ro["id"], "receive", {"items": items})


def delivery_charge(shop: Shop) -> dict[str, Any]:
    return next(i for i in shop.view()["items"] if i["type"] == "delivery_charge")


def test_rma_refund_shipping_refunds_the_charge_once_its_group_is_empty(shop: Shop) -> None:
    shop.order()
    # 1 of 3 TEE-M back with refund_shipping: the group still has 2, the charge is kept.
    first = shop.create(("TEE-M", 1), expected_location="WH-LDN", refund_shipping=True)
    assert first["refund_shipping"] is True
    assert shop.money()["memos"] == []
    got = receive_all(shop, first)
    assert got["messages"] == [
        "1 × TEE-M received (new) and restocked at WH-LDN",
        "delivery charge DELIVERY kept: 2 unit(s) of its group are still with the customer or "
        "to ship",
    ]
    assert shop.money()["memos"] == [(TEE_UNIT, TEE_UNIT, "POSTED")]
    # 1 more without refund_shipping: nothing said or done about the charge.
    second = shop.create(("TEE-M", 1), expected_location="WH-LDN")
    assert second["refund_shipping"] is False
    assert receive_all(shop, second)["messages"] == [
        "1 × TEE-M received (new) and restocked at WH-LDN"
    ]
    assert delivery_charge(shop)["quantity_canceled"] == 0
    # The last one with refund_shipping: nothing moves until the credit, then the group is
    # empty and its charge is canceled with the refund of what of it was invoiced.
    last = shop.create(("TEE-M", 1), expected_location="WH-LDN", refund_shipping=True)
    shop.act(last["id"], "approve")
    held = shop.money()
    assert held["memos"] == [(TEE_UNIT, TEE_UNIT, "POSTED"), (TEE_UNIT, TEE_UNIT, "POSTED")]
    line = last["lines"][0]["id"]
    done = shop.act(
        last["id"], "receive", {"items": [{"return_order_line_item_id": line, "quantity": 1}]}
    )
    assert done["messages"] == [
        "1 × TEE-M received (new) and restocked at WH-LDN",
        "delivery charge refunded: 5.99",
    ]
    assert shop.money()["memos"] == [
        *held["memos"],
        (TEE_UNIT, TEE_UNIT, "POSTED"),
        (DELIVERY, DELIVERY, "POSTED"),
    ]
    assert delivery_charge(shop)["quantity_canceled"] == 1
    # Closing credits nothing more: the charge is not refunded twice.
    assert shop.act(last["id"], "close")["messages"] == []
    shop.drain()
    money = shop.money()
    assert sorted(money["ledger"]) == sorted([("refund", TEE_UNIT)] * 3 + [("refund", DELIVERY)])
    assert money["payments"] == (GRAND_TOTAL, GRAND_TOTAL, 3 * TEE_UNIT + DELIVERY, 0)
    assert shop.stock()[("WH-LDN", "TEE-M")] == (10, 0)
    view = shop.view()
    assert [c["kind"] for c in view["change_orders"]] == ["return", "return", "return", "cancel"]
    assert shop.grand_total() == MUG_UNIT == GRAND_TOTAL - 3 * TEE_UNIT - DELIVERY
    assert shop.documents_net() == shop.grand_total()


def test_an_all_returnless_rma_refunds_shipping_at_creation(shop: Shop) -> None:
    shop.policy(returnless_threshold={"GBP": "21.00"})
    shop.order()
    ro = shop.create(("TEE-M", 3), refund_shipping=True)
    assert ro["status"] == "RECEIVED"
    assert ro["messages"][-1] == "delivery charge refunded: 5.99"
    assert shop.money()["memos"] == [
        (3 * TEE_UNIT, 3 * TEE_UNIT, "POSTED"),
        (DELIVERY, DELIVERY, "POSTED"),
    ]
    assert delivery_charge(shop)["quantity_canceled"] == 1
    shop.drain()
    assert shop.money()["payments"] == (GRAND_TOTAL, GRAND_TOTAL, 3 * TEE_UNIT + DELIVERY, 0)
    assert shop.documents_net() == shop.grand_total() == MUG_UNIT

"""The order page's previewed actions beyond cancel, on both backends: simple return, RMA
(open, approve, receive), discount, reship, exchange and refund. Each preview's money is
compared with the API's preview of the same input; each confirm is checked for what it did
and who it records; each refusal shows the API's sentence and changes nothing; roles and
CSRF are checked on the server."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import httpx
import pytest

from openoms.adapters.db.session import Database
from openoms.domain.ports import GatewayResult
from tests.integration.conftest import Api
from tests.integration.console_actions import (
    Browsers,
    api_refusal,
    form_of,
    order_path,
    post,
    signed_in,
)
from tests.integration.console_client import Browser
from tests.integration.service_shop import Shop, make_shop

PREVIEW = re.compile(r'data-preview="([\w.-]+)">([^<]+)<')


@pytest.fixture
def shop(api: Api, stocked: Database) -> Shop:
    shop = make_shop(api)
    shop.capture()
    shop.drain()  # routed: 3× TEE-M at WH-LDN, 1× MUG at STORE-LDN
    return shop


@pytest.fixture
def shipped(shop: Shop) -> Shop:
    shop.ship("WH-LDN")
    shop.drain()  # invoiced and captured
    return shop


def shown(preview: httpx.Response) -> dict[str, str]:
    assert preview.status_code == 200, preview.text
    return {key: unescape(value) for key, value in PREVIEW.findall(preview.text)}


def api_money(body: dict[str, Any]) -> dict[str, str]:
    """What a console preview shows of an API answer (data-preview keys)."""
    money = {"grand_total_after": f"{body['order_summary']['totals']['grand_total']} GBP"}
    for n, change in enumerate(body.get("change_orders", [])):
        money[f"change.{n}.total"] = change["grand_total"]
        money[f"change.{n}.credited"] = change["credited"]
    for key in ("to_refund", "returned_value", "new_items_total", "difference"):
        if key in body:
            money[key] = body[key]
    return money


def confirm(browser: Browser, preview: httpx.Response, action: str, shop: Shop) -> httpx.Response:
    done = browser.client.post(order_path(shop, action), data=form_of(preview.text))
    assert done.status_code == 303, done.text
    return done


AGENT = "user:agent@example.com"


def who(shop: Shop, prefix: str, key: str = "by") -> list[str | None]:
    """Who each of the order's events named `prefix`… records (`key` of the payload)."""
    return [e["payload"].get(key) for e in shop.view()["events"] if e["name"].startswith(prefix)]


def refused_like_the_api(
    refused: httpx.Response, name: str, api_answer: httpx.Response, status: int
) -> None:
    sentence = api_refusal(api_answer, status)
    assert refused.status_code == status
    assert f'id="{name}-error">{sentence}</p>' in refused.text


# --- simple return ------------------------------------------------------------------------


def test_a_simple_return_previews_the_apis_money_and_confirms(
    shipped: Shop, console: Browsers
) -> None:
    shop = shipped
    browser = signed_in(shop.api, console)
    tee = shop.item_id("TEE-M")
    form = {
        f"quantity.{tee}": "1",
        f"condition.{tee}": "opened",
        f"disposition.{tee}": "restock",
        "location": "WH-LDN",
        "reason": "too small",
    }
    before = shop.snapshot()
    preview = post(browser, order_path(shop, "return/preview"), form)
    money = shown(preview)
    assert shop.snapshot() == before
    body = {
        "items": [
            {"order_item_summary_id": tee, "quantity": 1, "condition": "opened"},
        ],
        "location": "WH-LDN",
        "reason": "too small",
    }
    api = shop.action("preview-return", body).json()
    assert money == {**api_money(api), "return_status": "received"}
    assert money["to_refund"] == "20.55"

    done = confirm(browser, preview, "return", shop)
    assert done.headers["location"] == f"{order_path(shop)}?done=returned"
    assert shop.item("TEE-M")["quantity_returned"] == 1
    assert shop.stock()["WH-LDN", "TEE-M"][0] == 8  # 10 − 3 shipped + 1 restocked
    shop.drain()  # the credit memo is refunded
    page = browser.client.get(done.headers["location"]).text
    assert "The return is recorded" in page
    assert "1 received at WH-LDN (opened, restock)" in page
    assert who(shop, "return_order.") == [AGENT] * 5  # created … received, credited
    assert who(shop, "order_summary.changed", "requested_by") == [AGENT]
    received = page.split('<strong class="what">return order: received</strong>')[1]
    assert f'<span class="who">by {AGENT}</span>' in received.split("</li>")[0]
    refunds = page.split('id="refund-list"')[1].split("</table>")[0]
    assert "20.55" in refunds
    assert "credit memo" in refunds


def test_a_refused_return_says_what_the_api_says(shipped: Shop, console: Browsers) -> None:
    shop = shipped
    browser = signed_in(shop.api, console)
    mug = shop.item_id("MUG")  # not shipped (picked up later)
    before = shop.snapshot()
    refused = post(browser, order_path(shop, "return/preview"), {f"quantity.{mug}": "1"})
    api = shop.action("preview-return", {"items": [{"order_item_summary_id": mug, "quantity": 1}]})
    refused_like_the_api(refused, "return", api, 409)
    form = {f"quantity.{mug}": "1", "state": "stale"}
    assert post(browser, order_path(shop, "return"), form).status_code == 409
    assert shop.snapshot() == before


# --- RMA: open, approve, receive ----------------------------------------------------------


def test_an_rma_is_opened_approved_and_received_with_its_refund(
    shipped: Shop, console: Browsers
) -> None:
    shop = shipped
    browser = signed_in(shop.api, console)
    tee = shop.item_id("TEE-M")
    opened = post(
        browser,
        order_path(shop, "rma/preview"),
        {f"quantity.{tee}": "2", "expected_location": "WH-LDN", "reason": "wrong colour"},
    )
    assert shown(opened)["return_status"] == "submitted"
    assert confirm(browser, opened, "rma", shop).headers["location"].endswith("done=rma")
    (ro,) = shop.view()["return_orders"]
    assert (ro["status"], ro["lines"][0]["quantity_expected"]) == ("SUBMITTED", 2)
    assert shop.item("TEE-M")["quantity_return_initiated"] == 2

    approved = post(browser, order_path(shop, f"returns/{ro['id']}/approve"), {})
    assert approved.status_code == 303
    line = ro["lines"][0]["id"]
    page = browser.client.get(order_path(shop)).text
    assert f'id="receive-form-{ro["id"]}"' in page

    before = shop.snapshot()
    form = {
        "return_order_id": ro["id"],
        f"quantity.{line}": "2",
        f"condition.{line}": "damaged",
        f"disposition.{line}": "damaged",
    }
    preview = post(browser, order_path(shop, "receive/preview"), form)
    money = shown(preview)
    assert shop.snapshot() == before
    assert money["to_refund"] == "41.10"  # 2 × 20.55: the return is refund-eligible on receipt
    assert money["return_status"] == "received"
    confirm(browser, preview, "receive", shop)
    shop.drain()
    after = shop.view()
    (ro_after,) = after["return_orders"]
    receipt = ro_after["lines"][0]["receipts"][0]
    assert (receipt["quantity"], receipt["condition"], receipt["disposition"]) == (
        2,
        "damaged",
        "damaged",
    )
    assert shop.stock()["WH-LDN", "TEE-M"][0] == 7  # written off: nothing restocked
    assert [c["grand_total"] for c in after["credit_memos"]] == [money["change.0.credited"]]
    assert after["payment_summaries"][0]["refunded"] == "41.10"
    page = browser.client.get(order_path(shop)).text
    assert "41.10" in page.split('id="refund-list"')[1].split("</table>")[0]
    assert who(shop, "return_order.") == [AGENT] * 5  # created, submitted, approved, …


def test_a_refused_receipt_says_what_the_api_says(shipped: Shop, console: Browsers) -> None:
    shop = shipped
    browser = signed_in(shop.api, console)
    tee = shop.item_id("TEE-M")
    opened = post(browser, order_path(shop, "rma/preview"), {f"quantity.{tee}": "1"})
    confirm(browser, opened, "rma", shop)
    (ro,) = shop.view()["return_orders"]
    line = ro["lines"][0]["id"]
    before = shop.snapshot()
    # not approved yet: the API refuses to receive it, and so does the console
    form = {"return_order_id": ro["id"], f"quantity.{line}": "1"}
    refused = post(browser, order_path(shop, "receive/preview"), form)
    api = shop.api.client.post(
        f"/api/v1/return-orders/{ro['id']}/actions/receive",
        json={"items": [{"return_order_line_item_id": line, "quantity": 1}]},
        headers=shop.api.headers("agent", **{"Idempotency-Key": "refused-receipt"}),
    )
    refused_like_the_api(refused, "receive", api, 409)
    other = post(browser, order_path(shop, "receive/preview"), {**form, "return_order_id": "x"})
    assert other.status_code == 404
    closing = post(browser, order_path(shop, f"returns/{ro['id']}/close"), {})
    assert closing.status_code == 409
    assert f'id="return-{ro["id"]}-error">' in closing.text
    assert shop.snapshot() == before


# --- discount -----------------------------------------------------------------------------


def test_a_discount_previews_the_apis_money_and_confirms_once(
    shop: Shop, console: Browsers
) -> None:
    browser = signed_in(shop.api, console)
    tee = shop.item_id("TEE-M")
    form = {f"discount_type.{tee}": "percentage", f"amount.{tee}": "10", "reason": "late"}
    before = shop.snapshot()
    preview = post(browser, order_path(shop, "discount/preview"), form)
    money = shown(preview)
    assert shop.snapshot() == before
    body = {
        "items": [{"order_item_summary_id": tee, "type": "percentage", "amount": "10"}],
        "reason": "late",
    }
    assert money == api_money(shop.action("adjust-item-preview", body).json())
    confirm(browser, preview, "discount", shop)
    after = shop.view()
    assert after["totals"]["grand_total"] == money["grand_total_after"].removesuffix(" GBP")
    again = browser.client.post(order_path(shop, "discount"), data=form_of(preview.text))
    assert again.status_code == 409  # the same confirm twice discounts once
    assert shop.view()["totals"] == after["totals"]
    page = browser.client.get(order_path(shop)).text
    changed = page.split('<strong class="what">order summary: changed</strong>')[1].split("</li>")[
        0
    ]
    assert '<span class="who">by user:agent@example.com</span>' in changed


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("submit-cancel", {"items": [{"order_item_summary_id": "TEE-M", "quantity": 1}]}),
        (
            "adjust-item-submit",
            {"items": [{"order_item_summary_id": "TEE-M", "type": "percentage", "amount": "5"}]},
        ),
    ],
)
def test_the_api_records_its_key_on_cancels_and_discounts(
    shop: Shop, action: str, body: dict[str, Any]
) -> None:
    body["items"][0]["order_item_summary_id"] = shop.item_id("TEE-M")
    assert shop.action(action, body, key=f"{action}-1").status_code == 200
    (event,) = [e for e in shop.view()["events"] if e["name"] == "order_summary.changed"]
    assert re.fullmatch(r"api_key:key_\w+", event["payload"]["requested_by"])


def test_a_refused_discount_says_what_the_api_says(shop: Shop, console: Browsers) -> None:
    browser = signed_in(shop.api, console)
    tee = shop.item_id("TEE-M")
    before = shop.snapshot()
    form = {f"discount_type.{tee}": "percentage", f"amount.{tee}": "150"}
    refused = post(browser, order_path(shop, "discount/preview"), form)
    body = {"items": [{"order_item_summary_id": tee, "type": "percentage", "amount": "150"}]}
    refused_like_the_api(refused, "discount", shop.action("adjust-item-preview", body), 400)
    nothing = post(browser, order_path(shop, "discount/preview"), {"reason": "x"})
    assert nothing.status_code == 400
    assert 'id="discount-error">give at least one line a discount</p>' in nothing.text
    bad_kind = post(
        browser, order_path(shop, "discount/preview"), {**form, f"discount_type.{tee}": "free"}
    )
    assert bad_kind.status_code == 400
    assert shop.snapshot() == before


# --- reship -------------------------------------------------------------------------------


def test_a_reship_previews_as_the_api_and_confirms(shipped: Shop, console: Browsers) -> None:
    shop = shipped
    browser = signed_in(shop.api, console)
    tee = shop.item_id("TEE-M")
    form = {f"quantity.{tee}": "1", "reship_reason": "lost_in_transit", "note": "parcel lost"}
    before = shop.snapshot()
    preview = post(browser, order_path(shop, "reship/preview"), form)
    money = shown(preview)
    assert shop.snapshot() == before
    body = {
        "items": [{"order_item_summary_id": tee, "quantity": 1}],
        "reason": "lost_in_transit",
        "note": "parcel lost",
    }
    api = shop.action("preview-reship", body).json()
    assert money == {**api_money(api), "reship.TEE-M": "1 × TEE-M"}
    confirm(browser, preview, "reship", shop)
    assert shop.item("TEE-M")["quantity_reshipped"] == 1
    assert shop.view()["totals"] == before["view"]["totals"]  # at no charge
    assert who(shop, "order_summary.reshipped", "requested_by") == [AGENT]


def test_a_refused_reship_says_what_the_api_says(shop: Shop, console: Browsers) -> None:
    browser = signed_in(shop.api, console)
    tee = shop.item_id("TEE-M")  # nothing shipped yet
    before = shop.snapshot()
    refused = post(browser, order_path(shop, "reship/preview"), {f"quantity.{tee}": "1"})
    body = {"items": [{"order_item_summary_id": tee, "quantity": 1}], "reason": "other"}
    refused_like_the_api(refused, "reship", shop.action("preview-reship", body), 409)
    bad = post(
        browser,
        order_path(shop, "reship/preview"),
        {f"quantity.{tee}": "1", "reship_reason": "bored"},
    )
    assert bad.status_code == 400
    assert "reship_reason must be one of lost_in_transit" in bad.text
    assert shop.snapshot() == before


# --- exchange -----------------------------------------------------------------------------


def exchange_form(tee: str, **extra: str) -> dict[str, str]:
    return {
        f"quantity.{tee}": "1",
        "new_sku": "TEE-L",
        "new_quantity": "1",
        "new_unit_price": "24.00",
        "new_tax": "4.80",
        "expected_location": "WH-LDN",
        "reason": "size exchange",
        **extra,
    }


def exchange_body(tee: str) -> dict[str, Any]:
    return {
        "return_items": [{"order_item_summary_id": tee, "quantity": 1}],
        "new_items": [{"sku": "TEE-L", "quantity": 1, "unit_price": "24.00", "tax": "4.80"}],
        "reason": "size exchange",
        "expected_location": "WH-LDN",
    }


def test_an_exchange_previews_the_apis_money_and_confirms(shipped: Shop, console: Browsers) -> None:
    shop = shipped
    browser = signed_in(shop.api, console)
    tee = shop.item_id("TEE-M")
    before = shop.snapshot()
    preview = post(browser, order_path(shop, "exchange/preview"), exchange_form(tee))
    money = shown(preview)
    assert shop.snapshot() == before
    assert money == api_money(shop.action("preview-exchange", exchange_body(tee)).json())
    confirm(browser, preview, "exchange", shop)
    view = shop.view()
    assert [r["status"] for r in view["return_orders"]] == ["SUBMITTED"]
    assert "TEE-L" in {i["sku"] for i in view["items"]}
    assert who(shop, "order_summary.exchanged", "requested_by") == [AGENT]
    assert who(shop, "order_summary.changed", "requested_by") == [AGENT]  # the ADD
    assert set(who(shop, "return_order.")) == {AGENT}


def test_a_refused_exchange_says_what_the_api_says(shop: Shop, console: Browsers) -> None:
    browser = signed_in(shop.api, console)
    tee = shop.item_id("TEE-M")  # nothing shipped yet
    before = shop.snapshot()
    refused = post(browser, order_path(shop, "exchange/preview"), exchange_form(tee))
    refused_like_the_api(
        refused, "exchange", shop.action("preview-exchange", exchange_body(tee)), 409
    )
    no_sku = post(browser, order_path(shop, "exchange/preview"), exchange_form(tee, new_sku=""))
    assert no_sku.status_code == 400
    assert "name the SKU sent instead" in no_sku.text
    assert shop.snapshot() == before


# --- refund -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["agent", "finance"])
def test_a_refund_is_planned_then_sent_and_records_who(
    shipped: Shop, console: Browsers, role: str
) -> None:
    shop = shipped
    browser = signed_in(shop.api, console, role)
    ps = shop.view()["payment_summaries"][0]
    form = {"payment_summary_id": ps["id"], "amount": "5.00", "reason": "goodwill"}
    before = shop.snapshot()
    preview = post(browser, order_path(shop, "refund/preview"), form)
    money = shown(preview)
    assert shop.snapshot() == before
    assert money["to_refund"] == "5.00"
    assert "5.00 against capture" in preview.text
    done = confirm(browser, preview, "refund", shop)
    assert done.headers["location"].endswith("done=refunded")
    after = shop.view()["payment_summaries"][0]
    assert after["refunded"] == "5.00"
    assert shop.money()["ledger"][-1] == ("refund", 500)
    page = browser.client.get(done.headers["location"]).text
    requested = page.split('<strong class="what">refund: requested</strong>')[1].split("</li>")[0]
    assert f'<span class="who">by user:{role}@example.com</span>' in requested
    assert 'data-refund="' in page


def test_the_apis_refund_records_its_key_the_same_way(shipped: Shop) -> None:
    shop = shipped
    ps = shop.view()["payment_summaries"][0]
    answer = shop.api.client.post(
        f"/api/v1/order-summaries/{shop.summary_id}/payment-summaries/{ps['id']}/actions/refund",
        json={"amount": "1.00"},
        headers=shop.api.headers("agent", **{"Idempotency-Key": "goodwill-1"}),
    )
    assert answer.status_code == 201, answer.text
    (event,) = [e for e in shop.view()["events"] if e["name"] == "refund.requested"]
    assert re.fullmatch(r"api_key:key_\w+", event["payload"]["requested_by"])


def test_a_refused_refund_says_what_the_api_says(shipped: Shop, console: Browsers) -> None:
    shop = shipped
    browser = signed_in(shop.api, console, "finance")
    ps = shop.view()["payment_summaries"][0]
    before = shop.snapshot()
    form = {"payment_summary_id": ps["id"], "amount": "999.00"}
    refused = post(browser, order_path(shop, "refund/preview"), form)
    api = shop.api.client.post(
        f"/api/v1/order-summaries/{shop.summary_id}/payment-summaries/{ps['id']}/actions/refund",
        json={"amount": "999.00"},
        headers=shop.api.headers("agent", **{"Idempotency-Key": "too-much"}),
    )
    refused_like_the_api(refused, "refund", api, 409)
    odd = post(browser, order_path(shop, "refund/preview"), {**form, "amount": "lots"})
    assert odd.status_code == 400
    assert "is not a decimal amount" in odd.text
    assert shop.snapshot() == before


# --- who may ------------------------------------------------------------------------------

AGENT_ACTIONS = ["return", "rma", "receive", "discount", "reship", "exchange"]


@pytest.mark.parametrize("action", ["refund", "refund/preview"])
def test_a_warehouse_user_may_not_refund(shipped: Shop, console: Browsers, action: str) -> None:
    shop = shipped
    browser = signed_in(shop.api, console, "warehouse")
    assert browser.client.get(order_path(shop)).status_code == 403
    ps = shop.view()["payment_summaries"][0]
    before = shop.snapshot()
    refused = post(
        browser, order_path(shop, action), {"payment_summary_id": ps["id"], "amount": "1"}
    )
    assert refused.status_code == 403
    assert "Refund is for agent, finance users; you are signed in as warehouse" in refused.text
    assert shop.snapshot() == before


@pytest.mark.parametrize("action", AGENT_ACTIONS)
def test_finance_may_not_use_the_agents_actions(
    shipped: Shop, console: Browsers, action: str
) -> None:
    shop = shipped
    browser = signed_in(shop.api, console, "finance")
    before = shop.snapshot()
    form = {f"quantity.{shop.item_id('TEE-M')}": "1"}
    for path in (f"{action}/preview", action):
        refused = post(browser, order_path(shop, path), form)
        assert refused.status_code == 403
        assert "you are signed in as finance" in refused.text
    assert shop.snapshot() == before


@pytest.mark.parametrize("action", [*AGENT_ACTIONS, "refund"])
def test_an_action_without_its_csrf_token_changes_nothing(
    shipped: Shop, console: Browsers, action: str
) -> None:
    shop = shipped
    browser = signed_in(shop.api, console)
    before = shop.snapshot()
    form = {f"quantity.{shop.item_id('TEE-M')}": "1", "amount": "1"}
    refused = post(browser, order_path(shop, f"{action}/preview"), form, csrf=False)
    assert refused.status_code == 403
    assert "security token is missing or stale" in refused.text
    assert shop.snapshot() == before


# --- more refusals ------------------------------------------------------------------------


def test_a_refused_rma_says_what_the_api_says(shipped: Shop, console: Browsers) -> None:
    shop = shipped
    browser = signed_in(shop.api, console)
    mug = shop.item_id("MUG")  # not shipped
    before = shop.snapshot()
    refused = post(browser, order_path(shop, "rma/preview"), {f"quantity.{mug}": "1"})
    api = shop.api.client.post(
        "/api/v1/return-orders",
        json={
            "order_summary_id": shop.summary_id,
            "items": [{"order_item_summary_id": mug, "quantity": 1}],
        },
        headers=shop.api.headers("agent", **{"Idempotency-Key": "refused-rma"}),
    )
    refused_like_the_api(refused, "rma", api, 409)
    assert shop.snapshot() == before


@pytest.mark.parametrize(
    ("field", "value", "sentence"),
    [
        (
            "condition",
            "soggy",
            "condition must be one of new, opened, damaged, not &#39;soggy&#39;",
        ),
        ("disposition", "sell", "disposition must be one of restock, damaged, discard"),
        ("quantity", "two", "quantity of {tee} must be a whole number, not &#39;two&#39;"),
        ("reason", "x" * 501, "reason is longer than 500 characters"),
    ],
)
def test_a_form_that_does_not_read_is_refused_beside_it(
    shipped: Shop, console: Browsers, field: str, value: str, sentence: str
) -> None:
    shop = shipped
    browser = signed_in(shop.api, console)
    tee = shop.item_id("TEE-M")
    form = {f"quantity.{tee}": "1", "location": "WH-LDN"}
    form[f"{field}.{tee}" if field in ("condition", "disposition", "quantity") else field] = value
    before = shop.snapshot()
    refused = post(browser, order_path(shop, "return/preview"), form)
    assert refused.status_code == 400
    assert f'id="return-error">{sentence.format(tee=tee)}' in refused.text
    assert shop.snapshot() == before


def test_an_rma_is_marked_in_transit_then_received_whole(shipped: Shop, console: Browsers) -> None:
    shop = shipped
    browser = signed_in(shop.api, console)
    tee = shop.item_id("TEE-M")
    opened = post(browser, order_path(shop, "rma/preview"), {f"quantity.{tee}": "1"})
    confirm(browser, opened, "rma", shop)
    (ro,) = shop.view()["return_orders"]
    for move in ("approve", "mark-in-transit"):
        assert post(browser, order_path(shop, f"returns/{ro['id']}/{move}"), {}).status_code == 303
    assert shop.view()["return_orders"][0]["status"] == "IN_TRANSIT"
    line = ro["lines"][0]["id"]
    form = {"return_order_id": ro["id"], f"quantity.{line}": "1", "location": "WH-LDN"}
    confirm(browser, post(browser, order_path(shop, "receive/preview"), form), "receive", shop)
    assert shop.view()["return_orders"][0]["status"] == "RECEIVED"
    page = browser.client.get(order_path(shop)).text
    assert "Close the return" in page
    assert post(browser, order_path(shop, f"returns/{ro['id']}/close"), {}).status_code == 303
    names = [e["name"] for e in shop.view()["events"] if e["name"].startswith("return_order.")]
    assert "return_order.marked_in_transit" in names
    assert "return_order.closed" in names
    assert set(who(shop, "return_order.")) == {AGENT}


def test_a_refund_the_gateway_refuses_shows_the_apis_sentence(
    shipped: Shop, console: Browsers
) -> None:
    shop = shipped
    browser = signed_in(shop.api, console)
    ps = shop.view()["payment_summaries"][0]
    form = {"payment_summary_id": ps["id"], "amount": "5.00"}
    preview = post(browser, order_path(shop, "refund/preview"), form)
    shop.sandbox.fail_next(1, GatewayResult.PERMANENT_FAIL, operation="refund")
    refused = browser.client.post(order_path(shop, "refund"), data=form_of(preview.text))
    assert refused.status_code == 402
    assert (
        f'id="refund-error">the gateway refused the refund on payment summary {ps["id"]}; '
        "nothing was refunded</p>" in refused.text
    )
    assert shop.view()["payment_summaries"][0]["refunded"] == "0.00"

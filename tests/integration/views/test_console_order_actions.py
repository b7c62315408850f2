"""The order page's actions on both backends: hold, release, and cancel with a preview then
a confirm. Each is checked against the API (the same preview, the same refusal sentence),
for who it records, and — refused, without a CSRF token or by a role without it — for
changing nothing."""

from __future__ import annotations

import re
from html import unescape

import pytest

from tests.integration.console_actions import (
    Browsers,
    api_refusal,
    form_of,
    order_path,
    post,
    signed_in,
)
from tests.integration.service_shop import Shop

PREVIEW = re.compile(r'data-preview="(\w+)">([^<]+)<')


# --- hold and release ---------------------------------------------------------------------


def test_an_agent_holds_and_releases_and_is_recorded(shop: Shop, console: Browsers) -> None:
    browser = signed_in(shop.api, console)
    placed = post(browser, order_path(shop, "hold"), {"reason": "customer called"})
    assert placed.status_code == 303
    assert placed.headers["location"] == f"{order_path(shop)}?done=held"
    (hold,) = shop.view()["holds"]
    assert (hold["reason"], hold["held_by"], hold["released_at"]) == (
        "customer called",
        "user:agent@example.com",
        None,
    )
    assert shop.view()["on_hold"] is True
    page = browser.client.get(placed.headers["location"]).text
    assert "The order is on hold." in page
    assert "held by user:agent@example.com: customer called" in page
    held = page.split('<strong class="what">order summary: held</strong>')[1].split("</li>")[0]
    assert '<span class="who">by user:agent@example.com</span>' in held

    post(browser, order_path(shop, "hold"), {"reason": "address check"})
    one = post(browser, order_path(shop, "release"), {"hold_id": hold["id"], "reason": "ok"})
    assert one.status_code == 303
    holds = {h["reason"]: h for h in shop.view()["holds"]}
    assert holds["customer called"]["released_by"] == "user:agent@example.com"
    assert holds["customer called"]["release_reason"] == "ok"
    assert holds["address check"]["released_at"] is None
    assert shop.view()["on_hold"] is True

    every = post(browser, order_path(shop, "release"), {"hold_id": ""})
    assert every.status_code == 303
    assert every.headers["location"] == f"{order_path(shop)}?done=released"
    assert shop.view()["on_hold"] is False
    assert {h["released_by"] for h in shop.view()["holds"]} == {"user:agent@example.com"}


def test_a_refused_release_says_what_the_api_says(shop: Shop, console: Browsers) -> None:
    browser = signed_in(shop.api, console)
    before = shop.snapshot()
    refused = post(browser, order_path(shop, "release"), {"hold_id": ""})
    assert refused.status_code == 409
    sentence = api_refusal(shop.action("release-hold", {}), 409)
    assert f'id="release-error">{sentence}</p>' in refused.text
    assert shop.snapshot() == before


def test_a_hold_without_a_reason_is_refused_beside_its_form(shop: Shop, console: Browsers) -> None:
    browser = signed_in(shop.api, console)
    before = shop.snapshot()
    refused = post(browser, order_path(shop, "hold"), {"reason": "   "})
    assert refused.status_code == 400
    assert re.search(r'id="hold-error">[^<]*reason[^<]*</p>', refused.text)
    assert shop.snapshot() == before


# --- cancel: preview then confirm ---------------------------------------------------------


def test_the_cancel_preview_is_the_apis_and_the_confirm_does_it(
    shop: Shop, console: Browsers
) -> None:
    browser = signed_in(shop.api, console)
    tee = shop.item_id("TEE-M")
    before = shop.snapshot()
    preview = post(
        browser,
        order_path(shop, "cancel/preview"),
        {f"quantity.{tee}": "1", "reason": "changed mind"},
    )
    assert preview.status_code == 200, preview.text
    assert shop.snapshot() == before  # a preview moves nothing
    api = shop.action(
        "preview-cancel",
        {"items": [{"order_item_summary_id": tee, "quantity": 1}], "reason": "changed mind"},
    ).json()
    shown = dict(PREVIEW.findall(preview.text))
    (change,) = api["change_orders"]
    assert shown == {
        "change_total": change["grand_total"],
        "credited": change["credited"],
        "to_refund": api["to_refund"],
        "grand_total_after": f"{api['order_summary']['totals']['grand_total']} GBP",
    }
    assert shown["change_total"] == "-20.55"
    assert shown["grand_total_after"] == "56.04 GBP"

    confirm = browser.client.post(order_path(shop, "cancel"), data=form_of(preview.text))
    assert confirm.status_code == 303
    assert confirm.headers["location"] == f"{order_path(shop)}?done=canceled"
    after = shop.view()
    assert after["totals"]["grand_total"] == "56.04"
    assert shop.item("TEE-M")["quantity_canceled"] == 1
    assert [(c["kind"], c["reason"]) for c in after["change_orders"]] == [
        ("cancel", "changed mind")
    ]
    (changed,) = [e for e in after["events"] if e["name"] == "order_summary.changed"]
    assert changed["payload"]["requested_by"] == "user:agent@example.com"

    again = browser.client.post(order_path(shop, "cancel"), data=form_of(preview.text))
    assert again.status_code == 409  # the same confirm twice cancels once
    assert "the order changed since this preview" in again.text
    assert shop.item("TEE-M")["quantity_canceled"] == 1


def test_a_refused_cancel_says_what_the_api_says(shop: Shop, console: Browsers) -> None:
    shop.ship("WH-LDN")  # the three TEE-M leave
    browser = signed_in(shop.api, console)
    tee = shop.item_id("TEE-M")
    before = shop.snapshot()
    refused = post(browser, order_path(shop, "cancel/preview"), {f"quantity.{tee}": "2"})
    assert refused.status_code == 409
    body = {"items": [{"order_item_summary_id": tee, "quantity": 2}]}
    sentence = api_refusal(shop.action("preview-cancel", body), 409)
    assert "3 of 3 TEE-M are already shipped" in unescape(sentence)
    assert f'id="cancel-error">{sentence}</p>' in refused.text
    confirm = post(browser, order_path(shop, "cancel"), {f"quantity.{tee}": "2", "state": "x"})
    assert confirm.status_code == 409
    assert shop.snapshot() == before


def test_a_cancel_of_nothing_is_refused(shop: Shop, console: Browsers) -> None:
    browser = signed_in(shop.api, console)
    before = shop.snapshot()
    refused = post(browser, order_path(shop, "cancel/preview"), {"reason": "x"})
    assert refused.status_code == 400
    assert 'id="cancel-error">choose at least one unit to cancel</p>' in refused.text
    assert shop.snapshot() == before


# --- who may act --------------------------------------------------------------------------

ACTIONS = ["hold", "release", "cancel/preview", "cancel"]


@pytest.mark.parametrize("action", ACTIONS)
def test_an_action_without_its_csrf_token_changes_nothing(
    shop: Shop, console: Browsers, action: str
) -> None:
    browser = signed_in(shop.api, console)
    post(browser, order_path(shop, "hold"), {"reason": "held first"})
    before = shop.snapshot()
    data = {"reason": "r", f"quantity.{shop.item_id('TEE-M')}": "1"}
    refused = post(browser, order_path(shop, action), data, csrf=False)
    assert refused.status_code == 403
    assert "security token is missing or stale" in refused.text
    assert shop.snapshot() == before


@pytest.mark.parametrize("role", ["finance", "warehouse"])
@pytest.mark.parametrize("action", ACTIONS)
def test_a_role_without_order_actions_is_refused(
    shop: Shop, console: Browsers, role: str, action: str
) -> None:
    post(signed_in(shop.api, console, "admin"), order_path(shop, "hold"), {"reason": "held"})
    browser = signed_in(shop.api, console, role)
    before = shop.snapshot()
    data = {"reason": "r", f"quantity.{shop.item_id('TEE-M')}": "1"}
    refused = post(browser, order_path(shop, action), data)
    assert refused.status_code == 403
    assert f"you are signed in as {role}" in refused.text
    assert shop.snapshot() == before


def test_finance_reads_the_order_with_only_the_refund_form(shop: Shop, console: Browsers) -> None:
    page = signed_in(shop.api, console, "finance").client.get(order_path(shop)).text
    assert set(re.findall(r'action="/console/orders/[^/]+/([^"]+)"', page)) == {"refund/preview"}
    agent = signed_in(shop.api, console).client.get(order_path(shop)).text
    actions = set(re.findall(r'action="/console/orders/[^/]+/([^"]+)"', agent))
    assert actions == {
        "hold",
        "cancel/preview",
        "discount/preview",
        "reship/preview",
        "exchange/preview",
        "refund/preview",
    }

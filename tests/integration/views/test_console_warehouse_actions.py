"""The warehouse queue's actions on both backends: ship (the tracking shown afterwards, as
the API answers it) and reject with a reason; refused by location, role and CSRF with
nothing changed, and a refusal says the API's sentence."""

from __future__ import annotations

import re
from html import unescape

import pytest
from markupsafe import escape

from tests.integration.console_actions import post
from tests.integration.service_shop import Shop
from tests.integration.warehouse_console import Browsers, api_fo, fo_at, staff


def test_a_warehouse_user_ships_and_sees_the_tracking(shop: Shop, console: Browsers) -> None:
    browser = staff(shop.api, console, "warehouse", "WH-LDN")
    fo = fo_at(shop, "WH-LDN")
    queue = browser.client.get("/console/fulfillment?location=WH-LDN").text
    assert f'action="/console/fulfillment/{fo["id"]}/ship"' in queue
    shipped = post(browser, f"/console/fulfillment/{fo['id']}/ship", {"carrier": ""})
    assert shipped.status_code == 303
    (shipment,) = api_fo(shop, fo["id"])["shipments"]
    assert shipped.headers["location"] == (
        f"/console/fulfillment?location=WH-LDN&shipment={shipment['id']}"
    )
    assert api_fo(shop, fo["id"])["status"] == "FULFILLED"
    assert shipment["status"] == "SHIPPED"
    assert shipment["carrier"] == "sandbox-domestic"
    tracking = shipment["tracking_number"]
    assert tracking
    page = browser.client.get(shipped.headers["location"]).text
    assert f"Shipped {fo['id']} with sandbox-domestic: tracking {tracking}." in page
    assert f"<strong>{tracking}</strong>" in page  # in the row too
    assert shop.item("TEE-M")["quantity_fulfilled"] == 3
    assert f'action="/console/fulfillment/{fo["id"]}/' not in page  # nothing left to do


def test_a_named_carrier_is_used_and_an_unknown_one_refused(shop: Shop, console: Browsers) -> None:
    browser = staff(shop.api, console, "admin")
    fo = fo_at(shop, "WH-LDN")
    before = shop.snapshot()
    refused = post(browser, f"/console/fulfillment/{fo['id']}/ship", {"carrier": "pigeon"})
    assert refused.status_code == 400
    api = shop.api.client.post(
        f"/api/v1/fulfillment-orders/{fo['id']}/actions/ship",
        json={"carrier": "pigeon"},
        headers=shop.api.headers("warehouse"),
    )
    assert api.status_code == 400
    assert f'id="error-{fo["id"]}">{escape(api.json()["detail"])}</p>' in refused.text
    alone = post(browser, f"/console/fulfillment/{fo['id']}/ship", {"service": "express"})
    assert alone.status_code == 400
    assert "service is chosen with carrier; give both or neither" in alone.text
    assert shop.snapshot() == before
    shipped = post(
        browser, f"/console/fulfillment/{fo['id']}/ship", {"carrier": "sandbox-international"}
    )
    assert shipped.status_code == 303
    (shipment,) = api_fo(shop, fo["id"])["shipments"]
    assert shipment["carrier"] == "sandbox-international"


def test_a_warehouse_user_rejects_with_a_reason(shop: Shop, console: Browsers) -> None:
    browser = staff(shop.api, console, "warehouse", "STORE-LDN")
    fo = fo_at(shop, "STORE-LDN")
    before = shop.snapshot()
    blank = post(browser, f"/console/fulfillment/{fo['id']}/reject", {"reason": " "})
    assert blank.status_code == 400
    api = shop.api.client.post(
        f"/api/v1/fulfillment-orders/{fo['id']}/actions/reject",
        json={"reason": " "},
        headers=shop.api.headers("warehouse"),
    )
    assert api.status_code == 400, api.text
    assert f'id="error-{fo["id"]}">{escape(api.json()["detail"])}</p>' in blank.text
    assert shop.snapshot() == before
    rejected = post(browser, f"/console/fulfillment/{fo['id']}/reject", {"reason": "mug broken"})
    assert rejected.status_code == 303
    assert rejected.headers["location"] == "/console/fulfillment?location=STORE-LDN&done=rejected"
    after = api_fo(shop, fo["id"])
    assert (after["status"], after["reason"]) == ("REJECTED", "mug broken")
    page = browser.client.get(rejected.headers["location"]).text
    assert "The fulfillment order is rejected; its units are routed again." in page


def test_a_shipped_order_cannot_be_rejected(shop: Shop, console: Browsers) -> None:
    browser = staff(shop.api, console, "admin")
    fo = fo_at(shop, "WH-LDN")
    shop.ship_fo(fo["id"])
    before = shop.snapshot()
    refused = post(browser, f"/console/fulfillment/{fo['id']}/reject", {"reason": "late"})
    assert refused.status_code == 409
    api = shop.api.client.post(
        f"/api/v1/fulfillment-orders/{fo['id']}/actions/reject",
        json={"reason": "late"},
        headers=shop.api.headers("warehouse"),
    )
    assert api.status_code == 409
    assert escape(api.json()["detail"]) in refused.text
    assert shop.snapshot() == before


@pytest.mark.parametrize("action", ["ship", "reject", "assign", "pick", "pack"])
def test_another_locations_order_is_refused(shop: Shop, console: Browsers, action: str) -> None:
    browser = staff(shop.api, console, "warehouse", "WH-LDN")
    fo = fo_at(shop, "STORE-LDN")
    before = shop.snapshot()
    refused = post(browser, f"/console/fulfillment/{fo['id']}/{action}", {"reason": "r"})
    assert refused.status_code == 403
    assert f"Fulfillment order {fo['id']} is at STORE-LDN; you work at WH-LDN." in unescape(
        refused.text
    )
    assert shop.snapshot() == before


@pytest.mark.parametrize("action", ["ship", "reject", "assign", "pick", "pack"])
def test_a_warehouse_action_without_csrf_or_by_an_agent_is_refused(
    shop: Shop, console: Browsers, action: str
) -> None:
    fo = fo_at(shop, "WH-LDN")
    before = shop.snapshot()
    path = f"/console/fulfillment/{fo['id']}/{action}"
    no_token = post(staff(shop.api, console), path, {"reason": "r"}, csrf=False)
    assert no_token.status_code == 403
    assert "security token is missing or stale" in no_token.text
    agent = post(staff(shop.api, console, "agent"), path, {"reason": "r"})
    assert agent.status_code == 403
    assert "you are signed in as agent" in agent.text
    assert shop.snapshot() == before


def test_an_unknown_fulfillment_order_is_refused(shop: Shop, console: Browsers) -> None:
    browser = staff(shop.api, console, "admin")
    refused = post(browser, "/console/fulfillment/fo_NOPE/ship", {})
    assert refused.status_code == 404
    assert re.search(r"fo_NOPE: [^<]*fo_NOPE", unescape(refused.text))

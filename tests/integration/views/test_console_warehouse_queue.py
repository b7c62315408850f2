"""The warehouse queue's steps, partial shipments and packing slips on both backends: assign,
pick and pack one step at a time (a step out of turn refused with the API's sentence),
part of a fulfillment order shipped then the rest, each recorded as done by the user; the
packing slip of the user's own location only."""

from __future__ import annotations

from html import unescape
from typing import Any

import pytest
from markupsafe import escape
from sqlalchemy import select

from openoms.adapters.db import models as m
from tests.integration.console_actions import Browsers, post
from tests.integration.service_shop import Shop
from tests.integration.warehouse_console import api_fo, fo_at, staff

WH = "warehouse-wh-ldn@example.com"


def fo_events(shop: Shop, fo_id: str) -> list[tuple[str, dict[str, Any]]]:
    with shop.api.db.reading() as session:
        rows = session.scalars(
            select(m.Event).where(m.Event.aggregate_id == fo_id).order_by(m.Event.id)
        ).all()
        return [(e.name, dict(e.payload)) for e in rows]


def test_a_warehouse_user_assigns_picks_and_packs_in_turn(shop: Shop, console: Browsers) -> None:
    browser = staff(shop.api, console, "warehouse", "WH-LDN")
    fo = fo_at(shop, "WH-LDN")
    base = f"/console/fulfillment/{fo['id']}"
    queue = browser.client.get("/console/fulfillment?location=WH-LDN").text
    assert f'action="{base}/assign"' in queue
    assert f'action="{base}/pick"' not in queue
    for step, status, said, offered in (
        ("assign", "ASSIGNED", "is assigned to this location.", "pick"),
        ("pick", "PICK_COMPLETE", "is picked.", "pack"),
        ("pack", "PACK_COMPLETE", "is packed and ready to ship.", None),
    ):
        done = post(browser, f"{base}/{step}", {"status": ""})
        assert done.status_code == 303, done.text
        assert api_fo(shop, fo["id"])["status"] == status
        page = browser.client.get(done.headers["location"]).text
        assert f"{fo['id']} {said}" in page
        if offered:
            assert f'action="{base}/{offered}"' in page
    assert f'action="{base}/ship"' in page  # packed: what is left is shipping
    moves = [(p["from"], p["to"], p["by"]) for n, p in fo_events(shop, fo["id"]) if "from" in p]
    assert moves == [
        ("ALLOCATED", "ASSIGNED", f"user:{WH}"),
        ("ASSIGNED", "PICK_COMPLETE", f"user:{WH}"),
        ("PICK_COMPLETE", "PACK_COMPLETE", f"user:{WH}"),
    ]
    timeline = browser.client.get(f"/console/orders/{shop.summary_id}")
    assert timeline.status_code == 403  # a warehouse user reads the queue, not the order


def test_a_step_out_of_turn_is_refused_with_the_apis_sentence(
    shop: Shop, console: Browsers
) -> None:
    browser = staff(shop.api, console, "warehouse", "WH-LDN")
    fo = fo_at(shop, "WH-LDN")
    before = shop.snapshot()
    refused = post(browser, f"/console/fulfillment/{fo['id']}/pack", {})
    assert refused.status_code == 409
    api = shop.api.client.post(
        f"/api/v1/fulfillment-orders/{fo['id']}/actions/pack-complete",
        headers=shop.api.headers("warehouse"),
    )
    assert api.status_code == 409
    assert f'id="error-{fo["id"]}">{escape(api.json()["detail"])}</p>' in refused.text
    assert shop.snapshot() == before


def test_part_of_an_order_ships_then_the_rest(shop: Shop, console: Browsers) -> None:
    browser = staff(shop.api, console, "warehouse", "WH-LDN")
    fo = fo_at(shop, "WH-LDN")
    path = f"/console/fulfillment/{fo['id']}/ship"
    queue = browser.client.get("/console/fulfillment?location=WH-LDN").text
    assert 'name="units.TEE-M"' in queue
    part = post(browser, path, {"units.TEE-M": "1", "carrier": ""})
    assert part.status_code == 303, part.text
    after = api_fo(shop, fo["id"])
    assert after["status"] == "PACK_COMPLETE"
    (first,) = after["shipments"]
    assert [(i["sku"], i["quantity"]) for i in first["items"]] == [("TEE-M", 1)]
    assert shop.item("TEE-M")["quantity_fulfilled"] == 1
    page = browser.client.get(part.headers["location"]).text
    assert f"Shipped {fo['id']} with sandbox-domestic: tracking {first['tracking_number']}." in page
    assert "3 × TEE-M (1 shipped)" in page
    assert f'href="{escape(first["label_url"])}"' in page  # the carrier's label
    rest = post(browser, path, {"carrier": ""})
    assert rest.status_code == 303
    done = api_fo(shop, fo["id"])
    assert done["status"] == "FULFILLED"
    assert [sum(i["quantity"] for i in s["items"]) for s in done["shipments"]] == [1, 2]
    assert shop.item("TEE-M")["quantity_fulfilled"] == 3
    shipped = [p["by"] for n, p in fo_events(shop, fo["id"]) if n == "fulfillment_order.shipped"]
    assert shipped == [f"user:{WH}", f"user:{WH}"]


@pytest.mark.parametrize(
    ("units", "status", "sentence"),
    [
        ({"units.TEE-M": "x"}, 400, "units of TEE-M must be a whole number, not 'x'"),
        ({"units.TEE-M": "0"}, 400, "choose at least one unit to ship"),
        ({"units.TEE-M": ""}, 400, "choose at least one unit to ship"),
        ({"units.TEE-M": "4"}, 409, None),  # more than is left: the API's sentence
    ],
)
def test_units_the_shipment_cannot_take_are_refused(
    shop: Shop, console: Browsers, units: dict[str, str], status: int, sentence: str | None
) -> None:
    browser = staff(shop.api, console, "warehouse", "WH-LDN")
    fo = fo_at(shop, "WH-LDN")
    before = shop.snapshot()
    refused = post(browser, f"/console/fulfillment/{fo['id']}/ship", units)
    assert refused.status_code == status
    if sentence is None:
        api = shop.api.client.post(
            f"/api/v1/fulfillment-orders/{fo['id']}/actions/ship",
            json={"items": [{"sku": "TEE-M", "quantity": 4}]},
            headers=shop.api.headers("warehouse"),
        )
        assert api.json()["code"] == "shipment_exceeds_fulfillment_order"
        sentence = api.json()["detail"]
    assert f'id="error-{fo["id"]}">{escape(sentence)}</p>' in refused.text
    assert shop.snapshot() == before


def test_a_rejection_records_the_user(shop: Shop, console: Browsers) -> None:
    browser = staff(shop.api, console, "warehouse", "STORE-LDN")
    fo = fo_at(shop, "STORE-LDN")
    assert post(browser, f"/console/fulfillment/{fo['id']}/reject", {"reason": "wet"}).status_code
    rejected = [p for n, p in fo_events(shop, fo["id"]) if n == "fulfillment_order.rejected"]
    assert [(p["reason"], p["by"]) for p in rejected] == [
        ("wet", "user:warehouse-store-ldn@example.com")
    ]


def test_the_packing_slip_lists_what_goes_in_the_parcel(shop: Shop, console: Browsers) -> None:
    browser = staff(shop.api, console, "warehouse", "WH-LDN")
    fo = fo_at(shop, "WH-LDN")
    queue = browser.client.get("/console/fulfillment?location=WH-LDN").text
    assert f'href="/console/fulfillment/{fo["id"]}/packing-slip"' in queue
    shop.ship_fo(fo["id"], {"TEE-M": 1})
    slip = browser.client.get(f"/console/fulfillment/{fo['id']}/packing-slip")
    assert slip.status_code == 200
    text = unescape(slip.text)
    assert '<link rel="stylesheet" href="/console/static/packing-slip.css">' in text
    assert '<dd data-slip="reference">WEB-10001</dd>' in text
    assert '<dd data-slip="location">WH-LDN</dd>' in text
    assert (
        '<address data-slip="ship-to">Ada Lovelace<br>1 Main St<br>London EC1A 1BB<br>GB</address>'
        in text
    )
    # 3 on this fulfillment order, 1 shipped already: 2 to pack.
    assert (
        '<td class="num">3</td><td class="num">1</td><td class="num" data-slip="to-pack">2</td>'
        in (text)
    )
    assert '<td class="num" data-slip="total">2</td>' in text
    for price in ("20.00", "76.59", "GBP"):
        assert price not in text  # a slip carries no prices
    css = browser.client.get("/console/static/packing-slip.css")
    assert css.status_code == 200
    assert "@media print" in css.text


def test_a_pickup_slip_names_the_store(shop: Shop, console: Browsers) -> None:
    browser = staff(shop.api, console, "warehouse", "STORE-LDN")
    fo = fo_at(shop, "STORE-LDN")
    slip = unescape(browser.client.get(f"/console/fulfillment/{fo['id']}/packing-slip").text)
    assert "Pickup at STORE-LDN" in slip
    assert '<tr data-sku="MUG">' in slip


def test_a_slip_is_only_for_the_users_location_and_role(shop: Shop, console: Browsers) -> None:
    fo = fo_at(shop, "STORE-LDN")
    path = f"/console/fulfillment/{fo['id']}/packing-slip"
    elsewhere = staff(shop.api, console, "warehouse", "WH-LDN").client.get(path)
    assert elsewhere.status_code == 403
    assert f"Fulfillment order {fo['id']} is at STORE-LDN; you work at WH-LDN." in unescape(
        elsewhere.text
    )
    assert "MUG" not in elsewhere.text
    agent = staff(shop.api, console, "agent").client.get(path)
    assert agent.status_code == 403
    admin = staff(shop.api, console, "admin")
    assert admin.client.get(path).status_code == 200
    unknown = admin.client.get("/console/fulfillment/fo_NOPE/packing-slip")
    assert unknown.status_code == 404
    assert "There is no fulfillment order 'fo_NOPE'." in unescape(unknown.text)
    signed_out = console().client.get(path)
    assert signed_out.status_code == 303

"""The inventory page on SQLite and PostgreSQL: a SKU's availability per location and per
location group equal to the API's get-availability, the reservations holding it (cursor
pages), the SKU list, a warehouse user limited to a location seeing only it, and bad
cursors answered with a sentence."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape

import pytest

from tests.integration.conftest import Api
from tests.integration.console_client import Browser, add_user
from tests.network import stock_network
from tests.payloads import order_payload

Browsers = Callable[[], Browser]
ROW = re.compile(r'<tr data-(location|group)="([^"]+)"><th scope="row">[^<]+</th>(.*?)</tr>', re.S)
NUMBERS = re.compile(r'<td class="num">(\d+)</td>')
FIGURES = ("on_hand", "reserved", "safety_stock", "available_to_fulfill", "available_to_order")


def signed_in(api: Api, console: Browsers, role: str, *locations: str) -> Browser:
    email = f"{role}{len(locations)}@example.com"
    add_user(api.db, email, role, locations=locations)
    browser = console()
    assert browser.sign_in(email).status_code == 303
    return browser


def rows(html: str) -> dict[tuple[str, str], list[int]]:
    return {
        (kind, ref): [int(n) for n in NUMBERS.findall(cells)]
        for kind, ref, cells in ROW.findall(html)
    }


def capture(api: Api, reference: str) -> str:
    answer = api.client.post(
        "/api/v1/orders", json=order_payload(external_reference=reference), headers=api.headers()
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def test_availability_is_the_apis_and_reservations_page(api: Api, console: Browsers) -> None:
    stock_network(api.db)
    ids = [capture(api, f"WEB-{n}") for n in range(3)]  # each holds 3 TEE-M in "online"
    truth = api.client.post(
        "/api/v1/inventory/actions/get-availability",
        json={
            "skus": ["TEE-M"],
            "locations": ["STORE-LDN", "WH-LDN", "WH-MAN"],
            "location_groups": ["online", "stores"],
        },
        headers=api.headers("agent"),
    ).json()
    browser = signed_in(api, console, "agent")
    page = browser.client.get("/console/inventory?sku=TEE-M&limit=2")
    assert page.status_code == 200
    expected = {
        ("location", r["location"]): [r["inventory_records"][0][f] for f in FIGURES]
        for r in truth["locations"]
    } | {
        ("group", r["location_group"]): [r["inventory_records"][0][f] for f in FIGURES]
        for r in truth["location_groups"]
    }
    assert rows(page.text) == expected
    assert expected[("group", "online")][1] == 9  # reserved: 3 orders × 3 TEE-M
    held = re.findall(
        r'<tr data-reservation="([^"]+)">.*?/console/orders/(os_\w+)', page.text, re.S
    )
    assert [order for _, order in held] == ids[:2]  # oldest first, 2 a page
    following = re.search(r'rel="next" href="([^"]+)"', page.text)
    assert following is not None
    second = browser.client.get(unescape(following.group(1)))
    held = re.findall(
        r'<tr data-reservation="[^"]+">.*?/console/orders/(os_\w+)', second.text, re.S
    )
    assert held == [ids[2]]
    assert 'rel="next"' not in second.text


def test_the_sku_list_pages_and_links_to_each_sku(api: Api, console: Browsers) -> None:
    stock_network(api.db)
    browser = signed_in(api, console, "finance")
    first = browser.client.get("/console/inventory?limit=1")
    assert re.findall(r'href="/console/inventory\?sku=([^"]+)"', first.text) == ["MUG"]
    following = re.search(r'rel="next" href="([^"]+)"', first.text)
    assert following is not None
    second = browser.client.get(unescape(following.group(1)))
    assert re.findall(r'href="/console/inventory\?sku=([^"]+)"', second.text) == ["TEE-M"]


def test_a_limited_warehouse_user_sees_their_locations_only(api: Api, console: Browsers) -> None:
    stock_network(api.db)
    capture(api, "WEB-1")
    browser = signed_in(api, console, "warehouse", "STORE-LDN")
    page = browser.client.get("/console/inventory?sku=MUG")
    assert page.status_code == 200
    assert set(rows(page.text)) == {("location", "STORE-LDN")}
    assert "by location group" not in page.text
    # The MUG is held at STORE-LDN for the pickup; its order is no link for a warehouse user.
    assert re.findall(r"<td>(STORE-LDN|WH-LDN|WH-MAN)</td>", page.text) == ["STORE-LDN"]
    assert "/console/orders/" not in page.text
    tees = browser.client.get("/console/inventory?sku=TEE-M")
    assert "No reservation holds TEE-M at your locations." in tees.text
    listed = browser.client.get("/console/inventory")
    assert re.findall(r'href="/console/inventory\?sku=([^"]+)"', listed.text) == ["MUG"]


@pytest.mark.parametrize(
    "query",
    ["sku=TEE-M&cursor=%21%21", "sku=TEE-M&cursor=cmxfYWJj", "cursor=bm9wZQ"],
)
def test_a_broken_page_link_says_so(api: Api, console: Browsers, query: str) -> None:
    stock_network(api.db)
    answer = signed_in(api, console, "agent").client.get(f"/console/inventory?{query}")
    assert answer.status_code == 400
    assert "The page link is broken; start the search again." in answer.text


def test_an_unknown_sku_has_nothing_anywhere(api: Api, console: Browsers) -> None:
    stock_network(api.db)
    page = signed_in(api, console, "admin").client.get("/console/inventory?sku=NOPE")
    assert page.status_code == 200
    assert set(map(tuple, rows(page.text).values())) == {(0, 0, 0, 0, 0)}
    assert "No reservation holds NOPE." in page.text

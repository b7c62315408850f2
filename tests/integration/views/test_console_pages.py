"""The console's read-only pages on both backends: the order search (every filter, cursor
pages) and the order page against the API's GET of the same order. The crawl of every
console link as each role is test_console_crawl.py's."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape
from typing import Any

import pytest

from tests.integration.conftest import Api
from tests.integration.console_client import Browser, add_user
from tests.integration.worker import drain_db
from tests.network import stock_network
from tests.payloads import order_payload

Browsers = Callable[[], Browser]
ORDER_LINK = re.compile(r'href="/console/orders/(os_[^"]+)"')
TOTAL = re.compile(r'data-total="(\w+)">([^<]+)<')


def capture(api: Api, reference: str, **overrides: Any) -> dict[str, Any]:
    answer = api.client.post(
        "/api/v1/orders",
        json=order_payload(external_reference=reference, **overrides),
        headers=api.headers(),
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def signed_in(api: Api, console: Browsers, role: str = "agent") -> Browser:
    add_user(api.db, f"{role}@example.com", role, name=f"{role.title()} Tester")
    browser = console()
    assert browser.sign_in(f"{role}@example.com").status_code == 303
    return browser


def found(browser: Browser, query: str) -> list[str]:
    page = browser.client.get(f"/console/orders?{query}")
    assert page.status_code == 200, page.text
    return ORDER_LINK.findall(page.text)


def test_the_order_search_filters_by_each_field(api: Api, console: Browsers) -> None:
    stock_network(api.db)
    ada = capture(api, "WEB-1")
    grace = capture(
        api,
        "WEB-2",
        customer={"name": "Grace Hopper", "email": "grace@example.com"},
        ordered_at="2026-11-22T09:00:00Z",
    )
    browser = signed_in(api, console)
    assert found(browser, "") == [grace["id"], ada["id"]]  # newest first
    assert found(browser, "reference=WEB-1") == [ada["id"]]
    assert found(browser, "email=GRACE%40example.com") == [grace["id"]]
    assert found(browser, "name=hopp") == [grace["id"]]
    assert found(browser, "name=%25") == []  # a wildcard is a character like any other
    assert found(browser, f"status={ada['status']}") == [grace["id"], ada["id"]]
    assert found(browser, "status=CANCELED") == []
    assert found(browser, "channel=web-uk") == [grace["id"], ada["id"]]
    assert found(browser, "ordered_from=2026-11-21") == [grace["id"]]
    assert found(browser, "ordered_to=2026-11-21") == [ada["id"]]  # inclusive day
    assert found(browser, "ordered_from=2026-11-20&ordered_to=2026-11-20") == [ada["id"]]


def test_the_list_shows_payment_and_exceptions(api: Api, console: Browsers) -> None:
    stock_network(api.db)
    ada = capture(api, "WEB-1")
    page = signed_in(api, console).client.get("/console/orders")
    row = page.text.split(f"/console/orders/{ada['id']}")[1].split("</tr>")[0]
    cells = [
        unescape(re.sub(r"<[^>]+>", " ", cell)).split()
        for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    ]
    assert cells[4] == []  # not on hold
    assert cells[5] == ["76.59", "GBP"]
    assert cells[6] == ["unpaid", "captured", "0.00"]  # no worker ran: nothing authorized
    assert cells[7] == ["0.00"]  # refunded
    assert cells[8] == ["0"]  # open exceptions


def hold(api: Api, summary_id: str, action: str = "hold", **body: Any) -> None:
    answer = api.client.post(
        f"/api/v1/order-summaries/{summary_id}/actions/{action}",
        json=body,
        headers=api.headers("agent"),
    )
    assert answer.status_code in (200, 201), answer.text


def test_the_list_shows_the_orders_on_hold_and_finds_them(api: Api, console: Browsers) -> None:
    stock_network(api.db)
    ada, grace, lin = (capture(api, f"WEB-{n}") for n in range(3))
    hold(api, ada["id"], reason="fraud check")
    hold(api, ada["id"], reason="address check")
    hold(api, grace["id"], reason="customer called")
    hold(api, grace["id"], "release-hold", reason="sorted")  # released: not on hold
    browser = signed_in(api, console)
    page = browser.client.get("/console/orders").text
    held = re.findall(r'data-hold="(os_[^"]+)">([^<]+)<', page)
    assert held == [(ada["id"], "on hold (2)")]
    assert found(browser, "on_hold=1") == [ada["id"]]
    assert found(browser, "on_hold=") == [lin["id"], grace["id"], ada["id"]]
    assert found(browser, "on_hold=1&reference=WEB-2") == []
    refused = browser.client.get("/console/orders?on_hold=yes")
    assert refused.status_code == 400
    assert "On hold &#39;yes&#39; is not a choice" in refused.text


def test_the_search_pages_with_a_cursor(api: Api, console: Browsers) -> None:
    stock_network(api.db)
    ids = [capture(api, f"WEB-{n}")["id"] for n in range(3)]
    browser = signed_in(api, console)
    first = browser.client.get("/console/orders?channel=web-uk&limit=2")
    assert ORDER_LINK.findall(first.text) == [ids[2], ids[1]]
    following = re.search(r'rel="next" href="([^"]+)"', first.text)
    assert following is not None
    second = browser.client.get(unescape(following.group(1)))
    assert ORDER_LINK.findall(second.text) == [ids[0]]
    assert 'rel="next"' not in second.text
    assert "channel=web-uk" in unescape(following.group(1))


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "ordered_from=20-11-2026",
            "From must be a date like 2026-11-20, not &#39;20-11-2026&#39;.",
        ),
        ("status=LOST", "Status &#39;LOST&#39; is not an order status."),
        ("cursor=bm90LWFuLW9yZGVy", "The page link is broken; start the search again."),
    ],
)
def test_a_bad_search_says_why(api: Api, console: Browsers, query: str, message: str) -> None:
    answer = signed_in(api, console).client.get(f"/console/orders?{query}")
    assert answer.status_code == 400
    assert message in answer.text


def test_the_order_page_shows_what_the_api_answers(api: Api, console: Browsers) -> None:
    stock_network(api.db)
    order = capture(api, "WEB-10001")
    browser = signed_in(api, console)
    page = browser.client.get(f"/console/orders/{order['id']}")
    assert page.status_code == 200
    served = api.client.get(f"/api/v1/order-summaries/{order['id']}", headers=api.headers())
    truth = served.json()
    assert dict(TOTAL.findall(page.text)) == truth["totals"]
    assert truth["totals"]["grand_total"] == "76.59"
    rows = re.findall(r'<tr data-item="([^"]+)">(.*?)</tr>', page.text, re.S)
    assert [item_id for item_id, _ in rows] == [i["id"] for i in truth["items"]]
    for (_, row), item in zip(rows, truth["items"], strict=True):
        numbers = re.findall(r'<td class="num">([^<]*)</td>', row)
        assert numbers == [
            item["unit_price"],
            item["total"],
            *(
                str(item[f"quantity_{q}"])
                for q in (
                    "ordered",
                    "canceled",
                    "allocated",
                    "fulfilled",
                    "return_initiated",
                    "returned",
                    "reshipped",
                )
            ),
            str(item["quantity"]),
            str(item["quantity_net_ordered"]),
            str(item["quantity_available_to_fulfill"]),
            str(item["quantity_available_to_return"]),
            str(item["quantity_available_to_reship"]),
        ]
    timeline = re.findall(r'<strong class="what">([^<]+)</strong>', page.text)
    assert timeline == [  # newest first
        e["name"].replace(".", ": ", 1).replace("_", " ") for e in reversed(truth["events"])
    ]
    assert "order summary: created" in timeline


def test_an_unknown_order_is_a_404_page(api: Api, console: Browsers) -> None:
    answer = signed_in(api, console).client.get("/console/orders/os_NOPE")
    assert answer.status_code == 404
    assert "There is no order &#39;os_NOPE&#39;." in answer.text


def test_an_htmx_search_answers_the_results_alone(api: Api, console: Browsers) -> None:
    stock_network(api.db)
    ada = capture(api, "WEB-1")
    answer = signed_in(api, console).client.get(
        "/console/orders?reference=WEB-1", headers={"HX-Request": "true"}
    )
    assert answer.status_code == 200
    assert "<html" not in answer.text
    assert "<form" not in answer.text
    assert ORDER_LINK.findall(answer.text) == [ada["id"]]


def test_the_fulfillment_list_pages_a_location_by_status(api: Api, console: Browsers) -> None:
    stock_network(api.db)
    for n in range(3):
        capture(api, f"WEB-{n}")
    drain_db(api.db)  # routing: each order's TEE-M from a warehouse, its MUG at STORE-LDN
    browser = signed_in(api, console, "admin")
    served = api.client.get(
        "/api/v1/fulfillment-orders", params={"location": "STORE-LDN"}, headers=api.headers("admin")
    ).json()["items"]
    assert len(served) == 3
    first = browser.client.get("/console/fulfillment?location=STORE-LDN&status=ALLOCATED&limit=2")
    assert first.status_code == 200
    codes = re.findall(r"<code>(fo_[^<]+)</code>", first.text)
    assert codes == [fo["id"] for fo in served[:2]]
    following = re.search(r'rel="next" href="([^"]+)"', first.text)
    assert following is not None
    second = browser.client.get(unescape(following.group(1)))
    assert re.findall(r"<code>(fo_[^<]+)</code>", second.text) == [served[2]["id"]]
    none = browser.client.get("/console/fulfillment?location=STORE-LDN&status=FULFILLED")
    assert "No fulfillment order at STORE-LDN with this status." in none.text


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("status=LOST", 400, "Status &#39;LOST&#39; is not a fulfillment order status."),
        ("cursor=%21%21", 400, "The page link is broken; start the search again."),
        ("location=NOWHERE", 404, "no location &#39;NOWHERE&#39;"),
    ],
)
def test_a_bad_fulfillment_query_says_why(
    api: Api, console: Browsers, query: str, status: int, message: str
) -> None:
    stock_network(api.db)
    answer = signed_in(api, console, "admin").client.get(f"/console/fulfillment?{query}")
    assert answer.status_code == status
    assert message in answer.text

"""The order page's service actions in a real browser (Debian's Chromium through
Playwright) against one real `openoms serve` with its worker: an agent opens an RMA,
approves and receives it, and sees the refund appear; and the §12 order is served end to
end through the console alone — held, released, shipped from the warehouse page, a unit
returned, money refunded — the page agreeing with the API's order summary at the end."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.browser import chromium, create_users, page_for, sign_in
from tests.e2e.servers import (
    ADMIN_KEY,
    Server,
    eventually,
    reference,
    running_server,
    stock_over_http,
)
from tests.payloads import order_payload

pytestmark = pytest.mark.e2e


@dataclass
class Shop:
    server: Server
    browser: Browser
    orders: dict[str, dict[str, Any]]  # "rma" / "served": the §12 order, captured and routed

    def summary(self, which: str) -> dict[str, Any]:
        with self.server.client(ADMIN_KEY) as admin:
            body: dict[str, Any] = admin.get(
                f"/api/v1/order-summaries/{self.orders[which]['id']}"
            ).json()
        return body

    def settled(self, which: str, ready: Callable[[dict[str, Any]], bool] = bool) -> dict[str, Any]:
        """The order once `ready` and the worker stopped adding to it (a confirm refuses,
        rightly, an order that changed since its preview)."""
        last = [-1]

        def read() -> dict[str, Any]:
            time.sleep(0.3)
            return self.summary(which)

        def quiet(body: dict[str, Any]) -> bool:
            unchanged = len(body["events"]) == last[0]
            last[0] = len(body["events"])
            return unchanged and ready(body)

        return eventually(read, quiet, f"the worker finishing with the {which} order")


def capture(server: Server) -> dict[str, Any]:
    with server.client(ADMIN_KEY) as admin:
        captured = admin.post(
            "/api/v1/orders",
            json=order_payload(external_reference=reference()),
            headers={"Idempotency-Key": reference()},
        )
        assert captured.status_code == 201, captured.text
        summary_id = captured.json()["id"]
        order: dict[str, Any] = eventually(
            lambda: admin.get(f"/api/v1/order-summaries/{summary_id}").json(),
            lambda body: bool(body["fulfillment_orders"]),
            "routing of the §12 order",
        )
    return order


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    workdir = tmp_path_factory.mktemp("console-service")
    url = f"sqlite:///{workdir / 'openoms.db'}"
    with (
        running_server(url, workdir, admin_key=ADMIN_KEY, worker=True) as server,
        chromium() as browser,
    ):
        with server.client(ADMIN_KEY) as admin:
            stock_over_http(admin, units=50)
        orders = {"rma": capture(server), "served": capture(server)}
        create_users(
            server,
            ("agent@example.com", "agent"),
            ("money@example.com", "finance"),
            ("wh@example.com", "warehouse", "--location", "WH-LDN"),
        )
        yield Shop(server, browser, orders)


@pytest.fixture
def page(shop: Shop, request: pytest.FixtureRequest) -> Iterator[Page]:
    with page_for(shop.browser, shop.server.base_url, request) as page:
        yield page


def item_id(order: dict[str, Any], sku: str) -> str:
    return str(next(i["id"] for i in order["items"] if i["sku"] == sku and i["type"] == "product"))


def wh_ldn(order: dict[str, Any]) -> str:
    return str(next(f["id"] for f in order["fulfillment_orders"] if f["location"] == "WH-LDN"))


def captured(body: dict[str, Any]) -> bool:
    return body["payment_summaries"][0]["captured"] != "0.00"


def test_an_agent_receives_an_rma_and_the_refund_appears(shop: Shop, page: Page) -> None:
    order = shop.orders["rma"]
    with shop.server.client(ADMIN_KEY) as admin:
        shipped = admin.post(
            f"/api/v1/fulfillment-orders/{wh_ldn(order)}/actions/ship",
            headers={"Idempotency-Key": reference()},
        )
        assert shipped.status_code in (200, 201), shipped.text
    shop.settled("rma", captured)
    tee = item_id(order, "TEE-M")
    sign_in(page, "agent@example.com")
    page.goto(f"/console/orders/{order['id']}")
    page.locator(f"#rma-{tee}").fill("1")
    page.get_by_label("Expected at (location ref)").fill("WH-LDN")
    page.get_by_role("button", name="Preview the RMA").click()
    expect(page.locator('[data-preview="return_status"]')).to_have_text("submitted")
    page.get_by_role("button", name="Open the return").click()
    expect(page.get_by_role("status")).to_contain_text("The return is open")
    page.get_by_role("button", name="Approve the return").click()
    expect(page.get_by_role("status")).to_have_text("The return moved on.")
    (ro,) = shop.settled("rma")["return_orders"]
    line = ro["lines"][0]["id"]
    page.locator(f"#receive-{line}").fill("1")
    page.get_by_label("Condition of TEE-M received").select_option("opened")
    page.get_by_role("button", name="Preview the receipt").click()
    expect(page.locator('[data-preview="to_refund"]')).to_have_text("20.55")
    page.get_by_role("button", name="Confirm the receipt").click()
    expect(page.get_by_role("status")).to_have_text("The units are received.")
    shop.settled("rma", lambda body: body["payment_summaries"][0]["refunded"] == "20.55")
    page.reload()
    expect(page.locator("#refund-list")).to_contain_text("20.55")
    expect(page.locator("#refund-list")).to_contain_text("processed")


def test_the_section_12_order_is_served_through_the_console_alone(shop: Shop, page: Page) -> None:
    order = shop.orders["served"]
    path = f"/console/orders/{order['id']}"
    sign_in(page, "agent@example.com")
    page.goto(path)
    page.get_by_label("Reason for the hold").fill("address check")
    page.get_by_role("button", name="Hold the order").click()
    expect(page.get_by_role("status")).to_have_text("The order is on hold.")
    page.get_by_role("button", name="Release every hold").click()
    expect(page.get_by_role("status")).to_have_text("The hold is released.")
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, "wh@example.com")
    page.goto("/console/fulfillment?location=WH-LDN")
    row = page.locator("tr", has=page.locator(f"code:text-is('{wh_ldn(order)}')"))
    row.get_by_role("button", name="Ship all left").click()
    expect(page.get_by_role("status")).to_contain_text(f"Shipped {wh_ldn(order)}")
    page.get_by_role("button", name="Sign out").click()

    shop.settled("served", captured)
    tee = item_id(order, "TEE-M")
    sign_in(page, "agent@example.com")
    page.goto(path)
    page.locator(f"#return-{tee}").fill("1")
    page.get_by_label("Received at (location ref, to restock)").fill("WH-LDN")
    page.get_by_role("button", name="Preview the return").click()
    expect(page.locator('[data-preview="to_refund"]')).to_have_text("20.55")
    page.get_by_role("button", name="Confirm the return").click()
    expect(page.get_by_role("status")).to_contain_text("The return is recorded")
    page.get_by_role("button", name="Sign out").click()

    shop.settled("served", lambda body: body["payment_summaries"][0]["refunded"] == "20.55")
    sign_in(page, "money@example.com")
    page.goto(path)
    page.get_by_label("Amount (GBP)").fill("2.50")
    page.get_by_label("Reason").fill("goodwill")
    page.get_by_role("button", name="Preview the refund").click()
    expect(page.locator('[data-preview="to_refund"]')).to_have_text("2.50")
    page.get_by_role("button", name="Confirm the refund").click()
    expect(page.get_by_role("status")).to_have_text("The refund is sent.")

    truth = shop.summary("served")
    totals = {name: page.locator(f'[data-total="{name}"]').inner_text() for name in truth["totals"]}
    assert totals == truth["totals"]
    assert truth["payment_summaries"][0]["refunded"] == "23.05"
    refunds = page.locator("#refund-list tbody tr")
    expect(refunds).to_have_count(2)
    tee_row = page.locator(f'#lines tr[data-item="{tee}"] td.num')
    item = next(i for i in truth["items"] if i["id"] == tee)
    counters = [tee_row.nth(n).inner_text() for n in range(tee_row.count())]
    assert counters[5:7] == [
        str(item["quantity_fulfilled"]),
        str(item["quantity_return_initiated"]),
    ]
    assert counters[7] == str(item["quantity_returned"]) == "1"
    expect(page.locator("#timeline")).to_contain_text("by user:money@example.com")

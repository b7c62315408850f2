"""The dashboard, inventory and settings in a real browser (Debian's Chromium through
Playwright) against one real `openoms serve` with its worker: an admin chooses the period by
keyboard alone and reads the figures and the charts (no script error, nothing the page's
Content-Security-Policy refuses); reads a SKU's availability; creates an API key whose
secret the page shows once and which works at once, then revokes it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.browser import PASSWORD, chromium, create_users, page_for
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
EMAIL = "admin@example.com"


@dataclass
class Console:
    server: Server
    browser: Browser
    order: dict[str, Any]


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """One server (SQLite, with its worker), the §12 order captured and routed, an admin."""
    workdir = tmp_path_factory.mktemp("dashboard")
    url = f"sqlite:///{workdir / 'openoms.db'}"
    with (
        running_server(url, workdir, admin_key=ADMIN_KEY, worker=True) as server,
        chromium() as browser,
    ):
        with server.client(ADMIN_KEY) as admin:
            stock_over_http(admin, units=50)
            captured = admin.post(
                "/api/v1/orders",
                json=order_payload(external_reference=reference()),
                headers={"Idempotency-Key": reference()},
            )
            assert captured.status_code == 201, captured.text
            summary_id = captured.json()["id"]
            order = eventually(
                lambda: admin.get(f"/api/v1/order-summaries/{summary_id}").json(),
                lambda body: bool(body["fulfillment_orders"]),
                "routing of the §12 order",
            )
        create_users(server, (EMAIL, "admin"))
        yield Console(server, browser, order)


@pytest.fixture
def page(console: Console, request: pytest.FixtureRequest) -> Iterator[Page]:
    with page_for(console.browser, console.server.base_url, request) as page:
        page.goto("/console/")
        page.get_by_label("Email").fill(EMAIL)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome")
        yield page


def test_the_dashboard_by_keyboard_with_its_charts(console: Console, page: Page) -> None:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.get_by_role("link", name="Dashboard").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    day = console.order["ordered_at"][:10]
    page.get_by_label("Ordered from").fill(day)
    page.get_by_label("Ordered to").fill(day)
    page.get_by_label("Channel").focus()
    for _ in range(12):  # through the date fields' parts to the button, by keyboard alone
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Show":
            break
    page.keyboard.press("Enter")
    expect(page).to_have_url(
        f"{console.server.base_url}/console/dashboard?channel=&from={day}&to={day}"
    )
    expect(page.locator('[data-figure="orders"]')).to_have_text("1")
    expect(page.locator('[data-figure="revenue.GBP"]')).to_have_text("76.59")
    chart = page.get_by_role("img", name="Orders per day")
    expect(chart).to_be_visible()
    assert chart.bounding_box()["width"] > 200  # type: ignore[index]
    page.get_by_text("Orders and revenue per day as a table").press("Enter")
    expect(page.locator(f'#days tr[data-day="{day}"] td').first).to_have_text("1")
    assert problems == []


def test_a_skus_availability(console: Console, page: Page) -> None:
    page.goto("/console/inventory")
    page.get_by_role("link", name="TEE-M").click()
    with console.server.client(ADMIN_KEY) as admin:
        truth = admin.post(
            "/api/v1/inventory/actions/get-availability",
            json={"skus": ["TEE-M"], "locations": ["WH-LDN"]},
        ).json()["locations"][0]["inventory_records"][0]
    cells = page.locator('#locations tr[data-location="WH-LDN"] td')
    expect(cells.nth(0)).to_have_text(str(truth["on_hand"]))
    expect(cells.nth(3)).to_have_text(str(truth["available_to_fulfill"]))
    expect(page.locator("#reservations tbody tr")).to_have_count(1)


def test_an_api_key_shown_once_then_revoked(console: Console, page: Page) -> None:
    page.goto("/console/settings/api-keys")
    page.get_by_label("Name").fill("browser key")
    page.get_by_label("agent").check()
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_label("Secret").input_value()
    with console.server.client(secret) as client:
        assert client.get("/api/v1/order-summaries").status_code == 200
    page.goto("/console/settings/api-keys")
    assert secret not in page.content()
    page.get_by_role("button", name="Revoke browser key").click()
    expect(page.get_by_role("status")).to_contain_text("The API key is revoked.")
    with console.server.client(secret) as client:
        assert client.get("/api/v1/order-summaries").status_code == 401

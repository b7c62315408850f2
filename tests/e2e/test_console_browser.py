"""The console in a real browser (Debian's Chromium through Playwright) against one real
`openoms serve` with its worker: an agent an admin created signs in, finds the §12 order,
opens it and reads its lines, totals and timeline, which equal the API's; a warehouse user
is refused an agent page; a POST without its CSRF token is refused; signing out ends the
session for the old cookie too."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.browser import chromium, create_users, page_for, sign_in
from tests.e2e.common import OPENOMS, cli_env
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
class Console:
    server: Server
    browser: Browser
    order: dict[str, Any]


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """One server (SQLite, with its worker) and one Chromium for the whole module: the §12
    order captured and routed, an agent and a warehouse user created by an admin."""
    workdir = tmp_path_factory.mktemp("console")
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
        create_users(
            server,
            ("agent@example.com", "agent", "--name", "Agnes Agent"),
            ("wh@example.com", "warehouse", "--location", "WH-LDN"),
        )
        yield Console(server, browser, order)


@pytest.fixture
def page(console: Console, request: pytest.FixtureRequest) -> Iterator[Page]:
    with page_for(console.browser, console.server.base_url, request) as page:
        yield page


def test_an_agent_finds_the_order_and_reads_what_the_api_says(console: Console, page: Page) -> None:
    sign_in(page, "agent@example.com")
    expect(page).to_have_url(f"{console.server.base_url}/console/orders")
    expect(page.get_by_role("navigation", name="Main")).to_contain_text("Orders")
    reference_ = console.order["external_reference"]
    assert page.evaluate("typeof htmx.version") == "string"  # the vendored htmx, loaded
    page.get_by_label("Reference").fill(reference_)  # htmx searches as you type: no Enter
    results = page.locator("#results tbody tr")
    expect(results).to_have_count(1)
    expect(page).to_have_url(re.compile(rf"reference={reference_}"))  # pushed to history
    channel = console.order["channel"]
    page.get_by_label("Channel").select_option(channel)  # every field searches, not the first
    expect(page).to_have_url(re.compile(rf"channel={channel}"))
    expect(results).to_have_count(1)
    page.get_by_role("link", name=reference_).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Order {reference_}")
    with console.server.client(ADMIN_KEY) as admin:
        truth = admin.get(f"/api/v1/order-summaries/{console.order['id']}").json()
    totals = {name: page.locator(f'[data-total="{name}"]').inner_text() for name in truth["totals"]}
    assert totals == truth["totals"]
    assert totals["grand_total"] == "76.59"
    lines = page.locator("#lines tbody tr")
    expect(lines).to_have_count(len(truth["items"]))
    skus = [lines.nth(n).locator("th").inner_text().split()[0] for n in range(lines.count())]
    assert skus == [item["sku"] for item in truth["items"]]
    timeline = page.locator("#timeline li .what")
    assert timeline.count() >= len(truth["events"])  # the worker may have added more since
    expect(page.locator("#timeline")).to_contain_text("order summary: created")


def test_a_warehouse_user_is_refused_an_agent_page(console: Console, page: Page) -> None:
    sign_in(page, "wh@example.com")
    answer = page.goto(f"/console/orders/{console.order['id']}")
    assert answer is not None
    assert answer.status == 403
    expect(page.get_by_role("alert")).to_contain_text("This page is for agent, finance users")
    expect(page.get_by_role("navigation", name="Main")).not_to_contain_text("Orders")
    own = page.goto("/console/fulfillment")
    assert own is not None
    assert own.status == 200
    expect(page.get_by_label("Location")).to_have_value("WH-LDN")


def test_a_post_without_its_csrf_token_is_refused(console: Console, page: Page) -> None:
    sign_in(page, "agent@example.com")
    refused = page.request.post("/console/logout", form={"csrf_token": "forged"})
    assert refused.status == 403
    again = page.goto("/console/orders")  # nothing changed: still signed in
    assert again is not None
    assert again.status == 200


def test_signing_out_ends_the_session(console: Console, page: Page) -> None:
    sign_in(page, "agent@example.com")
    old = page.context.cookies()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("alert")).to_contain_text("You are signed out.")
    replay = console.browser.new_context(base_url=console.server.base_url)
    try:
        replay.add_cookies(old)  # type: ignore[arg-type]
        stale = replay.new_page()
        stale.goto("/console/orders")
        expect(stale.get_by_role("heading", name="Sign in")).to_be_visible()
    finally:
        replay.close()


def demo_admin(console: Console) -> tuple[str, str]:
    """`openoms users demo-admin`, as `make run` runs it: the email and password it prints."""
    result = subprocess.run(
        [str(OPENOMS), "users", "demo-admin", "--url", f"{console.server.base_url}/console/"],
        env=cli_env(console.server.database_url),
        cwd=console.server.stdout_path.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    found = re.search(r"sign in as (\S+) with password (\S+)", result.stdout)
    assert found, result.stdout
    assert f"console: {console.server.base_url}/console/" in result.stdout
    return found.group(1), found.group(2)


def test_the_login_make_run_prints_signs_the_demo_admin_in(console: Console, page: Page) -> None:
    demo_admin(console)
    email, password = demo_admin(console)  # again: the same admin, a fresh password
    page.goto("/console/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    menu = page.get_by_role("navigation", name="Main")
    expect(menu).to_contain_text("Orders")
    expect(menu).to_contain_text("Fulfillment orders")
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Demo admin")


def test_signing_in_and_searching_work_without_javascript(console: Console) -> None:
    context = console.browser.new_context(
        base_url=console.server.base_url, java_script_enabled=False
    )
    try:
        page = context.new_page()
        sign_in(page, "agent@example.com")
        reference_ = console.order["external_reference"]
        page.get_by_label("Reference").fill(reference_)
        page.get_by_role("button", name="Search").click()  # a plain GET form
        expect(page).to_have_url(re.compile(rf"/console/orders\?reference={reference_}"))
        expect(page.locator("#results tbody tr")).to_have_count(1)
    finally:
        context.close()


def settled(console: Console) -> dict[str, Any]:
    """The order once the worker has stopped adding to it (a confirm refuses, rightly, an
    order that changed since its preview)."""
    with console.server.client(ADMIN_KEY) as admin:
        path = f"/api/v1/order-summaries/{console.order['id']}"
        last: list[int] = [-1]

        def read() -> dict[str, Any]:
            time.sleep(0.5)
            body: dict[str, Any] = admin.get(path).json()
            return body

        def unchanged(body: dict[str, Any]) -> bool:
            quiet = len(body["events"]) == last[0]
            last[0] = len(body["events"])
            return quiet

        return eventually(read, unchanged, "the worker finishing with the order")


def test_an_agent_cancels_a_unit_after_its_preview(console: Console, page: Page) -> None:
    """Cancel the MUG (STORE-LDN; the warehouse test ships WH-LDN's TEE-M): the preview's
    money is the API's preview, and after the confirm the page and the API agree."""
    before = settled(console)
    mug = next(i for i in before["items"] if i["sku"] == "MUG")
    with console.server.client(ADMIN_KEY) as admin:
        api = admin.post(
            f"/api/v1/order-summaries/{console.order['id']}/actions/preview-cancel",
            json={"items": [{"order_item_summary_id": mug["id"], "quantity": 1}]},
        ).json()
    sign_in(page, "agent@example.com")
    page.goto(f"/console/orders/{console.order['id']}")
    page.get_by_label("MUG", exact=True).fill("1")
    page.get_by_role("button", name="Preview the cancel").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("preview")
    (change,) = api["change_orders"]
    expect(page.locator('[data-preview="change_total"]')).to_have_text(change["grand_total"])
    assert change["grand_total"] == "-8.95"
    expect(page.locator('[data-preview="to_refund"]')).to_have_text(api["to_refund"])
    page.get_by_role("button", name="Confirm the cancel").click()
    expect(page.get_by_role("status")).to_have_text("The units are canceled.")
    with console.server.client(ADMIN_KEY) as admin:
        truth = admin.get(f"/api/v1/order-summaries/{console.order['id']}").json()
    totals = {name: page.locator(f'[data-total="{name}"]').inner_text() for name in truth["totals"]}
    assert totals == truth["totals"]
    assert totals["grand_total"] == "67.64"
    row = page.locator(f'#lines tr[data-item="{mug["id"]}"] td.num')
    counters = [row.nth(n).inner_text() for n in range(row.count())]
    item = next(i for i in truth["items"] if i["id"] == mug["id"])
    assert counters[2:4] == [str(item["quantity_ordered"]), str(item["quantity_canceled"])]
    assert item["quantity_canceled"] == 1


def test_a_warehouse_user_ships_and_sees_the_tracking(console: Console, page: Page) -> None:
    sign_in(page, "wh@example.com")
    page.goto("/console/fulfillment?location=WH-LDN")
    fo = next(f for f in console.order["fulfillment_orders"] if f["location"] == "WH-LDN")
    row = page.locator("tr", has=page.locator(f"code:text-is('{fo['id']}')"))
    row.get_by_role("button", name="Ship all left").click()
    notice = page.get_by_role("status")
    expect(notice).to_contain_text(f"Shipped {fo['id']} with sandbox-domestic: tracking ")
    with console.server.client(ADMIN_KEY) as admin:
        (shipment,) = admin.get(f"/api/v1/fulfillment-orders/{fo['id']}").json()["shipments"]
    assert shipment["tracking_number"]
    expect(notice).to_contain_text(shipment["tracking_number"])
    expect(row).to_contain_text(shipment["tracking_number"])

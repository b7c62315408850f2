"""The warehouse queue and the process exception queue in a real browser (Debian's Chromium
through Playwright) against a real `openoms serve`: a warehouse user assigns, picks and
packs a fulfillment order, reads its packing slip, ships part of it then the rest and sees
the tracking; a finance user retries a capture the gateway refused, from the exception
queue, and sees it resolved and the capture on the order page.

The server runs without its worker: this test process is the worker (tests/integration/
worker.py), over the same database and with its own sandbox gateway instance, which is how
a capture is made to fail as a gateway outage would (`fail_next`) and then to recover."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from openoms.adapters.carriers import Carriers, default_carriers
from openoms.adapters.db.session import Database
from openoms.adapters.payments import Gateways
from openoms.adapters.payments.sandbox import SandboxGateway
from openoms.domain.ports import GatewayResult
from openoms.services.access import create_console_user
from tests.e2e.browser import PASSWORD, chromium, page_for, sign_in
from tests.e2e.servers import ADMIN_KEY, Server, reference, running_server, stock_over_http
from tests.integration.worker import drain_db
from tests.payloads import order_payload

pytestmark = pytest.mark.e2e


@dataclass
class Site:
    server: Server
    browser: Browser
    db: Database
    sandbox: SandboxGateway
    carriers: Carriers

    def drain(self) -> None:
        """One worker run until nothing is due (what the server's worker would do)."""
        drain_db(self.db, gateways=Gateways({"sandbox": self.sandbox}), carriers=self.carriers)

    def capture(self) -> dict[str, Any]:
        """The §12 order, captured over HTTP and routed: its summary."""
        with self.server.client(ADMIN_KEY) as admin:
            ref = reference()
            captured = admin.post(
                "/api/v1/orders",
                json=order_payload(external_reference=ref),
                headers={"Idempotency-Key": ref},
            )
            assert captured.status_code == 201, captured.text
        self.drain()
        return self.summary(captured.json()["id"])

    def summary(self, summary_id: str) -> dict[str, Any]:
        with self.server.client(ADMIN_KEY) as admin:
            body: dict[str, Any] = admin.get(f"/api/v1/order-summaries/{summary_id}").json()
            return body


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    workdir = tmp_path_factory.mktemp("warehouse-console")
    url = f"sqlite:///{workdir / 'openoms.db'}"
    with (
        running_server(url, workdir, admin_key=ADMIN_KEY, worker=False) as server,
        chromium() as browser,
    ):
        with server.client(ADMIN_KEY) as admin:
            stock_over_http(admin, units=50)
        db = Database(url)
        try:
            with db.transaction() as session:  # as `openoms users create` does (its own test)
                for email, role, locations in (
                    ("wh@example.com", "warehouse", ("WH-LDN",)),
                    ("finance@example.com", "finance", ()),
                ):
                    create_console_user(
                        session, email=email, role=role, password=PASSWORD, locations=locations
                    )
            yield Site(server, browser, db, SandboxGateway(db), default_carriers(db, env={}))
        finally:
            db.dispose()


@pytest.fixture
def page(site: Site, request: pytest.FixtureRequest) -> Iterator[Page]:
    with page_for(site.browser, site.server.base_url, request) as page:
        yield page


def fo_at(order: dict[str, Any], location: str) -> dict[str, Any]:
    (fo,) = [f for f in order["fulfillment_orders"] if f["location"] == location]
    return dict(fo)


def test_a_warehouse_user_ships_in_steps_and_sees_the_tracking(site: Site, page: Page) -> None:
    order = site.capture()
    fo = fo_at(order, "WH-LDN")
    sign_in(page, "wh@example.com")
    page.goto("/console/fulfillment?location=WH-LDN")
    row = page.locator("tr", has=page.locator(f"code:text-is('{fo['id']}')"))
    notice = page.get_by_role("status")
    for button, said in (
        ("Assign", "is assigned to this location."),
        ("Picked", "is picked."),
        ("Packed", "is packed and ready to ship."),
    ):
        row.get_by_role("button", name=button, exact=True).click()
        expect(notice).to_have_text(f"{fo['id']} {said}")
    expect(row).to_contain_text("pack complete")

    row.get_by_role("link", name="Packing slip").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Packing slip")
    expect(page.locator('[data-slip="reference"]')).to_have_text(order["external_reference"])
    expect(page.locator('[data-slip="ship-to"]')).to_contain_text("1 Main St")
    expect(page.locator('[data-slip="to-pack"]')).to_have_text(["3"])
    page.emulate_media(media="print")
    expect(page.get_by_role("navigation", name="Main")).to_be_hidden()  # only the slip prints
    page.emulate_media(media="screen")
    page.go_back()

    row.get_by_text("Ship part of it").click()
    row.get_by_label("Units of TEE-M (of 3)").fill("1")
    row.get_by_role("button", name="Ship these units").click()
    expect(notice).to_contain_text(f"Shipped {fo['id']} with sandbox-domestic: tracking ")
    expect(row).to_contain_text("3 × TEE-M (1 shipped)")
    row.get_by_role("button", name="Ship all left").click()
    expect(notice).to_contain_text(f"Shipped {fo['id']} with sandbox-domestic: tracking ")
    with site.server.client(ADMIN_KEY) as admin:
        body = admin.get(f"/api/v1/fulfillment-orders/{fo['id']}").json()
    assert body["status"] == "FULFILLED"
    first, rest = body["shipments"]
    assert [i["quantity"] for i in first["items"] + rest["items"]] == [1, 2]
    expect(notice).to_contain_text(rest["tracking_number"])
    expect(row).to_contain_text(first["tracking_number"])
    expect(row).to_contain_text(rest["tracking_number"])
    expect(row.get_by_role("link", name="label")).to_have_count(2)
    timeline = site.summary(order["id"])["events"]
    by = {e["payload"].get("by") for e in timeline if e["name"].startswith("fulfillment_order.")}
    assert by == {None, "user:wh@example.com"}  # routing's creation records no one


def test_a_finance_user_retries_a_failed_capture_from_the_exception_queue(
    site: Site, page: Page
) -> None:
    order = site.capture()
    fo = fo_at(order, "WH-LDN")
    site.sandbox.fail_next(1, GatewayResult.PERMANENT_FAIL, operation="capture")  # an outage
    with site.server.client(ADMIN_KEY) as admin:
        shipped = admin.post(
            f"/api/v1/fulfillment-orders/{fo['id']}/actions/ship",
            headers={"Idempotency-Key": reference()},
        )
        assert shipped.status_code == 201, shipped.text
    site.drain()  # invoiced; the capture refused: a payment exception for a person
    refused = site.summary(order["id"])
    [invoice] = refused["invoices"]
    assert refused["payment_summaries"][0]["captured"] == "0.00"
    [pe] = [e for e in refused["process_exceptions"] if e["category"] == "payment"]

    sign_in(page, "finance@example.com")
    page.goto("/console/exceptions")
    page.get_by_label("Category").select_option("payment")  # htmx filters on change
    expect(page).to_have_url(re.compile(r"category=payment"))
    row = page.locator(f'tr[data-exception="{pe["id"]}"]')
    expect(row).to_contain_text("high")
    expect(row.locator('[data-status="NEW"]')).to_be_visible()
    row.get_by_label("Note (optional)").fill("gateway back up")
    row.get_by_role("button", name="Retry").click()
    expect(page.get_by_role("status")).to_contain_text(f"{pe['id']}: its failed action runs")

    site.drain()  # the gateway answers again: the capture goes through
    page.get_by_label("Status").select_option("any")
    row = page.locator(f'tr[data-exception="{pe["id"]}"]')
    expect(row.locator('[data-status="RESOLVED"]')).to_have_text("resolved")
    row.get_by_role("link", name=order["id"]).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(order["external_reference"])
    truth = site.summary(order["id"])
    captured = truth["payment_summaries"][0]["captured"]
    assert captured == invoice["grand_total"]
    payments = page.locator("section[aria-labelledby=pay-h] tbody tr").first
    expect(payments.locator("td").nth(1)).to_have_text(captured)
    expect(page.locator("#timeline")).to_contain_text("process exception: retry requested")
    expect(page.locator("#timeline")).to_contain_text("user:finance@example.com")
    assert truth["active_process_exception_count"] == 0

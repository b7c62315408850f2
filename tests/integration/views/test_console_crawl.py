"""A crawl of the whole console as each role, on SQLite and PostgreSQL: from /console/,
follow every same-site link (GET) of every page reached, up to a bound, over a world with
orders in many states (shipped, split, picked up, returned and refunded, backordered,
declined, canceled), open exceptions, a return, a flow with runs and a webhook endpoint.

Every page must answer 200 — no 5xx, and no link to a page the role may not open — and
every form field a person fills in (<input> other than hidden, submit, button, reset and
image; <select>; <textarea>) must have a label: a <label for>, a wrapping <label>, or an
aria-label / aria-labelledby. The crawl knows no page by name: it reads the links, so the
pages other parts of the console add are crawled as they appear."""

from __future__ import annotations

from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

import pytest

from tests.integration.conftest import Api
from tests.integration.console_client import Browser, add_user
from tests.integration.console_world import World, build_world, one_group_order

Browsers = Callable[[], Browser]
MAX_PAGES = 400
UNLABELLED_TYPES = {"hidden", "submit", "button", "reset", "image"}
ROLES = {  # name: (role, locations)
    "agent": ("agent", ()),
    "warehouse": ("warehouse", ()),
    "warehouse-at-WH-LDN": ("warehouse", ("WH-LDN",)),
    "finance": ("finance", ()),
    "admin": ("admin", ()),
}


class PageReader(HTMLParser):
    """The links of a page and its form fields with whether each has a label."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.fields: list[tuple[str, dict[str, str]]] = []
        self.label_for: set[str] = set()
        self._open_labels = 0
        self._wrapped: set[int] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag == "a" and "href" in found:
            self.links.append(found["href"])
        elif tag == "label":
            self._open_labels += 1
            if found.get("for"):
                self.label_for.add(found["for"])
        elif tag in ("input", "select", "textarea"):
            if tag == "input" and found.get("type", "text").lower() in UNLABELLED_TYPES:
                return
            if self._open_labels:
                self._wrapped.add(len(self.fields))
            self.fields.append((tag, found))

    def handle_endtag(self, tag: str) -> None:
        if tag == "label" and self._open_labels:
            self._open_labels -= 1

    def unlabelled(self) -> list[str]:
        missing = []
        for n, (tag, attrs) in enumerate(self.fields):
            if n in self._wrapped or attrs.get("aria-label") or attrs.get("aria-labelledby"):
                continue
            if attrs.get("id") and attrs["id"] in self.label_for:
                continue
            missing.append(f"<{tag} name={attrs.get('name')!r} id={attrs.get('id')!r}>")
        return missing


def same_site(base: str, href: str) -> str | None:
    """The console path (with its query) `href` leads to from `base`, or None for another
    site, a non-console path, a static file or a fragment of the same page."""
    target, _ = urldefrag(urljoin(f"http://testserver{base}", href))
    parts = urlsplit(target)
    if parts.netloc != "testserver" or not parts.path.startswith("/console"):
        return None
    if parts.path.startswith("/console/static/"):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def crawl(browser: Browser) -> tuple[dict[str, int], dict[str, list[str]]]:
    """Status of every page reached (breadth first from /console/, at most MAX_PAGES) and
    the unlabelled fields of each page that has some."""
    seen: dict[str, int] = {}
    unlabelled: dict[str, list[str]] = {}
    queue = ["/console/"]
    while queue and len(seen) < MAX_PAGES:
        path = queue.pop(0)
        if path in seen:
            continue
        answer = browser.client.get(path)
        seen[path] = answer.status_code
        if "text/html" not in answer.headers.get("content-type", ""):
            continue
        reader = PageReader()
        reader.feed(answer.text)
        if missing := reader.unlabelled():
            unlabelled[path] = missing
        for href in reader.links:
            target = same_site(path, href)
            if target is not None and target not in seen:
                queue.append(target)
    return seen, unlabelled


@pytest.fixture
def crawled_world(api: Api) -> World:
    flow = {
        "trigger": "order_summary.created",
        "when": {"all": [{"field": "data.totals.grand_total", "op": "gt", "value": "1000.00"}]},
        "actions": [{"type": "hold", "reason": "manual review over 1000"}],
        "enabled": True,
    }
    answer = api.client.put("/api/v1/flows/high-value", json=flow, headers=api.headers("admin"))
    assert answer.status_code == 201, answer.text
    world = build_world(api)
    canceled = one_group_order(
        "WEB-CANCELED", channel="web-uk", day="2026-11-22", lines=[("MUG", 1, "8.00")]
    )
    summary = api.client.post("/api/v1/orders", json=canceled, headers=api.headers()).json()
    item = summary["items"][0]["id"]
    answer = api.client.post(
        f"/api/v1/order-summaries/{summary['id']}/actions/submit-cancel",
        json={"items": [{"order_item_summary_id": item, "quantity": 1, "reason": "changed mind"}]},
        headers=api.headers("agent"),
    )
    assert answer.status_code == 200, answer.text
    world.orders["WEB-CANCELED"] = summary["id"]
    world.shop.drain()
    # Registered last, so the drains above send it nothing (this test reaches no network).
    answer = api.client.post(
        "/api/v1/webhook-endpoints",
        json={"url": "https://93.184.216.34/hooks", "description": "ERP"},
        headers=api.headers("admin"),
    )
    assert answer.status_code == 201, answer.text
    return world


@pytest.mark.parametrize("who", list(ROLES))
def test_every_console_page_answers_and_labels_its_fields(
    api: Api, console: Browsers, crawled_world: World, who: str
) -> None:
    role, locations = ROLES[who]
    add_user(api.db, f"{who}@example.com", role, locations=locations)
    browser = console()
    assert browser.sign_in(f"{who}@example.com").status_code == 303
    seen, unlabelled = crawl(browser)
    assert len(seen) < MAX_PAGES, "the crawl hit its bound: raise it or find the loop"
    assert {path: code for path, code in seen.items() if code != 200} == {}
    assert unlabelled == {}
    reached = {path.split("?")[0] for path in seen}
    expected: dict[str, Any] = {
        "agent": {"/console/orders", "/console/dashboard", "/console/inventory"},
        "finance": {"/console/orders", "/console/dashboard", "/console/inventory"},
        "warehouse": {"/console/fulfillment", "/console/inventory"},
        "warehouse-at-WH-LDN": {"/console/fulfillment", "/console/inventory"},
        "admin": {
            "/console/orders",
            "/console/dashboard",
            "/console/inventory",
            "/console/fulfillment",
            "/console/settings",
            "/console/settings/api-keys",
            "/console/settings/webhooks",
            "/console/settings/flows/high-value",
            "/console/settings/locations/WH-LDN",
        },
    }[who]
    assert expected <= reached
    if role != "admin":
        assert not any(path.startswith("/console/settings") for path in reached)
    if role == "warehouse":
        assert not any(path.startswith("/console/orders") for path in reached)
        assert "/console/dashboard" not in reached
    # Order pages of every order the world has, for the roles that read orders.
    if role in ("agent", "finance", "admin"):
        assert {f"/console/orders/{i}" for i in crawled_world.orders.values()} <= reached

"""The process exception queue in the console on both backends: filtered and paged as the
API lists it, each exception linked to its order; retry, triage, pause, resolve, ignore and
void by agents and finance (recorded as the user), refusals with the API's sentence and
nothing changed; warehouse users refused the page and its actions."""

from __future__ import annotations

import re
from html import unescape

import httpx
import pytest
from markupsafe import escape

from tests.integration.conftest import Api
from tests.integration.console_actions import Browsers
from tests.integration.console_client import Browser
from tests.integration.exception_queue import (
    BASE,
    act,
    active_count,
    events,
    queue,
    route_jobs,
    snapshot,
    summary,
)
from tests.integration.warehouse_console import staff
from tests.payloads import order_payload

__all__ = ["queue"]  # the fixture: three open exceptions (two routing, one payment)

PAGE = "/console/exceptions"


def shown(page: str) -> list[str]:
    """The exceptions a queue page lists, in order."""
    return re.findall(r'<tr data-exception="([^"]+)">', page)


def send(browser: Browser, pe: str, action: str, **fields: str) -> httpx.Response:
    data = {"action": action, "csrf_token": browser.csrf(), **fields}
    return browser.client.post(f"{PAGE}/{pe}/act", data=data)


def test_the_queue_filters_like_the_api_and_links_each_order(
    api: Api, queue: dict[str, str], console: Browsers
) -> None:
    browser = staff(api, console, "agent")
    everything = sorted([queue["tee_routing"], queue["mug_routing"], queue["mug_payment"]])
    page = browser.client.get(PAGE)
    assert page.status_code == 200
    assert shown(page.text) == everything  # open ones, oldest first
    assert f'<a href="/console/orders/{queue["tee_order"]}">' in page.text
    assert shown(browser.client.get(f"{PAGE}?category=payment").text) == [queue["mug_payment"]]
    assert shown(browser.client.get(f"{PAGE}?severity=high").text) == [queue["mug_payment"]]
    by_reference = browser.client.get(f"{PAGE}?order=PE-MUG").text
    assert shown(by_reference) == sorted([queue["mug_routing"], queue["mug_payment"]])
    by_id = browser.client.get(f"{PAGE}?order={queue['tee_order']}&category=routing").text
    assert shown(by_id) == [queue["tee_routing"]]
    assert shown(browser.client.get(f"{PAGE}?order={queue['fine_order']}").text) == []
    # Closed ones leave the default (open) queue; "any" and their status show them.
    assert act(api, queue["tee_routing"], "void").status_code == 200
    assert queue["tee_routing"] not in shown(browser.client.get(PAGE).text)
    assert shown(browser.client.get(f"{PAGE}?status=VOIDED").text) == [queue["tee_routing"]]
    assert shown(browser.client.get(f"{PAGE}?status=any").text) == everything
    htmx = browser.client.get(f"{PAGE}?category=payment", headers={"HX-Request": "true"})
    assert "<html" not in htmx.text  # the results alone, for the filter as you change it
    assert shown(htmx.text) == [queue["mug_payment"]]


@pytest.mark.parametrize(
    ("query", "sentence"),
    [
        ("status=OPEN", "Status 'OPEN' is not a process exception status."),
        ("category=weather", "Category 'weather' is not an exception category."),
        ("severity=dire", "Severity 'dire' is not low, medium or high."),
        ("order=NO-SUCH", "No order has the reference 'NO-SUCH'."),
        ("cursor=bm9wZQ", "The page link is broken; start the search again."),
    ],
)
def test_a_filter_the_queue_cannot_use_is_said(
    api: Api, queue: dict[str, str], console: Browsers, query: str, sentence: str
) -> None:
    page = staff(api, console, "agent").client.get(f"{PAGE}?{query}")
    assert page.status_code == 400
    assert f'<p class="notice" role="alert">{escape(sentence)}</p>' in page.text
    assert shown(page.text) == []


def test_the_queue_pages_with_a_cursor(api: Api, queue: dict[str, str], console: Browsers) -> None:
    browser = staff(api, console, "finance")
    first = browser.client.get(f"{PAGE}?limit=2").text
    assert len(shown(first)) == 2
    (next_link,) = re.findall(r'<a rel="next" href="([^"]+)">', first)
    rest = browser.client.get(unescape(next_link)).text
    assert shown(first) + shown(rest) == sorted(
        queue[k] for k in queue if "_" in k and "order" not in k
    )
    assert 'rel="next"' not in rest
    assert "First page" in rest


def test_finance_triages_with_a_note_then_resolves(
    api: Api, queue: dict[str, str], console: Browsers
) -> None:
    browser = staff(api, console, "finance")
    pe, order = queue["mug_payment"], queue["mug_order"]
    triaged = send(browser, pe, "triage", note="calling the bank", category="payment")
    assert triaged.status_code == 303, triaged.text
    assert triaged.headers["location"] == (
        f"{PAGE}?status=open&category=payment&done=triage&pe={pe}"
    )
    page = browser.client.get(triaged.headers["location"]).text
    assert f"{pe} is triaged." in page
    assert '<span class="status" data-status="TRIAGED">triaged</span>' in page
    assert active_count(api, order) == 2  # triaged is still open
    assert send(browser, pe, "pause").status_code == 303
    assert send(browser, pe, "resolve", note="paid by bank transfer").status_code == 303
    assert active_count(api, order) == 1
    moves = [
        (n, p.get("note"), p.get("by"))
        for n, p in events(api.db)
        if p["process_exception_id"] == pe
    ]
    assert moves[-3:] == [
        ("process_exception.triaged", "calling the bank", "user:finance-all@example.com"),
        ("process_exception.paused", None, "user:finance-all@example.com"),
        ("process_exception.resolved", "paid by bank transfer", "user:finance-all@example.com"),
    ]
    # The order page's timeline says who did it.
    timeline = unescape(browser.client.get(f"/console/orders/{order}").text)
    assert "user:finance-all@example.com" in timeline


def test_an_agent_ignores_one_and_retries_another(
    api: Api, queue: dict[str, str], console: Browsers
) -> None:
    browser = staff(api, console, "agent")
    assert send(browser, queue["mug_routing"], "ignore").status_code == 303
    assert summary(api, queue["mug_order"])["process_exceptions"]
    ignored = api.client.get(f"{BASE}/{queue['mug_routing']}", headers=api.headers("agent"))
    assert ignored.json()["status"] == "IGNORED"
    group_id = summary(api, queue["tee_order"])["delivery_groups"][0]["id"]
    retried = send(browser, queue["tee_routing"], "retry", note="stock is in")
    assert retried.status_code == 303
    page = browser.client.get(retried.headers["location"]).text
    assert f"{queue['tee_routing']}: its failed action runs again" in page
    (asked,) = [p for n, p in events(api.db) if n == "process_exception.retry_requested"]
    assert (asked["note"], asked["job_kind"], asked["by"]) == (
        "stock is in",
        "route_group",
        "user:agent-all@example.com",
    )
    assert (f"route:{group_id}:1", "pending", 0) in route_jobs(api.db)


@pytest.mark.parametrize("action", ["retry", "resolve", "triage"])
def test_a_closed_exception_refuses_with_the_apis_sentence(
    api: Api, queue: dict[str, str], console: Browsers, action: str
) -> None:
    pe = queue["tee_routing"]
    assert act(api, pe, "void").status_code == 200
    browser = staff(api, console, "agent")
    before = snapshot(api.db)
    refused = send(browser, pe, action, status="any")
    answer = act(api, pe, action)
    assert refused.status_code == answer.status_code == 409
    assert f'id="error-{pe}">{escape(answer.json()["detail"])}</p>' in refused.text
    assert snapshot(api.db) == before


def test_an_unknown_exception_or_action_is_refused(
    api: Api, queue: dict[str, str], console: Browsers
) -> None:
    browser = staff(api, console, "agent")
    before = snapshot(api.db)
    unknown = send(browser, "pe_NOPE", "resolve")
    assert unknown.status_code == 404
    assert "pe_NOPE: no process exception &#39;pe_NOPE&#39;" in unknown.text
    odd = send(browser, queue["tee_routing"], "escalate")
    assert odd.status_code == 400
    assert "&#39;escalate&#39; is not an action on a process exception" in odd.text
    assert snapshot(api.db) == before


def test_warehouse_users_are_refused_the_queue(
    api: Api, queue: dict[str, str], console: Browsers
) -> None:
    pe = queue["tee_routing"]
    before = snapshot(api.db)
    warehouse = staff(api, console, "warehouse")
    page = warehouse.client.get(PAGE)
    assert page.status_code == 403
    assert pe not in page.text
    assert 'href="/console/exceptions"' not in warehouse.client.get("/console/").text
    assert send(warehouse, pe, "resolve").status_code == 403
    no_token = staff(api, console, "agent").client.post(
        f"{PAGE}/{pe}/act", data={"action": "resolve"}
    )
    assert no_token.status_code == 403
    assert "security token is missing or stale" in no_token.text
    assert snapshot(api.db) == before
    assert (
        'href="/console/exceptions"' in staff(api, console, "finance").client.get("/console/").text
    )


def test_a_reference_several_channels_use_asks_for_the_order_id(
    api: Api, queue: dict[str, str], console: Browsers
) -> None:
    channel = api.client.put(
        "/api/v1/channels/web-de",
        json={"location_group": "online", "shortage_policy": "backorder"},
        headers=api.headers("admin"),
    )
    assert channel.status_code in (200, 201), channel.text
    payload = order_payload(external_reference="PE-TEE", channel="web-de")
    captured = api.client.post("/api/v1/orders", json=payload, headers=api.headers())
    assert captured.status_code == 201, captured.text
    page = staff(api, console, "agent").client.get(f"{PAGE}?order=PE-TEE")
    assert page.status_code == 400
    assert "Orders of several channels have the reference &#39;PE-TEE&#39;" in page.text
    assert shown(page.text) == []

"""The dashboard's figures equal the same figures computed independently from the public
API (order summaries, their fulfillment orders and shipments, process exceptions, return
orders, payment summaries' refunds) for a small world with splits, a pickup, a return and
its refund, a backorder, a declined payment, two currencies and an order outside the period
(tests/integration/console_world.py) — read from the service and from the rendered page,
on SQLite and PostgreSQL. Also: its filters, its refusals, its charts' text alternatives,
and who may open it."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from html import unescape
from math import ceil
from typing import Any

import pytest

from openoms.services.views import Dashboard, DashboardQuery, dashboard_figures
from tests.integration.conftest import Api
from tests.integration.console_client import Browser, add_user
from tests.integration.console_world import FIRST_DAY, World, build_world

Browsers = Callable[[], Browser]
FIGURE = re.compile(r'<(?:dd|td|data)\b[^>]*data-figure="([^"]+)"([^>]*)>([^<]*)<')
ACTIVE = ("NEW", "TRIAGED", "PAUSED")


@pytest.fixture
def world(api: Api) -> World:
    return build_world(api)


def pages(api: Api, path: str, scope: str, **params: Any) -> Iterator[dict[str, Any]]:
    """Every item of a cursor-paged API list."""
    cursor = None
    while True:
        query = {**params, "limit": 200, **({"cursor": cursor} if cursor else {})}
        answer = api.client.get(path, params=query, headers=api.headers(scope))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        yield from body["items"]
        cursor = body["next_cursor"]
        if not cursor:
            return


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def micros(span: timedelta) -> int:
    return (span.days * 86_400 + span.seconds) * 1_000_000 + span.microseconds


def minor(amount: str) -> int:
    return int(Decimal(amount) * 100)  # GBP and EUR: two decimals


def two_places(n: int, d: int) -> Decimal | None:
    return None if d == 0 else (Decimal(n) / d).quantize(Decimal("0.01"), ROUND_HALF_UP)


def from_the_api(api: Api, first: date, last: date, channel: str | None) -> dict[str, Any]:
    """Every dashboard figure, computed from the API's answers alone."""
    chosen = [
        s
        for s in pages(api, "/api/v1/order-summaries", "agent")
        if first <= when(s["ordered_at"]).date() <= last and channel in (None, s["channel"])
    ]
    orders = {
        s["id"]: api.client.get(
            f"/api/v1/order-summaries/{s['id']}", headers=api.headers("agent")
        ).json()
        for s in chosen
    }
    per_day: Counter[str] = Counter()
    revenue: dict[tuple[str, str], int] = defaultdict(int)
    split_fos, split_groups, pairs, fulfilled = 0, set(), set(), set()
    ship_times, backorders = [], defaultdict(lambda: [0, set()])
    refunded: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    units_returned = 0
    for o in orders.values():
        day = o["ordered_at"][:10]
        per_day[day] += 1
        revenue[(day, o["currency"])] += minor(o["totals"]["grand_total"])
        methods = {g["ref"]: g["method"] for g in o["delivery_groups"]}
        shipped = []
        for fo in o["fulfillment_orders"]:
            shipped += [s["created_at"] for s in fo["shipments"] if s["status"] != "CANCELED"]
            if fo["type"] != "standard" or fo["status"] == "REJECTED":
                continue
            pairs.add((o["id"], fo["location"]))
            fulfilled.add(o["id"])
            if methods[fo["delivery_group"]] == "ship":
                split_fos += 1
                split_groups.add((o["id"], fo["delivery_group"]))
        if shipped:
            ship_times.append(micros(min(map(when, shipped)) - when(o["created_at"])))
        money_back = sum(minor(p["refunded"]) for p in o["payment_summaries"])
        if money_back:
            refunded[o["currency"]][0] += money_back
            refunded[o["currency"]][1] += 1
        units_returned += sum(i["quantity_returned"] for i in o["items"])
        if o["lifecycle"] == "MANAGED" and o["routing_attempts"] > 0:
            for i in o["items"]:
                if i["type"] == "product" and i["quantity_available_to_fulfill"] > 0:
                    backorders[i["sku"]][0] += i["quantity_available_to_fulfill"]
                    backorders[i["sku"]][1].add(o["id"])
    ship_times.sort()
    open_by_category: Counter[str] = Counter()
    for e in pages(api, "/api/v1/process-exceptions", "agent", status=list(ACTIVE)):
        if e["order_summary_id"] in orders or (
            channel is None
            and e["order_summary_id"] is None
            and first <= when(e["created_at"]).date() <= last
        ):
            open_by_category[e["category"]] += 1
    returns = [
        r
        for r in pages(api, "/api/v1/return-orders", "agent")
        if r["order_summary_id"] in orders and r["status"] != "CANCELED"
    ]
    return {
        "orders": len(orders),
        "per_day": dict(per_day),
        "revenue": dict(revenue),
        "split_rate": two_places(split_fos, len(split_groups)),
        "fulfillment_orders": split_fos,
        "shipping_groups": len(split_groups),
        "locations_per_order": two_places(len(pairs), len(fulfilled)),
        "ship_times": {
            p: ship_times[max(1, ceil(p * len(ship_times) / 100)) - 1]
            for p in ((50, 90) if ship_times else ())
        },
        "open_exceptions": dict(open_by_category),
        "refunds": {c: tuple(v) for c, v in refunded.items()},
        "return_orders": len(returns),
        "orders_returned": len({r["order_summary_id"] for r in returns}),
        "units_returned": units_returned,
        "backordered": {sku: (n, len(ids)) for sku, (n, ids) in backorders.items()},
    }


def from_the_service(d: Dashboard) -> dict[str, Any]:
    return {
        "orders": d.orders,
        "per_day": {str(day.day): day.orders for day in d.days if day.orders},
        "revenue": {(str(day.day), c): v for day in d.days for c, v in day.revenue.items()},
        "split_rate": d.split_rate,
        "fulfillment_orders": d.fulfillment_orders,
        "shipping_groups": d.shipping_groups,
        "locations_per_order": d.locations_per_order,
        "ship_times": d.ship_time_micros,
        "open_exceptions": d.open_exceptions,
        "refunds": {r.currency: (r.amount, r.orders) for r in d.refunds},
        "return_orders": d.return_orders,
        "orders_returned": d.orders_returned,
        "units_returned": d.units_returned,
        "backordered": {b.sku: (b.units, b.orders) for b in d.backordered},
    }


def figures_on(html: str) -> dict[str, tuple[str, str]]:
    """data-figure → (its other attributes, its text) on a rendered dashboard."""
    return {name: (attrs, unescape(text).strip()) for name, attrs, text in FIGURE.findall(html)}


def signed_in(api: Api, console: Browsers, role: str) -> Browser:
    add_user(api.db, f"{role}@example.com", role)
    browser = console()
    assert browser.sign_in(f"{role}@example.com").status_code == 303
    return browser


@pytest.mark.parametrize("channel", [None, "web-uk"])
def test_the_dashboard_equals_the_figures_computed_from_the_api(
    api: Api, console: Browsers, world: World, channel: str | None
) -> None:
    first, last = date.fromisoformat(FIRST_DAY), datetime.now(UTC).date()
    truth = from_the_api(api, first, last, channel)
    with api.db.reading() as session:
        served = dashboard_figures(session, DashboardQuery(first, last, channel))
    assert from_the_service(served) == truth
    # The world has what each figure is about (so no figure is equal by being empty).
    if channel is None:
        assert truth["orders"] == 5  # WEB-OLD is before the period
        assert set(truth["refunds"]) == {"GBP"}
        assert truth["units_returned"] == 1
        assert truth["backordered"] == {"RARE": (2, 1)}
        assert truth["open_exceptions"] == {"payment": 1, "webhook": 1}
        assert {c for _, c in truth["revenue"]} == {"GBP", "EUR"}
        assert len(truth["ship_times"]) == 2
    else:
        assert truth["orders"] == 3
        assert truth["open_exceptions"] == {"payment": 1}
    assert truth["split_rate"] is not None
    assert truth["split_rate"] > 1
    assert truth["locations_per_order"] is not None
    assert truth["locations_per_order"] > 1

    browser = signed_in(api, console, "finance")
    query = {"from": str(first), "to": str(last), "channel": channel or ""}
    page = browser.client.get("/console/dashboard", params=query)
    assert page.status_code == 200, page.text
    shown = figures_on(page.text)
    assert shown["orders"][1] == str(truth["orders"])
    for currency in {c for _, c in truth["revenue"]}:
        total = sum(v for (_, c), v in truth["revenue"].items() if c == currency)
        assert shown[f"revenue.{currency}"][1] == f"{Decimal(total) / 100:.2f}"
    assert shown["split_rate"][1] == str(truth["split_rate"])
    assert shown["locations_per_order"][1] == str(truth["locations_per_order"])
    for p, value in truth["ship_times"].items():
        assert f'value="{value}"' in shown[f"ship_time.p{p}"][0]
    assert shown["open_exceptions"][1] == str(sum(truth["open_exceptions"].values()))
    for category, n in truth["open_exceptions"].items():
        assert shown[f"exceptions.{category}"][1] == str(n)
    for currency, (amount, n) in truth["refunds"].items():
        assert shown[f"refunded.{currency}"][1] == f"{Decimal(amount) / 100:.2f}"
        assert f'data-value="{n}"' in shown[f"orders_refunded.{currency}"][0]
    assert shown["return_orders"][1] == str(truth["return_orders"])
    assert shown["units_returned"][1] == str(truth["units_returned"])
    assert shown["backordered_skus"][1] == str(len(truth["backordered"]))
    days = dict(
        re.findall(r'<tr data-day="([^"]+)">.*?<td class="num">(\d+)</td>', page.text, re.S)
    )
    assert {d: int(n) for d, n in days.items() if n != "0"} == truth["per_day"]
    assert len(days) == (last - first).days + 1  # every day, those without orders at 0


def test_the_charts_have_text_alternatives(api: Api, console: Browsers, world: World) -> None:
    browser = signed_in(api, console, "agent")
    page = browser.client.get(
        "/console/dashboard", params={"from": FIRST_DAY, "to": "2026-11-22"}
    ).text
    charts = re.findall(r'<svg [^>]*role="img" aria-labelledby="([^"]+)"', page)
    assert len(charts) == 4  # orders, revenue in GBP and in EUR, exceptions
    for ids in charts:
        for part in ids.split():
            assert f'id="{part}"' in page
    assert '<title id="chart-orders-t">Orders per day</title>' in page
    assert "Orders placed each day from 2026-11-20 to 2026-11-22: 5 in all." in page
    bars = re.findall(r'<rect class="bar"[^>]*><title>([^<]+)</title>', page)
    assert "21 Nov: 2" in bars  # the orders chart's bar of the split and the backorder
    assert "22 Nov: 21.99 EUR" in bars  # 2 × 8.00 + 5.99 delivery
    assert 'id="exception-table"' in page
    assert 'id="days"' in page


def test_the_default_period_is_the_last_30_days(api: Api, console: Browsers) -> None:
    page = signed_in(api, console, "admin").client.get("/console/dashboard")
    assert page.status_code == 200
    today = datetime.now(UTC).date()
    assert f'name="to" type="date" value="{today}"' in page.text
    assert f'name="from" type="date" value="{today - timedelta(days=29)}"' in page.text
    assert figures_on(page.text)["orders"][1] == "0"
    assert "nothing shipped" in page.text
    assert "No open exception." in page.text


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=2026-11-22&to=2026-11-20", "The period ends before it starts."),
        ("from=2020-01-01&to=2026-11-20", "The period is longer than 366 days"),
        ("from=22-11-2026", "From must be a date like 2026-11-20, not &#39;22-11-2026&#39;."),
        ("to=soon", "To must be a date like 2026-11-20, not &#39;soon&#39;."),
    ],
)
def test_a_period_it_cannot_use_says_why(
    api: Api, console: Browsers, query: str, message: str
) -> None:
    answer = signed_in(api, console, "agent").client.get(f"/console/dashboard?{query}")
    assert answer.status_code == 400
    assert message in answer.text
    assert "data-figure" not in answer.text


def test_the_warehouse_may_not_open_the_dashboard(api: Api, console: Browsers) -> None:
    answer = signed_in(api, console, "warehouse").client.get("/console/dashboard")
    assert answer.status_code == 403
    assert "This page is for agent, finance users" in answer.text

"""Orders of 2,000 lines (Salesforce's limit per order summary) over the API, on SQLite and
PostgreSQL: captured, routed and shown; one more line is refused."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from openoms.config import MAX_BODY_BYTES
from tests.integration.conftest import Api
from tests.integration.helpers import ORDER_TABLES, row_counts
from tests.integration.worker import drain_db
from tests.network import stock_network
from tests.payloads import order_payload

LINES = 2_000


def sku(n: int) -> str:
    return f"SKU-{n:04}"


@pytest.fixture(autouse=True)
def _network(db: Database) -> None:
    """Every SKU at one of the two warehouses (even ones in London, odd ones in Manchester,
    every tenth at both), so a 2,000-line group is split over both."""
    stock: dict[tuple[str, str], int] = {}
    for n in range(LINES + 1):
        stock["WH-LDN" if n % 2 == 0 else "WH-MAN", sku(n)] = 5
        if n % 10 == 0:
            stock["WH-MAN", sku(n)] = 5
    stock_network(db, stock=stock)


def large_order(lines: int, *, reference: str = "BIG-1") -> dict[str, Any]:
    """`lines` lines of 2 units each, with names long enough to bring 2,000 lines near the
    JSON body cap (a verbose storefront's order, not a trimmed one)."""
    home = order_payload()["delivery_groups"][0]
    items = [
        {
            "sku": sku(n),
            "name": f"Organic cotton tee, heather grey, size M, article {n:04} " + "x" * 200,
            "quantity": 2,
            "unit_price": "10.00",
            "tax": "4.00",
            "delivery_group": "home",
            "adjustments": [{"amount": "-1.00", "reason": "bundle discount"}],
            "total": "23.00",
        }
        for n in range(lines)
    ]
    return order_payload(
        external_reference=reference, delivery_groups=[home], items=items, payments=[]
    )


def reserved_units(db: Database) -> tuple[int, int]:
    """(units reserved on the records, units on reservation lines)."""
    with db.reading() as session:
        on_records = session.scalar(select(func.sum(m.InventoryRecord.reserved)))
        on_lines = session.scalar(select(func.sum(m.ReservationLine.quantity)))
    return on_records or 0, on_lines or 0


def test_an_order_of_2000_lines_is_captured_routed_and_shown(api: Api) -> None:
    payload = large_order(LINES)
    body = json.dumps(payload).encode()
    assert MAX_BODY_BYTES * 0.75 < len(body) < MAX_BODY_BYTES  # the cap admits it, barely

    response = api.client.post(
        "/api/v1/orders",
        content=body,
        headers={**api.headers("storefront"), "Content-Type": "application/json"},
    )

    assert response.status_code == 201, response.text[:500]
    summary_id = response.json()["id"]
    assert len(response.json()["items"]) >= LINES
    assert reserved_units(api.db) == (2 * LINES, 2 * LINES)

    drain_db(api.db)

    shown = api.client.get(f"/api/v1/order-summaries/{summary_id}", headers=api.headers("agent"))
    assert shown.status_code == 200
    products = [i for i in shown.json()["items"] if i["type"] == "product"]
    assert len(products) == LINES
    assert all(i["quantity_allocated"] == i["quantity_ordered"] == 2 for i in products)
    fulfillment = shown.json()["fulfillment_orders"]
    assert sorted(fo["location"] for fo in fulfillment) == ["WH-LDN", "WH-MAN"]
    assert sum(line["quantity"] for fo in fulfillment for line in fo["lines"]) == 2 * LINES
    assert reserved_units(api.db) == (2 * LINES, 2 * LINES)


def test_one_line_more_is_refused_naming_the_items(api: Api) -> None:
    before = row_counts(api.db, ORDER_TABLES)

    response = api.client.post(
        "/api/v1/orders", json=large_order(LINES + 1), headers=api.headers("storefront")
    )

    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "payload_invalid"
    [error] = problem["errors"]
    assert error["field"] == "items"
    assert "2000" in error["message"]
    assert row_counts(api.db, ORDER_TABLES) == before

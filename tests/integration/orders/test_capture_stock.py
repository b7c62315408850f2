"""Capture reserves a delivery group only where its method can be served (issue 11, item 12),
on SQLite and PostgreSQL: a ship group never holds stock at a location that cannot ship, and
under the reject policy an order no route within the channel's limits could serve is refused
at capture, storing nothing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from openoms.domain.inventory import LocationType
from openoms.services.orders import ShortagePolicy
from tests.integration.conftest import Api
from tests.integration.helpers import ORDER_TABLES, row_counts, stock
from tests.integration.worker import drain_db as drain
from tests.network import Site, stock_network
from tests.payloads import order_payload

TABLES = [*ORDER_TABLES, m.Job]

# ref: a site of group "online": warehouses that ship, STORE-1 a store that only offers pickup
SITES: dict[str, Site] = {
    "WH-1": (LocationType.WAREHOUSE, "London", 51.50, -0.12, True, False, "online"),
    "WH-2": (LocationType.WAREHOUSE, "Manchester", 53.48, -2.24, True, False, "online"),
    "STORE-1": (LocationType.STORE, "London", 51.52, -0.08, False, True, "online"),
}


def network(
    db: Database,
    *,
    stock: dict[str, int],
    policy: ShortagePolicy = ShortagePolicy.REJECT,
    max_splits: int = 2,
) -> None:
    """The SITES named in `stock` (TEE-M on hand per ref); web-uk orders reserve and route
    in group "online"."""
    stock_network(
        db,
        locations={ref: SITES[ref] for ref in stock},
        stock={(ref, "TEE-M"): units for ref, units in stock.items()},
        shortage_policy=policy,
        max_splits=max_splits,
    )


def home_delivery(reference: str, units: int) -> dict[str, Any]:
    home = order_payload()["delivery_groups"][0]
    item = {"sku": "TEE-M", "quantity": units, "unit_price": "10.00", "tax": "0.00"}
    return order_payload(
        external_reference=reference,
        delivery_groups=[home],
        items=[{**item, "delivery_group": "home"}],
        adjustments=[],
        payments=[],
    )


def store_pickup(reference: str, units: int) -> dict[str, Any]:
    item = {"sku": "TEE-M", "quantity": units, "unit_price": "10.00", "tax": "0.00"}
    return order_payload(
        external_reference=reference,
        delivery_groups=[{"ref": "store", "method": "pickup", "pickup_location": "STORE-1"}],
        items=[{**item, "delivery_group": "store"}],
        adjustments=[],
        payments=[],
    )


def capture(api: Api, payload: dict[str, Any]) -> Any:
    return api.client.post("/api/v1/orders", json=payload, headers=api.headers())


# --- the case: a warehouse with 1 unit, a pickup-only store with 1 -------------------


def test_a_home_delivery_the_shipping_locations_cannot_fill_is_refused(api: Api) -> None:
    network(api.db, stock={"WH-1": 1, "STORE-1": 1})
    before = (row_counts(api.db, TABLES), stock(api.db))

    refused = capture(api, home_delivery("HOME-1", 2))

    assert refused.status_code == 409
    assert (refused.json()["code"], refused.json()["shortfall"]) == (
        "insufficient_stock",
        [{"sku": "TEE-M", "requested": 2, "available": 1}],  # the store's unit cannot ship
    )
    assert (row_counts(api.db, TABLES), stock(api.db)) == before
    # The store's unit is still there for a customer who picks it up.
    picked = capture(api, store_pickup("PICKUP-1", 1))
    assert picked.status_code == 201, picked.text
    assert stock(api.db) == {("WH-1", "TEE-M"): (1, 0), ("STORE-1", "TEE-M"): (1, 1)}


def test_a_backordered_home_delivery_holds_nothing_where_it_cannot_ship(api: Api) -> None:
    network(api.db, stock={"WH-1": 1, "STORE-1": 1}, policy=ShortagePolicy.BACKORDER)

    taken = capture(api, home_delivery("HOME-1", 2))

    assert taken.status_code == 201, taken.text
    created = taken.json()["events"][-1]["payload"]
    assert created["backordered"] == [{"delivery_group": "home", "sku": "TEE-M", "quantity": 1}]
    assert stock(api.db) == {("WH-1", "TEE-M"): (1, 1), ("STORE-1", "TEE-M"): (1, 0)}
    picked = capture(api, store_pickup("PICKUP-1", 1))
    assert picked.status_code == 201, picked.text
    assert stock(api.db) == {("WH-1", "TEE-M"): (1, 1), ("STORE-1", "TEE-M"): (1, 1)}

    drain(api.db)  # routing ships the warehouse's unit; the other waits for stock

    body = api.client.get(f"/api/v1/order-summaries/{taken.json()['id']}", headers=api.headers())
    [fo] = body.json()["fulfillment_orders"]
    assert (fo["location"], [(ln["sku"], ln["quantity"]) for ln in fo["lines"]]) == (
        "WH-1",
        [("TEE-M", 1)],
    )
    assert body.json()["process_exceptions"] == []
    assert stock(api.db) == {("WH-1", "TEE-M"): (1, 1), ("STORE-1", "TEE-M"): (1, 1)}


# --- a route within the channel's limits ----------------------------------------------------


@pytest.mark.parametrize(("max_splits", "status"), [(0, 409), (1, 201)])
def test_under_reject_an_order_needing_more_locations_than_allowed_is_refused(
    api: Api, max_splits: int, status: int
) -> None:
    network(api.db, stock={"WH-1": 1, "WH-2": 1}, max_splits=max_splits)
    before = (row_counts(api.db, TABLES), stock(api.db))

    response = capture(api, home_delivery("SPLIT-1", 2))

    assert response.status_code == status, response.text
    if status == 201:
        assert stock(api.db) == {("WH-1", "TEE-M"): (1, 1), ("WH-2", "TEE-M"): (1, 1)}
        return
    assert response.json() == {
        "type": "https://openoms.dev/problems/route-unavailable",
        "title": "No route within the channel's limits",
        "status": 409,
        "code": "route_unavailable",
        "detail": "delivery group 'home' cannot ship from at most 1 location(s) (channel "
        "'web-uk', max_splits 0): its units are in stock, but only spread over more "
        "locations that can ship",
        "field": "delivery_groups[0]",
        "delivery_group": "home",
        "max_splits": 0,
    }
    assert (row_counts(api.db, TABLES), stock(api.db)) == before


def test_under_backorder_an_order_needing_more_locations_is_taken(api: Api) -> None:
    network(api.db, stock={"WH-1": 1, "WH-2": 1}, policy=ShortagePolicy.BACKORDER, max_splits=0)

    response = capture(api, home_delivery("SPLIT-1", 2))

    assert response.status_code == 201, response.text
    assert response.json()["events"][-1]["payload"]["backordered"] == []
    assert stock(api.db) == {("WH-1", "TEE-M"): (1, 1), ("WH-2", "TEE-M"): (1, 1)}


# --- lock order: an order of several groups takes its stock locks first, in one order ------


def two_groups(reference: str) -> dict[str, Any]:
    item = {"sku": "TEE-M", "quantity": 1, "unit_price": "10.00", "tax": "0.00"}
    home = order_payload()["delivery_groups"][0]
    return order_payload(
        external_reference=reference,
        delivery_groups=[home, {"ref": "store", "method": "pickup", "pickup_location": "STORE-1"}],
        items=[{**item, "delivery_group": "home"}, {**item, "delivery_group": "store"}],
        adjustments=[],
        payments=[],
    )


LOCK_ORDER = "ORDER BY inventory_records.location_id, inventory_records.sku"


def stock_statements(db: Database, api: Api, payload: dict[str, Any]) -> list[str]:
    """The statements on inventory_records that capturing `payload` sends, in order."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "inventory_records" in statement and not statement.lstrip().startswith("SELECT 1"):
            seen.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        assert capture(api, payload).status_code == 201
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    return seen


def test_an_order_of_several_groups_locks_its_stock_first_in_one_order(
    db: Database, api: Api
) -> None:
    # Group after group, each in (location, SKU) order, two such orders meeting the same
    # records in the other order would deadlock: the first stock statement locks them all.
    network(db, stock={"WH-1": 5, "WH-2": 5, "STORE-1": 5})
    statements = stock_statements(db, api, two_groups("LOCKS-2"))
    first_update = next(i for i, s in enumerate(statements) if s.startswith("UPDATE"))
    locks = [s for s in statements[:first_update] if LOCK_ORDER in s]
    assert len(locks) == 1
    if db.dialect == "postgresql":  # SQLite's write lock is the transaction's already
        assert locks[0].endswith("FOR UPDATE")
    # One group holds in one sorted pass and needs no lock taken up front.
    single = stock_statements(db, api, home_delivery("LOCKS-1", 1))
    assert [s for s in single if LOCK_ORDER in s] == []

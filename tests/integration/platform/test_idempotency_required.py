"""Every POST that moves money or stock requires an `Idempotency-Key` (issue 11, item 2):
without one it is 400 `idempotency_key_required` and nothing changes, on SQLite and
PostgreSQL; OpenAPI marks the header required on exactly those POSTs."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from tests.integration.conftest import Api
from tests.integration.returns_world import Shop, make_shop

# The POSTs that move money or stock. The others (order capture, deduplicated by
# (channel, external_reference); status steps; previews; reads) take the key optionally.
REQUIRED = {
    "/api/v1/fulfillment-orders/{fo_id}/actions/cancel-lines",
    "/api/v1/fulfillment-orders/{fo_id}/actions/ship",
    "/api/v1/order-summaries/{summary_id}/actions/adjust-item-submit",
    "/api/v1/order-summaries/{summary_id}/actions/ensure-funds",
    "/api/v1/order-summaries/{summary_id}/actions/ensure-refunds",
    "/api/v1/order-summaries/{summary_id}/actions/submit-cancel",
    "/api/v1/order-summaries/{summary_id}/actions/submit-exchange",
    "/api/v1/order-summaries/{summary_id}/actions/submit-reship",
    "/api/v1/order-summaries/{summary_id}/actions/submit-return",
    "/api/v1/order-summaries/{summary_id}/payment-summaries/{ps_id}/actions/capture",
    "/api/v1/order-summaries/{summary_id}/payment-summaries/{ps_id}/actions/refund",
    "/api/v1/reservations",
    "/api/v1/reservations/{reservation_id}/actions/fulfill",
    "/api/v1/reservations/{reservation_id}/actions/release",
    "/api/v1/reservations/{reservation_id}/actions/transfer",
    "/api/v1/return-orders",
    "/api/v1/return-orders/{return_order_id}/actions/cancel",
    "/api/v1/return-orders/{return_order_id}/actions/receive",
    "/api/v1/return-orders/{return_order_id}/actions/{action}",
}


def test_openapi_requires_the_key_on_exactly_the_posts_that_move_money_or_stock(
    api: Api,
) -> None:
    schema = api.client.get("/openapi.json").json()
    required = set()
    optional = set()
    for path, operations in schema["paths"].items():
        for parameter in operations.get("post", {}).get("parameters", []):
            if parameter["name"] == "Idempotency-Key":
                (required if parameter["required"] else optional).add(path)
    assert required == REQUIRED
    assert "/api/v1/orders" in optional


@pytest.fixture
def world(stocked: Database, api: Api) -> tuple[Shop, dict[str, str]]:
    """A shipped order with one TEE-M still to ship, an RMA and a reservation; the ids the
    actions name."""
    shop = make_shop(stocked, api)
    shop.order(ship_tees=2)
    rma = shop.create(("TEE-M", 1), submit=False)
    reservation = shop.post(
        "/reservations",
        {"location_group": "online", "items": [{"sku": "MUG", "quantity": 1}]},
        scope="storefront",
    )
    assert reservation.status_code == 201, reservation.text
    view = shop.view()
    (fo,) = [f for f in view["fulfillment_orders"] if f["status"] != "FULFILLED"]
    ids = {
        "summary_id": shop.summary_id,
        "ps_id": view["payment_summaries"][0]["id"],
        "fo_id": fo["id"],
        "return_order_id": rma["id"],
        "rma_line": rma["lines"][0]["id"],
        "reservation_id": reservation.json()["id"],
        "tee": shop.item_id("TEE-M"),
        "action": "submit",
    }
    return shop, ids


def bodies(ids: dict[str, str]) -> dict[str, Any]:
    """A body each action would carry out if it had a key."""
    tee = [{"order_item_summary_id": ids["tee"], "quantity": 1}]
    return {
        "/api/v1/fulfillment-orders/{fo_id}/actions/cancel-lines": {
            "items": [{"sku": "TEE-M", "quantity": 1}]
        },
        "/api/v1/fulfillment-orders/{fo_id}/actions/ship": None,
        "/api/v1/order-summaries/{summary_id}/actions/adjust-item-submit": {
            "items": [{"order_item_summary_id": ids["tee"], "type": "percentage", "amount": "10"}]
        },
        "/api/v1/order-summaries/{summary_id}/actions/ensure-funds": None,
        "/api/v1/order-summaries/{summary_id}/actions/ensure-refunds": None,
        "/api/v1/order-summaries/{summary_id}/actions/submit-cancel": {"items": tee},
        "/api/v1/order-summaries/{summary_id}/actions/submit-exchange": {
            "return_items": tee,
            "new_items": [{"sku": "MUG", "quantity": 1, "unit_price": "8.00"}],
        },
        "/api/v1/order-summaries/{summary_id}/actions/submit-reship": {
            "items": tee,
            "reason": "damaged",
        },
        "/api/v1/order-summaries/{summary_id}/actions/submit-return": {
            "items": tee,
            "location": "WH-LDN",
        },
        "/api/v1/order-summaries/{summary_id}/payment-summaries/{ps_id}/actions/capture": {
            "amount": "1.00"
        },
        "/api/v1/order-summaries/{summary_id}/payment-summaries/{ps_id}/actions/refund": {
            "amount": "1.00"
        },
        "/api/v1/reservations": {
            "location_group": "online",
            "items": [{"sku": "MUG", "quantity": 1}],
        },
        "/api/v1/reservations/{reservation_id}/actions/fulfill": None,
        "/api/v1/reservations/{reservation_id}/actions/release": None,
        "/api/v1/reservations/{reservation_id}/actions/transfer": {"to_location": "WH-MAN"},
        "/api/v1/return-orders": {"order_summary_id": ids["summary_id"], "items": tee},
        "/api/v1/return-orders/{return_order_id}/actions/cancel": None,
        "/api/v1/return-orders/{return_order_id}/actions/receive": {
            "items": [{"return_order_line_item_id": ids["rma_line"], "quantity": 1}]
        },
        "/api/v1/return-orders/{return_order_id}/actions/{action}": None,
    }


def table_rows(db: Database) -> dict[str, int]:
    with db.reading() as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table)) or 0
            for table in m.Base.metadata.sorted_tables
        }


def test_a_money_or_stock_post_without_a_key_is_refused_and_changes_nothing(
    world: tuple[Shop, dict[str, str]],
) -> None:
    shop, ids = world
    actions = bodies(ids)
    assert set(actions) == REQUIRED
    before = (shop.snapshot(), table_rows(shop.db))
    for template, body in sorted(actions.items()):
        path = template.format(**ids)
        answer = shop.api.keyless.post(path, json=body, headers=shop.api.headers("admin"))
        assert (answer.status_code, answer.json()["code"]) == (400, "idempotency_key_required"), (
            path,
            answer.text,
        )
        assert answer.headers["content-type"] == "application/problem+json"
        assert (shop.snapshot(), table_rows(shop.db)) == before, path

"""What the edge refuses (issue 11, items 3, 5, 6, 7), the same on SQLite and PostgreSQL:
control characters anywhere (a NUL was a 500 on PostgreSQL), loose JSON types, numbers
as dates, padded amounts and identifiers, quantities over 1,000,000 and totals that would
overflow storage. Each refusal names the field and changes nothing."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from tests.integration.conftest import Api
from tests.integration.helpers import row_counts, stock
from tests.payloads import order_payload

TABLES = [
    m.Order,
    m.OrderItem,
    m.OrderSummary,
    m.OrderItemSummary,
    m.OrderPaymentSummary,
    m.Event,
    m.IdempotencyRecord,
    m.Reservation,
    m.ReservationLine,
    m.InventoryRecord,
    m.Location,
    m.ReturnOrder,
]


@pytest.fixture(autouse=True)
def _network(stocked: Database) -> None:
    """Every test here runs against the stocked test network."""


def state(db: Database) -> tuple[Any, ...]:
    return row_counts(db, TABLES), stock(db)


def changed(payload: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """`payload` with the field at dotted `path` (list indexes as numbers) set to `value`."""
    result = copy.deepcopy(payload)
    *parents, last = path.split(".")
    node: Any = result
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[int(last) if last.isdigit() else last] = value
    return result


def assert_refused(answer: Any, status: int, code: str, field: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["code"] == code
    fields = [e["field"] for e in problem["errors"]] if "errors" in problem else [problem["field"]]
    assert fields == [field], problem


# --- control characters (item 5) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("external_reference", "WEB-\x001", "external_reference"),
        ("customer.name", "Ada\x00", "customer.name"),
        ("customer.email", "ada\x00@example.com", "customer.email"),
        ("items.0.sku", "TEE\x1b[31m", "items[0].sku"),
        ("items.1.name", "Mug\u0085", "items[1].name"),
        ("delivery_groups.1.pickup_location", "STORE-\x00", "delivery_groups[1].pickup_location"),
        (
            "delivery_groups.0.recipient.address.line1",
            "1 Main St\n",
            "delivery_groups[0].recipient.address.line1",
        ),
        ("adjustments.0.reason", "WELCOME\x7f", "adjustments[0].reason"),
    ],
)
def test_a_control_character_in_an_order_is_refused(
    api: Api, path: str, value: str, field: str
) -> None:
    before = state(api.db)
    answer = api.client.post(
        "/api/v1/orders", json=changed(order_payload(), path, value), headers=api.headers()
    )
    assert_refused(answer, 422, "payload_invalid", field)
    assert "control characters" in answer.text or "one line" in answer.text
    assert state(api.db) == before


def test_line_breaks_are_free_text_only(api: Api) -> None:
    payload = changed(order_payload(), "adjustments.0.reason", "WELCOME5\r\nfirst order")
    assert api.client.post("/api/v1/orders", json=payload, headers=api.headers()).status_code == 201


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("customer_email=ada%00@example.com", "customer_email"),
        ("external_reference=WEB%00", "external_reference"),
        ("channel=web%0A", "channel"),
        ("status=CREATED%00", "status"),
    ],
)
def test_a_control_character_in_a_query_parameter_is_refused(
    api: Api, query: str, field: str
) -> None:
    answer = api.client.get(f"/api/v1/order-summaries?{query}", headers=api.headers())
    assert_refused(answer, 422, "payload_invalid", field)


def test_a_control_character_in_a_path_or_ref_is_refused(api: Api) -> None:
    before = state(api.db)
    answer = api.client.get("/api/v1/locations/WH%00LDN", headers=api.headers("admin"))
    assert_refused(answer, 422, "payload_invalid", "ref")
    answer = api.client.get("/api/v1/order-summaries/os_%00", headers=api.headers())
    assert_refused(answer, 422, "payload_invalid", "summary_id")
    body = {"location": "WH-LDN\x00", "items": [{"sku": "MUG", "quantity": 1}]}
    answer = api.client.post("/api/v1/reservations", json=body, headers=api.headers())
    assert_refused(answer, 422, "payload_invalid", "location")
    body = {"skus": ["MUG\x00"], "locations": ["WH-LDN"]}
    answer = api.client.post(
        "/api/v1/inventory/actions/get-availability", json=body, headers=api.headers()
    )
    assert_refused(answer, 422, "payload_invalid", "skus")
    assert state(api.db) == before


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ('{"location": "WH-LDN", "sku": "MUG\\u0000", "on_hand": 1}', "sku"),
        ('{"location": "WH-LDN\\u0000", "sku": "MUG", "on_hand": 1}', "location"),
        (
            '{"location": "WH-LDN", "sku": "MUG", "on_hand": 1, "record_id": "r\\u0007"}',
            "record_id",
        ),
    ],
)
def test_a_control_character_in_an_import_line_is_named(api: Api, line: str, field: str) -> None:
    body = '{"location": "WH-LDN", "sku": "TEE-M", "on_hand": 4}\n' + line + "\n"
    [(number, named, message)] = refused_import(api, body)
    assert (number, named) == (2, field)
    assert "control characters" in message


def test_a_control_character_in_a_csv_import_is_named(api: Api) -> None:
    body = "location,sku,on_hand\nWH-LDN,TEE-M,4\nWH-LDN,MUG\x00,1\n"
    [(number, named, _)] = refused_import(api, body, content_type="text/csv")
    assert (number, named) == (3, "sku")


def refused_import(
    api: Api, body: str, *, content_type: str = "application/x-ndjson"
) -> list[tuple[int, str, str]]:
    """POST an import that must be refused whole: (line, field, message) of each error,
    once it is checked that nothing changed."""
    before = state(api.db)
    answer = api.client.post(
        "/api/v1/inventory/import",
        content=body.encode(),
        headers=api.headers("warehouse", **{"Content-Type": content_type}),
    )
    assert answer.status_code == 400, answer.text
    problem = answer.json()
    assert problem["code"] == "inventory_import_invalid"
    assert state(api.db) == before
    return [(e["line"], e["field"], e["message"]) for e in problem["errors"]]


# --- strict types (item 7) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("items.0.quantity", True, "items[0].quantity"),
        ("items.0.quantity", "3", "items[0].quantity"),
        ("items.0.quantity", 3.0, "items[0].quantity"),
        ("items.0.unit_price", " 20.00 ", "items[0].unit_price"),
        ("items.0.unit_price", 20, "items[0].unit_price"),
        ("ordered_at", 1_700_000_000, "ordered_at"),
        ("ordered_at", "0.5", "ordered_at"),
        ("ordered_at", "1700000000", "ordered_at"),
        ("external_reference", " WEB-10001", "external_reference"),
        ("items.0.sku", "TEE-M ", "items[0].sku"),
        ("customer.name", "   ", "customer.name"),
        (
            "delivery_groups.0.recipient.address.lat",
            "51.52",
            "delivery_groups[0].recipient.address.lat",
        ),
        (
            "delivery_groups.0.recipient.address.lon",
            True,
            "delivery_groups[0].recipient.address.lon",
        ),
    ],
)
def test_a_loosely_typed_order_is_refused(api: Api, path: str, value: Any, field: str) -> None:
    before = state(api.db)
    answer = api.client.post(
        "/api/v1/orders", json=changed(order_payload(), path, value), headers=api.headers()
    )
    assert_refused(answer, 422, "payload_invalid", field)
    assert state(api.db) == before


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("daily_capacity", False),
        ("daily_capacity", "5"),
        ("can_ship", "true"),
        ("can_pickup", 0),
        ("type", 1),
    ],
)
def test_a_loosely_typed_location_is_refused(api: Api, field: str, value: Any) -> None:
    body = {
        "name": "Leeds",
        "type": "warehouse",
        "address": {"line1": "1 Road", "city": "Leeds", "country": "GB"},
        "can_ship": True,
        "can_pickup": False,
        field: value,
    }
    answer = api.client.put("/api/v1/locations/WH-LDS", json=body, headers=api.headers("admin"))
    assert_refused(answer, 422, "payload_invalid", field)
    assert (
        api.client.get("/api/v1/locations/WH-LDS", headers=api.headers("admin")).status_code == 404
    )


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("ordered_to=0.5", "ordered_to"),
        ("ordered_from=1700000000", "ordered_from"),
        ("ordered_from=2026-11-20", "ordered_from"),
        ("limit=3.0", "limit"),
        ("limit=%2B3", "limit"),
    ],
)
def test_a_loosely_typed_query_parameter_is_refused(api: Api, query: str, field: str) -> None:
    answer = api.client.get(f"/api/v1/order-summaries?{query}", headers=api.headers())
    assert_refused(answer, 422, "payload_invalid", field)


def test_an_iso_date_time_query_parameter_is_read(api: Api) -> None:
    answer = api.client.get(
        "/api/v1/order-summaries?ordered_from=2026-11-20T00:00:00Z&limit=5", headers=api.headers()
    )
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(
    ("item", "body", "field"),
    [
        ({"quantity": True}, {}, "items[0].quantity"),
        ({"quantity": "1"}, {}, "items[0].quantity"),
        ({}, {"submit": "yes"}, "submit"),
        ({}, {"refund_shipping": 1}, "refund_shipping"),
    ],
)
def test_a_loosely_typed_return_is_refused(
    api: Api, item: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    captured = api.client.post("/api/v1/orders", json=order_payload(), headers=api.headers())
    assert captured.status_code == 201, captured.text
    summary = captured.json()
    line = {"order_item_summary_id": summary["items"][0]["id"], "quantity": 1, **item}
    before = state(api.db)
    answer = api.client.post(
        "/api/v1/return-orders",
        json={"order_summary_id": summary["id"], "items": [line], **body},
        headers=api.headers("agent"),
    )
    assert_refused(answer, 422, "payload_invalid", field)
    assert state(api.db) == before


# --- quantity and amount bounds (items 3 and 6) ---------------------------------------------


def test_a_total_that_would_overflow_storage_is_refused(api: Api) -> None:
    before = state(api.db)
    payload = order_payload(payments=[])
    payload["items"][0].update(quantity=93, unit_price="999999999999999", adjustments=[])
    payload["adjustments"] = []
    answer = api.client.post("/api/v1/orders", json=payload, headers=api.headers())
    assert_refused(answer, 400, "amount_too_large", "items[0]")
    assert answer.json()["detail"] == (
        "items[0] total price would be 92999999999999907.00 GBP; amounts have at most 15 "
        "integer digits"
    )
    assert answer.json()["max_amount"] == "999999999999999.99"
    assert state(api.db) == before


def test_a_grand_total_over_15_digits_is_refused_though_each_line_fits(api: Api) -> None:
    before = state(api.db)
    payload = order_payload(payments=[], adjustments=[])
    line = {**payload["items"][1], "unit_price": "600000000000000.00", "tax": "0"}
    payload["items"] = [line, {**line, "sku": "MUG-2"}]
    payload["delivery_groups"] = payload["delivery_groups"][1:]
    answer = api.client.post("/api/v1/orders", json=payload, headers=api.headers())
    assert_refused(answer, 400, "amount_too_large", "totals.product")
    assert state(api.db) == before


def test_the_largest_amounts_are_stored_exactly(api: Api) -> None:
    payload = order_payload(payments=[], adjustments=[])
    payload["items"] = [
        {**payload["items"][1], "unit_price": "999999999999998.99", "tax": "1.00", "quantity": 1}
    ]
    payload["delivery_groups"] = payload["delivery_groups"][1:]
    answer = api.client.post("/api/v1/orders", json=payload, headers=api.headers())
    assert answer.status_code == 201, answer.text
    assert answer.json()["totals"]["grand_total"] == "999999999999999.99"
    read = api.client.get(f"/api/v1/order-summaries/{answer.json()['id']}", headers=api.headers())
    assert read.json()["totals"]["grand_total"] == "999999999999999.99"


@pytest.mark.parametrize(
    ("method", "url", "body", "field"),
    [
        (
            "post",
            "/api/v1/orders",
            changed(order_payload(), "items.0.quantity", 1_000_001),
            "items[0].quantity",
        ),
        (
            "post",
            "/api/v1/reservations",
            {"location": "WH-LDN", "items": [{"sku": "MUG", "quantity": 1_000_001}]},
            "items[0].quantity",
        ),
        (
            "post",
            "/api/v1/routing/actions/find-routes-with-fewest-splits",
            {
                "ordered_quantities": [{"sku": "MUG", "quantity": 2_000_000}],
                "location_available_inventory": [],
            },
            "ordered_quantities[0].quantity",
        ),
        (
            "post",
            "/api/v1/orders",
            changed(order_payload(), "items.0.unit_price", "1000000000000000.00"),
            "items[0].unit_price",
        ),
    ],
)
def test_a_quantity_or_amount_over_the_bound_is_refused(
    api: Api, method: str, url: str, body: dict[str, Any], field: str
) -> None:
    before = state(api.db)
    answer = getattr(api.client, method)(url, json=body, headers=api.headers("admin"))
    assert_refused(answer, 422, "payload_invalid", field)
    assert state(api.db) == before


def test_an_import_over_the_quantity_bound_is_named(api: Api) -> None:
    body = '{"location": "WH-LDN", "sku": "MUG", "on_hand": 1000001}\n'
    assert refused_import(api, body) == [
        (1, "on_hand", "Input should be less than or equal to 1000000")
    ]


def test_an_agent_amount_with_too_many_digits_is_refused(api: Api) -> None:
    captured = api.client.post("/api/v1/orders", json=order_payload(), headers=api.headers())
    summary = captured.json()
    ps = summary["payment_summaries"][0]["id"]
    before = state(api.db)
    url = f"/api/v1/order-summaries/{summary['id']}/payment-summaries/{ps}/actions/refund"
    answer = api.client.post(url, json={"amount": "9" * 30}, headers=api.headers("agent"))
    assert_refused(answer, 400, "amount_too_large", "amount")
    assert state(api.db) == before

"""Capture and read order summaries through the HTTP API, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from openoms.adapters.db.session import Database
from openoms.worker.consumers import default_jobs, default_registry
from openoms.worker.runner import Worker
from tests.integration.conftest import Api
from tests.integration.helpers import ORDER_TABLES, row_counts, stock
from tests.network import configure_channel
from tests.payloads import order_payload


@pytest.fixture(autouse=True)
def _network(stocked: Database) -> None:
    """Every test here captures against the stocked test network."""


def capture(api: Api, payload: dict[str, Any], **headers: str) -> Any:
    return api.client.post("/api/v1/orders", json=payload, headers=api.headers(**headers))


def test_example_order_is_captured_exactly(api: Api) -> None:
    response = capture(api, order_payload())

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "CREATED"
    assert body["lifecycle"] == "MANAGED"
    assert body["totals"] == {
        "product": "68.00",
        "delivery": "4.99",
        "adjustments": "-11.00",
        "tax": "14.60",
        "grand_total": "76.59",
    }
    tee, mug, delivery = body["items"]
    assert (tee["sku"], tee["delivery_group"], tee["status"]) == ("TEE-M", "home", "ORDERED")
    assert (tee["total_price"], tee["adjustments"], tee["tax"], tee["total"]) == (
        "60.00",
        "-10.35",
        "12.00",
        "61.65",
    )
    assert (mug["total_price"], mug["adjustments"], mug["tax"], mug["total"]) == (
        "8.00",
        "-0.65",
        "1.60",
        "8.95",
    )
    assert (delivery["type"], delivery["total_price"], delivery["tax"]) == (
        "delivery_charge",
        "4.99",
        "1.00",
    )
    assert {k: v for k, v in tee.items() if k.startswith("quantity")} == {
        "quantity_ordered": 3,
        "quantity_canceled": 0,
        "quantity_returned": 0,
        "quantity_return_initiated": 0,
        "quantity_allocated": 0,
        "quantity_fulfilled": 0,
        "quantity_reshipped": 0,
        "quantity": 3,
        "quantity_net_ordered": 3,
        "quantity_available_to_fulfill": 3,
        "quantity_available_to_cancel": 3,
        "quantity_available_to_return": 0,
        "quantity_available_to_reship": 0,
    }
    [payment] = body["payment_summaries"]
    # a bare token is authorized by the worker through the gateway, not at capture
    assert (payment["authorized"], payment["available_to_capture"]) == ("0.00", "0.00")
    assert [(a["amount"], a["status"]) for a in payment["authorizations"]] == [("76.59", "PENDING")]
    assert payment["available_to_refund"] == "0.00"
    assert "tok_visa" not in response.text  # the token is never shown
    assert [e["name"] for e in body["events"]] == [
        "reservation.created",
        "reservation.created",
        "order_summary.created",
    ]
    created = body["events"][-1]["payload"]
    assert sorted(created["reservations"]) == ["home", "store"]
    assert created["backordered"] == []
    # the ship group holds at the deepest warehouse of "online", the pickup at the store
    assert stock(api.db) == {
        ("WH-LDN", "TEE-M"): (10, 3),
        ("WH-MAN", "TEE-M"): (5, 0),
        ("WH-LDN", "MUG"): (20, 0),
        ("STORE-LDN", "MUG"): (10, 1),
    }
    assert [g["ref"] for g in body["delivery_groups"]] == ["home", "store"]
    assert body["delivery_groups"][1]["pickup_location"] == "STORE-LDN"

    again = api.client.get(f"/api/v1/order-summaries/{body['id']}", headers=api.headers("agent"))
    assert again.status_code == 200
    assert again.json() == body


def test_the_worker_authorizes_a_bare_token_through_the_gateway(api: Api) -> None:
    summary_id = capture(api, order_payload()).json()["id"]

    worker = Worker(api.db, default_registry(), jobs=default_jobs(api.db))
    while worker.run_once():
        pass

    body = api.client.get(f"/api/v1/order-summaries/{summary_id}", headers=api.headers()).json()
    [payment] = body["payment_summaries"]
    assert (payment["authorized"], payment["available_to_capture"]) == ("76.59", "76.59")
    assert [(a["amount"], a["status"]) for a in payment["authorizations"]] == [
        ("76.59", "AUTHORIZED")
    ]
    assert "payment.authorized" in [e["name"] for e in body["events"]]


def test_same_channel_reference_twice_yields_one_summary(api: Api) -> None:
    events_before = row_counts(api.db, ORDER_TABLES)["events"]
    first = capture(api, order_payload())
    second = capture(api, order_payload())

    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["totals"]["grand_total"] == "76.59"
    counts = row_counts(api.db, ORDER_TABLES)
    assert counts["order_summaries"] == 1
    assert counts["orders"] == 1
    assert counts["events"] - events_before == 3
    assert counts["reservations"] == 2
    assert stock(api.db)[("WH-LDN", "TEE-M")] == (10, 3)


def test_idempotency_key_replays_the_first_answer(api: Api) -> None:
    key = {"Idempotency-Key": "capture-abc-1"}
    first = api.client.post("/api/v1/orders", json=order_payload(), headers=api.headers(**key))
    replay = api.client.post("/api/v1/orders", json=order_payload(), headers=api.headers(**key))
    other = api.client.post(
        "/api/v1/orders",
        json=order_payload(external_reference="WEB-10002"),
        headers=api.headers(**key),
    )

    assert first.status_code == 201
    assert replay.status_code == 201
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json() == first.json()
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_key_reused"
    assert row_counts(api.db, ORDER_TABLES)["order_summaries"] == 1


def _without_payments(**extra: Any) -> dict[str, Any]:
    return order_payload(payments=[], **extra)


def _item(index: int, **changes: Any) -> list[dict[str, Any]]:
    items = order_payload()["items"]
    items[index].update(changes)
    return items


def _group(index: int, **changes: Any) -> list[dict[str, Any]]:
    groups = order_payload()["delivery_groups"]
    groups[index].update(changes)
    return groups


BAD_ORDERS = [
    ("unknown currency", order_payload(currency="XYZ"), 400, "currency_unknown", "currency"),
    (
        "negative quantity",
        order_payload(items=_item(0, quantity=-1)),
        400,
        "quantity_invalid",
        "items[0].quantity",
    ),
    (
        "zero quantity",
        order_payload(items=_item(1, quantity=0)),
        400,
        "quantity_invalid",
        "items[1].quantity",
    ),
    (
        "grand total does not add up",
        order_payload(grand_total="70.00"),
        400,
        "totals_mismatch",
        "grand_total",
    ),
    (
        "line total does not add up",
        order_payload(items=_item(1, total="9.00")),
        400,
        "totals_mismatch",
        "items[1].total",
    ),
    (
        "item in a missing group",
        order_payload(items=_item(1, delivery_group="gift")),
        400,
        "delivery_group_invalid",
        "items[1].delivery_group",
    ),
    (
        "pickup without a location",
        order_payload(delivery_groups=_group(1, pickup_location=None)),
        400,
        "delivery_group_invalid",
        "delivery_groups[1].pickup_location",
    ),
    (
        "payments short of the total",
        order_payload(payments=[{"gateway": "sandbox", "token": "tok_visa", "amount": "76.58"}]),
        400,
        "payments_insufficient",
        "payments",
    ),
    (
        "too many decimals",
        order_payload(items=_item(0, unit_price="20.001")),
        400,
        "amount_invalid",
        "items[0].unit_price",
    ),
    (
        "discount bigger than the line",
        order_payload(items=_item(1, adjustments=[{"amount": "-9.00"}])),
        400,
        "adjustment_invalid",
        "items[1].adjustments",
    ),
    (
        "positive adjustment",
        order_payload(adjustments=[{"amount": "5.00"}]),
        400,
        "adjustment_invalid",
        "adjustments[0].amount",
    ),
    (
        "naive ordered_at",
        order_payload(ordered_at="2026-11-20T10:00:00"),
        400,
        "validation_failed",
        "ordered_at",
    ),
    (
        "missing channel",
        {k: v for k, v in order_payload().items() if k != "channel"},
        422,
        "payload_invalid",
        None,
    ),
    (
        "amount that is not a number",
        order_payload(items=_item(0, unit_price="abc")),
        422,
        "payload_invalid",
        None,
    ),
    ("unknown field", order_payload(colour="red"), 422, "payload_invalid", None),
]


@pytest.mark.parametrize(
    ("payload", "status", "code", "field"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_ORDERS],
)
def test_bad_orders_are_refused_and_store_nothing(
    api: Api, payload: dict[str, Any], status: int, code: str, field: str | None
) -> None:
    before = row_counts(api.db, ORDER_TABLES)
    stock_before = stock(api.db)
    response = capture(api, payload, **{"Idempotency-Key": "bad-1"})

    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == code
    assert problem["status"] == status
    assert problem["title"]
    assert problem["detail"]
    if field is not None:
        assert problem["field"] == field
    if status == 422:
        assert problem["errors"], "422 lists the fields"
    assert row_counts(api.db, ORDER_TABLES) == before
    assert stock(api.db) == stock_before


def test_order_on_account_needs_no_payment(api: Api) -> None:
    response = capture(api, _without_payments())

    assert response.status_code == 201
    assert response.json()["payment_summaries"] == []


def test_capture_needs_a_key_with_the_right_scope(api: Api) -> None:
    anonymous = api.client.post("/api/v1/orders", json=order_payload())
    wrong_key = api.client.post(
        "/api/v1/orders", json=order_payload(), headers={"Authorization": "Bearer nope"}
    )
    warehouse = capture(api, order_payload(), scope="warehouse")

    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "unauthenticated")
    assert (wrong_key.status_code, wrong_key.json()["code"]) == (401, "unauthenticated")
    assert (warehouse.status_code, warehouse.json()["code"]) == (403, "forbidden")
    assert row_counts(api.db, ORDER_TABLES)["order_summaries"] == 0
    assert api.client.get("/health").status_code == 200


def test_unknown_summary_is_404(api: Api) -> None:
    response = api.client.get("/api/v1/order-summaries/os_nope", headers=api.headers())

    assert response.status_code == 404
    assert response.json()["code"] == "order_summary_not_found"


def test_search_filters_and_pages(api: Api) -> None:
    configure_channel(api.db, ref="b2b")
    for n in range(5):
        capture(
            api,
            order_payload(
                external_reference=f"REF-{n}",
                channel="web-uk" if n % 2 == 0 else "b2b",
                customer={"name": f"C{n}", "email": f"Customer{n}@Example.com"},
                ordered_at=f"2026-11-2{n}T10:00:00Z",
            ),
        )

    def search(**params: Any) -> dict[str, Any]:
        response = api.client.get("/api/v1/order-summaries", params=params, headers=api.headers())
        assert response.status_code == 200, response.text
        return response.json()

    refs = lambda page: [s["external_reference"] for s in page["items"]]  # noqa: E731
    assert refs(search()) == ["REF-4", "REF-3", "REF-2", "REF-1", "REF-0"]
    assert refs(search(channel="b2b")) == ["REF-3", "REF-1"]
    assert refs(search(customer_email="customer2@example.com")) == ["REF-2"]
    assert refs(search(external_reference="REF-0")) == ["REF-0"]
    assert refs(search(status="CREATED", channel="web-uk")) == ["REF-4", "REF-2", "REF-0"]
    assert refs(search(status="FULFILLED")) == []
    assert refs(search(ordered_from="2026-11-21T00:00:00Z", ordered_to="2026-11-23T10:00:00Z")) == [
        "REF-2",
        "REF-1",
    ]

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = search(limit=2, **({"cursor": cursor} if cursor else {}))
        seen += refs(page)
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert (seen, pages) == (["REF-4", "REF-3", "REF-2", "REF-1", "REF-0"], 3)

    bad = api.client.get(
        "/api/v1/order-summaries", params={"cursor": "garbage"}, headers=api.headers()
    )
    assert (bad.status_code, bad.json()["code"]) == (400, "validation_failed")


def test_racing_captures_of_one_reference_create_one_summary(api: Api) -> None:
    events_before = row_counts(api.db, ORDER_TABLES)["events"]
    results: list[tuple[int, str]] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker() -> None:
        start.wait()
        response = capture(api, order_payload(external_reference="RACE-1"))
        with lock:
            results.append((response.status_code, response.json()["id"]))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(s for s, _ in results) == [200] * 7 + [201]
    assert len({i for _, i in results}) == 1
    assert row_counts(api.db, ORDER_TABLES)["order_summaries"] == 1
    assert row_counts(api.db, ORDER_TABLES)["reservations"] == 2
    assert row_counts(api.db, ORDER_TABLES)["events"] - events_before == 3
    assert stock(api.db)[("WH-LDN", "TEE-M")] == (10, 3)


def test_a_shortage_rejects_the_order_and_holds_nothing(api: Api) -> None:
    items = _item(0, quantity=16)  # 15 TEE-M in the "online" group
    before = row_counts(api.db, ORDER_TABLES)
    stock_before = stock(api.db)

    response = capture(api, order_payload(items=items, payments=[]))

    assert response.status_code == 409
    problem = response.json()
    assert problem["code"] == "insufficient_stock"
    assert problem["shortfall"] == [{"sku": "TEE-M", "requested": 16, "available": 15}]
    assert row_counts(api.db, ORDER_TABLES) == before
    assert stock(api.db) == stock_before


def test_a_backordering_channel_accepts_the_order_and_holds_what_there_is(api: Api) -> None:
    put = api.client.put(
        "/api/v1/channels/web-uk",
        json={"location_group": "online", "shortage_policy": "backorder"},
        headers=api.headers("admin"),
    )
    assert put.status_code == 200, put.text

    response = capture(api, order_payload(items=_item(0, quantity=17), payments=[]))

    assert response.status_code == 201
    created = response.json()["events"][-1]
    assert created["name"] == "order_summary.created"
    assert created["payload"]["backordered"] == [
        {"delivery_group": "home", "sku": "TEE-M", "quantity": 2}
    ]
    assert stock(api.db)[("WH-LDN", "TEE-M")] == (10, 10)
    assert stock(api.db)[("WH-MAN", "TEE-M")] == (5, 5)


@pytest.mark.parametrize(
    ("pickup", "detail"),
    [("STORE-NOWHERE", "is not an active location"), ("WH-LDN", "does not offer pickup")],
)
def test_pickup_needs_an_active_pickup_location(api: Api, pickup: str, detail: str) -> None:
    before = row_counts(api.db, ORDER_TABLES)
    response = capture(api, order_payload(delivery_groups=_group(1, pickup_location=pickup)))

    assert response.status_code == 400
    assert response.json()["code"] == "delivery_group_invalid"
    assert response.json()["field"] == "delivery_groups[1].pickup_location"
    assert detail in response.json()["detail"]
    assert row_counts(api.db, ORDER_TABLES) == before


def test_an_unmanaged_order_reserves_nothing(api: Api) -> None:
    response = capture(api, order_payload(lifecycle="UNMANAGED"))

    assert response.status_code == 201
    assert [e["name"] for e in response.json()["events"]] == ["order_summary.created"]
    assert row_counts(api.db, ORDER_TABLES)["reservations"] == 0


@pytest.mark.parametrize(
    "payload",
    [
        order_payload(),
        order_payload(lifecycle="UNMANAGED", ordered_at="2026-03-01T10:15:30.123456+02:00"),
        _without_payments(),
        order_payload(
            payments=[
                {"gateway": "sandbox", "token": "tok_a", "amount": "50.00"},
                {
                    "gateway": "sandbox",
                    "token": "tok_visa_4242",
                    "amount": "26.59",
                    "authorization_reference": "auth_1",
                },
            ]
        ),
    ],
    ids=["example", "unmanaged_offset_time", "no_payment", "two_payments"],
)
def test_the_201_body_is_the_summary_as_read_back(api: Api, payload: dict[str, Any]) -> None:
    """The capture answer is built from what capture wrote, not read back: it must be the
    very body a GET of the new summary answers."""
    created = capture(api, payload)
    assert created.status_code == 201, created.text
    summary_id = created.json()["id"]
    read = api.client.get(f"/api/v1/order-summaries/{summary_id}", headers=api.headers())
    assert created.json() == read.json()

"""Bulk capture through the HTTP API (`POST /api/v1/orders/bulk`), on SQLite and
PostgreSQL: each error policy, deduplication within a batch and against stored orders, rows
failing the schema or a business rule, the size limit and channel-bound keys."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.domain.file_lines import LineError
from openoms.schemas.orders import read_order_lines
from openoms.services.access import create_api_key
from openoms.services.orders import import_orders
from openoms.worker.consumers import default_registry
from tests.integration.conftest import Api
from tests.integration.helpers import ORDER_TABLES, assert_problem, bookkeeping, row_counts, stock
from tests.payloads import order_payload

BULK = "/api/v1/orders/bulk"
TABLES = [*ORDER_TABLES, m.Event, m.Reservation]


@pytest.fixture(autouse=True)
def _network(stocked: Database) -> None:
    """Every test here captures against the stocked test network."""


def bulk(api: Api, orders: list[Any], policy: str | None = None, **headers: str) -> Any:
    body: dict[str, Any] = {"orders": orders}
    if policy is not None:
        body["error_policy"] = policy
    return api.client.post(BULK, json=body, headers=api.headers(**headers))


def malformed(reference: str) -> dict[str, Any]:
    payload = order_payload(external_reference=reference)
    payload["items"][1]["quantity"] = "two"
    del payload["customer"]
    return payload


def too_many_tees(reference: str) -> dict[str, Any]:
    payload = order_payload(external_reference=reference)
    payload["items"][0]["quantity"] = 100
    payload.pop("grand_total", None)
    payload["items"][0].pop("total", None)
    payload["payments"] = []
    return payload


def summaries(db: Database) -> dict[str, str]:
    """external reference → order summary id."""
    with db.reading() as session:
        rows = session.execute(select(m.OrderSummary.external_reference, m.OrderSummary.id))
        return {reference: summary_id for reference, summary_id in rows}


def created_events(db: Database) -> list[str]:
    with db.reading() as session:
        return sorted(
            session.scalars(
                select(m.Event.order_summary_id).where(m.Event.name == "order_summary.created")
            ).all()
        )


def test_a_good_batch_captures_every_order_as_a_single_capture_would(api: Api) -> None:
    answer = bulk(api, [order_payload(external_reference=f"B-{i}") for i in range(3)])

    assert answer.status_code == 200, answer.text
    body = answer.json()
    stored = summaries(api.db)
    assert (body["error_policy"], body["created"], body["existing"], body["failed"]) == (
        "reject_everything",
        3,
        0,
        0,
    )
    assert body["results"] == [
        {"index": i, "status": "created", "order_summary_id": stored[f"B-{i}"], "errors": []}
        for i in range(3)
    ]
    assert created_events(api.db) == sorted(stored.values())
    # each order holds its stock as a single capture does: 3 tees shipped, a mug picked up
    held = stock(api.db)
    assert held[("WH-LDN", "TEE-M")][1] + held[("WH-MAN", "TEE-M")][1] == 9
    assert held[("STORE-LDN", "MUG")] == (10, 3)
    one = api.client.get(f"/api/v1/order-summaries/{stored['B-1']}", headers=api.headers())
    assert one.json()["totals"]["grand_total"] == "76.59"


def test_reject_everything_stores_nothing_and_lists_every_failed_row(api: Api) -> None:
    before = (row_counts(api.db, TABLES), stock(api.db), bookkeeping(api.db))
    orders = [
        order_payload(external_reference="B-1"),
        malformed("B-2"),
        too_many_tees("B-3"),
        "not an order",
    ]

    problem = assert_problem(bulk(api, orders), 400, "bulk_rejected")

    assert problem["detail"] == "3 order(s) failed (index 1, 2, 3); nothing was captured."
    assert [(e["index"], e["path"], e["code"]) for e in problem["errors"]] == [
        (1, "orders[1].customer", "payload_invalid"),
        (1, "orders[1].items[1].quantity", "payload_invalid"),
        (2, "orders[2]", "insufficient_stock"),
        (3, "orders[3]", "payload_invalid"),
    ]
    assert all(e["message"] for e in problem["errors"])
    assert (row_counts(api.db, TABLES), stock(api.db), bookkeeping(api.db)) == before


@pytest.mark.parametrize(
    ("bad", "status"), [(too_many_tees, 409), (malformed, 422)], ids=["stock", "schema"]
)
def test_a_rejected_batch_has_the_status_its_errors_share(api: Api, bad: Any, status: int) -> None:
    answer = bulk(api, [order_payload(external_reference="B-1"), bad("B-2")])

    assert {e["index"] for e in assert_problem(answer, status, "bulk_rejected")["errors"]} == {1}
    assert summaries(api.db) == {}


def test_reject_failed_rows_keeps_the_good_rows_and_answers_each_bad_one(api: Api) -> None:
    stored_before = bulk(api, [order_payload(external_reference="OLD-1")]).json()
    old_id = stored_before["results"][0]["order_summary_id"]
    orders = [
        order_payload(external_reference="B-1"),
        malformed("B-2"),
        order_payload(external_reference="B-1"),  # again, in the same batch
        too_many_tees("B-3"),
        order_payload(external_reference="OLD-1"),  # captured by an earlier request
        order_payload(external_reference="B-4", channel="web-fr"),
    ]

    answer = bulk(api, orders, "reject_failed_rows")

    assert answer.status_code == 200, answer.text
    body = answer.json()
    stored = summaries(api.db)
    assert sorted(stored) == ["B-1", "OLD-1"]
    assert (body["created"], body["existing"], body["failed"]) == (1, 2, 3)
    results = body["results"]
    assert [(r["index"], r["status"], r["order_summary_id"]) for r in results] == [
        (0, "created", stored["B-1"]),
        (1, "failed", None),
        (2, "existing", stored["B-1"]),
        (3, "failed", None),
        (4, "existing", old_id),
        (5, "failed", None),
    ]
    assert [(e["path"], e["code"]) for e in results[1]["errors"]] == [
        ("orders[1].customer", "payload_invalid"),
        ("orders[1].items[1].quantity", "payload_invalid"),
    ]
    [stock_error] = results[3]["errors"]
    assert (stock_error["path"], stock_error["code"]) == ("orders[3]", "insufficient_stock")
    [channel_error] = results[5]["errors"]
    assert (channel_error["path"], channel_error["code"]) == (
        "orders[5].channel",
        "channel_unknown",
    )
    assert channel_error["message"].startswith("channel 'web-fr' is not configured")
    # the failed rows left nothing: two orders' stock held, two created events
    assert stock(api.db)[("WH-LDN", "TEE-M")] == (10, 6)
    assert created_events(api.db) == sorted(stored.values())
    assert row_counts(api.db, [m.Reservation]) == {"reservations": 4}


def test_ignore_failed_answers_failed_rows_by_index_only(api: Api) -> None:
    orders = [malformed("B-1"), order_payload(external_reference="B-2"), too_many_tees("B-3")]

    body = bulk(api, orders, "ignore_failed").json()

    assert (body["error_policy"], body["created"], body["failed"]) == ("ignore_failed", 1, 2)
    assert [(r["status"], r["errors"]) for r in body["results"]] == [
        ("failed", []),
        ("created", []),
        ("failed", []),
    ]
    assert sorted(summaries(api.db)) == ["B-2"]


def test_a_batch_of_unreadable_rows_fails_each_and_takes_no_lock(api: Api) -> None:
    odd_amount = order_payload(external_reference="B-3")
    odd_amount["items"][0]["unit_price"] = "20.001"  # pence have two digits

    body = bulk(api, [malformed("B-1"), 42, odd_amount], "reject_failed_rows").json()

    assert [(r["index"], r["status"]) for r in body["results"]] == [
        (0, "failed"),
        (1, "failed"),
        (2, "failed"),
    ]
    assert [(e["path"], e["code"]) for e in body["results"][2]["errors"]] == [
        ("orders[2].items[0].unit_price", "amount_invalid")
    ]
    assert body["results"][1]["errors"] == [
        {
            "path": "orders[1]",
            "code": "payload_invalid",
            "message": "Input should be a valid dictionary or instance of OrderCreate",
        }
    ]
    assert summaries(api.db) == {}


def test_the_order_import_captures_in_batches_and_reports_lines_in_order(db: Database) -> None:
    bad = too_many_tees("IMP-3")
    lines = [
        json.dumps(order_payload(external_reference="IMP-1")),
        "{broken",
        json.dumps(bad),
        "",
        json.dumps(order_payload(external_reference="IMP-1")),  # in the next batch
        json.dumps(order_payload(external_reference="IMP-2")),
    ]
    progress: list[int] = []

    report = import_orders(
        db,
        Outbox(default_registry()),
        read_order_lines(lines),
        on_line=progress.append,
        batch_size=2,
    )

    assert (report.accepted, report.duplicates) == (2, 1)
    assert [(r.line, r.field, r.code) for r in report.rejected] == [
        (2, None, "json_invalid"),
        (3, None, "insufficient_stock"),
    ]
    assert isinstance(report.rejected[1], LineError)
    assert progress[-1] == 6
    assert progress == sorted(progress)
    assert sorted(summaries(db)) == ["IMP-1", "IMP-2"]


def test_more_than_100_orders_are_refused_before_anything_is_read(api: Api) -> None:
    orders: list[Any] = [order_payload(external_reference=f"B-{i}") for i in range(101)]

    problem = assert_problem(bulk(api, orders, "reject_failed_rows"), 413, "bulk_too_large")

    assert problem["detail"] == "101 orders in one request; the limit is 100."
    assert (problem["field"], problem["limit"]) == ("orders", 100)
    assert summaries(api.db) == {}


@pytest.mark.parametrize(
    "body",
    [{"orders": []}, {"orders": {}}, {"orders": [], "error_policy": "whatever"}, {"rows": []}],
)
def test_a_malformed_envelope_is_a_422(api: Api, body: dict[str, Any]) -> None:
    answer = api.client.post(BULK, json=body, headers=api.headers())

    assert_problem(answer, 422, "payload_invalid")


def test_a_bound_key_captures_only_into_its_channels(api: Api) -> None:
    with api.db.transaction() as session:
        _, bound = create_api_key(session, name="uk", scopes=["storefront"], channels=["web-uk"])
    orders = [
        order_payload(external_reference="B-1"),
        order_payload(external_reference="B-2", channel="web-us"),
    ]
    headers = {"Authorization": f"Bearer {bound}"}

    answer = api.client.post(
        BULK, json={"orders": orders, "error_policy": "reject_failed_rows"}, headers=headers
    )

    results = answer.json()["results"]
    assert [r["status"] for r in results] == ["created", "failed"]
    assert [(e["path"], e["code"]) for e in results[1]["errors"]] == [
        ("orders[1].channel", "channel_forbidden")
    ]
    refused = api.client.post(BULK, json={"orders": orders[1:]}, headers=headers)
    assert assert_problem(refused, 403, "bulk_rejected")["errors"][0]["code"] == (
        "channel_forbidden"
    )
    assert sorted(summaries(api.db)) == ["B-1"]


def test_a_retry_with_the_idempotency_key_replays_the_answer(api: Api) -> None:
    orders = [order_payload(external_reference="B-1"), order_payload(external_reference="B-2")]
    first = bulk(api, orders, **{"Idempotency-Key": "bulk-1"})
    counts = row_counts(api.db, TABLES)

    again = bulk(api, orders, **{"Idempotency-Key": "bulk-1"})

    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert row_counts(api.db, TABLES) == counts
    reused = bulk(api, orders[:1], **{"Idempotency-Key": "bulk-1"})
    assert_problem(reused, 409, "idempotency_key_reused")


def test_openapi_documents_the_rows_as_orders(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    operation = spec["paths"][BULK]["post"]
    schema_ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    envelope = spec["components"]["schemas"][schema_ref.rsplit("/", 1)[1]]

    rows = envelope["properties"]["orders"]
    assert rows["maxItems"] == 100
    assert "external_reference" in str(rows["items"])
    assert {"200", "413", "422"} <= set(operation["responses"])

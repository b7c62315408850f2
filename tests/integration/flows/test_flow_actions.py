"""What each flow action does to an order, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from tests.integration.conftest import Api
from tests.integration.flows.world import (
    capture_total,
    event_names,
    fulfillment_orders,
    put_flow,
    runs,
)
from tests.integration.worker import drain_db
from tests.network import stock_network


def on_created(*actions: dict[str, Any]) -> dict[str, Any]:
    return {
        "trigger": "order_summary.created",
        "when": {"field": "data.channel", "op": "eq", "value": "web-uk"},
        "actions": list(actions),
    }


def events(db: Database, summary_id: str, name: str) -> list[dict[str, Any]]:
    with db.reading() as session:
        return [
            e.payload
            for e in session.scalars(
                select(m.Event)
                .where(m.Event.order_summary_id == summary_id, m.Event.name == name)
                .order_by(m.Event.id)
            )
        ]


def test_set_routing_strategy_routes_the_order_by_it(api: Api, db: Database) -> None:
    stock_network(db)
    put_flow(
        api,
        "by-distance",
        on_created({"type": "set_routing_strategy", "strategy": "rank_by_distance"}),
    )
    order = capture_total(db, "150.00", reference="A")
    drain_db(db)
    assert events(db, order, "order_summary.routing_strategy_set") == [
        {
            "order_summary_id": order,
            "strategy": "rank_by_distance",
            "previous": None,
            "set_by": "flow:by-distance",
        }
    ]
    [routed] = events(db, order, "order_summary.routed")
    assert routed["strategy"] == "rank_by_distance"  # the channel's is fewest_splits
    with db.reading() as session:
        assert session.get(m.OrderSummary, order).routing_strategy == "rank_by_distance"  # type: ignore[union-attr]


def test_cancel_order_cancels_before_routing(api: Api, db: Database) -> None:
    stock_network(db)
    put_flow(api, "no-uk", on_created({"type": "cancel_order", "reason": "fraud check"}))
    order = capture_total(db, "150.00", reference="A")
    drain_db(db)
    [run] = runs(api, "no-uk")
    assert run["status"] == "succeeded"
    assert run["actions_done"][0]["result"].startswith("canceled by ")
    [change] = events(db, order, "order_summary.changed")
    assert (change["change_kind"], change["reason"]) == ("cancel", "fraud check")
    assert fulfillment_orders(db, order) == 0
    with db.reading() as session:
        summary = session.get(m.OrderSummary, order)
        assert summary is not None
        assert summary.status == "CANCELED"


def test_raise_exception_and_add_note(api: Api, db: Database) -> None:
    stock_network(db)
    put_flow(
        api,
        "review",
        on_created(
            {
                "type": "raise_exception",
                "category": "review",
                "severity": "low",
                "message": "check",
            },
            {"type": "add_note", "note": "sent to review"},
        ),
    )
    order = capture_total(db, "150.00", reference="A")
    drain_db(db)
    with db.reading() as session:
        [exception] = session.scalars(select(m.ProcessException)).all()
        assert (exception.category, exception.severity, exception.message) == (
            "review",
            "low",
            "check",
        )
        assert exception.order_summary_id == order
    assert events(db, order, "order_summary.note_added") == [
        {"order_summary_id": order, "note": "sent to review", "author": "flow:review"}
    ]
    # The summary view lists the note on the order's timeline.
    view = api.client.get(f"/api/v1/order-summaries/{order}", headers=api.headers("agent"))
    assert "order_summary.note_added" in [e["name"] for e in view.json()["events"]]


def test_ensure_refunds_queues_the_orders_refunds(api: Api, db: Database) -> None:
    stock_network(db)
    put_flow(
        api,
        "refund",
        {
            "trigger": "order_summary.changed",
            "when": {"field": "data.change_kind", "op": "eq", "value": "cancel"},
            "actions": [{"type": "ensure_refunds"}],
        },
    )
    put_flow(api, "cancel", on_created({"type": "cancel_order", "reason": "test"}))
    order = capture_total(db, "150.00", reference="A")
    drain_db(db)
    [run] = runs(api, "refund")
    with db.reading() as session:
        keys = session.scalars(select(m.Job.dedupe_key).where(m.Job.kind == "ensure_refunds")).all()
    assert f"ensure_refunds:{order}:flow:refund:{run['event_id']}" in keys
    assert event_names(db, order, "order_summary.changed") == ["order_summary.changed"]


def test_send_webhook_queues_the_event_to_its_endpoint_only(api: Api, db: Database) -> None:
    stock_network(db)
    admin = api.headers("admin")
    # Its filter wants no order events: only the flow sends it one.
    created = api.client.post(
        "/api/v1/webhook-endpoints",
        json={"url": "https://hooks.example.com/oms", "event_types": ["webhook.test"]},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    endpoint = created.json()["id"]
    put_flow(api, "tell-erp", on_created({"type": "send_webhook", "endpoint_id": endpoint}))
    order = capture_total(db, "150.00", reference="A")
    drain_db(db)
    [run] = runs(api, "tell-erp")
    assert run["status"] == "succeeded"
    assert run["actions_done"][0]["result"].startswith("delivery ")
    with db.reading() as session:
        [created_event] = session.scalars(
            select(m.Event).where(
                m.Event.order_summary_id == order, m.Event.name == "order_summary.created"
            )
        ).all()
        deliveries = session.scalars(
            select(m.WebhookDelivery).where(m.WebhookDelivery.endpoint_id == endpoint)
        ).all()
        assert [d.event_id for d in deliveries] == [created_event.id]


def test_send_webhook_to_an_unknown_endpoint_fails_the_run(api: Api, db: Database) -> None:
    stock_network(db)
    put_flow(api, "tell-nobody", on_created({"type": "send_webhook", "endpoint_id": "whe_none"}))
    capture_total(db, "150.00", reference="A")
    drain_db(db)
    [run] = runs(api, "tell-nobody")
    assert run["status"] == "failed"
    with db.reading() as session:
        [exception] = session.scalars(select(m.ProcessException)).all()
        assert exception.category == "automation"
        assert session.scalars(select(m.WebhookDelivery)).all() == []

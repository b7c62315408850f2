"""The issue's check, on SQLite and PostgreSQL: a flow that holds orders over 100.00 holds a
150.00 order, which stays unrouted until released, and lets a 50.00 order through; its runs
list both. And the issue's example flow, verbatim."""

from __future__ import annotations

from typing import Any

from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.services.orders import add_note
from openoms.worker.consumers import default_registry
from tests.integration.conftest import Api
from tests.integration.flows.world import (
    capture_total,
    event_names,
    fulfillment_orders,
    put_flow,
    runs,
)
from tests.integration.worker import ONE_DRAIN, WorkerClock, drain, make_worker
from tests.network import stock_network

HOLD_OVER_100: dict[str, Any] = {
    "description": "review orders over 100.00",
    "trigger": "order_summary.created",
    "when": {"all": [{"field": "data.totals.grand_total", "op": "gt", "value": "100.00"}]},
    "actions": [{"type": "hold", "reason": "manual review over 100"}],
    "enabled": True,
}


def test_a_flow_holds_the_big_order_until_release_and_lets_the_small_one_through(
    api: Api, db: Database
) -> None:
    stock_network(db)
    assert put_flow(api, "hold-over-100", HOLD_OVER_100).status_code == 201
    big = capture_total(db, "150.00", reference="BIG")
    small = capture_total(db, "50.00", reference="SMALL")
    clock = WorkerClock(ahead=ONE_DRAIN)
    worker = make_worker(db, clock=clock)
    drain(worker)

    assert (fulfillment_orders(db, big), fulfillment_orders(db, small)) == (0, 1)
    summary = api.client.get(f"/api/v1/order-summaries/{big}", headers=api.headers("agent"))
    assert summary.json()["status"] == "CREATED"
    listed = runs(api, "hold-over-100")
    assert [(r["order_summary_id"], r["matched"], r["status"]) for r in listed] == [
        (small, False, "not_matched"),
        (big, True, "succeeded"),
    ]
    assert [a["type"] for a in listed[1]["actions_done"]] == ["hold"]
    assert event_names(db, big, "order_summary.held") == ["order_summary.held"]

    for _ in range(3):  # retries, backoffs, restock: still held
        clock.advance()
        drain(worker)
    assert fulfillment_orders(db, big) == 0

    released = api.client.post(
        f"/api/v1/order-summaries/{big}/actions/release-hold",
        json={"reason": "checked"},
        headers=api.headers("agent"),
    )
    assert released.status_code == 200, released.text
    drain(worker)
    assert fulfillment_orders(db, big) == 1
    assert len(runs(api, "hold-over-100")) == 2  # released is not a trigger: no new run
    names = event_names(
        db, big, "order_summary.held", "order_summary.released", "fulfillment_order.created"
    )
    assert names == ["order_summary.held", "order_summary.released", "fulfillment_order.created"]


def test_the_issue_example_holds_and_raises_a_review(api: Api, db: Database) -> None:
    stock_network(db)
    example = {
        "description": "…",
        "trigger": "order_summary.created",
        "when": {
            "all": [
                {"field": "data.totals.grand_total", "op": "gt", "value": "1000.00"},
                {"field": "data.channel", "op": "in", "value": ["web-uk", "web-de"]},
            ]
        },
        "actions": [
            {"type": "hold", "reason": "manual review over 1000"},
            {"type": "raise_exception", "category": "review", "severity": "low", "message": "…"},
        ],
        "enabled": True,
    }
    assert put_flow(api, "review", example).status_code == 201
    big = capture_total(db, "1000.01", reference="BIG")
    even = capture_total(db, "1000.00", reference="EVEN")
    drain(make_worker(db, clock=WorkerClock(ahead=ONE_DRAIN)))
    assert (fulfillment_orders(db, big), fulfillment_orders(db, even)) == (0, 1)
    [run] = [r for r in runs(api, "review") if r["matched"]]
    assert run["order_summary_id"] == big
    assert [a["type"] for a in run["actions_done"]] == ["hold", "raise_exception"]
    exceptions = api.client.get(
        "/api/v1/process-exceptions?category=review", headers=api.headers("agent")
    ).json()["items"]
    assert [(e["order_summary_id"], e["severity"]) for e in exceptions] == [(big, "low")]


def test_release_hold_as_an_action(api: Api, db: Database) -> None:
    stock_network(db)
    put_flow(api, "hold", HOLD_OVER_100)
    put_flow(
        api,
        "release",
        {
            "trigger": "order_summary.note_added",
            "when": {"field": "data.note", "op": "eq", "value": "approved"},
            "actions": [{"type": "release_hold", "reason": "approved"}],
        },
    )
    big = capture_total(db, "150.00", reference="BIG")
    worker = make_worker(db, clock=WorkerClock(ahead=ONE_DRAIN))
    drain(worker)
    assert fulfillment_orders(db, big) == 0
    with db.transaction() as session:  # an agent's approval, as a note
        add_note(
            session,
            Outbox(default_registry()),
            order_summary_id=big,
            note="approved",
            author="agent",
        )
    drain(worker)
    [run] = runs(api, "release")
    assert (run["status"], run["actions_done"][0]["type"]) == ("succeeded", "release_hold")
    assert fulfillment_orders(db, big) == 1

"""Flows running on SQLite and PostgreSQL: once per (flow, event), recorded with their
actions, routing held back until the flows on an order's creation ran, and a failing action
raising an `automation` exception and retried from the action that failed."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from openoms.adapters.db import models as m
from openoms.adapters.db.models import utcnow
from openoms.adapters.db.session import Database
from openoms.adapters.jobs import run_due_jobs
from openoms.adapters.outbox import ConsumerRegistry, Outbox
from openoms.schemas.flows import trigger_catalog
from openoms.services.exceptions import retry_exception
from openoms.services.flows import (
    ACTIONS,
    ActionContext,
    Actions,
    FlowAction,
    flow_job_kinds,
    flows_consumer,
    run_event_flows,
)
from openoms.services.orders import (
    AUTOMATION_GATE_JOB,
    ROUTE_ORDER_JOB,
    automation_gate_key,
    route_order_job_key,
)
from openoms.worker.consumers import default_jobs, default_registry
from openoms.worker.runner import Worker
from tests.integration.conftest import Api
from tests.integration.flows.world import (
    capture_total,
    event_names,
    fulfillment_orders,
    note_flow,
    put_flow,
    runs,
)
from tests.integration.worker import ONE_DRAIN, WorkerClock, drain, drain_db, make_worker
from tests.network import stock_network

NOTE = "order_summary.note_added"


def jobs(db: Database, summary_id: str) -> list[tuple[str, str, str]]:
    with db.reading() as session:
        rows = session.execute(
            select(m.Job.kind, m.Job.dedupe_key, m.Job.status)
            .where(m.Job.dedupe_key.like(f"%{summary_id}%"))
            .order_by(m.Job.id)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def created_event(db: Database, summary_id: str) -> m.Event:
    with db.reading() as session:
        event = session.scalars(
            select(m.Event).where(
                m.Event.order_summary_id == summary_id, m.Event.name == "order_summary.created"
            )
        ).one()
        session.expunge(event)
        return event


def exceptions(db: Database, category: str) -> list[tuple[str, int, str | None]]:
    with db.reading() as session:
        rows = session.execute(
            select(
                m.ProcessException.status,
                m.ProcessException.occurrences,
                m.ProcessException.order_summary_id,
            )
            .where(m.ProcessException.category == category)
            .order_by(m.ProcessException.created_at)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_a_flow_runs_once_per_event_and_lists_every_run(api: Api, db: Database) -> None:
    stock_network(db)
    put_flow(api, "big", note_flow("100.00"))
    big = capture_total(db, "150.00", reference="BIG")
    small = capture_total(db, "50.00", reference="SMALL")
    drain_db(db)

    listed = runs(api, "big")
    assert [(r["order_summary_id"], r["matched"], r["status"]) for r in listed] == [
        (small, False, "not_matched"),
        (big, True, "succeeded"),
    ]
    assert listed[1]["actions_done"] == [{"index": 0, "type": "add_note", "result": "note added"}]
    assert [(r["version"], r["errors"], r["attempts"]) for r in listed] == [(1, [], 1)] * 2
    assert (event_names(db, big, NOTE), event_names(db, small, NOTE)) == ([NOTE], [])

    # The consumer delivered again (a replay), and the flows run on the event again: nothing.
    outbox = Outbox(default_registry())
    for summary in (big, small):
        event = created_event(db, summary)
        with db.transaction() as session:
            made = run_event_flows(session, outbox, trigger_catalog(), event, now=utcnow())
            assert made == 0
    with db.transaction() as session:
        session.execute(
            update(m.EventDelivery)
            .where(m.EventDelivery.consumer == "flows")
            .values(status="pending")
        )
    drain_db(db)
    assert len(runs(api, "big")) == 2
    assert event_names(db, big, NOTE) == [NOTE]


def test_routing_waits_for_the_flows_on_an_orders_creation(api: Api, db: Database) -> None:
    stock_network(db)
    put_flow(api, "big", note_flow("100.00"))
    big = capture_total(db, "150.00", reference="BIG")
    # Capture shut the gate instead of queueing routing; routing jobs alone route nothing.
    assert jobs(db, big) == [(AUTOMATION_GATE_JOB, automation_gate_key(big), "pending")]
    run_due_jobs(db, Outbox(default_registry()), default_jobs(db), now=utcnow())
    assert fulfillment_orders(db, big) == 0

    drain_db(db)
    assert fulfillment_orders(db, big) == 1
    assert jobs(db, big)[:2] == [
        (AUTOMATION_GATE_JOB, automation_gate_key(big), "done"),
        (ROUTE_ORDER_JOB, route_order_job_key(big), "done"),
    ]
    names = event_names(db, big, NOTE, "fulfillment_order.created")
    assert names == [NOTE, "fulfillment_order.created"]  # the flow acted before routing


def test_the_gate_job_runs_the_flows_when_the_consumer_has_not(api: Api, db: Database) -> None:
    stock_network(db)
    put_flow(api, "big", note_flow("100.00"))
    big = capture_total(db, "150.00", reference="BIG")
    later = utcnow() + timedelta(minutes=1)  # past the gate's wait; no delivery relayed
    for _ in range(2):  # the gate's job, then the routing it queued
        run_due_jobs(db, Outbox(default_registry()), default_jobs(db), now=later)
    assert fulfillment_orders(db, big) == 1
    assert [r["status"] for r in runs(api, "big")] == ["succeeded"]
    drain_db(db)  # the consumer's delivery comes late: the run exists, nothing twice
    assert event_names(db, big, NOTE) == [NOTE]
    assert len(runs(api, "big")) == 1


def test_without_an_enabled_flow_capture_queues_routing_at_once(api: Api, db: Database) -> None:
    stock_network(db)
    put_flow(api, "off", note_flow(enabled=False))
    put_flow(api, "elsewhere", {**note_flow(), "trigger": "order_summary.routed", "when": None})
    order = capture_total(db, "150.00", reference="A")
    assert jobs(db, order) == [(ROUTE_ORDER_JOB, route_order_job_key(order), "pending")]


class Flaky:
    """add_note that fails its first `failures` calls."""

    def __init__(self, failures: int) -> None:
        self.left = failures

    def __call__(self, context: ActionContext, params: Mapping[str, Any]) -> str:
        if self.left:
            self.left -= 1
            raise RuntimeError("notes are down")
        return ACTIONS["add_note"].apply(context, params)


def flaky_worker(db: Database, actions: Actions, clock: WorkerClock) -> Worker:
    registry = ConsumerRegistry([c for c in default_registry() if c.name != "flows"])
    registry.register(flows_consumer(Outbox(registry), trigger_catalog(), actions))
    jobs = default_jobs(db)
    jobs.kinds.update(flow_job_kinds(trigger_catalog(), actions))
    return make_worker(db, registry, jobs, clock=clock)


def review_then_note() -> dict[str, Any]:
    return {
        **note_flow("100.00"),
        "actions": [
            {"type": "raise_exception", "category": "review", "message": "look at it"},
            {"type": "add_note", "note": "reviewed"},
        ],
    }


def test_a_failing_action_raises_an_automation_exception_and_is_retried(
    api: Api, db: Database
) -> None:
    stock_network(db)
    put_flow(api, "review", review_then_note())
    big = capture_total(db, "150.00", reference="BIG")
    clock = WorkerClock(ahead=ONE_DRAIN)
    worker = flaky_worker(
        db, {**ACTIONS, "add_note": FlowAction(Flaky(3), ACTIONS["add_note"].params)}, clock
    )
    drain(worker)  # the run fails; its retry (due at once on this clock) fails again

    [run] = runs(api, "review")
    assert (run["status"], run["attempts"]) == ("failed", 2)
    assert run["actions_done"] == [
        {"index": 0, "type": "raise_exception", "result": run["actions_done"][0]["result"]}
    ]
    assert [(e["index"], e["type"], e["error"]) for e in run["errors"]] == [
        (1, "add_note", "RuntimeError: notes are down")
    ] * 2
    assert exceptions(db, "automation") == [("NEW", 2, big)]
    assert exceptions(db, "review") == [("NEW", 1, big)]
    assert fulfillment_orders(db, big) == 0  # the gate stays shut while the run fails

    # An agent's retry runs it at once (it fails a third time, then backoff).
    with db.transaction() as session:
        exception = session.scalars(
            select(m.ProcessException).where(m.ProcessException.category == "automation")
        ).one()
        retry_exception(session, Outbox(default_registry()), exception.id, now=clock.now)
    drain(worker)
    assert runs(api, "review")[0]["attempts"] == 3

    clock.advance()
    drain(worker)
    [run] = runs(api, "review")
    assert (run["status"], run["attempts"], len(run["errors"])) == ("succeeded", 4, 3)
    assert [a["index"] for a in run["actions_done"]] == [0, 1]
    assert exceptions(db, "automation") == [("RESOLVED", 3, big)]
    assert exceptions(db, "review") == [("NEW", 1, big)]  # raised once, never again
    assert event_names(db, big, NOTE) == [NOTE]
    assert fulfillment_orders(db, big) == 1  # its success opened the gate


def test_disabling_the_flow_cancels_a_failing_run_and_opens_the_gate(
    api: Api, db: Database
) -> None:
    stock_network(db)
    put_flow(api, "review", review_then_note())
    big = capture_total(db, "150.00", reference="BIG")
    clock = WorkerClock(ahead=ONE_DRAIN)
    worker = flaky_worker(
        db, {**ACTIONS, "add_note": FlowAction(Flaky(100), ACTIONS["add_note"].params)}, clock
    )
    drain(worker)
    assert fulfillment_orders(db, big) == 0

    put_flow(api, "review", {**review_then_note(), "enabled": False})
    clock.advance()
    drain(worker)
    [run] = runs(api, "review")
    assert run["status"] == "canceled"
    assert exceptions(db, "automation") == [("RESOLVED", 2, big)]
    assert fulfillment_orders(db, big) == 1


def test_runs_come_a_page_at_a_time(api: Api, db: Database) -> None:
    stock_network(db)
    put_flow(api, "big", note_flow("100.00"))
    orders = [capture_total(db, "150.00", reference=f"R{n}") for n in range(3)]
    drain_db(db)
    admin = api.headers("admin")
    first = api.client.get("/api/v1/flows/big/runs?limit=2", headers=admin).json()
    assert [r["order_summary_id"] for r in first["items"]] == orders[:0:-1]
    second = api.client.get(
        f"/api/v1/flows/big/runs?limit=2&cursor={first['next_cursor']}", headers=admin
    ).json()
    assert ([r["order_summary_id"] for r in second["items"]], second["next_cursor"]) == (
        orders[:1],
        None,
    )
    bad = api.client.get("/api/v1/flows/big/runs?cursor=bm9wZQ", headers=admin)
    assert (bad.status_code, bad.json()["code"]) == (400, "validation_failed")

"""Routing runs (services/routing/runs.py, run_apply.py, run_jobs.py) on SQLite and
PostgreSQL: a dry run changes nothing, an applied run moves the groups its plan improves
with the usual events, a group that changed meanwhile is skipped, a channel-bound key sees
only its channel, bad input is problem+json, and a scheduled tick runs once however many
workers race for it."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from openoms.adapters.jobs import run_due_jobs
from openoms.adapters.outbox import Outbox
from openoms.domain.inventory import LocationType
from openoms.services.access import create_api_key
from openoms.services.inventory import InventoryLine, apply_inventory_import
from openoms.services.routing import RUN_JOB, RunRequest, RunScope, run_routing, schedule_runs
from openoms.services.routing.run_apply import apply_run
from openoms.services.routing.runs import plan_run
from openoms.worker.consumers import default_jobs, default_registry
from tests.integration.conftest import Api
from tests.integration.helpers import assert_problem, capture
from tests.integration.worker import drain_db
from tests.network import stock_network
from tests.payloads import one_unit_each

SITES = {
    "WH-LDN": (LocationType.WAREHOUSE, "London", 51.50, -0.12, True, False, "online"),
    "WH-MAN": (LocationType.WAREHOUSE, "Manchester", 53.48, -2.24, True, False, "online"),
}
# London holds one X and one Y, Manchester one X: A (X) routed first takes London's X, and
# B (X and Y) must then split. Together, A ships from Manchester and B once from London.
STOCK = {("WH-LDN", "X"): 1, ("WH-LDN", "Y"): 1, ("WH-MAN", "X"): 1}


def outbox() -> Outbox:
    return Outbox(default_registry())


def order(ref: str, skus: list[str]) -> dict[str, Any]:
    return one_unit_each(ref, skus)


def world(db: Database) -> tuple[str, str]:
    """Orders A and B captured and routed one at a time: A from London, B split."""
    stock_network(db, stock=STOCK, locations=SITES)
    a = capture(db, outbox(), order("A", ["X"]))
    drain_db(db)
    b = capture(db, outbox(), order("B", ["X", "Y"]))
    drain_db(db)
    assert placements(db) == {
        a: {("WH-LDN", "X", "ALLOCATED")},
        b: {("WH-MAN", "X", "ALLOCATED"), ("WH-LDN", "Y", "ALLOCATED")},
    }
    return a, b


def placements(db: Database) -> dict[str, set[tuple[str, str, str]]]:
    """order summary → (location, sku, status) of its live fulfillment order lines."""
    with db.reading() as session:
        rows = session.execute(
            select(
                m.FulfillmentOrder.order_summary_id,
                m.Location.ref,
                m.FulfillmentOrderLineItem.sku,
                m.FulfillmentOrder.status,
            )
            .join(m.FulfillmentOrderLineItem)
            .join(m.Location, m.Location.id == m.FulfillmentOrder.location_id)
            .where(m.FulfillmentOrder.status != "CANCELED", m.FulfillmentOrderLineItem.quantity > 0)
        ).all()
    out: dict[str, set[tuple[str, str, str]]] = {}
    for summary_id, loc, sku, status in rows:
        out.setdefault(summary_id, set()).add((loc, sku, status))
    return out


def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Stock, reservations and their lines, fulfillment orders and their lines, events, jobs."""
    with db.reading() as session:

        def rows(*cols: Any) -> list[tuple[Any, ...]]:
            return sorted(tuple(r) for r in session.execute(select(*cols)).all())

        return {
            "stock": rows(
                m.InventoryRecord.location_id,
                m.InventoryRecord.sku,
                m.InventoryRecord.on_hand,
                m.InventoryRecord.reserved,
            ),
            "reservations": rows(m.Reservation.id, m.Reservation.status),
            "reservation_lines": rows(
                m.ReservationLine.reservation_id,
                m.ReservationLine.location_id,
                m.ReservationLine.sku,
                m.ReservationLine.quantity,
            ),
            "fulfillment_orders": rows(
                m.FulfillmentOrder.id, m.FulfillmentOrder.status, m.FulfillmentOrder.location_id
            ),
            "fo_lines": rows(m.FulfillmentOrderLineItem.id, m.FulfillmentOrderLineItem.quantity),
            "items": rows(m.OrderItemSummary.id, m.OrderItemSummary.quantity_allocated),
            "events": rows(m.Event.id, m.Event.name),
            "jobs": rows(m.Job.dedupe_key, m.Job.status),
        }


def test_a_dry_run_plans_the_saving_and_changes_nothing(db: Database) -> None:
    world(db)
    before = snapshot(db)

    run_id = run_routing(db, outbox(), RunRequest("web-uk", RunScope.UNRELEASED), datetime.now(UTC))

    assert snapshot(db) == before
    with db.reading() as session:
        run = session.get(m.RoutingRun, run_id)
        assert run is not None
        assert (run.status, run.groups, run.applied) == ("planned", 2, 0)
        assert run.totals["current"]["shipments"] == 3
        assert run.totals["plan"]["shipments"] == 2
        assert run.totals["plan"]["splits"] == 0
        groups = session.scalars(select(m.RoutingRunGroup).order_by(m.RoutingRunGroup.id)).all()
        assert [g.outcome for g in groups] == ["planned", "planned"]
        assert groups[0].planned == [
            {
                "location": "WH-MAN",
                "location_id": groups[0].planned[0]["location_id"],
                "sku": "X",
                "quantity": 1,
            }
        ]


def test_waiting_scope_leaves_allocated_groups_alone(db: Database) -> None:
    world(db)
    run_id = run_routing(db, outbox(), RunRequest("web-uk", RunScope.WAITING), datetime.now(UTC))
    with db.reading() as session:
        run = session.get(m.RoutingRun, run_id)
        assert run is not None
        assert run.groups == 0


def test_an_applied_run_moves_both_orders_with_the_usual_events(db: Database) -> None:
    a, b = world(db)
    with db.reading() as session:
        events_before = session.scalar(select(m.Event.id).order_by(m.Event.id.desc()).limit(1))

    run_id = run_routing(
        db, outbox(), RunRequest("web-uk", RunScope.UNRELEASED, dry_run=False), datetime.now(UTC)
    )

    assert placements(db) == {
        a: {("WH-MAN", "X", "ALLOCATED")},
        b: {("WH-LDN", "X", "ALLOCATED"), ("WH-LDN", "Y", "ALLOCATED")},
    }
    with db.reading() as session:
        run = session.get(m.RoutingRun, run_id)
        assert run is not None
        assert (run.status, run.applied, run.skipped) == ("applied", 2, 0)
        reserved = dict(
            ((loc, sku), r)
            for loc, sku, r in session.execute(
                select(m.Location.ref, m.InventoryRecord.sku, m.InventoryRecord.reserved).join(
                    m.Location, m.Location.id == m.InventoryRecord.location_id
                )
            )
        )
        assert reserved == {("WH-LDN", "X"): 1, ("WH-LDN", "Y"): 1, ("WH-MAN", "X"): 1}
        names = session.scalars(
            select(m.Event.name).where(m.Event.id > events_before).order_by(m.Event.id)
        ).all()
    assert names.count("fulfillment_order.lines_canceled") == 3
    assert names.count("fulfillment_order.created") == 2
    assert names.count("order_summary.routed") == 2
    drain_db(db)  # the events' consumers find nothing wrong to do
    assert placements(db)[b] == {("WH-LDN", "X", "ALLOCATED"), ("WH-LDN", "Y", "ALLOCATED")}


def test_a_group_that_changed_meanwhile_is_skipped(db: Database) -> None:
    a, b = world(db)
    planned = plan_run(  # read while A's fulfillment order is ALLOCATED
        db, RunRequest("web-uk", RunScope.UNRELEASED, dry_run=False), datetime.now(UTC)
    )
    with db.transaction() as session:  # then the warehouse takes it
        session.execute(
            update(m.FulfillmentOrder)
            .where(m.FulfillmentOrder.order_summary_id == a)
            .values(status="ASSIGNED")
        )
    moved, skipped = apply_run(db, outbox(), planned, datetime.now(UTC))

    assert (moved, skipped) == (0, 2)  # A changed; B's plan needs A's unit, never freed
    with db.reading() as session:
        reasons = {g.order_summary_id: g.reason for g in session.scalars(select(m.RoutingRunGroup))}
    assert reasons[a] == "the group changed since the run read it"
    assert reasons[b] == (
        "it trades stock with a group that was skipped: the group changed since the run read it"
    )
    assert placements(db)[b] == {("WH-MAN", "X", "ALLOCATED"), ("WH-LDN", "Y", "ALLOCATED")}


def test_the_api_runs_reads_and_lists_runs(api: Api) -> None:
    world(api.db)
    agent = api.headers("agent")

    made = api.client.post(
        "/api/v1/routing/runs", json={"channel": "web-uk", "scope": "unreleased"}, headers=agent
    )

    assert made.status_code == 201, made.text
    body = made.json()
    assert body["dry_run"] is True
    assert body["savings"]["current"] == {
        "shipments": 1,
        "splits": 1,
        "cost": body["savings"]["current"]["cost"],
    }
    assert len(body["group_outcomes"]) == 2
    got = api.client.get(f"/api/v1/routing/runs/{body['id']}", headers=agent)
    assert got.json()["id"] == body["id"]
    listed = api.client.get("/api/v1/routing/runs", headers=agent).json()["runs"]
    assert [r["id"] for r in listed] == [body["id"]]


def test_a_retried_run_with_its_idempotency_key_replays_and_moves_nothing_again(
    api: Api,
) -> None:
    a, b = world(api.db)
    keyed = {**api.headers("agent"), "Idempotency-Key": "run-1"}
    applied = {"channel": "web-uk", "scope": "unreleased", "dry_run": False}

    first = api.client.post("/api/v1/routing/runs", json=applied, headers=keyed)
    after_first = placements(api.db)
    again = api.client.post("/api/v1/routing/runs", json=applied, headers=keyed)

    assert first.status_code == again.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert (
        after_first
        == placements(api.db)
        == {
            a: {("WH-MAN", "X", "ALLOCATED")},
            b: {("WH-LDN", "X", "ALLOCATED"), ("WH-LDN", "Y", "ALLOCATED")},
        }
    )
    with api.db.reading() as session:
        assert session.scalar(select(func.count()).select_from(m.RoutingRun)) == 1
    assert_problem(
        api.client.post("/api/v1/routing/runs", json={**applied, "dry_run": True}, headers=keyed),
        409,
        "idempotency_key_reused",
    )
    assert_problem(
        api.client.post(
            "/api/v1/routing/runs",
            json=applied,
            headers={**keyed, "Idempotency-Key": " "},
        ),
        400,
        "idempotency_key_invalid",
    )
    # Neither refusal ran a run or moved anything.
    assert placements(api.db) == after_first
    with api.db.reading() as session:
        assert session.scalar(select(func.count()).select_from(m.RoutingRun)) == 1


def test_bad_input_and_other_channels_are_refused(api: Api) -> None:
    world(api.db)
    agent = api.headers("agent")
    run = api.client.post("/api/v1/routing/runs", json={"channel": "web-uk"}, headers=agent).json()
    stock_network(api.db, stock=STOCK, locations=SITES, channel="web-fr")
    with api.db.transaction() as session:
        _, secret = create_api_key(session, name="fr", scopes=["agent"], channels=["web-fr"])
    bound = {"Authorization": f"Bearer {secret}"}

    assert_problem(
        api.client.post("/api/v1/routing/runs", json={"channel": "nowhere"}, headers=agent),
        400,
        "channel_unknown",
    )
    for bad in (
        {"channel": "web-uk", "scope": "all"},
        {"channel": "web-uk", "time_budget_ms": 0},
        {},
    ):
        assert api.client.post("/api/v1/routing/runs", json=bad, headers=agent).status_code == 422
    assert_problem(
        api.client.post("/api/v1/routing/runs", json={"channel": "web-uk"}, headers=bound),
        403,
        "channel_forbidden",
    )
    assert_problem(
        api.client.get(f"/api/v1/routing/runs/{run['id']}", headers=bound),
        404,
        "routing_run_not_found",
    )
    assert api.client.get("/api/v1/routing/runs", headers=bound).json() == {"runs": []}
    assert_problem(
        api.client.get("/api/v1/routing/runs/nope", headers=agent), 404, "routing_run_not_found"
    )
    assert_problem(
        api.client.post(
            "/api/v1/routing/runs", json={"channel": "web-uk"}, headers=api.headers("warehouse")
        ),
        403,
        "forbidden",
    )


def test_a_scheduled_tick_runs_once_however_many_workers_race(db: Database) -> None:
    world(db)
    with db.transaction() as session:
        session.execute(update(m.Channel).values(routing_run_every=300))
    # Jobs are queued due now (the real clock): the workers look an hour later.
    now = (datetime.now(UTC) + timedelta(hours=1)).replace(minute=2, second=30, microsecond=0)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            schedule_runs(db, now)
            run_due_jobs(db, outbox(), default_jobs(db), now=now)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    schedule_runs(db, now)  # a third look at the same tick
    run_due_jobs(db, outbox(), default_jobs(db), now=now)

    assert errors == []
    with db.reading() as session:
        runs = session.scalars(select(m.RoutingRun)).all()
        jobs = session.scalars(select(m.Job).where(m.Job.kind == RUN_JOB)).all()
    assert len(runs) == 1
    assert runs[0].tick_at == now.replace(minute=0, second=0)
    assert (runs[0].trigger, runs[0].status, runs[0].applied) == ("schedule", "applied", 2)
    assert [(j.status) for j in jobs] == ["done"]


def test_a_channel_sets_its_run_schedule(api: Api) -> None:
    world(api.db)
    admin = api.headers("admin")
    put = api.client.put(
        "/api/v1/channels/web-uk",
        json={"location_group": "online", "routing_run_every": 300},
        headers=admin,
    )
    assert put.status_code in (200, 201), put.text
    assert (
        api.client.get("/api/v1/channels/web-uk", headers=admin).json()["routing_run_every"] == 300
    )
    too_often = api.client.put(
        "/api/v1/channels/web-uk",
        json={"location_group": "online", "routing_run_every": 30},
        headers=admin,
    )
    assert too_often.status_code == 422
    with api.db.reading() as session:
        assert session.scalars(select(m.Channel.routing_run_every)).all() == [300]


def test_a_chain_of_dependent_moves_is_applied_in_full(db: Database) -> None:
    # B (X, Y) is routed while London has no X: Manchester's X and London's Y. Then London
    # gets an X and W, and A (X, W) takes London's. Together B ships once from London, which
    # needs A's X, and A moves to Leeds (the other X and W; Manchester has no W): B's move
    # waits for A's, whatever order the run read them in.
    sites = {
        **SITES,
        "WH-LEE": (LocationType.WAREHOUSE, "Leeds", 53.80, -1.55, True, False, "online"),
    }
    stock_network(
        db,
        stock={("WH-LDN", "Y"): 1, ("WH-MAN", "X"): 1, ("WH-LEE", "X"): 1, ("WH-LEE", "W"): 1},
        locations=sites,
    )
    b = capture(db, outbox(), order("B", ["X", "Y"]))
    drain_db(db)
    lines = [
        InventoryLine(line=1, location="WH-LDN", sku="X", on_hand=1),
        InventoryLine(line=2, location="WH-LDN", sku="W", on_hand=1),
    ]
    apply_inventory_import(db, outbox(), lines, mode="delta")
    a = capture(db, outbox(), order("A", ["X", "W"]))
    drain_db(db)
    assert placements(db) == {
        b: {("WH-MAN", "X", "ALLOCATED"), ("WH-LDN", "Y", "ALLOCATED")},
        a: {("WH-LDN", "X", "ALLOCATED"), ("WH-LDN", "W", "ALLOCATED")},
    }

    run_id = run_routing(
        db, outbox(), RunRequest("web-uk", RunScope.UNRELEASED, dry_run=False), datetime.now(UTC)
    )

    assert placements(db) == {
        b: {("WH-LDN", "X", "ALLOCATED"), ("WH-LDN", "Y", "ALLOCATED")},
        a: {("WH-LEE", "X", "ALLOCATED"), ("WH-LEE", "W", "ALLOCATED")},
    }
    with db.reading() as session:
        run = session.get(m.RoutingRun, run_id)
        assert run is not None
        assert (run.applied, run.skipped) == (2, 0)
        outcomes = {
            g.order_summary_id: (g.outcome, g.reason)
            for g in session.scalars(select(m.RoutingRunGroup))
        }
    assert outcomes == {a: ("moved", None), b: ("moved", None)}  # each in its own transaction

"""Routing the order (services/routing/route.py) on SQLite and PostgreSQL: capture, then the worker
routes each delivery group into fulfillment orders, moves the held stock, and copes with no
route, backorders and rejections."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from openoms.adapters.db import models as m
from openoms.adapters.db.models import utcnow
from openoms.adapters.db.session import Database
from openoms.adapters.jobs import run_due_jobs
from openoms.adapters.outbox import Outbox
from openoms.domain.errors import IllegalTransition
from openoms.domain.inventory import LocationType
from openoms.domain.quantities import ItemQuantities
from openoms.services.fulfillment import FulfillmentOrderNotFound
from openoms.services.inventory import (
    Address,
    InventoryLine,
    LocationData,
    apply_inventory_import,
    upsert_location,
)
from openoms.services.orders import ChannelData, ShortagePolicy, upsert_channel
from openoms.services.routing import (
    RouteOutcome,
    RouteStatus,
    reroute_after_rejection,
    route_delivery_group,
)
from openoms.services.views import order_summary_view
from openoms.worker.consumers import default_jobs, default_registry
from tests.integration.helpers import capture as capture_payload
from tests.integration.helpers import stock
from tests.integration.worker import drain_db as drain
from tests.network import stock_network
from tests.payloads import order_payload

# --- helpers ------------------------------------------------------------------------------


def outbox() -> Outbox:
    return Outbox(default_registry())


def ship_order(*, reference: str, **quantities: int) -> dict[str, Any]:
    """A one-group order shipped to London (51.52, -0.10), 10.00 a unit, no tax or payment."""
    home = order_payload()["delivery_groups"][0]
    items = [
        {"sku": sku, "quantity": q, "unit_price": "10.00", "tax": "0.00", "delivery_group": "home"}
        for sku, q in quantities.items()
    ]
    return order_payload(
        external_reference=reference,
        delivery_groups=[home],
        items=items,
        adjustments=[],
        payments=[],
    )


def capture(db: Database, payload: dict[str, Any]) -> str:
    return capture_payload(db, outbox(), payload)


def retry_due_later(db: Database) -> int:
    """Run jobs as if their backoff had passed."""
    return run_due_jobs(db, outbox(), default_jobs(db), now=utcnow() + timedelta(hours=2))


def view(db: Database, summary_id: str) -> dict[str, Any]:
    with db.reading() as session:
        return order_summary_view(session, summary_id)


def fulfillment_orders(body: dict[str, Any]) -> list[tuple[str, str, int, str, list[Any]]]:
    """(delivery group, location, round, status, [(sku, quantity, original, shipped)])."""
    return [
        (
            fo["delivery_group"],
            fo["location"],
            fo["routing_round"],
            fo["status"],
            [
                (ln["sku"], ln["quantity"], ln["original_quantity"], ln["shipped"])
                for ln in fo["lines"]
            ],
        )
        for fo in body["fulfillment_orders"]
    ]


def allocated(body: dict[str, Any]) -> dict[str, tuple[int, int, str]]:
    """sku → (allocated, available to fulfill, status), product items only."""
    return {
        i["sku"]: (i["quantity_allocated"], i["quantity_available_to_fulfill"], i["status"])
        for i in body["items"]
        if i["type"] == "product"
    }


def event_names(body: dict[str, Any]) -> list[str]:
    return [e["name"] for e in body["events"]]


def jobs(db: Database) -> list[tuple[str, str, int]]:
    """(round, status, attempts) of every group's routing job, by id ("order" for the
    `route_order` job capture queues: round 1 of every group of the order)."""
    with db.reading() as session:
        rows = session.scalars(
            select(m.Job).where(m.Job.kind.in_(("route_group", "route_order"))).order_by(m.Job.id)
        )
        return [
            (
                "order" if j.kind == "route_order" else j.dedupe_key.rsplit(":", 1)[1],
                j.status,
                j.attempts,
            )
            for j in rows
        ]


def reservation_lines(db: Database, summary_id: str) -> dict[tuple[str, str], int]:
    """(location ref, sku) → units held, over the order's reservations."""
    with db.reading() as session:
        rows = session.execute(
            select(m.Location.ref, m.ReservationLine.sku, func.sum(m.ReservationLine.quantity))
            .join(m.Reservation, m.Reservation.id == m.ReservationLine.reservation_id)
            .join(m.Location, m.Location.id == m.ReservationLine.location_id)
            .where(m.Reservation.order_summary_id == summary_id)
            .group_by(m.Location.ref, m.ReservationLine.sku)
        ).all()
    return {(ref, sku): int(units) for ref, sku, units in rows if units}


def home_group_id(body: dict[str, Any]) -> str:
    return str(next(g["id"] for g in body["delivery_groups"] if g["ref"] == "home"))


def set_channel(db: Database, **policy: Any) -> None:
    with db.transaction() as session:
        upsert_channel(session, outbox(), "web-uk", ChannelData(location_group="online", **policy))


def import_stock(db: Database, **records: int) -> None:
    """import_stock(db, **{"WH-MAN/TEE-M": 5}): a delta import."""
    lines = []
    for n, (place, on_hand) in enumerate(records.items(), start=1):
        location, sku = place.split("/")
        lines.append(InventoryLine(line=n, location=location, sku=sku, on_hand=on_hand))
    apply_inventory_import(db, outbox(), lines, mode="delta")


def reject(db: Database, summary_id: str, location: str) -> int:
    """What the warehouse side does: the FO at `location` becomes REJECTED, its units are
    deallocated (the reservation keeps holding them), and routing is asked again."""
    with db.transaction() as session:
        fo = session.scalars(
            select(m.FulfillmentOrder)
            .join(m.Location, m.Location.id == m.FulfillmentOrder.location_id)
            .where(m.FulfillmentOrder.order_summary_id == summary_id, m.Location.ref == location)
            .where(m.FulfillmentOrder.status == "ALLOCATED")
        ).one()
        fo.status = "REJECTED"
        for line in session.scalars(
            select(m.FulfillmentOrderLineItem).where(
                m.FulfillmentOrderLineItem.fulfillment_order_id == fo.id
            )
        ):
            item = session.get_one(m.OrderItemSummary, line.order_item_summary_id)
            q = ItemQuantities(ordered=item.quantity_ordered, allocated=item.quantity_allocated)
            item.quantity_allocated = q.deallocate(line.quantity).allocated
        session.flush()
        return reroute_after_rejection(session, outbox(), fo.id, reason="stock damaged")


# --- the example order --------------------------------------------------------------------


def test_the_example_order_is_routed_to_the_nearest_warehouse_and_its_pickup_store(
    db: Database,
) -> None:
    stock_network(db)
    summary_id = capture(db, order_payload())

    drain(db)

    body = view(db, summary_id)
    assert fulfillment_orders(body) == [
        ("home", "WH-LDN", 1, "ALLOCATED", [("TEE-M", 3, 3, 0)]),
        ("store", "STORE-LDN", 1, "ALLOCATED", [("MUG", 1, 1, 0)]),
    ]
    assert [fo["status_category"] for fo in body["fulfillment_orders"]] == ["ACTIVATED"] * 2
    assert [fo["shipments"] for fo in body["fulfillment_orders"]] == [[], []]
    tee_fo, mug_fo = body["fulfillment_orders"]
    assert tee_fo["reason"].startswith("fewest_splits: 1 location(s), average distance 2.6 km")
    tee, mug = (i for i in body["items"] if i["type"] == "product")
    assert [ln["order_item_summary_id"] for ln in tee_fo["lines"]] == [tee["id"]]
    assert [ln["order_item_summary_id"] for ln in mug_fo["lines"]] == [mug["id"]]
    assert allocated(body) == {"TEE-M": (3, 0, "ALLOCATED"), "MUG": (1, 0, "ALLOCATED")}
    assert (body["status"], body["routing_attempts"]) == ("WAITING_TO_FULFILL", 2)
    assert (body["active_process_exception_count"], body["process_exceptions"]) == (0, [])
    # capture held the units where routing chose to ship from: nothing moved
    assert stock(db) == {
        ("WH-LDN", "TEE-M"): (10, 3),
        ("WH-MAN", "TEE-M"): (5, 0),
        ("WH-LDN", "MUG"): (20, 0),
        ("STORE-LDN", "MUG"): (10, 1),
    }
    names = [n for n in event_names(body) if not n.startswith("payment.")]
    assert names[:3] == ["reservation.created", "reservation.created", "order_summary.created"]
    # the two groups route independently, each: its fulfillment order, then routed
    assert names[3:] == ["fulfillment_order.created", "order_summary.routed"] * 2
    routed = next(
        e["payload"]
        for e in body["events"]
        if e["name"] == "order_summary.routed" and e["payload"]["delivery_group"] == "home"
    )
    assert (routed["delivery_group"], routed["routing_round"], routed["strategy"]) == (
        "home",
        1,
        "fewest_splits",
    )
    assert routed["fulfillment_order_ids"] == [tee_fo["id"]]
    assert jobs(db) == [("order", "done", 1)]  # one job routed both groups


def test_capture_holds_where_routing_ships_so_nothing_moves(db: Database) -> None:
    # the deepest stock is in Manchester, but the channel's strategy ships from the nearest:
    # capture holds there, and routing confirms it without a transfer
    stock_network(db, stock={("WH-LDN", "TEE-M"): 10, ("WH-MAN", "TEE-M"): 20})
    summary_id = capture(db, ship_order(reference="MOVE-1", **{"TEE-M": 3}))
    assert stock(db) == {("WH-LDN", "TEE-M"): (10, 3), ("WH-MAN", "TEE-M"): (20, 0)}

    drain(db)

    body = view(db, summary_id)
    assert fulfillment_orders(body) == [("home", "WH-LDN", 1, "ALLOCATED", [("TEE-M", 3, 3, 0)])]
    assert stock(db) == {("WH-LDN", "TEE-M"): (10, 3), ("WH-MAN", "TEE-M"): (20, 0)}
    assert reservation_lines(db, summary_id) == {("WH-LDN", "TEE-M"): 3}
    assert "reservation.transferred" not in event_names(body)
    assert event_names(body)[-2:] == ["fulfillment_order.created", "order_summary.routed"]


def test_held_units_move_when_routing_chooses_elsewhere(db: Database) -> None:
    # capture held in London; London stops shipping before routing runs: routing ships
    # from Manchester and moves the held units there
    stock_network(db, stock={("WH-LDN", "TEE-M"): 10, ("WH-MAN", "TEE-M"): 20})
    summary_id = capture(db, ship_order(reference="MOVE-2", **{"TEE-M": 3}))
    assert stock(db)[("WH-LDN", "TEE-M")] == (10, 3)
    with db.transaction() as session:
        upsert_location(
            session,
            outbox(),
            "WH-LDN",
            LocationData(
                name="WH-LDN",
                type=LocationType.WAREHOUSE,
                address=Address(
                    line1="1 Test St", city="London", country="GB", lat=51.50, lon=-0.12
                ),
                can_ship=False,
                can_pickup=False,
                groups=("online",),
            ),
        )

    drain(db)

    body = view(db, summary_id)
    assert fulfillment_orders(body) == [("home", "WH-MAN", 1, "ALLOCATED", [("TEE-M", 3, 3, 0)])]
    assert stock(db) == {("WH-LDN", "TEE-M"): (10, 0), ("WH-MAN", "TEE-M"): (20, 3)}
    assert reservation_lines(db, summary_id) == {("WH-MAN", "TEE-M"): 3}
    assert event_names(body)[-3:] == [
        "reservation.transferred",
        "fulfillment_order.created",
        "order_summary.routed",
    ]


def test_a_split_order_ships_from_the_fewest_locations_nearest_on_average(db: Database) -> None:
    # No warehouse has everything; {LDN, MAN} and {MAN, BHM} both cover the order with two
    # locations, and {LDN, MAN} is nearer to London on average.
    stock_network(db, stock={("WH-LDN", "TEE-M"): 2, ("WH-LDN", "MUG"): 1, ("WH-MAN", "TEE-M"): 4})
    with db.transaction() as session:
        upsert_location(
            session,
            outbox(),
            "WH-BHM",
            LocationData(
                name="Birmingham",
                type=LocationType.WAREHOUSE,
                address=Address(
                    line1="1 Test St", city="Birmingham", country="GB", lat=52.48, lon=-1.89
                ),
                can_ship=True,
                can_pickup=False,
                groups=("online",),
            ),
        )
    import_stock(db, **{"WH-BHM/TEE-M": 1, "WH-BHM/MUG": 2})
    summary_id = capture(db, ship_order(reference="SPLIT-1", **{"TEE-M": 4, "MUG": 1}))
    # capture held the units where the channel's strategy ships them from
    assert reservation_lines(db, summary_id) == {
        ("WH-LDN", "TEE-M"): 2,
        ("WH-LDN", "MUG"): 1,
        ("WH-MAN", "TEE-M"): 2,
    }

    drain(db)

    body = view(db, summary_id)
    assert fulfillment_orders(body) == [
        ("home", "WH-LDN", 1, "ALLOCATED", [("TEE-M", 2, 2, 0), ("MUG", 1, 1, 0)]),
        ("home", "WH-MAN", 1, "ALLOCATED", [("TEE-M", 2, 2, 0)]),
    ]
    assert allocated(body) == {"TEE-M": (4, 0, "ALLOCATED"), "MUG": (1, 0, "ALLOCATED")}
    assert reservation_lines(db, summary_id) == {
        ("WH-LDN", "TEE-M"): 2,
        ("WH-LDN", "MUG"): 1,
        ("WH-MAN", "TEE-M"): 2,
    }
    assert stock(db) == {
        ("WH-LDN", "TEE-M"): (2, 2),
        ("WH-LDN", "MUG"): (1, 1),
        ("WH-MAN", "TEE-M"): (4, 2),
        ("WH-BHM", "TEE-M"): (1, 0),
        ("WH-BHM", "MUG"): (2, 0),
    }
    assert body["fulfillment_orders"][0]["reason"].startswith("fewest_splits: 2 location(s)")


def test_routing_a_round_again_changes_nothing(db: Database) -> None:
    stock_network(db)
    summary_id = capture(db, order_payload())
    drain(db)
    before = (view(db, summary_id), stock(db), jobs(db))
    group_id = home_group_id(before[0])

    with db.transaction() as session:
        outcome = route_delivery_group(session, outbox(), group_id, round=1, now=utcnow())
    with db.transaction() as session:  # the job itself, run again
        session.execute(m.Job.__table__.update().values(status="pending", available_at=utcnow()))
    drain(db)

    tee_fo = before[0]["fulfillment_orders"][0]["id"]
    assert outcome == RouteOutcome(RouteStatus.ALREADY_ROUTED, (tee_fo,))
    after = (view(db, summary_id), stock(db), [(r, s) for r, s, _ in jobs(db)])
    assert after == (before[0], before[1], [(r, s) for r, s, _ in before[2]])


def test_an_unmanaged_order_is_not_routed(db: Database) -> None:
    stock_network(db)
    summary_id = capture(db, order_payload(lifecycle="UNMANAGED"))

    drain(db)

    body = view(db, summary_id)
    assert (body["fulfillment_orders"], body["routing_attempts"], jobs(db)) == ([], 0, [])


# --- no route ------------------------------------------------------------------------------


def test_no_route_raises_one_exception_until_stock_arrives(db: Database) -> None:
    # Capture holds 2 + 1 units, then the channel ships from one location only.
    stock_network(db, stock={("WH-LDN", "TEE-M"): 2, ("WH-MAN", "TEE-M"): 1})
    summary_id = capture(db, ship_order(reference="NOROUTE-1", **{"TEE-M": 3}))
    set_channel(db, max_splits=0)
    held = stock(db)

    drain(db)

    body = view(db, summary_id)
    [exception] = body["process_exceptions"]
    assert {k: exception[k] for k in ("category", "severity", "status", "occurrences")} == {
        "category": "routing",
        "severity": "medium",
        "status": "NEW",
        "occurrences": 1,
    }
    assert exception["message"].startswith(
        "Delivery group 'home' could not be routed: fewest_splits: no complete route from at "
        "most 1 location(s); partial allocation not allowed"
    )
    assert (body["active_process_exception_count"], body["routing_attempts"]) == (1, 1)
    # nothing changed: no fulfillment order, nothing allocated, no stock moved
    assert (body["fulfillment_orders"], body["status"]) == ([], "CREATED")
    assert allocated(body) == {"TEE-M": (0, 3, "ORDERED")}
    assert stock(db) == held
    # the order's job handed the group to its own job, which retries it with backoff
    assert jobs(db) == [("order", "done", 1), ("1", "pending", 0)]
    with db.reading() as session:
        pe = session.scalars(select(m.ProcessException)).one()
        assert pe.dedupe_key == f"routing:{home_group_id(body)}"
        job = {"group_summary_id": home_group_id(body), "round": 1}
        assert pe.action == {
            "kind": "route_group",
            "payload": job,
            "retry": {
                "kind": "route_group",
                "key": f"route:{home_group_id(body)}:1",
                "payload": job,
                "agent_payload": False,
            },
        }

    assert retry_due_later(db) == 1  # the backoff passed: the same failure again

    body = view(db, summary_id)
    assert [(e["status"], e["occurrences"]) for e in body["process_exceptions"]] == [("NEW", 2)]
    assert (body["active_process_exception_count"], body["routing_attempts"]) == (1, 2)
    assert jobs(db) == [("order", "done", 1), ("1", "pending", 1)]
    assert event_names(body).count("process_exception.raised") == 1

    import_stock(db, **{"WH-LDN/TEE-M": 10})  # stock arrives: routing is brought forward
    drain(db)

    body = view(db, summary_id)
    assert fulfillment_orders(body) == [("home", "WH-LDN", 1, "ALLOCATED", [("TEE-M", 3, 3, 0)])]
    assert [(e["status"], e["occurrences"]) for e in body["process_exceptions"]] == [
        ("RESOLVED", 2)
    ]
    assert (body["active_process_exception_count"], body["routing_attempts"]) == (0, 3)
    assert body["status"] == "WAITING_TO_FULFILL"
    # the unit held in Manchester moved to London
    assert stock(db) == {("WH-LDN", "TEE-M"): (10, 3), ("WH-MAN", "TEE-M"): (1, 0)}
    assert jobs(db) == [("order", "done", 1), ("1", "done", 2)]
    assert event_names(body)[-4:] == [
        "reservation.transferred",
        "process_exception.resolved",
        "fulfillment_order.created",
        "order_summary.routed",
    ]


# --- backorders ----------------------------------------------------------------------------


def test_a_backorder_routes_what_it_can_and_the_rest_when_stock_arrives(db: Database) -> None:
    stock_network(db, stock={("WH-LDN", "TEE-M"): 2}, shortage_policy=ShortagePolicy.BACKORDER)
    summary_id = capture(db, ship_order(reference="BACK-1", **{"TEE-M": 3}))

    drain(db)

    body = view(db, summary_id)
    assert fulfillment_orders(body) == [("home", "WH-LDN", 1, "ALLOCATED", [("TEE-M", 2, 2, 0)])]
    assert allocated(body) == {"TEE-M": (2, 1, "PARTIALLY_ALLOCATED")}
    assert (body["status"], body["routing_attempts"], body["process_exceptions"]) == (
        "WAITING_TO_FULFILL",
        1,
        [],
    )
    partial = body["events"][-1]
    assert partial["name"] == "order_summary.partially_routed"
    assert partial["payload"]["waiting"] == [{"sku": "TEE-M", "quantity": 1}]
    assert jobs(db) == [("order", "done", 1)]
    drain(db)  # nothing new while no stock arrives
    assert view(db, summary_id) == body

    import_stock(db, **{"WH-MAN/TEE-M": 5})
    drain(db)

    body = view(db, summary_id)
    assert fulfillment_orders(body) == [
        ("home", "WH-LDN", 1, "ALLOCATED", [("TEE-M", 2, 2, 0)]),
        ("home", "WH-MAN", 2, "ALLOCATED", [("TEE-M", 1, 1, 0)]),
    ]
    assert allocated(body) == {"TEE-M": (3, 0, "ALLOCATED")}
    assert (body["status"], body["routing_attempts"]) == ("WAITING_TO_FULFILL", 2)
    assert stock(db) == {("WH-LDN", "TEE-M"): (2, 2), ("WH-MAN", "TEE-M"): (5, 1)}
    assert jobs(db) == [("order", "done", 1), ("2", "done", 1)]
    assert event_names(body)[-3:] == [
        "reservation.created",  # the new unit is held for the round-2 fulfillment order
        "fulfillment_order.created",
        "order_summary.routed",
    ]
    with db.reading() as session:
        by_round = {
            round_: reservation_id
            for round_, reservation_id in session.execute(
                select(m.FulfillmentOrder.routing_round, m.FulfillmentOrder.reservation_id)
            )
        }
        fresh = session.get_one(m.Reservation, by_round[2])
    assert by_round[1] != by_round[2]
    assert (fresh.status, fresh.idempotency_key.split(":")[3:5]) == ("ACTIVE", ["round", "2"])


def test_a_backorder_with_nothing_in_stock_waits_without_an_exception(db: Database) -> None:
    stock_network(db, stock={("WH-LDN", "MUG"): 1}, shortage_policy=ShortagePolicy.BACKORDER)
    summary_id = capture(db, ship_order(reference="BACK-2", **{"TEE-M": 2}))

    drain(db)

    body = view(db, summary_id)
    assert (body["fulfillment_orders"], body["process_exceptions"], body["status"]) == (
        [],
        [],
        "CREATED",
    )
    assert (body["routing_attempts"], jobs(db)) == (1, [("order", "done", 1)])

    import_stock(db, **{"WH-MAN/TEE-M": 2})
    drain(db)

    body = view(db, summary_id)
    assert fulfillment_orders(body) == [("home", "WH-MAN", 1, "ALLOCATED", [("TEE-M", 2, 2, 0)])]
    assert stock(db)[("WH-MAN", "TEE-M")] == (2, 2)
    assert jobs(db) == [("order", "done", 1), ("1", "done", 1)]


# --- rejections ---------------------------------------------------------------------------


def test_a_rejected_location_is_left_out_when_the_group_is_routed_again(db: Database) -> None:
    stock_network(db)
    summary_id = capture(db, order_payload())
    drain(db)

    assert reject(db, summary_id, "WH-LDN") == 2
    drain(db)

    body = view(db, summary_id)
    assert fulfillment_orders(body) == [
        ("home", "WH-LDN", 1, "REJECTED", [("TEE-M", 3, 3, 0)]),
        ("home", "WH-MAN", 2, "ALLOCATED", [("TEE-M", 3, 3, 0)]),
        ("store", "STORE-LDN", 1, "ALLOCATED", [("MUG", 1, 1, 0)]),
    ]
    assert allocated(body)["TEE-M"] == (3, 0, "ALLOCATED")
    assert body["routing_attempts"] == 3
    # the units the rejected location held moved to the new one
    assert stock(db)[("WH-LDN", "TEE-M")] == (10, 0)
    assert stock(db)[("WH-MAN", "TEE-M")] == (5, 3)
    requested = next(e for e in body["events"] if e["name"] == "order_summary.reroute_requested")
    assert (requested["payload"]["routing_round"], requested["payload"]["reason"]) == (
        2,
        "stock damaged",
    )

    # Manchester rejects too: no location is left for the group
    assert reject(db, summary_id, "WH-MAN") == 3
    drain(db)

    body = view(db, summary_id)
    assert [fo["status"] for fo in body["fulfillment_orders"]] == [
        "REJECTED",
        "REJECTED",
        "ALLOCATED",
    ]
    assert [(e["category"], e["status"]) for e in body["process_exceptions"]] == [
        ("routing", "NEW")
    ]
    assert body["active_process_exception_count"] == 1
    assert allocated(body)["TEE-M"] == (0, 3, "ORDERED")
    assert stock(db)[("WH-MAN", "TEE-M")] == (5, 3)  # still held: nothing moved
    assert jobs(db)[-1] == ("3", "pending", 1)


def test_two_workers_routing_one_round_at_once_make_it_once(db: Database) -> None:
    stock_network(db)
    summary_id = capture(db, ship_order(reference="RACE-1", **{"TEE-M": 3}))
    group_id = home_group_id(view(db, summary_id))
    barrier = threading.Barrier(2)
    outcomes: list[RouteStatus] = []

    def route_once() -> None:
        barrier.wait()
        with db.transaction() as session:
            outcome = route_delivery_group(session, outbox(), group_id, round=1, now=utcnow())
        outcomes.append(outcome.status)

    threads = [threading.Thread(target=route_once) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == [RouteStatus.ALREADY_ROUTED, RouteStatus.ROUTED]
    body = view(db, summary_id)
    assert fulfillment_orders(body) == [("home", "WH-LDN", 1, "ALLOCATED", [("TEE-M", 3, 3, 0)])]
    assert (allocated(body), body["routing_attempts"]) == ({"TEE-M": (3, 0, "ALLOCATED")}, 1)
    assert stock(db)[("WH-LDN", "TEE-M")] == (10, 3)


def test_two_lines_of_one_sku_are_allocated_line_by_line(db: Database) -> None:
    stock_network(db)
    payload = ship_order(reference="TWO-LINES", **{"TEE-M": 2})
    payload["items"].append(dict(payload["items"][0], quantity=1))
    summary_id = capture(db, payload)

    drain(db)

    body = view(db, summary_id)
    first, second = (i for i in body["items"] if i["type"] == "product")
    [fo] = body["fulfillment_orders"]
    assert [(ln["order_item_summary_id"], ln["quantity"]) for ln in fo["lines"]] == [
        (first["id"], 2),
        (second["id"], 1),
    ]
    assert [(i["quantity_allocated"], i["status"]) for i in (first, second)] == [
        (2, "ALLOCATED"),
        (1, "ALLOCATED"),
    ]


def test_when_retries_run_out_the_stock_is_released_and_the_exception_says_so(
    db: Database,
) -> None:
    stock_network(db, stock={("WH-LDN", "TEE-M"): 2, ("WH-MAN", "TEE-M"): 1})
    summary_id = capture(db, ship_order(reference="DEAD-1", **{"TEE-M": 3}))
    set_channel(db, max_splits=0)  # after capture: no single location holds the 3 units
    drain(db)
    assert stock(db) == {("WH-LDN", "TEE-M"): (2, 2), ("WH-MAN", "TEE-M"): (1, 1)}
    with db.transaction() as session:  # as if the group's job had failed 19 times already
        jobs_table = m.Job.__table__
        session.execute(
            jobs_table.update().where(jobs_table.c.kind == "route_group").values(attempts=19)
        )

    assert retry_due_later(db) == 1

    body = view(db, summary_id)
    [exception] = body["process_exceptions"]
    assert (exception["status"], exception["occurrences"]) == ("NEW", 2)
    assert exception["message"].endswith(
        "(routing stopped retrying after 20 attempts and gave back the 3 unit(s) it held; "
        "new stock or a retry restarts it)"
    )
    assert jobs(db) == [("order", "done", 1), ("1", "dead", 20)]
    # DESIGN §5: routing failure releases the reservation, with its event, at once.
    assert stock(db) == {("WH-LDN", "TEE-M"): (2, 0), ("WH-MAN", "TEE-M"): (1, 0)}
    assert reservation_lines(db, summary_id) == {}
    released = [e["payload"] for e in body["events"] if e["name"] == "reservation.released"]
    assert sorted(
        (p["reason"], p["delivery_group_summary_id"], ln["sku"], ln["quantity"])
        for p in released
        for ln in p["lines"]
    ) == [
        ("routing_failed", home_group_id(body), "TEE-M", 1),
        ("routing_failed", home_group_id(body), "TEE-M", 2),
    ]
    assert released[-1]["status"] == "RELEASED"
    assert allocated(body) == {"TEE-M": (0, 3, "ORDERED")}

    drain(db)  # the release is no news to the group that gave up: it stays dead
    assert jobs(db) == [("order", "done", 1), ("1", "dead", 20)]
    assert view(db, summary_id)["routing_attempts"] == body["routing_attempts"] == 2

    import_stock(db, **{"WH-MAN/TEE-M": 4})  # new stock revives the dead job
    drain(db)

    body = view(db, summary_id)
    assert fulfillment_orders(body) == [("home", "WH-MAN", 1, "ALLOCATED", [("TEE-M", 3, 3, 0)])]
    assert [e["status"] for e in body["process_exceptions"]] == ["RESOLVED"]
    assert jobs(db) == [("order", "done", 1), ("1", "done", 21)]
    assert stock(db) == {("WH-LDN", "TEE-M"): (2, 0), ("WH-MAN", "TEE-M"): (4, 3)}


def test_only_a_rejected_fulfillment_order_is_routed_again(db: Database) -> None:
    stock_network(db)
    summary_id = capture(db, ship_order(reference="NOTREJ-1", **{"TEE-M": 1}))
    drain(db)
    [fo] = view(db, summary_id)["fulfillment_orders"]
    before = (jobs(db), view(db, summary_id))

    def reroute(fo_id: str) -> int:
        with db.transaction() as session:
            return reroute_after_rejection(session, outbox(), fo_id, reason="no")

    with pytest.raises(IllegalTransition, match="only a rejected one is routed again"):
        reroute(fo["id"])
    with pytest.raises(FulfillmentOrderNotFound):
        reroute("fo_missing")

    assert (jobs(db), view(db, summary_id)) == before

"""The warehouse side, on SQLite and PostgreSQL: status steps, cancel lines, reject, ship
(whole, partial, too much), labels through carrier outages, tracking, and the HTTP API.

Fulfillment orders are made by a factory (capture on the stocked network, then one FO with
its lines, the items' allocated counters and the reservation moved to the FO's location),
so each test controls where the units sit. Failure paths compare a full snapshot: FOs,
item counters, inventory, reservation lines, shipments, jobs and events."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from openoms.adapters.carriers import Carriers, default_carriers
from openoms.adapters.carriers.sandbox import SandboxCarrier
from openoms.adapters.db import models as m
from openoms.adapters.db.models import utcnow
from openoms.adapters.db.session import Database
from openoms.adapters.jobs import run_due_jobs
from openoms.adapters.outbox import ConsumerRegistry, Outbox
from openoms.domain.errors import IllegalTransition, QuantityInvalid, ValidationFailed
from openoms.domain.fulfillment import FulfillmentOrderStatus, ShipmentStatus
from openoms.domain.ports import CarrierChoice, Label, TrackingState
from openoms.services import fulfillment as labels
from openoms.services import fulfillment as shipping
from openoms.services import fulfillment as svc
from openoms.services.orders import item_quantities
from openoms.services.routing import routing_consumers
from openoms.services.service_actions import reship_consumers
from openoms.worker.consumers import default_jobs
from openoms.worker.relay import process_batch
from tests.integration.conftest import Api
from tests.integration.fulfillment_world import capture, make_fo, run, ship
from tests.integration.helpers import bookkeeping, count, stock
from tests.payloads import order_payload

S = FulfillmentOrderStatus
Snapshot = dict[str, Any]


# --- factories and helpers ----------------------------------------------------------------


@pytest.fixture
def outbox() -> Outbox:
    return Outbox(ConsumerRegistry())


@pytest.fixture
def carriers(db: Database) -> Carriers:
    return default_carriers(db, env={})


def fo_state(db: Database, fo_id: str) -> tuple[str, list[tuple[str, int, int, int]]]:
    """(status, [(sku, original_quantity, quantity, shipped)])."""
    with db.reading() as session:
        fo = svc.get_fulfillment_order(session, fo_id)
        return fo.status, [
            (li.sku, li.original_quantity, li.quantity, li.shipped) for li in fo.lines
        ]


def item_counters(db: Database, summary_id: str) -> dict[str, tuple[int, int, int]]:
    """sku → (allocated, fulfilled, available_to_fulfill) of the product items."""
    with db.reading() as session:
        items = session.scalars(
            select(m.OrderItemSummary).where(
                m.OrderItemSummary.order_summary_id == summary_id,
                m.OrderItemSummary.type == "product",
            )
        ).all()
        return {
            i.sku: (
                i.quantity_allocated,
                i.quantity_fulfilled,
                item_quantities(i).available_to_fulfill,
            )
            for i in items
        }


def held(db: Database, summary_id: str) -> dict[tuple[str, str], tuple[int, int, int]]:
    """(location ref, sku) → (held, fulfilled, released) over the order's reservations."""
    with db.reading() as session:
        rows = session.execute(
            select(m.Location.ref, m.ReservationLine)
            .join(m.Reservation, m.Reservation.id == m.ReservationLine.reservation_id)
            .join(m.Location, m.Location.id == m.ReservationLine.location_id)
            .where(m.Reservation.order_summary_id == summary_id)
        ).all()
    return {
        (ref, line.sku): (line.quantity, line.fulfilled, line.released)
        for ref, line in rows
        if line.quantity or line.fulfilled or line.released
    }


def summary_status(db: Database, summary_id: str) -> str:
    with db.reading() as session:
        summary = session.get(m.OrderSummary, summary_id)
        assert summary is not None
        return summary.status


def events(db: Database, *prefixes: str) -> list[tuple[str, dict[str, Any]]]:
    with db.reading() as session:
        rows = session.scalars(select(m.Event).order_by(m.Event.id)).all()
    return [(e.name, e.payload) for e in rows if e.name.startswith(prefixes or ("",))]


def snapshot(db: Database, summary_id: str, *fo_ids: str) -> Snapshot:
    return {
        "fos": [fo_state(db, fo_id) for fo_id in fo_ids],
        "items": item_counters(db, summary_id),
        "stock": stock(db),
        "held": held(db, summary_id),
        "status": summary_status(db, summary_id),
        "shipments": count(db, m.Shipment),
        "events": count(db, m.Event),
        **bookkeeping(db),
    }


def reject_and_reroute(db: Database, fo_id: str, *, reason: str) -> m.FulfillmentOrder:
    """Reject the FO, then deliver its `fulfillment_order.rejected` to the consumers that
    route the units again (routing's and reships', as the worker wires them): nothing is
    routed again before the delivery."""
    rerouting = ConsumerRegistry(
        c
        for c in [
            *routing_consumers(Outbox(ConsumerRegistry())),
            *reship_consumers(Outbox(ConsumerRegistry())),
        ]
        if c.wants("fulfillment_order.rejected")
    )
    fo = run(db, svc.reject, Outbox(rerouting), fo_id, reason=reason)
    assert events(db, "order_summary.reroute_requested") == []
    process_batch(db, rerouting)
    return fo


def jobs(db: Database, kind: str) -> list[tuple[str, dict[str, Any], str, int]]:
    with db.reading() as session:
        rows = session.scalars(select(m.Job).where(m.Job.kind == kind).order_by(m.Job.id)).all()
        return [(j.dedupe_key, j.payload, j.status, j.attempts) for j in rows]


def shipment_row(db: Database, shipment_id: str) -> m.Shipment:
    with db.reading() as session:
        return shipping.get_shipment(session, shipment_id)


# --- status steps -------------------------------------------------------------------------


def test_status_steps_follow_the_table(stocked: Database, outbox: Outbox) -> None:
    summary_id = capture(stocked, outbox)
    fo_id = make_fo(stocked, outbox, summary_id=summary_id)
    assert summary_status(stocked, summary_id) == "WAITING_TO_FULFILL"
    for step in (S.ASSIGNED, S.PICK_COMPLETE, S.PACK_COMPLETE):
        fo = run(stocked, svc.change_status, outbox, fo_id, step)
        assert fo.status == step.value
    location_id = fo.location_id
    assert [p for _, p in events(stocked, "fulfillment_order.status_changed")] == [
        {"fulfillment_order_id": fo_id, "location_id": location_id, "from": a, "to": b}
        for a, b in (
            ("ALLOCATED", "ASSIGNED"),
            ("ASSIGNED", "PICK_COMPLETE"),
            ("PICK_COMPLETE", "PACK_COMPLETE"),
        )
    ]
    assert summary_status(stocked, summary_id) == "WAITING_TO_FULFILL"


@pytest.mark.parametrize(
    ("start", "target"),
    [(S.ALLOCATED, S.PICK_COMPLETE), (S.ALLOCATED, S.PACK_COMPLETE), (S.PACK_COMPLETE, S.ASSIGNED)],
)
def test_illegal_steps_are_refused_and_change_nothing(
    stocked: Database, outbox: Outbox, start: S, target: S
) -> None:
    summary_id = capture(stocked, outbox)
    fo_id = make_fo(stocked, outbox, summary_id=summary_id, status=start)
    before = snapshot(stocked, summary_id, fo_id)
    with pytest.raises(IllegalTransition) as caught:
        run(stocked, svc.change_status, outbox, fo_id, target)
    assert caught.value.detail.startswith(
        f"a fulfillment order that is {start.value} cannot become {target.value}"
    )
    assert snapshot(stocked, summary_id, fo_id) == before


@pytest.mark.parametrize("target", [S.FULFILLED, S.CANCELED, S.REJECTED, S.DRAFT])
def test_shipping_canceling_rejecting_are_not_status_changes(
    stocked: Database, outbox: Outbox, target: S
) -> None:
    summary_id = capture(stocked, outbox)
    fo_id = make_fo(stocked, outbox, summary_id=summary_id)
    with pytest.raises(svc.FulfillmentStatusInvalid) as caught:
        run(stocked, svc.change_status, outbox, fo_id, target)
    assert caught.value.code == "fulfillment_status_invalid"
    assert fo_state(stocked, fo_id)[0] == "ALLOCATED"


# --- cancel lines -------------------------------------------------------------------------


def test_cancel_part_of_a_line(stocked: Database, outbox: Outbox) -> None:
    summary_id = capture(stocked, outbox)
    fo_id = make_fo(stocked, outbox, summary_id=summary_id)
    assert stock(stocked)[("WH-LDN", "TEE-M")] == (10, 3)
    line_id = fo_state_line_ids(stocked, fo_id)[0]
    fo = run(stocked, svc.cancel_lines, outbox, fo_id, [(line_id, 1)])
    assert fo.status == "ALLOCATED"
    assert fo_state(stocked, fo_id) == ("ALLOCATED", [("TEE-M", 3, 2, 0)])
    # allocated down, one unit available to fulfil again, and its stock given back
    assert item_counters(stocked, summary_id)["TEE-M"] == (2, 0, 1)
    assert stock(stocked)[("WH-LDN", "TEE-M")] == (10, 2)
    assert held(stocked, summary_id)[("WH-LDN", "TEE-M")] == (2, 0, 1)
    assert summary_status(stocked, summary_id) == "WAITING_TO_FULFILL"
    [(_, payload)] = events(stocked, "fulfillment_order.lines_canceled")
    assert payload["lines"] == [
        {
            "id": line_id,
            "order_item_summary_id": payload["lines"][0]["order_item_summary_id"],
            "sku": "TEE-M",
            "quantity": 1,
        }
    ]


def fo_state_line_ids(db: Database, fo_id: str) -> list[str]:
    with db.reading() as session:
        return [line.id for line in svc.get_fulfillment_order(session, fo_id).lines]


def test_cancel_every_line_cancels_the_fulfillment_order(stocked: Database, outbox: Outbox) -> None:
    summary_id = capture(stocked, outbox)
    fo_id = make_fo(stocked, outbox, summary_id=summary_id, status=S.PICK_COMPLETE)
    [line_id] = fo_state_line_ids(stocked, fo_id)
    run(stocked, svc.cancel_lines, outbox, fo_id, [(line_id, 2), (line_id, 1)])
    assert fo_state(stocked, fo_id) == ("CANCELED", [("TEE-M", 3, 0, 0)])
    assert item_counters(stocked, summary_id)["TEE-M"] == (0, 0, 3)
    assert stock(stocked)[("WH-LDN", "TEE-M")] == (10, 0)
    assert held(stocked, summary_id)[("WH-LDN", "TEE-M")] == (0, 0, 3)
    assert summary_status(stocked, summary_id) == "CREATED"
    names = [name for name, _ in events(stocked, "fulfillment_order.", "order_summary.status")]
    assert names[-4:] == [
        "fulfillment_order.status_changed",  # → PICK_COMPLETE (the factory)
        "fulfillment_order.lines_canceled",
        "fulfillment_order.status_changed",  # → CANCELED
        "order_summary.status_changed",  # WAITING_TO_FULFILL → CREATED
    ]
    assert events(stocked, "fulfillment_order.status_changed")[-1][1]["to"] == "CANCELED"


def test_cancel_more_than_unshipped_is_refused_with_a_way_out(
    stocked: Database, outbox: Outbox
) -> None:
    summary_id = capture(stocked, outbox)
    fo_id = make_fo(stocked, outbox, summary_id=summary_id)
    ship(stocked, outbox, fo_id, items=[("TEE-M", 1)])
    [line_id] = fo_state_line_ids(stocked, fo_id)
    before = snapshot(stocked, summary_id, fo_id)
    with pytest.raises(svc.CancelExceedsUnshipped) as caught:
        run(stocked, svc.cancel_lines, outbox, fo_id, [(line_id, 3)])
    assert caught.value.status == 409
    assert caught.value.detail == (
        f"cannot cancel 3 of TEE-M on line {line_id}: only 2 are unshipped (1 shipped, "
        "0 canceled already); cancel at most 2, and return shipped units instead"
    )
    assert caught.value.extra == {
        "line_id": line_id,
        "sku": "TEE-M",
        "requested": 3,
        "unshipped": 2,
    }
    assert snapshot(stocked, summary_id, fo_id) == before


def test_cancel_rest_after_partial_ship_fulfills(stocked: Database, outbox: Outbox) -> None:
    summary_id = capture(stocked, outbox)
    fo_id = make_fo(stocked, outbox, summary_id=summary_id)
    ship(stocked, outbox, fo_id, items=[("TEE-M", 1)])
    [line_id] = fo_state_line_ids(stocked, fo_id)
    run(stocked, svc.cancel_lines, outbox, fo_id, [(line_id, 2)])
    assert fo_state(stocked, fo_id) == ("FULFILLED", [("TEE-M", 3, 1, 1)])
    assert item_counters(stocked, summary_id)["TEE-M"] == (1, 1, 2)
    assert stock(stocked)[("WH-LDN", "TEE-M")] == (9, 0)


@pytest.mark.parametrize(
    ("items", "error"),
    [([("foli_nope", 1)], svc.FulfillmentLineUnknown), ([], Exception), (None, QuantityInvalid)],
)
def test_cancel_bad_requests_change_nothing(
    stocked: Database, outbox: Outbox, items: Any, error: type[Exception]
) -> None:
    summary_id = capture(stocked, outbox)
    fo_id = make_fo(stocked, outbox, summary_id=summary_id)
    if items is None:
        items = [(fo_state_line_ids(stocked, fo_id)[0], 0)]
    before = snapshot(stocked, summary_id, fo_id)
    with pytest.raises(error):
        run(stocked, svc.cancel_lines, outbox, fo_id, items)
    assert snapshot(stocked, summary_id, fo_id) == before


def test_cancel_lines_of_a_closed_fulfillment_order_is_illegal(
    stocked: Database, outbox: Outbox
) -> None:
    summary_id = capture(stocked, outbox)
    fo_id = make_fo(stocked, outbox, summary_id=summary_id)
    ship(stocked, outbox, fo_id)
    [line_id] = fo_state_line_ids(stocked, fo_id)
    with pytest.raises(IllegalTransition, match="is FULFILLED has no lines left to cancel"):
        run(stocked, svc.cancel_lines, outbox, fo_id, [(line_id, 1)])


# --- reject -------------------------------------------------------------------------------


def test_reject_gives_units_back_keeps_stock_held_and_reroutes(
    stocked: Database, outbox: Outbox
) -> None:
    summary_id = capture(stocked, outbox)
    fo_id = make_fo(stocked, outbox, summary_id=summary_id, status=S.ASSIGNED)
    # Routing's consumer of `fulfillment_order.rejected` routes the group again.
    fo = reject_and_reroute(stocked, fo_id, reason="  shelf empty  ")
    assert (fo.status, fo.reason) == ("REJECTED", "shelf empty")
    assert fo_state(stocked, fo_id) == ("REJECTED", [("TEE-M", 3, 3, 0)])
    assert item_counters(stocked, summary_id)["TEE-M"] == (0, 0, 3)
    # The units stay held at WH-LDN: routing moves them.
    assert stock(stocked)[("WH-LDN", "TEE-M")] == (10, 3)
    assert held(stocked, summary_id)[("WH-LDN", "TEE-M")] == (3, 0, 0)
    assert summary_status(stocked, summary_id) == "CREATED"
    [(_, rejected)] = events(stocked, "fulfillment_order.rejected")
    assert rejected["reason"] == "shelf empty"
    assert [(li["sku"], li["quantity"]) for li in rejected["lines"]] == [("TEE-M", 3)]
    assert events(stocked, "fulfillment_order.status_changed")[-1][1]["to"] == "REJECTED"
    # Routing was asked to route the group again, in round 2.
    [(_, reroute)] = events(stocked, "order_summary.reroute_requested")
    assert (reroute["rejected_fulfillment_order_id"], reroute["routing_round"]) == (fo_id, 2)
    [(key, payload, status, _)] = jobs(stocked, "route_group")
    assert key == f"route:{fo.delivery_group_summary_id}:2"
    assert (payload["round"], payload["reason"], status) == (2, "shelf empty", "pending")


def test_reject_is_illegal_once_packed_or_shipped(stocked: Database, outbox: Outbox) -> None:
    summary_id = capture(stocked, outbox)
    packed = make_fo(
        stocked, outbox, summary_id=summary_id, items={"TEE-M": 1}, status=S.PACK_COMPLETE
    )
    with pytest.raises(IllegalTransition, match="PACK_COMPLETE cannot become REJECTED"):
        run(stocked, svc.reject, outbox, packed, reason="no")
    partly = make_fo(stocked, outbox, summary_id=summary_id, items={"TEE-M": 2})
    ship(stocked, outbox, partly, items=[("TEE-M", 1)])
    before = snapshot(stocked, summary_id, packed, partly)
    with pytest.raises(IllegalTransition, match="has shipped 1 unit and cannot be rejected"):
        run(stocked, svc.reject, outbox, partly, reason="no")
    with pytest.raises(ValidationFailed, match="reason of 1 to 500"):
        run(stocked, svc.reject, outbox, packed, reason="   ")
    assert snapshot(stocked, summary_id, packed, partly) == before


# --- ship ---------------------------------------------------------------------------------


def test_ship_everything(stocked: Database, outbox: Outbox, carriers: Carriers) -> None:
    summary_id = capture(stocked, outbox)
    fo_id = make_fo(stocked, outbox, summary_id=summary_id)
    shipment = ship(stocked, outbox, fo_id, carrier_choice=carriers)
    assert (shipment.status, shipment.carrier, shipment.service) == (
        "LABEL_PENDING",
        "sandbox-domestic",
        "standard",
    )
    assert shipment.tracking_number is None
    assert [(i.sku, i.quantity) for i in shipment.items] == [("TEE-M", 3)]
    assert fo_state(stocked, fo_id) == ("FULFILLED", [("TEE-M", 3, 3, 3)])
    assert stock(stocked)[("WH-LDN", "TEE-M")] == (7, 0)
    assert held(stocked, summary_id)[("WH-LDN", "TEE-M")] == (0, 3, 0)
    assert item_counters(stocked, summary_id)["TEE-M"] == (3, 3, 0)
    assert summary_status(stocked, summary_id) == "PARTIALLY_FULFILLED"  # the MUG waits
    names = [n for n, _ in events(stocked)]
    assert names[-4:] == [
        "reservation.fulfilled",
        "fulfillment_order.shipped",
        "fulfillment_order.status_changed",
        "order_summary.status_changed",
    ]
    [(_, shipped)] = events(stocked, "fulfillment_order.shipped")
    assert {k: v for k, v in shipped.items() if k != "items"} == {
        "fulfillment_order_id": fo_id,
        "location_id": shipped["location_id"],
        "shipment_id": shipment.id,
        "carrier": "sandbox-domestic",
        "service": "standard",
        "complete": True,
    }
    assert [(i["sku"], i["quantity"]) for i in shipped["items"]] == [("TEE-M", 3)]
    assert events(stocked, "fulfillment_order.status_changed")[-1][1] == {
        "fulfillment_order_id": fo_id,
        "location_id": shipped["location_id"],
        "from": "ALLOCATED",
        "to": "FULFILLED",
    }
    assert events(stocked, "order_summary.status_changed")[-1][1] == {
        "from": "WAITING_TO_FULFILL",
        "to": "PARTIALLY_FULFILLED",
    }
    assert jobs(stocked, "create_label") == [
        (f"label:{shipment.id}", {"shipment_id": shipment.id}, "pending", 0)
    ]
    # The worker buys the label.
    assert run_due_jobs(stocked, outbox, default_jobs(stocked, carriers)) == 1
    stored = shipment_row(stocked, shipment.id)
    domestic = carriers.get("sandbox-domestic")
    assert isinstance(domestic, SandboxCarrier)
    assert (stored.status, stored.tracking_number) == (
        "SHIPPED",
        domestic.tracking_number_for(f"label:{shipment.id}"),
    )
    assert domestic.ledger == [
        Label(stored.tracking_number, stored.label_url, "sandbox-domestic", "standard")
    ]
    assert events(stocked, "shipment.")[-1] == (
        "shipment.label_created",
        {
            "shipment_id": shipment.id,
            "fulfillment_order_id": fo_id,
            "carrier": "sandbox-domestic",
            "service": "standard",
            "tracking_number": stored.tracking_number,
            "label_url": stored.label_url,
        },
    )
    assert jobs(stocked, "create_label")[0][2:] == ("done", 1)


def test_partial_shipments_twice(stocked: Database, outbox: Outbox) -> None:
    summary_id = capture(stocked, outbox)
    fo_id = make_fo(stocked, outbox, summary_id=summary_id, status=S.ASSIGNED)
    first = ship(stocked, outbox, fo_id, items=[("TEE-M", 1)])
    assert fo_state(stocked, fo_id) == ("PACK_COMPLETE", [("TEE-M", 3, 3, 1)])
    assert stock(stocked)[("WH-LDN", "TEE-M")] == (9, 2)
    assert item_counters(stocked, summary_id)["TEE-M"] == (3, 1, 0)
    assert summary_status(stocked, summary_id) == "PARTIALLY_FULFILLED"
    second = ship(stocked, outbox, fo_id)  # the rest
    assert [(i.sku, i.quantity) for i in second.items] == [("TEE-M", 2)]
    assert first.id != second.id
    assert fo_state(stocked, fo_id) == ("FULFILLED", [("TEE-M", 3, 3, 3)])
    assert stock(stocked)[("WH-LDN", "TEE-M")] == (7, 0)
    assert item_counters(stocked, summary_id)["TEE-M"] == (3, 3, 0)
    moves = [(p["from"], p["to"]) for _, p in events(stocked, "fulfillment_order.status_changed")]
    assert moves == [
        ("ALLOCATED", "ASSIGNED"),
        ("ASSIGNED", "PACK_COMPLETE"),
        ("PACK_COMPLETE", "FULFILLED"),
    ]
    assert [p["complete"] for _, p in events(stocked, "fulfillment_order.shipped")] == [False, True]
    assert len(jobs(stocked, "create_label")) == 2


def test_shipping_more_than_the_fulfillment_order_holds_changes_nothing(
    stocked: Database, outbox: Outbox
) -> None:
    summary_id = capture(stocked, outbox)
    fo_id = make_fo(stocked, outbox, summary_id=summary_id)
    ship(stocked, outbox, fo_id, items=[("TEE-M", 2)])
    before = snapshot(stocked, summary_id, fo_id)
    with pytest.raises(shipping.ShipmentExceedsFulfillmentOrder) as caught:
        ship(stocked, outbox, fo_id, items=[("TEE-M", 1), ("TEE-M", 1)])
    assert (caught.value.code, caught.value.status) == ("shipment_exceeds_fulfillment_order", 409)
    assert caught.value.detail == (
        f"cannot ship 2 of TEE-M: fulfillment order {fo_id} has 1 left to ship"
    )
    assert caught.value.extra == {"sku": "TEE-M", "requested": 2, "remaining": 1}
    with pytest.raises(shipping.ShipmentExceedsFulfillmentOrder, match="does not hold it"):
        ship(stocked, outbox, fo_id, items=[("MUG", 1)])
    with pytest.raises(QuantityInvalid):
        ship(stocked, outbox, fo_id, items=[("TEE-M", 0)])
    assert snapshot(stocked, summary_id, fo_id) == before


@pytest.mark.parametrize("end", ["FULFILLED", "CANCELED", "REJECTED"])
def test_shipping_a_closed_fulfillment_order_is_illegal(
    stocked: Database, outbox: Outbox, end: str
) -> None:
    summary_id = capture(stocked, outbox)
    fo_id = make_fo(stocked, outbox, summary_id=summary_id)
    if end == "FULFILLED":
        ship(stocked, outbox, fo_id)
    elif end == "CANCELED":
        run(stocked, svc.cancel_lines, outbox, fo_id, [(fo_state_line_ids(stocked, fo_id)[0], 3)])
    else:
        run(stocked, svc.reject, outbox, fo_id, reason="flooded")
    before = snapshot(stocked, summary_id, fo_id)
    with pytest.raises(IllegalTransition, match=f"that is {end} cannot ship"):
        ship(stocked, outbox, fo_id)
    assert snapshot(stocked, summary_id, fo_id) == before


def test_a_pickup_ships_through_the_pickup_counter(
    stocked: Database, outbox: Outbox, carriers: Carriers
) -> None:
    summary_id = capture(stocked, outbox)
    fo_id = make_fo(stocked, outbox, summary_id=summary_id, location="STORE-LDN", group="store")
    shipment = ship(stocked, outbox, fo_id, carrier_choice=carriers)
    assert (shipment.carrier, shipment.service) == ("pickup", None)
    attempt = labels.request_label(stocked, outbox, carriers, shipment.id)
    assert attempt.outcome is labels.LabelOutcome.CREATED
    assert shipment_row(stocked, shipment.id).tracking_number.startswith("PU")  # type: ignore[union-attr]
    assert stock(stocked)[("STORE-LDN", "MUG")] == (9, 0)


# --- labels through carrier trouble -------------------------------------------------------


def test_carrier_outage_keeps_the_shipment_pending_and_the_job_buys_one_label(
    stocked: Database, outbox: Outbox, carriers: Carriers
) -> None:
    summary_id = capture(stocked, outbox)
    fo_id = make_fo(stocked, outbox, summary_id=summary_id)
    domestic = carriers.get("sandbox-domestic")
    assert isinstance(domestic, SandboxCarrier)
    domestic.set_outage(True)
    shipment = ship(stocked, outbox, fo_id, carrier_choice=carriers)
    attempt = labels.request_label(stocked, outbox, carriers, shipment.id)
    assert attempt.outcome is labels.LabelOutcome.PENDING
    after_ship = snapshot(stocked, summary_id, fo_id)
    registry = default_jobs(stocked, carriers)
    now = utcnow()
    for minutes in (1, 2, 3):  # the worker keeps trying while the carrier is down
        assert run_due_jobs(stocked, outbox, registry, now=now + timedelta(minutes=minutes)) == 1
    [(_, _, status, attempts)] = jobs(stocked, "create_label")
    assert (status, attempts) == ("pending", 3)
    assert shipment_row(stocked, shipment.id).status == "LABEL_PENDING"
    snap = snapshot(stocked, summary_id, fo_id)
    # Nothing lost, nothing moved; only the label job counted its attempts (checked above).
    assert {**snap, "jobs": None} == {**after_ship, "jobs": None}
    assert domestic.ledger == []
    domestic.set_outage(False)
    assert run_due_jobs(stocked, outbox, registry, now=now + timedelta(hours=2)) == 1
    stored = shipment_row(stocked, shipment.id)
    assert stored.status == "SHIPPED"
    assert len(domestic.ledger) == 1
    assert domestic.ledger[0].tracking_number == stored.tracking_number
    # Asking again buys nothing: the shipment has its label.
    calls = domestic.calls
    again = labels.request_label(stocked, outbox, carriers, shipment.id)
    assert again.outcome is labels.LabelOutcome.DONE
    assert (domestic.calls, len(domestic.ledger)) == (calls, 1)
    assert jobs(stocked, "create_label")[0][2:] == ("done", 4)
    assert len(events(stocked, "shipment.label_created")) == 1


def test_a_refused_label_raises_a_carrier_exception_and_stops(
    stocked: Database, outbox: Outbox, carriers: Carriers
) -> None:
    payload = order_payload()
    del payload["delivery_groups"][0]["recipient"]["address"]["postal_code"]
    summary_id = capture(stocked, outbox, **{"delivery_groups": payload["delivery_groups"]})
    fo_id = make_fo(stocked, outbox, summary_id=summary_id)
    shipment = ship(stocked, outbox, fo_id, carrier_choice=carriers)
    attempt = labels.request_label(stocked, outbox, carriers, shipment.id)
    assert attempt.outcome is labels.LabelOutcome.REJECTED
    assert "without a postal code" in attempt.detail
    with stocked.reading() as session:
        [exception] = session.scalars(select(m.ProcessException)).all()
        summary = session.get(m.OrderSummary, summary_id)
        assert summary is not None
        assert summary.active_process_exception_count == 1
    assert (exception.category, exception.status, exception.dedupe_key) == (
        "carrier",
        "NEW",
        f"label:{shipment.id}",
    )
    assert exception.action == {
        "kind": "create_label",
        "payload": {"shipment_id": shipment.id},
        "retry": {  # an agent's retry asks the carrier although the exception is open
            "kind": "create_label",
            "key": f"label:{shipment.id}",
            "payload": {"shipment_id": shipment.id, "agent_retry": True},
            "agent_payload": True,
        },
    }
    assert exception.message == attempt.detail
    # The job sees the open exception and does not ask the carrier again.
    domestic = carriers.get("sandbox-domestic")
    assert isinstance(domestic, SandboxCarrier)
    calls = domestic.calls
    assert run_due_jobs(stocked, outbox, default_jobs(stocked, carriers)) == 1
    assert domestic.calls == calls
    assert jobs(stocked, "create_label")[0][2] == "done"
    assert shipment_row(stocked, shipment.id).status == "LABEL_PENDING"
    assert [n for n, _ in events(stocked, "process_exception.")] == ["process_exception.raised"]


def test_an_agent_retry_asks_the_carrier_and_a_stored_label_resolves_the_exception(
    stocked: Database, outbox: Outbox, carriers: Carriers
) -> None:
    payload = order_payload()
    del payload["delivery_groups"][0]["recipient"]["address"]["postal_code"]
    summary_id = capture(stocked, outbox, **{"delivery_groups": payload["delivery_groups"]})
    fo_id = make_fo(stocked, outbox, summary_id=summary_id)
    shipment = ship(stocked, outbox, fo_id, carrier_choice=carriers)
    assert labels.request_label(stocked, outbox, carriers, shipment.id).outcome is (
        labels.LabelOutcome.REJECTED
    )
    domestic = carriers.get("sandbox-domestic")
    assert isinstance(domestic, SandboxCarrier)
    calls = domestic.calls
    blocked = labels.request_label(stocked, outbox, carriers, shipment.id)
    assert (blocked.outcome, domestic.calls) == (labels.LabelOutcome.BLOCKED, calls)

    # An agent's retry asks though the exception is open; refused again, it is refreshed.
    again = labels.request_label(stocked, outbox, carriers, shipment.id, agent_retry=True)
    assert again.outcome is labels.LabelOutcome.REJECTED
    assert domestic.calls == calls + 1
    with stocked.reading() as session:
        [exception] = session.scalars(select(m.ProcessException)).all()
    assert (exception.status, exception.occurrences) == ("NEW", 2)

    with stocked.transaction() as session:  # the agent fixes the address
        group = session.scalars(
            select(m.OrderDeliveryGroupSummary).where(
                m.OrderDeliveryGroupSummary.order_summary_id == summary_id,
                m.OrderDeliveryGroupSummary.ref == "home",
            )
        ).one()
        group.postal_code = "EC1A 1BB"
    created = labels.request_label(stocked, outbox, carriers, shipment.id, agent_retry=True)
    assert created.outcome is labels.LabelOutcome.CREATED
    stored = shipment_row(stocked, shipment.id)
    assert (stored.status, stored.tracking_number) == ("SHIPPED", created.detail)
    with stocked.reading() as session:
        [exception] = session.scalars(select(m.ProcessException)).all()
        summary = session.get(m.OrderSummary, summary_id)
        assert summary is not None
        assert summary.active_process_exception_count == 0
    assert (exception.status, exception.occurrences) == ("RESOLVED", 2)
    assert [n for n, _ in events(stocked, "process_exception.")] == [
        "process_exception.raised",
        "process_exception.resolved",
    ]
    assert len(domestic.ledger) == 1
    # Asked once more, the shipment has its label: nothing is bought, nothing reopens.
    done = labels.request_label(stocked, outbox, carriers, shipment.id, agent_retry=True)
    assert (done.outcome, len(domestic.ledger)) == (labels.LabelOutcome.DONE, 1)
    assert len(events(stocked, "process_exception.")) == 2


def test_a_label_stored_elsewhere_resolves_a_stale_exception(
    stocked: Database, outbox: Outbox, carriers: Carriers
) -> None:
    summary_id = capture(stocked, outbox)
    fo_id = make_fo(stocked, outbox, summary_id=summary_id)
    shipment = ship(stocked, outbox, fo_id, carrier_choice=carriers)
    assert labels.request_label(stocked, outbox, carriers, shipment.id).outcome is (
        labels.LabelOutcome.CREATED
    )
    with stocked.transaction() as session:  # raised late, as a job dying at the same moment
        labels.raise_carrier_exception(session, outbox, shipment.id, "no label after 20 attempts")
    done = labels.request_label(stocked, outbox, carriers, shipment.id)
    assert done.outcome is labels.LabelOutcome.DONE
    with stocked.reading() as session:
        [exception] = session.scalars(select(m.ProcessException)).all()
        summary = session.get(m.OrderSummary, summary_id)
        assert summary is not None
        assert summary.active_process_exception_count == 0
    assert exception.status == "RESOLVED"


def test_the_job_gives_up_into_a_carrier_exception(
    stocked: Database, outbox: Outbox, carriers: Carriers
) -> None:
    summary_id = capture(stocked, outbox)
    fo_id = make_fo(stocked, outbox, summary_id=summary_id)
    shipment = ship(stocked, outbox, fo_id, carrier_choice=carriers)
    domestic = carriers.get("sandbox-domestic")
    assert isinstance(domestic, SandboxCarrier)
    domestic.set_outage(True)
    registry = default_jobs(stocked, carriers)
    kind = registry.kinds["create_label"]
    now = utcnow()
    for attempt in range(1, kind.max_attempts + 1):
        assert run_due_jobs(stocked, outbox, registry, now=now + timedelta(days=attempt)) == 1
    [(_, _, status, attempts)] = jobs(stocked, "create_label")
    assert (status, attempts) == ("dead", 20)
    with stocked.reading() as session:
        [exception] = session.scalars(select(m.ProcessException)).all()
    assert exception.category == "carrier"
    assert exception.message.startswith(
        f"no label for shipment {shipment.id} after 20 attempts: sandbox-domestic is not answering"
    )


# --- tracking -----------------------------------------------------------------------------


def test_tracking_updates_are_idempotent(
    stocked: Database, outbox: Outbox, carriers: Carriers
) -> None:
    summary_id = capture(stocked, outbox)
    fo_id = make_fo(stocked, outbox, summary_id=summary_id)
    shipment = ship(stocked, outbox, fo_id, carrier_choice=carriers)
    with pytest.raises(IllegalTransition, match="LABEL_PENDING cannot become IN_TRANSIT"):
        run(stocked, shipping.track_shipment, outbox, shipment.id, ShipmentStatus.IN_TRANSIT)
    labels.request_label(stocked, outbox, carriers, shipment.id)
    domestic = carriers.get("sandbox-domestic")
    assert isinstance(domestic, SandboxCarrier)
    tracking = shipment_row(stocked, shipment.id).tracking_number
    assert tracking is not None
    domestic.advance(tracking, TrackingState.IN_TRANSIT)
    assert labels.refresh_tracking(stocked, outbox, carriers, shipment.id) is (
        ShipmentStatus.IN_TRANSIT
    )
    assert labels.refresh_tracking(stocked, outbox, carriers, shipment.id) is (
        ShipmentStatus.IN_TRANSIT
    )
    for _ in range(2):
        assert run(stocked, shipping.mark_delivered, outbox, shipment.id).status == "DELIVERED"
    late = run(stocked, shipping.track_shipment, outbox, shipment.id, ShipmentStatus.IN_TRANSIT)
    assert late.status == "DELIVERED"
    assert [(n, p["from"], p["to"]) for n, p in events(stocked, "shipment.in", "shipment.del")] == [
        ("shipment.in_transit", "SHIPPED", "IN_TRANSIT"),
        ("shipment.delivered", "IN_TRANSIT", "DELIVERED"),
    ]


def test_shipments_of_answers_every_fulfillment_order(
    stocked: Database, outbox: Outbox, carriers: Carriers
) -> None:
    summary_id = capture(stocked, outbox)
    fo_id = make_fo(stocked, outbox, summary_id=summary_id)
    other = make_fo(stocked, outbox, summary_id=summary_id, location="STORE-LDN", group="store")
    first = ship(stocked, outbox, fo_id, items=[("TEE-M", 1)], carrier_choice=carriers)
    second = ship(
        stocked, outbox, fo_id, carrier_choice=CarrierChoice("sandbox-international", "express")
    )
    with stocked.reading() as session:
        found = shipping.shipments_of(session, [fo_id, other])
    assert set(found) == {fo_id, other}
    assert found[other] == []
    assert [(s["id"], s["carrier"], s["service"], s["status"]) for s in found[fo_id]] == [
        (first.id, "sandbox-domestic", "standard", "LABEL_PENDING"),
        (second.id, "sandbox-international", "express", "LABEL_PENDING"),
    ]
    assert [(i["sku"], i["quantity"]) for i in found[fo_id][1]["items"]] == [("TEE-M", 2)]


# --- the HTTP API -------------------------------------------------------------------------


@pytest.fixture
def http(api: Api, stocked: Database, carriers: Carriers) -> Api:
    api.client.app.state.carriers = carriers  # type: ignore[attr-defined]
    return api


def post(
    api: Api, path: str, body: Any = None, *, key: str | None = None, scope: str = "warehouse"
) -> Any:
    headers = api.headers(scope, **({"Idempotency-Key": key} if key else {}))
    return api.client.post(f"/api/v1{path}", json=body, headers=headers)


def get(api: Api, path: str, scope: str = "warehouse") -> Any:
    return api.client.get(f"/api/v1{path}", headers=api.headers(scope))


def http_fo(api: Api, **kwargs: Any) -> tuple[str, str]:
    outbox = api.client.app.state.outbox  # type: ignore[attr-defined]
    summary_id = capture(api.db, outbox, **kwargs)
    return summary_id, make_fo(api.db, outbox, summary_id=summary_id)


def test_api_steps_and_illegal_moves(http: Api) -> None:
    _, fo_id = http_fo(http)
    answer = post(http, f"/fulfillment-orders/{fo_id}/actions/pick-complete")
    assert answer.status_code == 409
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "illegal_transition"
    assert answer.json()["detail"] == (
        "a fulfillment order that is ALLOCATED cannot become PICK_COMPLETE "
        "(allowed: ASSIGNED, CANCELED, REJECTED)"
    )
    for action, status in (
        ("assign", "ASSIGNED"),
        ("pick-complete", "PICK_COMPLETE"),
        ("pack-complete", "PACK_COMPLETE"),
    ):
        answer = post(http, f"/fulfillment-orders/{fo_id}/actions/{action}", scope="agent")
        assert answer.status_code == 200, answer.json()
        assert (answer.json()["status"], answer.json()["status_category"]) == (
            status,
            "ACTIVATED" if status == "ASSIGNED" else "FULFILLING",
        )
    body = get(http, f"/fulfillment-orders/{fo_id}").json()
    assert body["location"] == "WH-LDN"
    assert body["delivery_group"] == "home"
    assert [
        {k: v for k, v in line.items() if k not in ("id", "order_item_summary_id")}
        for line in body["lines"]
    ] == [
        {
            "sku": "TEE-M",
            "original_quantity": 3,
            "quantity": 3,
            "shipped": 0,
            "canceled": 0,
            "unshipped": 3,
        }
    ]
    assert get(http, "/fulfillment-orders/fo_nope").json()["code"] == "fulfillment_order_not_found"


def key_actor(api: Api, scope: str) -> str:
    """How the test key of `scope` is recorded as the one who acted."""
    with api.db.reading() as session:
        key_id = session.scalars(select(m.ApiKey.id).where(m.ApiKey.name == f"test {scope}"))
        return f"api_key:{key_id.one()}"


def test_api_steps_ship_and_reject_record_the_key_that_acted(http: Api) -> None:
    summary_id, fo_id = http_fo(http)
    for action in ("assign", "pick-complete", "pack-complete"):
        assert post(http, f"/fulfillment-orders/{fo_id}/actions/{action}").status_code == 200
    assert post(http, f"/fulfillment-orders/{fo_id}/actions/ship", scope="agent").status_code in (
        201,
        202,
    )
    warehouse, agent = key_actor(http, "warehouse"), key_actor(http, "agent")
    moved = [(p["to"], p["by"]) for _, p in events(http.db, "fulfillment_order.status_changed")]
    assert moved == [
        ("ASSIGNED", warehouse),
        ("PICK_COMPLETE", warehouse),
        ("PACK_COMPLETE", warehouse),
        ("FULFILLED", agent),
    ]
    [(_, shipped)] = events(http.db, "fulfillment_order.shipped")
    assert shipped["by"] == agent
    other = make_fo(
        http.db,
        http.client.app.state.outbox,  # type: ignore[attr-defined]
        summary_id=summary_id,
        location="STORE-LDN",
        group="store",
    )
    assert (
        post(http, f"/fulfillment-orders/{other}/actions/reject", {"reason": "wet"}).status_code
        == 200
    )
    [(_, rejected)] = events(http.db, "fulfillment_order.rejected")
    assert (rejected["reason"], rejected["by"]) == ("wet", warehouse)
    assert events(http.db, "fulfillment_order.status_changed")[-1][1]["by"] == warehouse


def test_api_ship_with_tracking_number_once_per_key(http: Api, carriers: Carriers) -> None:
    summary_id, fo_id = http_fo(http)
    answer = post(http, f"/fulfillment-orders/{fo_id}/actions/ship", key="ship-1")
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    domestic = carriers.get("sandbox-domestic")
    assert isinstance(domestic, SandboxCarrier)
    assert (body["status"], body["carrier"], body["service"]) == (
        "SHIPPED",
        "sandbox-domestic",
        "standard",
    )
    assert body["tracking_number"] == domestic.tracking_number_for(f"label:{body['id']}")
    assert body["label_url"].endswith(f"/{body['tracking_number']}.pdf")
    assert [(i["sku"], i["quantity"]) for i in body["items"]] == [("TEE-M", 3)]
    assert body["label_error"] is None
    again = post(http, f"/fulfillment-orders/{fo_id}/actions/ship", key="ship-1")
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == body
    assert count(http.db, m.Shipment) == 1
    assert stock(http.db)[("WH-LDN", "TEE-M")] == (7, 0)
    assert len(domestic.ledger) == 1
    # The label job (queued for later) finds the label bought and asks nobody.
    calls = domestic.calls
    outbox = http.client.app.state.outbox  # type: ignore[attr-defined]
    later = utcnow() + timedelta(minutes=1)
    assert run_due_jobs(http.db, outbox, default_jobs(http.db, carriers), now=later) == 1
    assert domestic.calls == calls
    fo = get(http, f"/fulfillment-orders/{fo_id}").json()
    assert fo["status"] == "FULFILLED"
    assert fo["shipments"] == [body]
    assert get(http, f"/shipments/{body['id']}").json() == body
    summary = http.client.get(
        f"/api/v1/order-summaries/{summary_id}", headers=http.headers("agent")
    ).json()
    tee = next(i for i in summary["items"] if i["sku"] == "TEE-M")
    assert (tee["quantity_fulfilled"], tee["status"]) == (3, "FULFILLED")
    assert summary["status"] == "PARTIALLY_FULFILLED"


def test_api_carrier_outage_answers_202_then_the_job_labels(http: Api, carriers: Carriers) -> None:
    _, fo_id = http_fo(http)
    domestic = carriers.get("sandbox-domestic")
    assert isinstance(domestic, SandboxCarrier)
    domestic.set_outage(True)
    answer = post(
        http,
        f"/fulfillment-orders/{fo_id}/actions/ship",
        {"items": [{"sku": "TEE-M", "quantity": 2}]},
        key="ship-out",
    )
    assert answer.status_code == 202, answer.json()
    body = answer.json()
    assert (body["status"], body["tracking_number"], body["label_url"]) == (
        "LABEL_PENDING",
        None,
        None,
    )
    replay = post(
        http,
        f"/fulfillment-orders/{fo_id}/actions/ship",
        {"items": [{"sku": "TEE-M", "quantity": 2}]},
        key="ship-out",
    )
    assert (replay.status_code, replay.json()) == (202, body)
    assert count(http.db, m.Shipment) == 1
    assert get(http, f"/fulfillment-orders/{fo_id}").json()["status"] == "PACK_COMPLETE"
    outbox = http.client.app.state.outbox  # type: ignore[attr-defined]
    registry = default_jobs(http.db, carriers)
    later = utcnow() + timedelta(minutes=1)
    assert run_due_jobs(http.db, outbox, registry, now=later) == 1  # still down
    assert get(http, f"/shipments/{body['id']}").json()["status"] == "LABEL_PENDING"
    domestic.set_outage(False)
    assert run_due_jobs(http.db, outbox, registry, now=later + timedelta(hours=1)) == 1
    shipped = get(http, f"/shipments/{body['id']}").json()
    assert shipped["status"] == "SHIPPED"
    assert shipped["tracking_number"] == domestic.tracking_number_for(f"label:{body['id']}")
    assert [label.tracking_number for label in domestic.ledger] == [shipped["tracking_number"]]
    assert stock(http.db)[("WH-LDN", "TEE-M")] == (8, 1)


def test_api_ship_too_much_is_409_and_nothing_moves(http: Api) -> None:
    summary_id, fo_id = http_fo(http)
    before = snapshot(http.db, summary_id, fo_id)
    answer = post(
        http,
        f"/fulfillment-orders/{fo_id}/actions/ship",
        {"items": [{"sku": "TEE-M", "quantity": 4}]},
        key="too-much",
    )
    assert answer.status_code == 409
    assert answer.json()["code"] == "shipment_exceeds_fulfillment_order"
    assert answer.json()["sku"] == "TEE-M"
    assert snapshot(http.db, summary_id, fo_id) == before
    unknown = post(http, f"/fulfillment-orders/{fo_id}/actions/ship", {"carrier": "ups"})
    assert (unknown.status_code, unknown.json()["code"]) == (400, "carrier_unknown")
    assert snapshot(http.db, summary_id, fo_id) == before


def test_api_cancel_lines_and_reject(http: Api) -> None:
    summary_id, fo_id = http_fo(http)
    answer = post(
        http,
        f"/fulfillment-orders/{fo_id}/actions/cancel-lines",
        {"items": [{"sku": "TEE-M", "quantity": 1}]},
        key="cancel-1",
    )
    assert answer.status_code == 200, answer.json()
    assert [(li["quantity"], li["canceled"]) for li in answer.json()["lines"]] == [(2, 1)]
    replay = post(
        http,
        f"/fulfillment-orders/{fo_id}/actions/cancel-lines",
        {"items": [{"sku": "TEE-M", "quantity": 1}]},
        key="cancel-1",
    )
    assert replay.json() == answer.json()
    assert stock(http.db)[("WH-LDN", "TEE-M")] == (10, 2)  # released once
    too_many = post(
        http,
        f"/fulfillment-orders/{fo_id}/actions/cancel-lines",
        {"items": [{"id": answer.json()["lines"][0]["id"], "quantity": 5}]},
    )
    assert too_many.status_code == 409
    assert too_many.json()["code"] == "cancel_exceeds_unshipped"
    assert "cancel at most 2" in too_many.json()["detail"]
    both = post(
        http,
        f"/fulfillment-orders/{fo_id}/actions/cancel-lines",
        {"items": [{"id": "x", "sku": "TEE-M", "quantity": 1}]},
    )
    assert both.status_code == 422
    rejected = post(http, f"/fulfillment-orders/{fo_id}/actions/reject", {"reason": "flood"})
    assert rejected.status_code == 200
    assert (rejected.json()["status"], rejected.json()["reason"]) == ("REJECTED", "flood")
    assert item_counters(http.db, summary_id)["TEE-M"] == (0, 0, 3)


def test_api_list_filters_and_pages(http: Api) -> None:
    outbox = http.client.app.state.outbox  # type: ignore[attr-defined]
    summary_id = capture(http.db, outbox)
    home = make_fo(http.db, outbox, summary_id=summary_id)
    store = make_fo(http.db, outbox, summary_id=summary_id, location="STORE-LDN", group="store")
    post(http, f"/fulfillment-orders/{store}/actions/assign")
    everything = get(http, "/fulfillment-orders").json()
    assert [fo["id"] for fo in everything["items"]] == [home, store]
    assert everything["next_cursor"] is None
    assert [
        fo["id"] for fo in get(http, "/fulfillment-orders?location=STORE-LDN").json()["items"]
    ] == [store]
    assert [
        fo["id"] for fo in get(http, "/fulfillment-orders?status=ALLOCATED").json()["items"]
    ] == [home]
    first = get(http, "/fulfillment-orders?limit=1").json()
    assert [fo["id"] for fo in first["items"]] == [home]
    rest = get(http, f"/fulfillment-orders?limit=1&cursor={first['next_cursor']}").json()
    assert ([fo["id"] for fo in rest["items"]], rest["next_cursor"]) == ([store], None)
    assert get(http, "/fulfillment-orders?location=NOWHERE").json()["code"] == "location_not_found"
    assert get(http, "/fulfillment-orders?status=LOST").status_code == 422


def test_api_needs_the_warehouse_scope(http: Api) -> None:
    summary_id, fo_id = http_fo(http)
    before = snapshot(http.db, summary_id, fo_id)
    for answer in (
        get(http, "/fulfillment-orders", scope="storefront"),
        get(http, f"/fulfillment-orders/{fo_id}", scope="storefront"),
        post(http, f"/fulfillment-orders/{fo_id}/actions/ship", scope="storefront"),
        post(
            http, f"/fulfillment-orders/{fo_id}/actions/reject", {"reason": "x"}, scope="storefront"
        ),
    ):
        assert answer.status_code == 403
        assert answer.json()["code"] == "forbidden"
        assert answer.json()["required_scopes"] == ["warehouse", "agent"]
    assert snapshot(http.db, summary_id, fo_id) == before
    assert (
        post(http, f"/fulfillment-orders/{fo_id}/actions/assign", scope="admin").status_code == 200
    )


def test_api_tracking_update(http: Api) -> None:
    _, fo_id = http_fo(http)
    shipment = post(http, f"/fulfillment-orders/{fo_id}/actions/ship").json()
    for status in ("IN_TRANSIT", "DELIVERED", "DELIVERED", "IN_TRANSIT"):
        answer = post(
            http, f"/shipments/{shipment['id']}/actions/update-tracking", {"status": status}
        )
        assert answer.status_code == 200
    assert answer.json()["status"] == "DELIVERED"
    assert len(events(http.db, "shipment.delivered")) == 1


def test_a_rejected_group_is_routed_elsewhere_and_ships_from_there(
    stocked: Database, outbox: Outbox, carriers: Carriers
) -> None:
    summary_id = capture(stocked, outbox)
    rejected = make_fo(stocked, outbox, summary_id=summary_id)
    reject_and_reroute(stocked, rejected, reason="flooded")
    assert run_due_jobs(stocked, outbox, default_jobs(stocked, carriers)) == 1  # routing, round 2
    with stocked.reading() as session:
        [fo] = [f for f in svc.list_fulfillment_orders(session, status="ALLOCATED")]
    assert (fo.routing_round, fo_state(stocked, fo.id)) == (2, ("ALLOCATED", [("TEE-M", 3, 3, 0)]))
    assert held(stocked, summary_id)[("WH-MAN", "TEE-M")] == (3, 0, 0)
    assert stock(stocked)[("WH-LDN", "TEE-M")] == (10, 0)
    ship(stocked, outbox, fo.id, carrier_choice=carriers)
    assert stock(stocked)[("WH-MAN", "TEE-M")] == (2, 0)
    assert item_counters(stocked, summary_id)["TEE-M"] == (3, 3, 0)


def test_api_a_refused_label_answers_202_with_the_reason(http: Api) -> None:
    payload = order_payload()
    del payload["delivery_groups"][0]["recipient"]["address"]["postal_code"]
    summary_id, fo_id = http_fo(http, delivery_groups=payload["delivery_groups"])
    answer = post(http, f"/fulfillment-orders/{fo_id}/actions/ship", key="no-postcode")
    assert answer.status_code == 202
    body = answer.json()
    assert (body["status"], body["tracking_number"]) == ("LABEL_PENDING", None)
    assert body["label_error"] == (
        f"label for shipment {body['id']} refused by sandbox-domestic: sandbox-domestic cannot "
        f"deliver to an address without a postal code (shipment {body['id']}); correct the "
        "address and retry"
    )
    replay = post(http, f"/fulfillment-orders/{fo_id}/actions/ship", key="no-postcode")
    assert (replay.status_code, replay.json()) == (202, body)
    summary = http.client.get(
        f"/api/v1/order-summaries/{summary_id}", headers=http.headers("agent")
    ).json()
    assert summary["active_process_exception_count"] == 1
    assert [(e["category"], e["status"]) for e in summary["process_exceptions"]] == [
        ("carrier", "NEW")
    ]

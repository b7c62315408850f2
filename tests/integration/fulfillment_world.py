"""Fulfillment orders made by hand: the §12 order captured on the stocked network, then one FO
with its lines, the items' allocated counters and the reservation moved to the FO's
location, walked to the status a test asks for; and shipping it. The fulfillment, invoicing
and refund tests start here."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from openoms.adapters.carriers import default_carriers
from openoms.adapters.db import models as m
from openoms.adapters.db.ids import new_id
from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.domain.fulfillment import FulfillmentOrderStatus
from openoms.services import fulfillment as shipping
from openoms.services import fulfillment as svc
from openoms.services import inventory as reservations
from openoms.services.orders import refresh_summary_status, route_order_job_key
from tests.integration.helpers import capture as capture_payload
from tests.payloads import order_payload

S = FulfillmentOrderStatus


def capture(
    db: Database, outbox: Outbox, *, external_reference: str = "WEB-10001", **over: Any
) -> str:
    """The §12 order (3× TEE-M shipped home, 1× MUG picked up at STORE-LDN), captured on the
    stocked network: TEE-M held in group "online" (all 3 at WH-LDN), MUG at STORE-LDN. These
    tests make the fulfillment orders by hand (`make_fo`), so the routing job capture queued
    is taken away, as if routing had not run yet."""
    payload = order_payload(external_reference=external_reference, **over)
    summary_id = capture_payload(db, outbox, payload)
    with db.transaction() as session:
        session.execute(delete(m.Job).where(m.Job.dedupe_key == route_order_job_key(summary_id)))
    return summary_id


def make_fo(
    db: Database,
    outbox: Outbox,
    *,
    summary_id: str,
    location: str = "WH-LDN",
    group: str = "home",
    items: dict[str, int] | None = None,
    status: S = S.ALLOCATED,
) -> str:
    """An FO at `location` for `items` (default: every product of the group), as routing
    makes it: lines, quantity_allocated raised, the reservation moved there. Then walked to
    `status` through the warehouse steps."""
    with db.transaction() as session:
        group_row = session.scalars(
            select(m.OrderDeliveryGroupSummary).where(
                m.OrderDeliveryGroupSummary.order_summary_id == summary_id,
                m.OrderDeliveryGroupSummary.ref == group,
            )
        ).one()
        products = session.scalars(
            select(m.OrderItemSummary).where(
                m.OrderItemSummary.delivery_group_summary_id == group_row.id,
                m.OrderItemSummary.type == "product",
            )
        ).all()
        wanted = items or {item.sku: item.quantity_ordered for item in products}
        location_id = session.scalars(select(m.Location.id).where(m.Location.ref == location)).one()
        reservation = session.scalars(
            select(m.Reservation).where(
                m.Reservation.idempotency_key == f"order:{summary_id}:{group}"
            )
        ).one()
        fo = m.FulfillmentOrder(
            id=new_id("fo"),
            order_summary_id=summary_id,
            delivery_group_summary_id=group_row.id,
            location_id=location_id,
            reservation_id=reservation.id,
            status=S.ALLOCATED.value,
        )
        session.add(fo)
        for item in products:
            units = wanted.get(item.sku, 0)
            if units:
                session.add(
                    m.FulfillmentOrderLineItem(
                        id=new_id("foli"),
                        fulfillment_order_id=fo.id,
                        order_item_summary_id=item.id,
                        sku=item.sku,
                        original_quantity=units,
                        quantity=units,
                    )
                )
                item.quantity_allocated += units
        session.flush()
        here = {
            line.sku: line.quantity
            for line in reservations.get_reservation(session, reservation.id).lines
            if line.location_id == location_id
        }
        moves = {sku: n - here.get(sku, 0) for sku, n in wanted.items() if n > here.get(sku, 0)}
        if moves:
            reservations.transfer(
                session, outbox, reservation.id, to_location_id=location_id, items=moves
            )
        refresh_summary_status(session, outbox, summary_id)
    for step in (S.ASSIGNED, S.PICK_COMPLETE, S.PACK_COMPLETE):
        if list(S).index(step) <= list(S).index(status):
            with db.transaction() as session:
                svc.change_status(session, outbox, fo.id, step)
    return fo.id


def run(db: Database, fn: Any, *args: Any, **kwargs: Any) -> Any:
    with db.transaction() as session:
        return fn(session, *args, **kwargs)


def ship(db: Database, outbox: Outbox, fo_id: str, **kwargs: Any) -> m.Shipment:
    kwargs.setdefault("carrier_choice", default_carriers(db, env={}))
    shipment: m.Shipment = run(db, shipping.ship, outbox, fo_id, **kwargs)
    return shipment

"""Shipping a fulfillment order (DESIGN.md §12), and the shipment's life after it.

`ship` is one transaction: the Shipment (LABEL_PENDING) and its items, the lines' shipped
units, the reservation fulfilled at the location (on hand and reserved both down), the
items' quantity_fulfilled, the FO's status, the events, and a `create_label` job. The label
is bought afterwards, outside any transaction, by `fulfillment/labels.py` (the job, and
the API straight after the commit). Tracking updates move the shipment to IN_TRANSIT and
DELIVERED, idempotently. `shipments_of` gives the read model its shipments.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.ids import new_id
from openoms.adapters.db.models import utcnow
from openoms.adapters.db.repositories import fulfillment as repo
from openoms.adapters.jobs import enqueue
from openoms.adapters.outbox import Outbox
from openoms.domain.errors import (
    Conflict,
    IllegalTransition,
    NotFound,
    QuantityInvalid,
    ValidationFailed,
)
from openoms.domain.events import DomainEvent
from openoms.domain.fulfillment import (
    RESHIP,
    SHIPPABLE,
    FulfillmentOrderStatus,
    ShipmentStatus,
    check_shipment_transition,
)
from openoms.domain.ports import (
    CarrierChoice,
    CarrierSelector,
    ShipmentRoute,
)
from openoms.services import inventory
from openoms.services.fulfillment.fulfillment import fo_event, iso, locked_fulfillment_order
from openoms.services.fulfillment.status import actor_field, walk_status
from openoms.services.orders import item_quantities, refresh_summary_status

LABEL_JOB = "create_label"
# How long the label job waits before its first try when a request ships: the request asks
# the carrier itself first (the API's ship action and the console's).
LABEL_GRACE = timedelta(seconds=30)
AGGREGATE = "shipment"


# --- errors -------------------------------------------------------------------------------


class ShipmentNotFound(NotFound):
    code = "shipment_not_found"
    title = "Shipment not found"


class ShipmentExceedsFulfillmentOrder(Conflict):
    code = "shipment_exceeds_fulfillment_order"
    title = "Shipment exceeds what the fulfillment order holds"


class NothingToShip(Conflict):
    code = "nothing_to_ship"
    title = "Nothing is left to ship"


class FulfillmentOrderUnreserved(Conflict):
    code = "fulfillment_order_unreserved"
    title = "Fulfillment order holds no reservation"


# --- ship ---------------------------------------------------------------------------------


def ship(
    session: Session,
    outbox: Outbox,
    fo_id: str,
    *,
    items: Sequence[tuple[str, int]] | None = None,
    carrier_choice: CarrierChoice | CarrierSelector,
    label_after: timedelta = timedelta(0),
    by: str | None = None,
) -> m.Shipment:
    """Ship `items` as (sku, quantity), or everything not yet shipped, from the FO's location.

    A shipment from ALLOCATED, ASSIGNED or PICK_COMPLETE completes the steps before it; the
    FO becomes FULFILLED once every unit shipped, else PACK_COMPLETE. More of a SKU than the
    FO has left → 409 `shipment_exceeds_fulfillment_order` naming the SKU, nothing changed.
    `carrier_choice` is a fixed choice or the rules that choose by route. The label job runs
    from `label_after` on (the API asks the carrier itself first). Emits
    `fulfillment_order.shipped` and the status events, recording `by` (who shipped it:
    `api_key:<id>`, `user:<email>`) when given. A reship FO (replacement units,
    service_actions/reships.py) fulfils its reservation like any other but leaves the items'
    quantity_fulfilled alone: it counts the original units, and the reship was counted in
    quantity_reshipped when it was submitted."""
    fo = locked_fulfillment_order(session, fo_id)
    plan = _shippable_plan(fo, items)
    choice = (
        carrier_choice
        if isinstance(carrier_choice, CarrierChoice)
        else carrier_choice.choose(_route(session, fo))
    )
    _ship_units(session, outbox, fo, plan)
    shipment = _new_shipment(fo, plan, choice)
    session.add(shipment)
    _record_shipped(session, outbox, fo, shipment, plan, label_after=label_after, by=by)
    refresh_summary_status(session, outbox, fo.order_summary_id)
    session.flush()
    return shipment


def _shippable_plan(
    fo: m.FulfillmentOrder, items: Sequence[tuple[str, int]] | None
) -> list[tuple[m.FulfillmentOrderLineItem, int]]:
    """What to ship (`_plan`), once the FO may ship at all and holds a reservation."""
    if fo.status not in SHIPPABLE:
        raise IllegalTransition(
            f"a fulfillment order that is {fo.status} cannot ship",
            current=fo.status,
            target=FulfillmentOrderStatus.FULFILLED.value,
        )
    plan = _plan(fo, items)
    if fo.reservation_id is None:
        raise FulfillmentOrderUnreserved(
            f"fulfillment order {fo.id} holds no reservation, so no stock can leave for it"
        )
    return plan


def _ship_units(
    session: Session,
    outbox: Outbox,
    fo: m.FulfillmentOrder,
    plan: Sequence[tuple[m.FulfillmentOrderLineItem, int]],
) -> None:
    """The lines' shipped units, the items' quantity_fulfilled, and the reservation fulfilled
    at the FO's location (on hand and reserved both down)."""
    assert fo.reservation_id is not None  # _shippable_plan
    locked = repo.lock_items(session, {line.order_item_summary_id for line, _ in plan})
    per_sku: dict[str, int] = defaultdict(int)
    for line, units in plan:
        item = locked[line.order_item_summary_id]
        if fo.type != RESHIP:  # replacement units: fulfilled counts the original units only
            item.quantity_fulfilled = item_quantities(item).fulfill(units).fulfilled
        line.shipped += units
        per_sku[line.sku] += units
    inventory.fulfill(
        session,
        outbox,
        fo.reservation_id,
        items=[(sku, fo.location_id, units) for sku, units in per_sku.items()],
    )


def _record_shipped(
    session: Session,
    outbox: Outbox,
    fo: m.FulfillmentOrder,
    shipment: m.Shipment,
    plan: Sequence[tuple[m.FulfillmentOrderLineItem, int]],
    *,
    label_after: timedelta,
    by: str | None,
) -> None:
    """The FO's status walked on, `fulfillment_order.shipped` and the status event, and the
    label job queued."""
    complete = all(line.shipped == line.quantity for line in fo.lines)
    status_event = walk_status(
        fo,
        FulfillmentOrderStatus.FULFILLED if complete else FulfillmentOrderStatus.PACK_COMPLETE,
        by=by,
    )
    shipped = fo_event(
        fo,
        "fulfillment_order.shipped",
        {
            "shipment_id": shipment.id,
            "carrier": shipment.carrier,
            "service": shipment.service,
            "complete": complete,
            "items": [_item_payload(line, units) for line, units in plan],
            **actor_field(by),
        },
    )
    outbox.record(session, [shipped] + ([status_event] if status_event else []))
    enqueue(
        session,
        LABEL_JOB,
        label_key(shipment.id),
        {"shipment_id": shipment.id},
        available_at=utcnow() + label_after,
    )


def _plan(
    fo: m.FulfillmentOrder, items: Sequence[tuple[str, int]] | None
) -> list[tuple[m.FulfillmentOrderLineItem, int]]:
    """(line, units) to ship: the given SKU quantities spread over the SKU's lines in order,
    or every line's unshipped units."""
    if items is None:
        plan = [(line, line.quantity - line.shipped) for line in fo.lines]
        plan = [(line, units) for line, units in plan if units > 0]
        if not plan:
            raise NothingToShip(f"fulfillment order {fo.id} has nothing left to ship")
        return plan
    if not items:
        raise ValidationFailed("name at least one item to ship, or none to ship everything")
    wanted: dict[str, int] = defaultdict(int)
    for index, (sku, units) in enumerate(items):
        if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise QuantityInvalid(
                f"quantity of {sku} to ship must be a positive whole number",
                field=f"items[{index}].quantity",
            )
        wanted[sku] += units
    plan = []
    for sku, units in wanted.items():
        lines = [line for line in fo.lines if line.sku == sku]
        remaining = sum(line.quantity - line.shipped for line in lines)
        if units > remaining:
            holds = f"has {remaining} left to ship" if lines else "does not hold it"
            raise ShipmentExceedsFulfillmentOrder(
                f"cannot ship {units} of {sku}: fulfillment order {fo.id} {holds}",
                sku=sku,
                requested=units,
                remaining=remaining,
            )
        left = units
        for line in lines:
            take = min(line.quantity - line.shipped, left)
            if take > 0:
                plan.append((line, take))
                left -= take
    return plan


def _route(session: Session, fo: m.FulfillmentOrder) -> ShipmentRoute:
    group, location = group_and_location(session, fo)
    pickup = group.method == "pickup"
    return ShipmentRoute(
        method=group.method,
        origin_country=location.country,
        destination_country=location.country if pickup else group.country,
        service=group.service,
    )


def group_and_location(
    session: Session, fo: m.FulfillmentOrder
) -> tuple[m.OrderDeliveryGroupSummary, m.Location]:
    group = session.get(m.OrderDeliveryGroupSummary, fo.delivery_group_summary_id)
    location = session.get(m.Location, fo.location_id)
    assert group is not None  # foreign keys
    assert location is not None
    return group, location


def _new_shipment(
    fo: m.FulfillmentOrder,
    plan: Sequence[tuple[m.FulfillmentOrderLineItem, int]],
    choice: CarrierChoice,
) -> m.Shipment:
    now = utcnow()
    shipment = m.Shipment(
        id=new_id("shp"),
        fulfillment_order_id=fo.id,
        order_summary_id=fo.order_summary_id,
        status=ShipmentStatus.LABEL_PENDING.value,
        carrier=choice.carrier,
        service=choice.service,
        created_at=now,
        updated_at=now,
    )
    shipment.items = [
        m.ShipmentItem(
            shipment_id=shipment.id,
            fulfillment_order_line_item_id=line.id,
            order_item_summary_id=line.order_item_summary_id,
            sku=line.sku,
            quantity=units,
        )
        for line, units in plan
    ]
    return shipment


def label_key(shipment_id: str) -> str:
    """The label job's dedupe key, the carrier's idempotency key and the exception's key."""
    return f"label:{shipment_id}"


# --- tracking -----------------------------------------------------------------------------

_TRACKED = {
    ShipmentStatus.IN_TRANSIT: "shipment.in_transit",
    ShipmentStatus.DELIVERED: "shipment.delivered",
}


def track_shipment(
    session: Session, outbox: Outbox, shipment_id: str, status: ShipmentStatus
) -> m.Shipment:
    """An inbound tracking update: IN_TRANSIT or DELIVERED. Idempotent: the status it has
    already, or one it has passed (in transit after delivered, as carriers send out of
    order), changes nothing. Without a label it cannot move (IllegalTransition). Emits
    `shipment.in_transit` / `shipment.delivered`."""
    if status not in _TRACKED:
        raise ValidationFailed(
            f"a tracking update sets IN_TRANSIT or DELIVERED, not {status.value}",
            field="status",
        )
    shipment = get_shipment(session, shipment_id, lock=True)
    current = ShipmentStatus(shipment.status)
    if current is status or (
        current is ShipmentStatus.DELIVERED and status is ShipmentStatus.IN_TRANSIT
    ):
        return shipment
    check_shipment_transition(current, status)
    shipment.status = status.value
    shipment.updated_at = utcnow()
    payload = {
        "shipment_id": shipment.id,
        "fulfillment_order_id": shipment.fulfillment_order_id,
        "from": current.value,
        "to": status.value,
        "tracking_number": shipment.tracking_number,
    }
    outbox.record(session, [_event(_TRACKED[status], shipment, payload)])
    session.flush()
    return shipment


def mark_delivered(session: Session, outbox: Outbox, shipment_id: str) -> m.Shipment:
    """The carrier (or the store, for a pickup) reports the parcel delivered. Idempotent."""
    return track_shipment(session, outbox, shipment_id, ShipmentStatus.DELIVERED)


# --- reading ------------------------------------------------------------------------------


def get_shipment(session: Session, shipment_id: str, *, lock: bool = False) -> m.Shipment:
    shipment = repo.get_shipment(session, shipment_id, lock=lock)
    if shipment is None:
        raise ShipmentNotFound(f"no shipment {shipment_id!r}", shipment_id=shipment_id)
    return shipment


def shipments_of(session: Session, fo_ids: Collection[str]) -> dict[str, list[dict[str, Any]]]:
    """Each fulfillment order's shipments (public bodies, oldest first); every id given is a
    key, with [] when it has none. For the read model."""
    result: dict[str, list[dict[str, Any]]] = {fo_id: [] for fo_id in fo_ids}
    for shipment in repo.shipments_of(session, fo_ids):
        result[shipment.fulfillment_order_id].append(shipment_view(shipment))
    return result


def shipment_view(shipment: m.Shipment) -> dict[str, Any]:
    """The public body of a shipment (its items loaded)."""
    return {
        "id": shipment.id,
        "fulfillment_order_id": shipment.fulfillment_order_id,
        "order_summary_id": shipment.order_summary_id,
        "status": shipment.status,
        "carrier": shipment.carrier,
        "service": shipment.service,
        "tracking_number": shipment.tracking_number,
        "label_url": shipment.label_url,
        "items": [
            {
                "sku": item.sku,
                "quantity": item.quantity,
                "order_item_summary_id": item.order_item_summary_id,
                "fulfillment_order_line_item_id": item.fulfillment_order_line_item_id,
            }
            for item in shipment.items
        ],
        "created_at": iso(shipment.created_at),
        "updated_at": iso(shipment.updated_at),
    }


def _item_payload(line: m.FulfillmentOrderLineItem, units: int) -> dict[str, Any]:
    return {
        "fulfillment_order_line_item_id": line.id,
        "order_item_summary_id": line.order_item_summary_id,
        "sku": line.sku,
        "quantity": units,
    }


def _event(name: str, shipment: m.Shipment, payload: dict[str, Any]) -> DomainEvent:
    return DomainEvent(name, AGGREGATE, shipment.id, payload, shipment.order_summary_id)

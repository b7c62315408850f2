"""Fulfillment orders at the warehouse (DESIGN.md §4, §12): the area's errors, reading
fulfillment orders, their public bodies, and the locked load every action starts from.

The actions live beside this module: fulfillment/status.py (pick and pack, the transition
table's steps), fulfillment/cancel.py (cancel lines), fulfillment/reject.py (a location
rejects), fulfillment/shipping.py (ship, tracking) and fulfillment/labels.py (carriers).
Every status change goes through the one transition table (`check_fulfillment_transition`)
and emits `fulfillment_order.status_changed` {from, to}; the order summary's status is
derived again after every change. Services flush, never commit. Lock order: see
`adapters/db/repositories/fulfillment.py`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.repositories import fulfillment as repo
from openoms.domain.errors import Conflict, NotFound, ValidationFailed
from openoms.domain.events import DomainEvent
from openoms.domain.fulfillment import CATEGORY, FulfillmentOrderStatus
from openoms.services.inventory import LocationNotFound

S = FulfillmentOrderStatus
AGGREGATE = "fulfillment_order"


# --- errors -------------------------------------------------------------------------------


class FulfillmentOrderNotFound(NotFound):
    code = "fulfillment_order_not_found"
    title = "Fulfillment order not found"


class FulfillmentLineUnknown(ValidationFailed):
    code = "fulfillment_line_unknown"
    title = "Fulfillment order line is not on this fulfillment order"


class FulfillmentStatusInvalid(ValidationFailed):
    code = "fulfillment_status_invalid"
    title = "Status cannot be set this way"


class CancelExceedsUnshipped(Conflict):
    code = "cancel_exceeds_unshipped"
    title = "Cancel exceeds the units not yet shipped"


# --- reading ------------------------------------------------------------------------------


def get_fulfillment_order(session: Session, fo_id: str) -> m.FulfillmentOrder:
    """The fulfillment order with its lines; FulfillmentOrderNotFound when unknown."""
    return _load(session, fo_id, lock=False)


def list_fulfillment_orders(
    session: Session,
    *,
    location_ref: str | None = None,
    status: str | None = None,
    order_summary_id: str | None = None,
    limit: int = 50,
    after_id: str | None = None,
) -> list[m.FulfillmentOrder]:
    """Fulfillment orders oldest first, filtered by location ref, status and order summary,
    `limit` after `after_id`. An unknown location is LocationNotFound (a typo must not
    look like an empty queue)."""
    location_id = None
    if location_ref is not None:
        location_id = repo.location_id_by_ref(session, location_ref)
        if location_id is None:
            raise LocationNotFound(f"no location {location_ref!r}", ref=location_ref)
    if status is not None and status not in {s.value for s in S}:
        raise FulfillmentStatusInvalid(
            f"unknown status {status!r}; one of {', '.join(S)}", field="status"
        )
    return repo.list_fulfillment_orders(
        session,
        location_id=location_id,
        status=status,
        order_summary_id=order_summary_id,
        after_id=after_id,
        limit=limit,
    )


# --- views and helpers --------------------------------------------------------------------


def fulfillment_order_view(
    session: Session,
    fo: m.FulfillmentOrder,
    shipments: Sequence[Mapping[str, Any]] = (),
    *,
    location_refs: Mapping[str, str] | None = None,
    group_refs: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The public body of a fulfillment order (its shipments given, from shipping)."""
    if location_refs is None:
        location_refs = repo.location_refs(session, [fo.location_id])
    if group_refs is None:
        group_refs = repo.group_refs(session, [fo.delivery_group_summary_id])
    return {
        "id": fo.id,
        "order_summary_id": fo.order_summary_id,
        "delivery_group_summary_id": fo.delivery_group_summary_id,
        "delivery_group": group_refs.get(fo.delivery_group_summary_id),
        "location": location_refs.get(fo.location_id),
        "type": fo.type,
        "status": fo.status,
        "status_category": CATEGORY[S(fo.status)].value,
        "routing_round": fo.routing_round,
        "reason": fo.reason,
        "reservation_id": fo.reservation_id,
        "lines": [
            {
                "id": line.id,
                "order_item_summary_id": line.order_item_summary_id,
                "sku": line.sku,
                "original_quantity": line.original_quantity,
                "quantity": line.quantity,
                "shipped": line.shipped,
                "canceled": line.original_quantity - line.quantity,
                "unshipped": line.quantity - line.shipped,
            }
            for line in fo.lines
        ],
        "shipments": list(shipments),
        "created_at": iso(fo.created_at),
        "updated_at": iso(fo.updated_at),
    }


def fulfillment_order_views(
    session: Session,
    fos: Sequence[m.FulfillmentOrder],
    shipments: Mapping[str, Sequence[Mapping[str, Any]]],
) -> list[dict[str, Any]]:
    """Bodies of several fulfillment orders; `shipments` by FO id (shipping.shipments_of)."""
    locations = repo.location_refs(session, {fo.location_id for fo in fos})
    groups = repo.group_refs(session, {fo.delivery_group_summary_id for fo in fos})
    return [
        fulfillment_order_view(
            session, fo, shipments.get(fo.id, ()), location_refs=locations, group_refs=groups
        )
        for fo in fos
    ]


def fo_event(fo: m.FulfillmentOrder, name: str, payload: dict[str, Any]) -> DomainEvent:
    body = {"fulfillment_order_id": fo.id, "location_id": fo.location_id, **payload}
    return DomainEvent(name, AGGREGATE, fo.id, body, fo.order_summary_id)


def locked_fulfillment_order(session: Session, fo_id: str) -> m.FulfillmentOrder:
    """The fulfillment order, row-locked, with its lines (for an action that changes it)."""
    return _load(session, fo_id, lock=True)


def _load(session: Session, fo_id: str, *, lock: bool) -> m.FulfillmentOrder:
    fo = repo.get_fulfillment_order(session, fo_id)
    if fo is not None and lock:
        # The order summary first, as routing locks it: one lock order for every action
        # on an order (see the repository's docstring).
        repo.lock_summary(session, fo.order_summary_id)
        fo = repo.get_fulfillment_order(session, fo_id, lock=True)
    if fo is None:
        raise FulfillmentOrderNotFound(
            f"no fulfillment order {fo_id!r}", fulfillment_order_id=fo_id
        )
    return fo


def line_payload(line: m.FulfillmentOrderLineItem, units: int) -> dict[str, Any]:
    return {
        "id": line.id,
        "order_item_summary_id": line.order_item_summary_id,
        "sku": line.sku,
        "quantity": units,
    }


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None

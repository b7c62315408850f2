"""Fulfillment orders at the warehouse (DESIGN.md §4, §12): read them, move them through
pick and pack, cancel lines, reject. Shipping is `openoms.services.fulfillment.shipping`.

Every status change goes through the one transition table (`check_fulfillment_transition`)
and emits `fulfillment_order.status_changed` {from, to}; the order summary's status is
derived again after every change. Services flush, never commit. Lock order: see
`adapters/db/repositories/fulfillment.py`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.models import utcnow
from openoms.adapters.db.repositories import fulfillment as repo
from openoms.adapters.outbox import Outbox
from openoms.domain.errors import (
    Conflict,
    IllegalTransition,
    NotFound,
    QuantityInvalid,
    QuantityInvariantViolated,
    ValidationFailed,
)
from openoms.domain.events import DomainEvent
from openoms.domain.fulfillment import (
    CATEGORY,
    FULFILLMENT_ORDER_TRANSITIONS,
    RESHIP,
    FulfillmentOrderStatus,
    check_fulfillment_transition,
)
from openoms.services import inventory as reservations
from openoms.services.inventory import LocationNotFound
from openoms.services.orders import item_quantities, refresh_summary_status

S = FulfillmentOrderStatus
AGGREGATE = "fulfillment_order"
# What the warehouse reports with change_status; shipping, canceling and rejecting have
# their own actions because they move quantities and stock.
WAREHOUSE_STEPS = frozenset({S.ASSIGNED, S.PICK_COMPLETE, S.PACK_COMPLETE})
# The path a fulfillment order walks; shipping from an earlier step completes the steps before.
HAPPY_PATH = (S.ALLOCATED, S.ASSIGNED, S.PICK_COMPLETE, S.PACK_COMPLETE, S.FULFILLED)
MAX_REASON = 500


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


# --- status -------------------------------------------------------------------------------


def change_status(
    session: Session, outbox: Outbox, fo_id: str, target: FulfillmentOrderStatus
) -> m.FulfillmentOrder:
    """The warehouse's progress: ASSIGNED, PICK_COMPLETE or PACK_COMPLETE, one step at a
    time through the transition table (IllegalTransition otherwise). Emits
    `fulfillment_order.status_changed`."""
    if target not in WAREHOUSE_STEPS:
        raise FulfillmentStatusInvalid(
            f"a fulfillment order becomes {target.value} through its own action "
            "(ship, cancel-lines or reject), not a status change",
            field="status",
        )
    fo = _load(session, fo_id, lock=True)
    events = [set_status(fo, target)]
    outbox.record(session, events)
    refresh_summary_status(session, outbox, fo.order_summary_id)
    session.flush()
    return fo


def set_status(fo: m.FulfillmentOrder, target: FulfillmentOrderStatus) -> DomainEvent:
    """One checked step; the `fulfillment_order.status_changed` event to record."""
    current = S(fo.status)
    check_fulfillment_transition(current, target)
    fo.status = target.value
    fo.updated_at = utcnow()
    return _status_event(fo, current, target)


def _status_event(
    fo: m.FulfillmentOrder, current: FulfillmentOrderStatus, target: FulfillmentOrderStatus
) -> DomainEvent:
    payload = {"from": current.value, "to": target.value}
    return fo_event(fo, "fulfillment_order.status_changed", payload)


def walk_status(fo: m.FulfillmentOrder, target: FulfillmentOrderStatus) -> DomainEvent | None:
    """Move along HAPPY_PATH to `target`, checking every step in the transition table (a
    shipment from ALLOCATED completes assign, pick and pack); one event from → target,
    None when already there."""
    current = S(fo.status)
    if current is target:
        return None
    steps: Sequence[FulfillmentOrderStatus] = (target,)
    if current in HAPPY_PATH and target in HAPPY_PATH:
        steps = HAPPY_PATH[HAPPY_PATH.index(current) + 1 : HAPPY_PATH.index(target) + 1] or steps
    for step in steps:
        check_fulfillment_transition(S(fo.status), step)  # the table's message if illegal
        fo.status = step.value
    fo.updated_at = utcnow()
    return _status_event(fo, current, target)


# --- cancel lines -------------------------------------------------------------------------


def cancel_lines(
    session: Session, outbox: Outbox, fo_id: str, items: Sequence[tuple[str, int]]
) -> m.FulfillmentOrder:
    """Cancel unshipped units of lines, given as (line id, quantity). Each line's quantity
    goes down, the item's quantity_allocated goes down (the units are available to fulfil
    again) and as many units of the reservation at the FO's location are released. On a
    reship FO (replacement units, service_actions/reships.py) the item's quantity_reshipped
    goes down instead: those replacements are no longer sent, and may be reshipped again. When
    nothing is left to ship the FO is CANCELED, or FULFILLED if some of it shipped. More
    than a line's unshipped units → 409 `cancel_exceeds_unshipped`, nothing changed.
    Emits `fulfillment_order.lines_canceled` (and status events)."""
    fo = _load(session, fo_id, lock=True)
    current = S(fo.status)
    if S.CANCELED not in FULFILLMENT_ORDER_TRANSITIONS[current]:
        raise IllegalTransition(
            f"a fulfillment order that is {current.value} has no lines left to cancel",
            current=current.value,
        )
    wanted = _per_line(fo, items)
    locked = repo.lock_items(session, {line.order_item_summary_id for line in wanted})
    released: dict[str, int] = defaultdict(int)
    for line, units in wanted.items():
        item = locked[line.order_item_summary_id]
        if fo.type == RESHIP:
            item.quantity_reshipped = _unreship(item, units)
        else:
            item.quantity_allocated = item_quantities(item).deallocate(units).allocated
        line.quantity -= units
        released[line.sku] += units
    if fo.reservation_id is not None:  # a FO without a reservation holds no stock
        reservations.release(
            session, outbox, fo.reservation_id, items=released, location_id=fo.location_id
        )
    events = [
        fo_event(
            fo,
            "fulfillment_order.lines_canceled",
            {"lines": [_line_payload(line, units) for line, units in wanted.items()]},
        )
    ]
    if all(line.quantity == line.shipped for line in fo.lines):
        # Nothing left to ship: closed if part of it shipped, else canceled.
        shipped_any = any(line.shipped for line in fo.lines)
        closed = walk_status(fo, S.FULFILLED) if shipped_any else set_status(fo, S.CANCELED)
        if closed is not None:
            events.append(closed)
    fo.updated_at = utcnow()
    outbox.record(session, events)
    refresh_summary_status(session, outbox, fo.order_summary_id)
    session.flush()
    return fo


def _unreship(item: m.OrderItemSummary, units: int) -> int:
    """The item's quantity_reshipped once `units` replacement units are canceled."""
    q = item_quantities(item)
    if units > q.reshipped:  # a reship FO never holds more units than were reshipped
        raise QuantityInvariantViolated(
            f"cannot cancel {units} replacement {item.sku}: only {q.reshipped} reshipped",
            requested=units,
            available=q.reshipped,
        )
    return replace(q, reshipped=q.reshipped - units).reshipped


def _per_line(
    fo: m.FulfillmentOrder, items: Sequence[tuple[str, int]]
) -> dict[m.FulfillmentOrderLineItem, int]:
    if not items:
        raise ValidationFailed("name at least one line to cancel", field="items")
    lines = {line.id: line for line in fo.lines}
    wanted: dict[m.FulfillmentOrderLineItem, int] = defaultdict(int)
    for index, (line_id, units) in enumerate(items):
        line = lines.get(line_id)
        if line is None:
            raise FulfillmentLineUnknown(
                f"fulfillment order {fo.id} has no line {line_id!r}", field=f"items[{index}]"
            )
        if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise QuantityInvalid(
                f"quantity to cancel on line {line_id} must be a positive whole number",
                field=f"items[{index}].quantity",
            )
        wanted[line] += units
    for line, units in wanted.items():
        unshipped = line.quantity - line.shipped
        if units > unshipped:
            raise CancelExceedsUnshipped(
                f"cannot cancel {units} of {line.sku} on line {line.id}: only {unshipped} "
                f"{'is' if unshipped == 1 else 'are'} unshipped ({line.shipped} shipped, "
                f"{line.original_quantity - line.quantity} canceled already); cancel at most "
                f"{unshipped}" + (", and return shipped units instead" if line.shipped else ""),
                line_id=line.id,
                sku=line.sku,
                requested=units,
                unshipped=unshipped,
            )
    return wanted


# --- reject -------------------------------------------------------------------------------


def reject(session: Session, outbox: Outbox, fo_id: str, *, reason: str) -> m.FulfillmentOrder:
    """The location cannot fulfil: the FO becomes REJECTED (only before anything shipped),
    its lines' units go back to available-to-fulfil on the items, and the reservation keeps
    holding them at the location for routing to transfer. A reship FO's units are counted
    by no item's allocated counter: its reservation gives them back at once. Emits
    `fulfillment_order.rejected` and `fulfillment_order.status_changed`; routing's and
    reships' consumers of the first route the units again, leaving this location out."""
    reason = (reason or "").strip()
    if not reason or len(reason) > MAX_REASON:
        raise ValidationFailed(
            f"a rejection needs a reason of 1 to {MAX_REASON} characters", field="reason"
        )
    fo = _load(session, fo_id, lock=True)
    shipped = sum(line.shipped for line in fo.lines)
    if shipped:
        raise IllegalTransition(
            f"fulfillment order {fo.id} has shipped {shipped} unit{'' if shipped == 1 else 's'} "
            "and cannot be rejected; "
            "cancel its remaining lines instead",
            current=fo.status,
            target=S.REJECTED.value,
        )
    status_event = set_status(fo, S.REJECTED)
    fo.reason = reason
    open_lines = [line for line in fo.lines if line.quantity > 0]
    if fo.type == RESHIP:
        _release_lines(session, outbox, fo, open_lines)
    else:
        locked = repo.lock_items(session, {line.order_item_summary_id for line in open_lines})
        for line in open_lines:
            item = locked[line.order_item_summary_id]
            item.quantity_allocated = item_quantities(item).deallocate(line.quantity).allocated
    rejected = fo_event(
        fo,
        "fulfillment_order.rejected",
        {"reason": reason, "lines": [_line_payload(line, line.quantity) for line in open_lines]},
    )
    outbox.record(session, [rejected, status_event])
    refresh_summary_status(session, outbox, fo.order_summary_id)
    session.flush()
    return fo


def _release_lines(
    session: Session,
    outbox: Outbox,
    fo: m.FulfillmentOrder,
    lines: Sequence[m.FulfillmentOrderLineItem],
) -> None:
    """Give back the units the FO's reservation holds for `lines` at its location."""
    units: dict[str, int] = defaultdict(int)
    for line in lines:
        units[line.sku] += line.quantity - line.shipped
    if fo.reservation_id is not None and any(units.values()):
        reservations.release(
            session, outbox, fo.reservation_id, items=dict(units), location_id=fo.location_id
        )


# --- the order summary --------------------------------------------------------------------


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


def load_for_update(session: Session, fo_id: str) -> m.FulfillmentOrder:
    """The fulfillment order, row-locked, with its lines (for shipping)."""
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


def _line_payload(line: m.FulfillmentOrderLineItem, units: int) -> dict[str, Any]:
    return {
        "id": line.id,
        "order_item_summary_id": line.order_item_summary_id,
        "sku": line.sku,
        "quantity": units,
    }


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None

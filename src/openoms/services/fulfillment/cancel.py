"""Canceling unshipped units of a fulfillment order's lines (DESIGN.md §3 quantities)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.models import utcnow
from openoms.adapters.db.repositories import fulfillment as repo
from openoms.adapters.outbox import Outbox
from openoms.domain.errors import (
    IllegalTransition,
    QuantityInvalid,
    QuantityInvariantViolated,
    ValidationFailed,
)
from openoms.domain.fulfillment import FULFILLMENT_ORDER_TRANSITIONS, RESHIP
from openoms.services import inventory
from openoms.services.fulfillment.fulfillment import (
    CancelExceedsUnshipped,
    FulfillmentLineUnknown,
    S,
    fo_event,
    line_payload,
    locked_fulfillment_order,
)
from openoms.services.fulfillment.status import set_status, walk_status
from openoms.services.orders import item_quantities, refresh_summary_status


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
    fo = locked_fulfillment_order(session, fo_id)
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
        inventory.release(
            session, outbox, fo.reservation_id, items=released, location_id=fo.location_id
        )
    events = [
        fo_event(
            fo,
            "fulfillment_order.lines_canceled",
            {"lines": [line_payload(line, units) for line, units in wanted.items()]},
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

"""A location rejects a fulfillment order it cannot fulfil (DESIGN.md §4); routing and
reships route its units again without that location."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.repositories import fulfillment as repo
from openoms.adapters.outbox import Outbox
from openoms.domain.errors import IllegalTransition, ValidationFailed
from openoms.domain.fulfillment import RESHIP
from openoms.services import inventory
from openoms.services.fulfillment.fulfillment import (
    S,
    fo_event,
    line_payload,
    locked_fulfillment_order,
)
from openoms.services.fulfillment.status import actor_field, set_status
from openoms.services.orders import item_quantities, refresh_summary_status

MAX_REASON = 500


def reject(
    session: Session, outbox: Outbox, fo_id: str, *, reason: str, by: str | None = None
) -> m.FulfillmentOrder:
    """The location cannot fulfil: the FO becomes REJECTED (only before anything shipped),
    its lines' units go back to available-to-fulfil on the items, and the reservation keeps
    holding them at the location for routing to transfer. A reship FO's units are counted
    by no item's allocated counter: its reservation gives them back at once. Emits
    `fulfillment_order.rejected` and `fulfillment_order.status_changed` (both recording
    `by`, who rejected it, when given); routing's and
    reships' consumers of the first route the units again, leaving this location out."""
    reason = (reason or "").strip()
    if not reason or len(reason) > MAX_REASON:
        raise ValidationFailed(
            f"a rejection needs a reason of 1 to {MAX_REASON} characters", field="reason"
        )
    fo = locked_fulfillment_order(session, fo_id)
    shipped = sum(line.shipped for line in fo.lines)
    if shipped:
        raise IllegalTransition(
            f"fulfillment order {fo.id} has shipped {shipped} unit{'' if shipped == 1 else 's'} "
            "and cannot be rejected; "
            "cancel its remaining lines instead",
            current=fo.status,
            target=S.REJECTED.value,
        )
    status_event = set_status(fo, S.REJECTED, by=by)
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
        {
            "reason": reason,
            "lines": [line_payload(line, line.quantity) for line in open_lines],
            **actor_field(by),
        },
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
        inventory.release(
            session, outbox, fo.reservation_id, items=dict(units), location_id=fo.location_id
        )

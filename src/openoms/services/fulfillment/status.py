"""The warehouse's progress on a fulfillment order: one checked step of the transition table
(`set_status`), a walk along the happy path (`walk_status`, shipping), and `change_status`,
the action the warehouse reports with. Shipping, canceling and rejecting have their own
actions because they move quantities and stock."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.models import utcnow
from openoms.adapters.outbox import Outbox
from openoms.domain.events import DomainEvent
from openoms.domain.fulfillment import FulfillmentOrderStatus, check_fulfillment_transition
from openoms.services.fulfillment.fulfillment import (
    FulfillmentStatusInvalid,
    S,
    fo_event,
    locked_fulfillment_order,
)
from openoms.services.orders import refresh_summary_status

# What the warehouse reports with change_status; shipping, canceling and rejecting have
# their own actions because they move quantities and stock.
WAREHOUSE_STEPS = frozenset({S.ASSIGNED, S.PICK_COMPLETE, S.PACK_COMPLETE})
# The path a fulfillment order walks; shipping from an earlier step completes the steps before.
HAPPY_PATH = (S.ALLOCATED, S.ASSIGNED, S.PICK_COMPLETE, S.PACK_COMPLETE, S.FULFILLED)


def change_status(
    session: Session,
    outbox: Outbox,
    fo_id: str,
    target: FulfillmentOrderStatus,
    *,
    by: str | None = None,
) -> m.FulfillmentOrder:
    """The warehouse's progress: ASSIGNED, PICK_COMPLETE or PACK_COMPLETE, one step at a
    time through the transition table (IllegalTransition otherwise). Emits
    `fulfillment_order.status_changed`, recording `by` (`api_key:<id>`, `user:<email>`)."""
    if target not in WAREHOUSE_STEPS:
        raise FulfillmentStatusInvalid(
            f"a fulfillment order becomes {target.value} through its own action "
            "(ship, cancel-lines or reject), not a status change",
            field="status",
        )
    fo = locked_fulfillment_order(session, fo_id)
    events = [set_status(fo, target, by=by)]
    outbox.record(session, events)
    refresh_summary_status(session, outbox, fo.order_summary_id)
    session.flush()
    return fo


def set_status(
    fo: m.FulfillmentOrder, target: FulfillmentOrderStatus, *, by: str | None = None
) -> DomainEvent:
    """One checked step; the `fulfillment_order.status_changed` event to record (with who
    moved it, `by`, when known)."""
    current = S(fo.status)
    check_fulfillment_transition(current, target)
    fo.status = target.value
    fo.updated_at = utcnow()
    return _status_event(fo, current, target, by)


def _status_event(
    fo: m.FulfillmentOrder,
    current: FulfillmentOrderStatus,
    target: FulfillmentOrderStatus,
    by: str | None,
) -> DomainEvent:
    payload = {"from": current.value, "to": target.value, **actor_field(by)}
    return fo_event(fo, "fulfillment_order.status_changed", payload)


def actor_field(by: str | None) -> dict[str, str]:
    """The events' `by` field: who acted, only when a person or an API key did."""
    return {"by": by} if by else {}


def walk_status(
    fo: m.FulfillmentOrder, target: FulfillmentOrderStatus, *, by: str | None = None
) -> DomainEvent | None:
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
    return _status_event(fo, current, target, by)

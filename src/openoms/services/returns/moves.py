"""Moving a return order along its lifecycle (`openoms.domain.returns`): approve, in
transit, receive, close. Each move credits the units due when the return reaches its
refund-eligible status, and refunds the delivery charges of emptied groups when asked."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from openoms.adapters.db.models import utcnow
from openoms.adapters.outbox import Outbox
from openoms.domain.returns import ReturnOrderStatus, check_return_transition
from openoms.services.returns.common import (
    LockedReturn,
    ReturnOutcome,
    lock_return,
    record_event,
    set_status,
)
from openoms.services.returns.receipts import ReceiptRequest, receive_units
from openoms.services.returns.refunds import credit_due, refund_shipping_if_asked

S = ReturnOrderStatus


def approve_return_order(
    session: Session, outbox: Outbox, return_order_id: str, *, by: str | None = None
) -> ReturnOutcome:
    """SUBMITTED → APPROVED (`return_order.approved`); refunds if that is the channel's
    refund-eligible status."""
    return _step(session, outbox, return_order_id, S.APPROVED, by)


def mark_return_in_transit(
    session: Session, outbox: Outbox, return_order_id: str, *, by: str | None = None
) -> ReturnOutcome:
    """APPROVED → IN_TRANSIT (`return_order.marked_in_transit`); refunds the expected units
    if that is the refund-eligible status."""
    return _step(session, outbox, return_order_id, S.IN_TRANSIT, by)


def close_return_order(
    session: Session, outbox: Outbox, return_order_id: str, *, by: str | None = None
) -> ReturnOutcome:
    """RECEIVED → CLOSED (`return_order.closed`); refunds if CLOSED is the refund-eligible
    status."""
    return _step(session, outbox, return_order_id, S.CLOSED, by)


def receive(
    session: Session,
    outbox: Outbox,
    return_order_id: str,
    lines: Sequence[ReceiptRequest],
    *,
    now: datetime | None = None,
    by: str | None = None,
) -> ReturnOutcome:
    """Record units that arrived: `lines` (line id, quantity, condition, disposition,
    location ref?). Restocked units go on hand at the receiving location (default: the
    return's expected location; its record is made if it has none), damaged or discarded
    ones are written off. The return must be APPROVED or IN_TRANSIT; it is RECEIVED once
    nothing is expected any more, else IN_TRANSIT. Refunds follow the refund-eligible status.
    Emits `return_order.received` (and `inventory.restocked`), saying `by` whom. See
    `receive_units`."""
    ret = lock_return(session, return_order_id, by)
    outcome = receive_units(session, outbox, ret, lines, now or utcnow())
    return refund_shipping_if_asked(session, outbox, ret, outcome)


_MOVED = {
    S.APPROVED: "approved",
    S.IN_TRANSIT: "marked_in_transit",
    S.RECEIVED: "received",
    S.CLOSED: "closed",
    S.CANCELED: "canceled",
}


def _step(
    session: Session,
    outbox: Outbox,
    return_order_id: str,
    target: ReturnOrderStatus,
    by: str | None,
) -> ReturnOutcome:
    ret = lock_return(session, return_order_id, by)
    return refund_shipping_if_asked(session, outbox, ret, move(session, outbox, ret, target))


def move(
    session: Session, outbox: Outbox, ret: LockedReturn, target: ReturnOrderStatus
) -> ReturnOutcome:
    check_return_transition(ret.status, target)
    set_status(ret, target, utcnow())
    record_event(session, outbox, ret, _MOVED[target])
    return ret.nothing().then(credit_due(session, outbox, ret))

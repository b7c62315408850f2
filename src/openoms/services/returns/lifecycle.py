"""Returns (DESIGN.md §4 ReturnOrder): the entry points of return orders (RMAs) and of the
simple return. The lifecycle table is `openoms.domain.returns`; the rest of the area:

- services/returns/receipts.py — receiving: receipts, restock at the receiving location,
  write-off (`receive_units`);
- services/returns/refunds.py — the money: the credit at the refund-eligible status,
  returnless refunds, the return fee, the delivery charges of emptied groups;
- services/views/returns.py — reading (`get_return_order`, `list_return_orders`,
  `return_orders_of`);
- services/returns/common.py — the locked return order, outcomes, events.

What happens, in order:

- **Create** an RMA (`create_return_order`): each line asks for at most the item's
  quantity_available_to_return (shipped − already being returned); a delivery charge is
  never returned (ask for `refund_shipping` instead). A DRAFT holds nothing; SUBMITTED raises
  the items' quantity_return_initiated and refunds at once the lines under the channel's
  returnless threshold. Nothing else is refunded at creation. An RMA with nothing left to
  expect is approved and RECEIVED at once.
- **Move** it along (`approve_return_order`, `mark_return_in_transit`, `close_return_order`),
  **receive** units (`receive`) or **cancel** units still expected (`cancel_return_order`):
  each credits the units due when the return reaches its refund-eligible status.
- **refund_shipping** (stored on the RMA): every action that credited units ends by
  refunding the delivery charge of each group left with nothing kept or to ship.
- **Simple return** (`submit_return`): units already back, one RMA created, approved,
  received and credited in one call.

Every action takes the order summary's row lock first, then the return order's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.ids import new_id
from openoms.adapters.db.models import utcnow
from openoms.adapters.db.repositories import fulfillment as repo
from openoms.adapters.outbox import Outbox
from openoms.domain.errors import (
    QuantityInvariantViolated,
    ValidationFailed,
)
from openoms.domain.returns import (
    HOLDING,
    OPEN,
    ReturnCondition,
    ReturnDisposition,
    ReturnOrderStatus,
    check_return_transition,
    status_after_cancel,
)
from openoms.services.orders import channel_policy, item_quantities, locked_summary
from openoms.services.returns.checks import check_available, check_lines
from openoms.services.returns.common import (
    LockedReturn,
    ReturnOutcome,
    counters,
    location_id,
    lock_return,
    record_event,
    set_status,
)
from openoms.services.returns.receipts import ReceiptRequest, receive_units
from openoms.services.returns.refunds import (
    credit_due,
    refund_returnless,
    refund_shipping_if_asked,
)

S = ReturnOrderStatus


class ReturnLineRequest(NamedTuple):
    """One line of a new return order: units of an item summary, and why."""

    order_item_summary_id: str
    quantity: int
    reason: str | None = None


class SimpleReturnLine(NamedTuple):
    """A line of a simple (in-store) return: the units are back already."""

    order_item_summary_id: str
    quantity: int
    reason: str | None = None
    condition: ReturnCondition = ReturnCondition.NEW
    disposition: ReturnDisposition = ReturnDisposition.RESTOCK


# --- creating and submitting ----------------------------------------------------------------


def create_return_order(
    session: Session,
    outbox: Outbox,
    order_summary_id: str,
    lines: Sequence[ReturnLineRequest],
    *,
    reason: str | None = None,
    expected_location: str | None = None,
    status: ReturnOrderStatus = ReturnOrderStatus.SUBMITTED,
    returnless: bool = True,
    refund_shipping: bool = False,
    now: datetime | None = None,
) -> ReturnOutcome:
    """A new return order (RMA) for `lines` of the order summary, DRAFT or SUBMITTED.

    `lines`: (order_item_summary_id, quantity, reason?) — product items only, each at most
    its quantity_available_to_return (else 409 `return_exceeds_available`, saying what
    shipped and which RMAs hold the rest). `expected_location`: a location ref. SUBMITTED
    raises the items' quantity_return_initiated and refunds at once the lines under the
    channel's returnless threshold (unless `returnless` is False); DRAFT holds nothing.
    Nothing else is refunded here. `refund_shipping`: when the RMA is credited, also refund
    the delivery charge of each group left with nothing kept or to ship. Emits
    `return_order.created` (and `.submitted`)."""
    if status not in (S.DRAFT, S.SUBMITTED):
        raise ValidationFailed(f"a return order is created DRAFT or SUBMITTED, not {status}")
    now = now or utcnow()
    ret = _new_draft(
        session,
        outbox,
        order_summary_id,
        lines,
        reason=reason,
        expected_location=expected_location,
        refund_shipping=refund_shipping,
        now=now,
    )
    if status is S.DRAFT:
        return ret.nothing()
    outcome = _submit(session, outbox, ret, returnless=returnless, now=now)
    return refund_shipping_if_asked(session, outbox, ret, outcome)


def _new_draft(
    session: Session,
    outbox: Outbox,
    order_summary_id: str,
    lines: Sequence[ReturnLineRequest],
    *,
    reason: str | None,
    expected_location: str | None,
    refund_shipping: bool,
    now: datetime,
) -> LockedReturn:
    """The RMA and its lines, checked and stored as a DRAFT (`return_order.created`)."""
    summary = locked_summary(session, order_summary_id)
    items = {i.id: i for i in repo.summary_items(session, summary.id)}
    check_lines(lines, items)
    expected_location_id = location_id(session, expected_location, "expected_location")
    check_available(session, items, {r.order_item_summary_id: r.quantity for r in lines})
    policy = channel_policy(session, summary.channel)
    order = m.ReturnOrder(
        id=new_id("ro"),
        order_summary_id=summary.id,
        status=S.DRAFT.value,
        reason=reason,
        expected_location_id=expected_location_id,
        refund_eligible_status=policy.refund_eligible_status.value,
        refund_shipping=refund_shipping,
        created_at=now,
        updated_at=now,
    )
    rows = [
        m.ReturnOrderLineItem(
            id=new_id("roli"),
            return_order_id=order.id,
            order_item_summary_id=r.order_item_summary_id,
            sku=items[r.order_item_summary_id].sku,
            reason=r.reason or reason,
            quantity_expected=r.quantity,
        )
        for r in sorted(lines, key=lambda r: items[r.order_item_summary_id].position)
    ]
    session.add(order)
    session.add_all(rows)
    session.flush()
    ret = LockedReturn(summary, order, rows, items)
    record_event(session, outbox, ret, "created", lines=[_line_brief(line) for line in rows])
    return ret


def submit_return_order(
    session: Session, outbox: Outbox, return_order_id: str, *, returnless: bool = True
) -> ReturnOutcome:
    """DRAFT → SUBMITTED: the units are held (return_initiated) and returnless lines
    refunded, as at creation."""
    ret = lock_return(session, return_order_id)
    outcome = _submit(session, outbox, ret, returnless=returnless, now=utcnow())
    return refund_shipping_if_asked(session, outbox, ret, outcome)


def _submit(
    session: Session, outbox: Outbox, ret: LockedReturn, *, returnless: bool, now: datetime
) -> ReturnOutcome:
    check_return_transition(ret.status, S.SUBMITTED)
    wanted = {line.order_item_summary_id: line.quantity_expected for line in ret.lines}
    check_available(session, ret.items, wanted, exclude=ret.order.id)
    locked = repo.lock_items(session, wanted)
    for line in ret.lines:
        item = locked[line.order_item_summary_id]
        q = item_quantities(item).initiate_return(line.quantity_expected)
        item.quantity_return_initiated = q.return_initiated
    set_status(ret, S.SUBMITTED, now)
    record_event(session, outbox, ret, "submitted")
    outcome = ret.nothing()
    if returnless:
        outcome = outcome.then(refund_returnless(session, outbox, ret))
    outcome = outcome.then(credit_due(session, outbox, ret))
    if all(c.outstanding == 0 for c in ret.counters()):  # nothing to wait for
        for target in (S.APPROVED, S.RECEIVED):
            outcome = outcome.then(_move(session, outbox, ret, target))
    return outcome


# --- status moves and receiving ---------------------------------------------------------------


def approve_return_order(session: Session, outbox: Outbox, return_order_id: str) -> ReturnOutcome:
    """SUBMITTED → APPROVED (`return_order.approved`); refunds if that is the channel's
    refund-eligible status."""
    return _step(session, outbox, return_order_id, S.APPROVED)


def mark_return_in_transit(session: Session, outbox: Outbox, return_order_id: str) -> ReturnOutcome:
    """APPROVED → IN_TRANSIT (`return_order.marked_in_transit`); refunds the expected units
    if that is the refund-eligible status."""
    return _step(session, outbox, return_order_id, S.IN_TRANSIT)


def close_return_order(session: Session, outbox: Outbox, return_order_id: str) -> ReturnOutcome:
    """RECEIVED → CLOSED (`return_order.closed`); refunds if CLOSED is the refund-eligible
    status."""
    return _step(session, outbox, return_order_id, S.CLOSED)


def receive(
    session: Session,
    outbox: Outbox,
    return_order_id: str,
    lines: Sequence[ReceiptRequest],
    *,
    now: datetime | None = None,
) -> ReturnOutcome:
    """Record units that arrived: `lines` (line id, quantity, condition, disposition,
    location ref?). Restocked units go on hand at the receiving location (default: the
    return's expected location; its record is made if it has none), damaged or discarded
    ones are written off. The return must be APPROVED or IN_TRANSIT; it is RECEIVED once
    nothing is expected any more, else IN_TRANSIT. Refunds follow the refund-eligible status.
    Emits `return_order.received` (and `inventory.restocked`). See `receive_units`."""
    ret = lock_return(session, return_order_id)
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
    session: Session, outbox: Outbox, return_order_id: str, target: ReturnOrderStatus
) -> ReturnOutcome:
    ret = lock_return(session, return_order_id)
    return refund_shipping_if_asked(session, outbox, ret, _move(session, outbox, ret, target))


def _move(
    session: Session, outbox: Outbox, ret: LockedReturn, target: ReturnOrderStatus
) -> ReturnOutcome:
    check_return_transition(ret.status, target)
    set_status(ret, target, utcnow())
    record_event(session, outbox, ret, _MOVED[target])
    return ret.nothing().then(credit_due(session, outbox, ret))


# --- canceling --------------------------------------------------------------------------------


def cancel_return_order(
    session: Session,
    outbox: Outbox,
    return_order_id: str,
    lines: Sequence[tuple[str, int]] | None = None,
) -> ReturnOutcome:
    """Cancel units still expected back — `lines` (line id, units), or every unit that can
    be — giving their return_initiated back. With nothing left expected the return is
    CANCELED, or RECEIVED when some units did arrive (a return with received units is never
    canceled; its refund follows). A unit refunded already (an early refund-eligible status)
    cannot be canceled. Emits `return_order.canceled` (units and the status after)."""
    ret = lock_return(session, return_order_id)
    if ret.status not in OPEN:
        check_return_transition(ret.status, S.CANCELED)  # raises, naming what is allowed
    by_id = {line.id: line for line in ret.lines}
    wanted = _cancel_units(ret, by_id, lines)
    if not any(wanted.values()):
        raise QuantityInvariantViolated(
            f"return order {ret.order.id} has no units left to cancel: every unit was "
            "received or refunded already",
        )
    holding = ret.status in HOLDING
    locked = repo.lock_items(session, {by_id[i].order_item_summary_id for i in wanted})
    for line_id, units in wanted.items():
        line = by_id[line_id]
        line.quantity_canceled = counters(line).cancel(units).canceled
        if holding:
            item = locked[line.order_item_summary_id]
            item.quantity_return_initiated = (
                item_quantities(item).cancel_return(units).return_initiated
            )
    after = status_after_cancel(ret.status, ret.counters())
    canceled = [
        {"return_order_line_item_id": i, "sku": by_id[i].sku, "quantity": n}
        for i, n in wanted.items()
        if n
    ]
    if after is not ret.status:
        check_return_transition(ret.status, after)
        set_status(ret, after, utcnow())
    record_event(session, outbox, ret, "canceled", canceled=canceled)
    outcome = ret.nothing().then(credit_due(session, outbox, ret))
    return refund_shipping_if_asked(session, outbox, ret, outcome)


def _cancel_units(
    ret: LockedReturn,
    by_id: Mapping[str, m.ReturnOrderLineItem],
    lines: Sequence[tuple[str, int]] | None,
) -> dict[str, int]:
    if lines is None:
        return {line.id: counters(line).cancelable for line in ret.lines}
    wanted: dict[str, int] = defaultdict(int)
    for line_id, units in lines:
        if line_id not in by_id:
            raise ValidationFailed(
                f"return order {ret.order.id} has no line {line_id!r}",
                field="items",
            )
        wanted[line_id] += units
    for line_id, units in wanted.items():
        counters(by_id[line_id]).cancel(units)  # raises naming what can be canceled
    return dict(wanted)


# --- simple return --------------------------------------------------------------------------


def submit_return(
    session: Session,
    outbox: Outbox,
    order_summary_id: str,
    lines: Sequence[SimpleReturnLine],
    *,
    reason: str | None = None,
    location: str | None = None,
    refund_shipping: bool = False,
) -> ReturnOutcome:
    """A return of units already back (in store, at the desk): one RMA made SUBMITTED,
    APPROVED and RECEIVED in one call, with receipts at `location` (a ref; needed to
    restock) or written off, the change order and credit memo, returnless lines refunded
    without receipts, the return fee, and (`refund_shipping`) the delivery charges of groups
    that came back whole. Preview it by running it in `Database.rehearsal()`."""
    now = utcnow()
    requests = [ReturnLineRequest(r.order_item_summary_id, r.quantity, r.reason) for r in lines]
    ret = _new_draft(
        session,
        outbox,
        order_summary_id,
        requests,
        reason=reason,
        expected_location=location,
        refund_shipping=refund_shipping,
        now=now,
    )
    outcome = _submit(session, outbox, ret, returnless=True, now=now)
    if ret.status is S.SUBMITTED:
        outcome = outcome.then(_move(session, outbox, ret, S.APPROVED))
    by_item = {line.order_item_summary_id: line for line in ret.lines}
    receipts = [
        ReceiptRequest(by_item[r.order_item_summary_id].id, n, r.condition, r.disposition)
        for r in lines
        if (n := counters(by_item[r.order_item_summary_id]).outstanding)
    ]
    if receipts:
        outcome = outcome.then(receive_units(session, outbox, ret, receipts, utcnow()))
    return refund_shipping_if_asked(session, outbox, ret, outcome)


def _line_brief(line: m.ReturnOrderLineItem) -> dict[str, Any]:
    return {
        "return_order_line_item_id": line.id,
        "order_item_summary_id": line.order_item_summary_id,
        "sku": line.sku,
        "quantity": line.quantity_expected,
    }

"""Returns (DESIGN.md §4 ReturnOrder): creating and submitting return orders (RMAs), and the
map of the area. The lifecycle table is `openoms.domain.returns`; the rest of the area:

- services/returns/receipts.py — receiving: receipts, restock at the receiving location,
  write-off (`receive_units`);
- services/returns/refunds.py — the money: the credit at the refund-eligible status,
  returnless refunds, the return fee, the delivery charges of emptied groups;
- services/views/returns.py — reading (`get_return_order`, `list_return_orders`,
  `return_orders_of`);
- services/returns/moves.py — status moves and receiving (`approve_return_order`, …);
- services/returns/cancel.py — canceling units still expected (`cancel_return_order`);
- services/returns/simple.py — the simple return (`submit_return`);
- services/returns/checks.py — what may be returned;
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

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.ids import new_id
from openoms.adapters.db.models import utcnow
from openoms.adapters.db.repositories import fulfillment as repo
from openoms.adapters.outbox import Outbox
from openoms.domain.errors import ValidationFailed
from openoms.domain.returns import ReturnOrderStatus, check_return_transition
from openoms.services.orders import channel_policy, item_quantities, locked_summary
from openoms.services.returns.checks import check_available, check_lines
from openoms.services.returns.common import (
    LockedReturn,
    ReturnOutcome,
    location_id,
    lock_return,
    record_event,
    set_status,
)
from openoms.services.returns.moves import move
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
    by: str | None = None,
) -> ReturnOutcome:
    """A new return order (RMA) for `lines` of the order summary, DRAFT or SUBMITTED.

    `lines`: (order_item_summary_id, quantity, reason?) — product items only, each at most
    its quantity_available_to_return (else 409 `return_exceeds_available`, saying what
    shipped and which RMAs hold the rest). `expected_location`: a location ref. SUBMITTED
    raises the items' quantity_return_initiated and refunds at once the lines under the
    channel's returnless threshold (unless `returnless` is False); DRAFT holds nothing.
    Nothing else is refunded here. `refund_shipping`: when the RMA is credited, also refund
    the delivery charge of each group left with nothing kept or to ship. Emits
    `return_order.created` (and `.submitted`), each saying `by` whom (`api_key:<id>`,
    `user:<email>`) when someone acted."""
    if status not in (S.DRAFT, S.SUBMITTED):
        raise ValidationFailed(f"a return order is created DRAFT or SUBMITTED, not {status}")
    now = now or utcnow()
    ret = new_draft(
        session,
        outbox,
        order_summary_id,
        lines,
        reason=reason,
        expected_location=expected_location,
        refund_shipping=refund_shipping,
        now=now,
        by=by,
    )
    if status is S.DRAFT:
        return ret.nothing()
    outcome = submit(session, outbox, ret, returnless=returnless, now=now)
    return refund_shipping_if_asked(session, outbox, ret, outcome)


def new_draft(
    session: Session,
    outbox: Outbox,
    order_summary_id: str,
    lines: Sequence[ReturnLineRequest],
    *,
    reason: str | None,
    expected_location: str | None,
    refund_shipping: bool,
    now: datetime,
    by: str | None = None,
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
    ret = LockedReturn(summary, order, rows, items, by)
    record_event(session, outbox, ret, "created", lines=[_line_brief(line) for line in rows])
    return ret


def submit_return_order(
    session: Session,
    outbox: Outbox,
    return_order_id: str,
    *,
    returnless: bool = True,
    by: str | None = None,
) -> ReturnOutcome:
    """DRAFT → SUBMITTED: the units are held (return_initiated) and returnless lines
    refunded, as at creation."""
    ret = lock_return(session, return_order_id, by)
    outcome = submit(session, outbox, ret, returnless=returnless, now=utcnow())
    return refund_shipping_if_asked(session, outbox, ret, outcome)


def submit(
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
            outcome = outcome.then(move(session, outbox, ret, target))
    return outcome


def _line_brief(line: m.ReturnOrderLineItem) -> dict[str, Any]:
    return {
        "return_order_line_item_id": line.id,
        "order_item_summary_id": line.order_item_summary_id,
        "sku": line.sku,
        "quantity": line.quantity_expected,
    }

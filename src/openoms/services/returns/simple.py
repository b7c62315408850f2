"""The simple return (DESIGN.md §4 ReturnOrder): units already back, in store or at the
desk, returned in one call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy.orm import Session

from openoms.adapters.db.models import utcnow
from openoms.adapters.outbox import Outbox
from openoms.domain.returns import ReturnCondition, ReturnDisposition, ReturnOrderStatus
from openoms.services.returns.common import ReturnOutcome, counters
from openoms.services.returns.lifecycle import ReturnLineRequest, new_draft, submit
from openoms.services.returns.moves import move
from openoms.services.returns.receipts import ReceiptRequest, receive_units
from openoms.services.returns.refunds import refund_shipping_if_asked

S = ReturnOrderStatus


class SimpleReturnLine(NamedTuple):
    """A line of a simple (in-store) return: the units are back already."""

    order_item_summary_id: str
    quantity: int
    reason: str | None = None
    condition: ReturnCondition = ReturnCondition.NEW
    disposition: ReturnDisposition = ReturnDisposition.RESTOCK


def submit_return(
    session: Session,
    outbox: Outbox,
    order_summary_id: str,
    lines: Sequence[SimpleReturnLine],
    *,
    reason: str | None = None,
    location: str | None = None,
    refund_shipping: bool = False,
    by: str | None = None,
) -> ReturnOutcome:
    """A return of units already back (in store, at the desk): one RMA made SUBMITTED,
    APPROVED and RECEIVED in one call, with receipts at `location` (a ref; needed to
    restock) or written off, the change order and credit memo, returnless lines refunded
    without receipts, the return fee, and (`refund_shipping`) the delivery charges of groups
    that came back whole. Its events say `by` whom, when someone acted. Preview it by running
    it in `Database.rehearsal()`."""
    now = utcnow()
    requests = [ReturnLineRequest(r.order_item_summary_id, r.quantity, r.reason) for r in lines]
    ret = new_draft(
        session,
        outbox,
        order_summary_id,
        requests,
        reason=reason,
        expected_location=location,
        refund_shipping=refund_shipping,
        now=now,
        by=by,
    )
    outcome = submit(session, outbox, ret, returnless=True, now=now)
    if ret.status is S.SUBMITTED:
        outcome = outcome.then(move(session, outbox, ret, S.APPROVED))
    by_item = {line.order_item_summary_id: line for line in ret.lines}
    receipts = [
        ReceiptRequest(by_item[r.order_item_summary_id].id, n, r.condition, r.disposition)
        for r in lines
        if (n := counters(by_item[r.order_item_summary_id]).outstanding)
    ]
    if receipts:
        outcome = outcome.then(receive_units(session, outbox, ret, receipts, utcnow()))
    return refund_shipping_if_asked(session, outbox, ret, outcome)

"""Canceling units a return order still expects back (DESIGN.md §4 ReturnOrder)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.models import utcnow
from openoms.adapters.db.repositories import fulfillment as repo
from openoms.adapters.outbox import Outbox
from openoms.domain.errors import QuantityInvariantViolated, ValidationFailed
from openoms.domain.returns import (
    HOLDING,
    OPEN,
    ReturnOrderStatus,
    check_return_transition,
    status_after_cancel,
)
from openoms.services.orders import item_quantities
from openoms.services.returns.common import (
    LockedReturn,
    ReturnOutcome,
    counters,
    lock_return,
    record_event,
    set_status,
)
from openoms.services.returns.refunds import credit_due, refund_shipping_if_asked

S = ReturnOrderStatus


def cancel_return_order(
    session: Session,
    outbox: Outbox,
    return_order_id: str,
    lines: Sequence[tuple[str, int]] | None = None,
    *,
    by: str | None = None,
) -> ReturnOutcome:
    """Cancel units still expected back — `lines` (line id, units), or every unit that can
    be — giving their return_initiated back. With nothing left expected the return is
    CANCELED, or RECEIVED when some units did arrive (a return with received units is never
    canceled; its refund follows). A unit refunded already (an early refund-eligible status)
    cannot be canceled. Emits `return_order.canceled` (units, the status after and `by`)."""
    ret = lock_return(session, return_order_id, by)
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

"""Receiving returned units (DESIGN.md §4 ReturnOrder): receipts, restock, write-off.

Receipts record condition and disposition; restocked units go on hand at the RECEIVING
location (`inventory.restocked`, which routing's backorder pick-up listens to), damaged or
discarded ones are written off. A partial receipt leaves the return IN_TRANSIT; it is
RECEIVED once every expected unit arrived or was canceled. The entry point is
`returns.receive`; what happens is `receive_units`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.ids import new_id
from openoms.adapters.db.repositories import returns as repo
from openoms.adapters.outbox import Outbox
from openoms.domain.errors import IllegalTransition, ReturnLocationRequired, ValidationFailed
from openoms.domain.events import DomainEvent
from openoms.domain.returns import (
    RECEIVABLE,
    RETURN_ORDER_TRANSITIONS,
    ReturnCondition,
    ReturnDisposition,
    ReturnOrderStatus,
    check_return_transition,
    status_after_receipt,
)
from openoms.services.returns.common import (
    LockedReturn,
    ReturnOutcome,
    counters,
    location_id,
    location_refs,
    record_event,
    set_status,
)
from openoms.services.returns.refunds import credit_due

RESTOCK_EVENT = "inventory.restocked"


class ReceiptRequest(NamedTuple):
    """Units of a return line that arrived. `location`: the receiving location's ref (None:
    the return's expected location; needed to restock)."""

    return_order_line_item_id: str
    quantity: int
    condition: ReturnCondition = ReturnCondition.NEW
    disposition: ReturnDisposition = ReturnDisposition.RESTOCK
    location: str | None = None


def receive_units(
    session: Session,
    outbox: Outbox,
    ret: LockedReturn,
    lines: Sequence[ReceiptRequest],
    now: datetime,
) -> ReturnOutcome:
    """What happens when units of a return arrive: receipts recorded (the return must be
    APPROVED or IN_TRANSIT; no line receives more than it still expects), restocked units on
    hand at the receiving location, the return RECEIVED once nothing is expected any more
    (else IN_TRANSIT), `return_order.received`, and the credit if that is the refund-eligible
    status."""
    if ret.status not in RECEIVABLE:
        allowed = RETURN_ORDER_TRANSITIONS[ret.status]
        raise IllegalTransition(
            f"a return order that is {ret.status.value} cannot receive units: units are "
            "received while it is APPROVED or IN_TRANSIT (allowed from "
            f"{ret.status.value}: {', '.join(sorted(allowed)) or 'none'})",
            current=ret.status.value,
            target=ReturnOrderStatus.RECEIVED.value,
        )
    by_id = {line.id: line for line in ret.lines}
    receipts = _receipts(session, ret, by_id, lines, now)
    for receipt in receipts:
        line = by_id[receipt.return_order_line_item_id]
        line.quantity_received = counters(line).receive(receipt.quantity).received
    session.add_all(receipts)
    _restock(session, outbox, ret, by_id, receipts, now)
    after = status_after_receipt(ret.counters())
    if after is not ret.status:
        check_return_transition(ret.status, after)
        set_status(ret, after, now)
    briefs = _receipt_briefs(session, receipts, by_id)
    record_event(session, outbox, ret, "received", receipts=briefs)
    messages = tuple(_receipt_message(session, r, by_id) for r in receipts)
    outcome = ReturnOutcome(ret.order.id, ret.summary.id, messages=messages)
    return outcome.then(credit_due(session, outbox, ret))


def _receipts(
    session: Session,
    ret: LockedReturn,
    by_id: Mapping[str, m.ReturnOrderLineItem],
    lines: Sequence[ReceiptRequest],
    now: datetime,
) -> list[m.ReturnReceipt]:
    """One receipt row per request, checked: the line is on the return, a restock has a
    location, the line's units received so far stay within what it expects."""
    if not lines:
        raise ValidationFailed("name at least one return line to receive", field="items")
    receipts = []
    totals: dict[str, int] = defaultdict(int)
    for index, request in enumerate(lines):
        line = by_id.get(request.return_order_line_item_id)
        if line is None:
            raise ValidationFailed(
                f"return order {ret.order.id} has no line {request.return_order_line_item_id!r}",
                field=f"items[{index}].return_order_line_item_id",
            )
        disposition = ReturnDisposition(request.disposition)
        where = location_id(session, request.location, f"items[{index}].location")
        where = where or ret.order.expected_location_id
        if where is None and disposition is ReturnDisposition.RESTOCK:
            raise ReturnLocationRequired(
                f"say where the {request.quantity} {line.sku} to restock were received: give "
                "a location (the return order expects none)",
                field=f"items[{index}].location",
            )
        totals[line.id] += request.quantity
        counters(line).receive(totals[line.id])  # raises naming what is still expected
        receipts.append(
            m.ReturnReceipt(
                id=new_id("rr"),
                return_order_line_item_id=line.id,
                location_id=where,
                quantity=request.quantity,
                condition=ReturnCondition(request.condition).value,
                disposition=disposition.value,
                received_at=now,
            )
        )
    return receipts


def _restock(
    session: Session,
    outbox: Outbox,
    ret: LockedReturn,
    by_id: Mapping[str, m.ReturnOrderLineItem],
    receipts: Sequence[m.ReturnReceipt],
    now: datetime,
) -> int:
    """on_hand += units at each receiving location, one atomic upsert per record in a fixed
    (location, sku) order; emits `inventory.restocked`. Returns the units restocked."""
    units: dict[tuple[str, str], int] = defaultdict(int)
    for r in receipts:
        if r.disposition == ReturnDisposition.RESTOCK.value and r.location_id is not None:
            units[(r.location_id, by_id[r.return_order_line_item_id].sku)] += r.quantity
    if not units:
        return 0
    repo.restock(session, units, now)
    refs = location_refs(session, {loc for loc, _ in units})
    payload = {
        "return_order_id": ret.order.id,
        "lines": [
            {"location": refs[loc], "sku": sku, "quantity": n}
            for (loc, sku), n in sorted(units.items())
        ],
    }
    outbox.record(
        session,
        [DomainEvent(RESTOCK_EVENT, "return_order", ret.order.id, payload, ret.summary.id)],
    )
    return sum(units.values())


def _receipt_briefs(
    session: Session,
    receipts: Sequence[m.ReturnReceipt],
    by_id: Mapping[str, m.ReturnOrderLineItem],
) -> list[dict[str, Any]]:
    refs = location_refs(session, {r.location_id for r in receipts})
    return [
        {
            "return_order_line_item_id": r.return_order_line_item_id,
            "sku": by_id[r.return_order_line_item_id].sku,
            "quantity": r.quantity,
            "condition": r.condition,
            "disposition": r.disposition,
            "location": refs.get(r.location_id or ""),
        }
        for r in receipts
    ]


def _receipt_message(
    session: Session, receipt: m.ReturnReceipt, by_id: Mapping[str, m.ReturnOrderLineItem]
) -> str:
    sku = by_id[receipt.return_order_line_item_id].sku
    where = location_refs(session, [receipt.location_id]).get(receipt.location_id or "")
    received = f"{receipt.quantity} × {sku} received ({receipt.condition})"
    if receipt.disposition == ReturnDisposition.RESTOCK.value:
        return f"{received} and restocked at {where}"
    return f"{received} and written off ({receipt.disposition})"

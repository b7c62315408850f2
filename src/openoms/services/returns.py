"""Returns (DESIGN.md §4 ReturnOrder): RMAs, receiving, returnless refunds, return fees.

What happens, in order (the lifecycle table is `openoms.domain.returns`):

- **Create** an RMA (`create_return_order`): each line asks for at most the item's
  quantity_available_to_return (shipped − already being returned); a delivery charge is
  never returned (ask for `refund_shipping` instead). A DRAFT holds nothing; SUBMITTED raises
  the items' quantity_return_initiated. Nothing is refunded at creation.
- **Returnless refund** at submission: a line whose unit value (the item's running amounts
  incl. tax per net ordered unit) is under the channel's `returnless_threshold` is credited
  at once and never expected back (its `quantity_expected` is 0, `quantity_credited` the
  units): return_initiated and returned both rise, nothing is restocked. An RMA with nothing
  left to expect is approved and RECEIVED at once.
- **Receive** (`receive`): receipts record condition and disposition; restocked units go on
  hand at the RECEIVING location (`inventory.restocked`, which routing's backorder pick-up
  listens to), damaged or discarded ones are written off. A partial receipt leaves the
  return IN_TRANSIT; it is RECEIVED once every expected unit arrived or was canceled.
- **Credit** when the return reaches its refund-eligible status (fixed on the RMA from the
  channel policy when it is made; RECEIVED by default): the units due (received, or expected
  back for an earlier status) become one RETURN change order with the credit memo of their
  invoiced share (`changes.return_line`), whose `credit_memo.created` queues ensure-refunds.
  `quantity_credited` per line makes sure no unit is credited twice.
- **Return fee** (channel `return_fee[currency]`): at the first credit of an RMA's returned
  units, one Invoice (`return_fee:{return_order_id}`, one "fee" line, tax included), capped
  at what the return is worth. It is settled from that credit memo in the same transaction
  (the memo's balance and the invoice's balance both go down by the smaller of the two), so
  ensure-refunds pays back only the rest and the customer is never charged a fee and
  refunded it again; only a fee larger than the memo leaves a balance for ensure-funds to
  capture. Once settled, Σ invoices − Σ credit memos = grand total + Σ return fees.
- **refund_shipping** (simple return): a delivery group's charge is canceled with the
  refund of what of it was invoiced (`changes.cancel_charge`) when nothing of the group is
  left with the customer or still to ship (every product's quantity is 0). An RMA has no
  column to carry the choice to its refund-eligible status, so it is offered on the simple
  return only.

Every action takes the order summary's row lock first, then the return order's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.ids import new_id
from openoms.adapters.db.models import utcnow
from openoms.adapters.db.repositories import fulfillment as repo
from openoms.adapters.outbox import Outbox
from openoms.domain.changes import ItemMoney, cancel_charge, return_line
from openoms.domain.errors import (
    IllegalTransition,
    QuantityInvariantViolated,
    ReturnExceedsAvailable,
    ReturnItemNotReturnable,
    ReturnLocationRequired,
    ReturnOrderNotFound,
    ValidationFailed,
)
from openoms.domain.events import DomainEvent
from openoms.domain.finance import Amounts
from openoms.domain.money import format_minor
from openoms.domain.order import ItemType
from openoms.domain.returns import (
    HOLDING,
    OPEN,
    RECEIVABLE,
    RETURN_ORDER_TRANSITIONS,
    ReturnCondition,
    ReturnDisposition,
    ReturnLine,
    ReturnOrderStatus,
    check_return_transition,
    status_after_cancel,
    status_after_receipt,
)
from openoms.domain.summary import ChangeKind, ChangeOrder
from openoms.services.change_orders import (
    RecordedChange,
    billed_amounts,
    item_amounts,
    locked_summary,
    record_change,
)
from openoms.services.channels import channel_policy
from openoms.services.fulfillment import item_quantities
from openoms.services.invoicing import InvoiceStatus
from openoms.services.locations import LocationUnknown, dialect_insert

S = ReturnOrderStatus
FEE_LINE_TYPE = "fee"
RESTOCK_EVENT = "inventory.restocked"


class ReturnLineRequest(NamedTuple):
    """One line of a new return order: units of an item summary, and why."""

    order_item_summary_id: str
    quantity: int
    reason: str | None = None


class ReceiptRequest(NamedTuple):
    """Units of a return line that arrived. `location`: the receiving location's ref (None:
    the return's expected location; needed to restock)."""

    return_order_line_item_id: str
    quantity: int
    condition: ReturnCondition = ReturnCondition.NEW
    disposition: ReturnDisposition = ReturnDisposition.RESTOCK
    location: str | None = None


class SimpleReturnLine(NamedTuple):
    """A line of a simple (in-store) return: the units are back already."""

    order_item_summary_id: str
    quantity: int
    reason: str | None = None
    condition: ReturnCondition = ReturnCondition.NEW
    disposition: ReturnDisposition = ReturnDisposition.RESTOCK


@dataclass(frozen=True, slots=True)
class ReturnOutcome:
    """What an action did: the return order, its change orders (with credit memos) and
    messages for the caller (returnless decisions, restocks, fees)."""

    return_order_id: str
    order_summary_id: str
    recorded: tuple[RecordedChange, ...] = ()
    messages: tuple[str, ...] = ()

    def then(self, other: ReturnOutcome) -> ReturnOutcome:
        return ReturnOutcome(
            other.return_order_id,
            other.order_summary_id,
            self.recorded + other.recorded,
            self.messages + other.messages,
        )


@dataclass(slots=True)
class _Return:
    """A locked return order with its summary, lines and the lines' items."""

    summary: m.OrderSummary
    order: m.ReturnOrder
    lines: list[m.ReturnOrderLineItem]
    items: dict[str, m.OrderItemSummary]

    @property
    def status(self) -> ReturnOrderStatus:
        return ReturnOrderStatus(self.order.status)

    def counters(self) -> list[ReturnLine]:
        return [_counters(line) for line in self.lines]


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
    now: datetime | None = None,
) -> ReturnOutcome:
    """A new return order (RMA) for `lines` of the order summary, DRAFT or SUBMITTED.

    `lines`: (order_item_summary_id, quantity, reason?) — product items only, each at most
    its quantity_available_to_return (else 409 `return_exceeds_available`, saying what
    shipped and which RMAs hold the rest). `expected_location`: a location ref. SUBMITTED
    raises the items' quantity_return_initiated and refunds at once the lines under the
    channel's returnless threshold (unless `returnless` is False); DRAFT holds nothing.
    Nothing else is refunded here. Emits `return_order.created` (and `.submitted`)."""
    if status not in (S.DRAFT, S.SUBMITTED):
        raise ValidationFailed(f"a return order is created DRAFT or SUBMITTED, not {status}")
    now = now or utcnow()
    summary = locked_summary(session, order_summary_id)
    items = {i.id: i for i in repo.summary_items(session, summary.id)}
    _check_lines(lines, items)
    location_id = _location_id(session, expected_location, "expected_location")
    _check_available(session, items, {r.order_item_summary_id: r.quantity for r in lines})
    policy = channel_policy(session, summary.channel)
    order = m.ReturnOrder(
        id=new_id("ro"),
        order_summary_id=summary.id,
        status=S.DRAFT.value,
        reason=reason,
        expected_location_id=location_id,
        refund_eligible_status=policy.refund_eligible_status.value,
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
    ret = _Return(summary, order, rows, items)
    _event(session, outbox, ret, "created", lines=[_line_brief(line) for line in rows])
    outcome = ReturnOutcome(order.id, summary.id)
    if status is S.SUBMITTED:
        outcome = _submit(session, outbox, ret, returnless=returnless, now=now)
    return outcome


def submit_return_order(
    session: Session, outbox: Outbox, return_order_id: str, *, returnless: bool = True
) -> ReturnOutcome:
    """DRAFT → SUBMITTED: the units are held (return_initiated) and returnless lines
    refunded, as at creation."""
    ret = _locked(session, return_order_id)
    return _submit(session, outbox, ret, returnless=returnless, now=utcnow())


def _submit(
    session: Session, outbox: Outbox, ret: _Return, *, returnless: bool, now: datetime
) -> ReturnOutcome:
    check_return_transition(ret.status, S.SUBMITTED)
    wanted = {line.order_item_summary_id: line.quantity_expected for line in ret.lines}
    _check_available(session, ret.items, wanted, exclude=ret.order.id)
    locked = repo.lock_items(session, wanted)
    for line in ret.lines:
        item = locked[line.order_item_summary_id]
        q = item_quantities(item).initiate_return(line.quantity_expected)
        item.quantity_return_initiated = q.return_initiated
    _set_status(ret, S.SUBMITTED, now)
    _event(session, outbox, ret, "submitted")
    outcome = ReturnOutcome(ret.order.id, ret.summary.id)
    if returnless:
        outcome = outcome.then(_refund_returnless(session, outbox, ret))
    outcome = outcome.then(_credit_due(session, outbox, ret))
    if all(c.outstanding == 0 for c in ret.counters()):  # nothing to wait for
        for target in (S.APPROVED, S.RECEIVED):
            outcome = outcome.then(_move(session, outbox, ret, target))
    return outcome


# --- status moves ---------------------------------------------------------------------------


def approve_return_order(session: Session, outbox: Outbox, return_order_id: str) -> ReturnOutcome:
    """SUBMITTED → APPROVED (`return_order.approved`); refunds if that is the channel's
    refund-eligible status."""
    return _move(session, outbox, _locked(session, return_order_id), S.APPROVED)


def mark_return_in_transit(session: Session, outbox: Outbox, return_order_id: str) -> ReturnOutcome:
    """APPROVED → IN_TRANSIT (`return_order.marked_in_transit`); refunds the expected units
    if that is the refund-eligible status."""
    return _move(session, outbox, _locked(session, return_order_id), S.IN_TRANSIT)


def close_return_order(session: Session, outbox: Outbox, return_order_id: str) -> ReturnOutcome:
    """RECEIVED → CLOSED (`return_order.closed`); refunds if CLOSED is the refund-eligible
    status."""
    return _move(session, outbox, _locked(session, return_order_id), S.CLOSED)


_MOVED = {
    S.APPROVED: "approved",
    S.IN_TRANSIT: "marked_in_transit",
    S.RECEIVED: "received",
    S.CLOSED: "closed",
    S.CANCELED: "canceled",
}


def _move(
    session: Session, outbox: Outbox, ret: _Return, target: ReturnOrderStatus
) -> ReturnOutcome:
    check_return_transition(ret.status, target)
    _set_status(ret, target, utcnow())
    _event(session, outbox, ret, _MOVED[target])
    return ReturnOutcome(ret.order.id, ret.summary.id).then(_credit_due(session, outbox, ret))


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
    ret = _locked(session, return_order_id)
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
        line.quantity_canceled = _counters(line).cancel(units).canceled
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
        _set_status(ret, after, utcnow())
    _event(session, outbox, ret, "canceled", canceled=canceled)
    outcome = ReturnOutcome(ret.order.id, ret.summary.id)
    return outcome.then(_credit_due(session, outbox, ret))


def _cancel_units(
    ret: _Return,
    by_id: Mapping[str, m.ReturnOrderLineItem],
    lines: Sequence[tuple[str, int]] | None,
) -> dict[str, int]:
    if lines is None:
        return {line.id: _counters(line).cancelable for line in ret.lines}
    wanted: dict[str, int] = defaultdict(int)
    for line_id, units in lines:
        if line_id not in by_id:
            raise ValidationFailed(
                f"return order {ret.order.id} has no line {line_id!r}",
                field="items",
            )
        wanted[line_id] += units
    for line_id, units in wanted.items():
        _counters(by_id[line_id]).cancel(units)  # raises naming what can be canceled
    return dict(wanted)


# --- receiving ------------------------------------------------------------------------------


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
    Emits `return_order.received` (and `inventory.restocked`)."""
    now = now or utcnow()
    ret = _locked(session, return_order_id)
    if ret.status not in RECEIVABLE:
        allowed = RETURN_ORDER_TRANSITIONS[ret.status]
        raise IllegalTransition(
            f"a return order that is {ret.status.value} cannot receive units: units are "
            "received while it is APPROVED or IN_TRANSIT (allowed from "
            f"{ret.status.value}: {', '.join(sorted(allowed)) or 'none'})",
            current=ret.status.value,
            target=S.RECEIVED.value,
        )
    by_id = {line.id: line for line in ret.lines}
    receipts = _receipts(session, ret, by_id, lines, now)
    for receipt in receipts:
        line = by_id[receipt.return_order_line_item_id]
        line.quantity_received = _counters(line).receive(receipt.quantity).received
    session.add_all(receipts)
    _restock(session, outbox, ret, by_id, receipts, now)
    after = status_after_receipt(ret.counters())
    if after is not ret.status:
        check_return_transition(ret.status, after)
        _set_status(ret, after, now)
    _event(session, outbox, ret, "received", receipts=_receipt_briefs(session, receipts, by_id))
    messages = tuple(_receipt_message(session, r, by_id) for r in receipts)
    outcome = ReturnOutcome(ret.order.id, ret.summary.id, messages=messages)
    return outcome.then(_credit_due(session, outbox, ret))


def _receipts(
    session: Session,
    ret: _Return,
    by_id: Mapping[str, m.ReturnOrderLineItem],
    lines: Sequence[ReceiptRequest],
    now: datetime,
) -> list[m.ReturnReceipt]:
    if not lines:
        raise ValidationFailed("name at least one return line to receive", field="items")
    receipts = []
    totals: dict[str, int] = defaultdict(int)
    for index, request in enumerate(lines):
        line = by_id.get(request.return_order_line_item_id)
        if line is None:
            raise ValidationFailed(
                f"return order {ret.order.id} has no line {request.return_order_line_item_id!r}",
                field=f"items.{index}.return_order_line_item_id",
            )
        disposition = ReturnDisposition(request.disposition)
        location_id = _location_id(session, request.location, f"items.{index}.location")
        location_id = location_id or ret.order.expected_location_id
        if location_id is None and disposition is ReturnDisposition.RESTOCK:
            raise ReturnLocationRequired(
                f"say where the {request.quantity} {line.sku} to restock were received: give "
                "a location (the return order expects none)",
                field=f"items.{index}.location",
            )
        totals[line.id] += request.quantity
        _counters(line).receive(totals[line.id])  # raises naming what is still expected
        receipts.append(
            m.ReturnReceipt(
                id=new_id("rr"),
                return_order_line_item_id=line.id,
                location_id=location_id,
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
    ret: _Return,
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
    table = m.InventoryRecord.__table__
    assert isinstance(table, Table)
    for (location_id, sku), quantity in sorted(units.items()):
        insert = dialect_insert(session, table).values(
            location_id=location_id, sku=sku, on_hand=quantity, updated_at=now
        )
        session.execute(
            insert.on_conflict_do_update(
                index_elements=["location_id", "sku"],
                set_={"on_hand": table.c.on_hand + insert.excluded.on_hand, "updated_at": now},
            )
        )
    refs = _location_refs(session, {loc for loc, _ in units})
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


# --- money ----------------------------------------------------------------------------------


def _credit_due(session: Session, outbox: Outbox, ret: _Return) -> ReturnOutcome:
    """Credit the units due at the return's status (see ReturnLine.due) as one RETURN
    change order, then the return fee on the RMA's first credit."""
    eligible = ReturnOrderStatus(ret.order.refund_eligible_status)
    due = {line.id: _counters(line).due(ret.status, eligible) for line in ret.lines}
    due = {line_id: n for line_id, n in due.items() if n}
    if not due:
        return ReturnOutcome(ret.order.id, ret.summary.id)
    first = not any(line.quantity_credited and line.quantity_expected for line in ret.lines)
    by_id = {line.id: line for line in ret.lines}
    units = [(by_id[i].order_item_summary_id, n) for i, n in due.items()]
    recorded = _record_return(session, outbox, ret.summary, units, f"return {ret.order.id}")
    for line_id, n in due.items():
        by_id[line_id].quantity_credited += n
    _event(
        session,
        outbox,
        ret,
        "credited",
        change_order_id=recorded.change_order_id,
        credit_memo_id=recorded.credit_memo_id,
        credited=format_minor(recorded.credited, ret.summary.currency),
        lines=[{"return_order_line_item_id": i, "quantity": n} for i, n in due.items()],
    )
    outcome = ReturnOutcome(ret.order.id, ret.summary.id, (recorded,))
    if first:
        outcome = outcome.then(_charge_fee(session, outbox, ret, recorded))
    return outcome


def _record_return(
    session: Session,
    outbox: Outbox,
    summary: m.OrderSummary,
    units: Sequence[tuple[str, int]],
    reason: str,
) -> RecordedChange:
    """One RETURN change order for (item id, units): each item's amounts from
    `changes.return_line`, the credit memo of their invoiced part."""
    merged: dict[str, int] = defaultdict(int)
    for item_id, n in units:
        merged[item_id] += n
    items = repo.lock_items(session, merged)
    billed = billed_amounts(session, summary.id)
    changes = [
        return_line(
            ItemMoney(
                item_id,
                item_quantities(items[item_id]),
                item_amounts(items[item_id]),
                billed.get(item_id, Amounts()),
            ),
            n,
        )
        for item_id, n in sorted(merged.items())
    ]
    change = ChangeOrder(ChangeKind.RETURN, reason, tuple(c.change for c in changes))
    credit = [c.credit for c in changes if c.credit is not None]
    return record_change(session, outbox, summary, change, credit=credit)


def _refund_returnless(session: Session, outbox: Outbox, ret: _Return) -> ReturnOutcome:
    """Lines whose unit value is under the channel's returnless threshold: credited now,
    never expected back. The decision (values, threshold) goes to the event and messages."""
    currency = ret.summary.currency
    threshold = channel_policy(session, ret.summary.channel).returnless_threshold.get(currency)
    if not threshold:
        return ReturnOutcome(ret.order.id, ret.summary.id)
    money = _money(currency)
    under, kept, messages = [], [], []
    for line in ret.lines:
        item = ret.items[line.order_item_summary_id]
        net = item.quantity_ordered - item.quantity_canceled
        total = item.total_price + item.adjustments + item.tax
        value = {
            "return_order_line_item_id": line.id,
            "sku": line.sku,
            "quantity": line.quantity_expected,
            "unit_value": money(total // max(net, 1)),
        }
        if net > 0 and total < threshold * net:  # unit value < threshold, exactly
            under.append((line, value))
            messages.append(
                f"{line.quantity_expected} × {line.sku} refunded without a return: unit value "
                f"{value['unit_value']} {currency} is under the returnless threshold of "
                f"{money(threshold)} {currency}"
            )
        else:
            kept.append(value)
            messages.append(
                f"{line.quantity_expected} × {line.sku} expected back: unit value "
                f"{value['unit_value']} {currency} is not under the returnless threshold of "
                f"{money(threshold)} {currency}"
            )
    if not under:
        return ReturnOutcome(ret.order.id, ret.summary.id, messages=tuple(messages))
    units = [(line.order_item_summary_id, line.quantity_expected) for line, _ in under]
    recorded = _record_return(
        session, outbox, ret.summary, units, f"returnless refund {ret.order.id}"
    )
    for line, _ in under:
        line.quantity_credited = line.quantity_expected
        line.quantity_expected = 0
    _event(
        session,
        outbox,
        ret,
        "returnless_refunded",
        threshold=money(threshold),
        currency=currency,
        refunded=[value for _, value in under],
        expected_back=kept,
        change_order_id=recorded.change_order_id,
        credit_memo_id=recorded.credit_memo_id,
        credited=money(recorded.credited),
    )
    return ReturnOutcome(ret.order.id, ret.summary.id, (recorded,), tuple(messages))


def _charge_fee(
    session: Session, outbox: Outbox, ret: _Return, recorded: RecordedChange
) -> ReturnOutcome:
    """The channel's return fee as an invoice, capped at what the return is worth, settled
    from the return's credit memo as far as it goes (see the module docstring)."""
    currency = ret.summary.currency
    fee = channel_policy(session, ret.summary.channel).return_fee.get(currency, 0)
    fee = min(fee, -recorded.change.total)
    source_key = f"return_fee:{ret.order.id}"
    if fee <= 0 or session.scalar(select(m.Invoice.id).where(m.Invoice.source_key == source_key)):
        return ReturnOutcome(ret.order.id, ret.summary.id)
    invoice = m.Invoice(
        id=new_id("inv"),
        order_summary_id=ret.summary.id,
        source_key=source_key,
        currency=currency,
        status=InvoiceStatus.POSTED,
        grand_total=fee,
        balance=fee,
    )
    invoice.lines = [m.InvoiceLine(type=FEE_LINE_TYPE, quantity=1, total_price=fee)]
    session.add(invoice)
    session.flush()
    money = _money(currency)
    memo = session.get(m.CreditMemo, recorded.credit_memo_id) if recorded.credit_memo_id else None
    applied = min(fee, memo.balance) if memo is not None else 0
    created = {
        "invoice_id": invoice.id,
        "order_summary_id": ret.summary.id,
        "return_order_id": ret.order.id,
        "currency": currency,
        "grand_total": money(fee),
    }
    events = [DomainEvent("invoice.created", "invoice", invoice.id, created, ret.summary.id)]
    if memo is not None and applied:
        memo.balance -= applied
        invoice.balance -= applied
        applied_payload = {
            **created,
            "credit_memo_id": memo.id,
            "amount": money(applied),
            "balance": money(invoice.balance),
        }
        events.append(
            DomainEvent(
                "invoice.credit_applied", "invoice", invoice.id, applied_payload, ret.summary.id
            )
        )
        if invoice.balance == 0:
            invoice.status = InvoiceStatus.PAID
            paid = {"invoice_id": invoice.id, "order_summary_id": ret.summary.id}
            events.append(DomainEvent("invoice.paid", "invoice", invoice.id, paid, ret.summary.id))
    outbox.record(session, events)
    message = f"return fee of {money(fee)} {currency} invoiced"
    if applied:
        message += f"; {money(applied)} of it is taken from the refund"
    return ReturnOutcome(ret.order.id, ret.summary.id, messages=(message,))


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
    requests = [ReturnLineRequest(r.order_item_summary_id, r.quantity, r.reason) for r in lines]
    outcome = create_return_order(
        session, outbox, order_summary_id, requests, reason=reason, expected_location=location
    )
    ret = _locked(session, outcome.return_order_id)
    if ret.status is S.SUBMITTED:
        outcome = outcome.then(_move(session, outbox, ret, S.APPROVED))
    by_item = {line.order_item_summary_id: line for line in ret.lines}
    receipts = [
        ReceiptRequest(by_item[r.order_item_summary_id].id, n, r.condition, r.disposition)
        for r in lines
        if (n := _counters(by_item[r.order_item_summary_id]).outstanding)
    ]
    if receipts:
        outcome = outcome.then(receive(session, outbox, ret.order.id, receipts))
    if refund_shipping:
        outcome = outcome.then(_refund_shipping(session, outbox, ret))
    return outcome


def _refund_shipping(session: Session, outbox: Outbox, ret: _Return) -> ReturnOutcome:
    """Cancel, with the refund of its invoiced part, the delivery charge of each group of
    the returned items that has nothing left with the customer or to ship."""
    items = repo.summary_items(session, ret.summary.id)
    groups = {ret.items[line.order_item_summary_id].delivery_group_summary_id for line in ret.lines}
    billed = billed_amounts(session, ret.summary.id)
    changes, messages = [], []
    for group in sorted(groups):
        products = [
            i
            for i in items
            if i.delivery_group_summary_id == group and i.type == ItemType.PRODUCT.value
        ]
        charges = [
            i
            for i in items
            if i.delivery_group_summary_id == group and i.type == ItemType.DELIVERY_CHARGE.value
        ]
        kept = sum(item_quantities(i).quantity for i in products)
        for charge in charges:
            if charge.quantity_ordered - charge.quantity_canceled <= 0:
                continue
            if kept:
                messages.append(
                    f"delivery charge {charge.sku} kept: {kept} unit(s) of its group are still "
                    "with the customer or to ship"
                )
                continue
            money = ItemMoney(
                charge.id,
                item_quantities(charge),
                item_amounts(charge),
                billed.get(charge.id, Amounts()),
            )
            changes.append(cancel_charge(money))
    if not changes:
        return ReturnOutcome(ret.order.id, ret.summary.id, messages=tuple(messages))
    change = ChangeOrder(
        ChangeKind.CANCEL,
        f"shipping refunded with return {ret.order.id}",
        tuple(c.change for c in changes),
    )
    credit = [c.credit for c in changes if c.credit is not None]
    recorded = record_change(session, outbox, ret.summary, change, credit=credit)
    messages.append(f"delivery charge refunded: {_money(ret.summary.currency)(recorded.credited)}")
    return ReturnOutcome(ret.order.id, ret.summary.id, (recorded,), tuple(messages))


# --- reading --------------------------------------------------------------------------------


def get_return_order(session: Session, return_order_id: str) -> dict[str, Any]:
    """The public body of one return order."""
    order = session.get(m.ReturnOrder, return_order_id)
    if order is None:
        raise ReturnOrderNotFound(f"return order '{return_order_id}' does not exist")
    return _views(session, [order])[0]


def list_return_orders(
    session: Session,
    *,
    order_summary_id: str | None = None,
    status: str | None = None,
    after_id: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Return orders in id (creation) order, filtered; at most `limit`."""
    query = select(m.ReturnOrder).order_by(m.ReturnOrder.id).limit(limit)
    if order_summary_id is not None:
        query = query.where(m.ReturnOrder.order_summary_id == order_summary_id)
    if status is not None:
        query = query.where(m.ReturnOrder.status == status)
    if after_id is not None:
        query = query.where(m.ReturnOrder.id > after_id)
    return _views(session, list(session.scalars(query)))


def return_orders_of(session: Session, order_summary_id: str) -> list[dict[str, Any]]:
    """The order summary's return orders, oldest first (three queries)."""
    orders = session.scalars(
        select(m.ReturnOrder)
        .where(m.ReturnOrder.order_summary_id == order_summary_id)
        .order_by(m.ReturnOrder.id)
    ).all()
    return _views(session, list(orders))


def _views(session: Session, orders: Sequence[m.ReturnOrder]) -> list[dict[str, Any]]:
    if not orders:
        return []
    rows = session.execute(
        select(m.ReturnOrderLineItem, m.ReturnReceipt, m.Location.ref)
        .join(
            m.OrderItemSummary, m.OrderItemSummary.id == m.ReturnOrderLineItem.order_item_summary_id
        )
        .outerjoin(
            m.ReturnReceipt,
            m.ReturnReceipt.return_order_line_item_id == m.ReturnOrderLineItem.id,
        )
        .outerjoin(m.Location, m.Location.id == m.ReturnReceipt.location_id)
        .where(m.ReturnOrderLineItem.return_order_id.in_([o.id for o in orders]))
        .order_by(
            m.ReturnOrderLineItem.return_order_id,
            m.OrderItemSummary.position,
            m.ReturnReceipt.received_at,
            m.ReturnReceipt.id,
        )
    ).all()
    lines: dict[str, list[dict[str, Any]]] = defaultdict(list)
    seen: dict[str, dict[str, Any]] = {}
    for line, receipt, ref in rows:
        body = seen.get(line.id)
        if body is None:
            body = seen[line.id] = _line_view(line)
            lines[line.return_order_id].append(body)
        if receipt is not None:
            body["receipts"].append(
                {
                    "location": ref,
                    "quantity": receipt.quantity,
                    "condition": receipt.condition,
                    "disposition": receipt.disposition,
                    "received_at": _iso(receipt.received_at),
                }
            )
    refs = _location_refs(session, {o.expected_location_id for o in orders} - {None})
    return [
        {
            "id": o.id,
            "order_summary_id": o.order_summary_id,
            "status": o.status,
            "reason": o.reason,
            "expected_location": refs.get(o.expected_location_id or ""),
            "refund_eligible_status": o.refund_eligible_status,
            "exchange_change_order_id": o.exchange_change_order_id,
            "lines": lines.get(o.id, []),
            "created_at": _iso(o.created_at),
            "updated_at": _iso(o.updated_at),
        }
        for o in orders
    ]


def _line_view(line: m.ReturnOrderLineItem) -> dict[str, Any]:
    return {
        "id": line.id,
        "order_item_summary_id": line.order_item_summary_id,
        "sku": line.sku,
        "reason": line.reason,
        "quantity_expected": line.quantity_expected,
        "quantity_received": line.quantity_received,
        "quantity_canceled": line.quantity_canceled,
        "quantity_credited": line.quantity_credited,
        "returnless": line.quantity_expected == 0 and line.quantity_credited > 0,
        "receipts": [],
    }


# --- shared ---------------------------------------------------------------------------------


def _locked(session: Session, return_order_id: str) -> _Return:
    """The return order with its summary locked first, then its own row and lines."""
    found = session.get(m.ReturnOrder, return_order_id)
    if found is None:
        raise ReturnOrderNotFound(f"return order '{return_order_id}' does not exist")
    summary = locked_summary(session, found.order_summary_id)
    order = session.scalars(
        select(m.ReturnOrder)
        .where(m.ReturnOrder.id == return_order_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    lines = list(
        session.scalars(
            select(m.ReturnOrderLineItem)
            .where(m.ReturnOrderLineItem.return_order_id == order.id)
            .order_by(m.ReturnOrderLineItem.id)
            .execution_options(populate_existing=True)
        )
    )
    items = {i.id: i for i in repo.summary_items(session, summary.id)}
    lines.sort(key=lambda line: items[line.order_item_summary_id].position)  # the order's order
    return _Return(summary, order, lines, items)


def _check_lines(
    lines: Sequence[ReturnLineRequest], items: Mapping[str, m.OrderItemSummary]
) -> None:
    if not lines:
        raise ValidationFailed("a return needs at least one item", field="items")
    seen: set[str] = set()
    for index, request in enumerate(lines):
        where = f"items.{index}"
        item = items.get(request.order_item_summary_id)
        if item is None:
            raise ReturnItemNotReturnable(
                f"item {request.order_item_summary_id!r} is not on this order",
                field=f"{where}.order_item_summary_id",
            )
        if item.type != ItemType.PRODUCT.value:
            raise ReturnItemNotReturnable(
                f"{item.sku} is a delivery charge: it is not sent back; ask for "
                "refund_shipping on the return instead",
                field=f"{where}.order_item_summary_id",
            )
        if request.order_item_summary_id in seen:
            raise ValidationFailed(
                f"{item.sku} is listed twice: give its units on one line",
                field=f"{where}.order_item_summary_id",
            )
        seen.add(request.order_item_summary_id)
        if request.quantity <= 0:
            raise ValidationFailed(
                f"quantity must be a positive whole number, got {request.quantity}",
                field=f"{where}.quantity",
            )


def _check_available(
    session: Session,
    items: Mapping[str, m.OrderItemSummary],
    wanted: Mapping[str, int],
    *,
    exclude: str | None = None,
) -> None:
    """ReturnExceedsAvailable for the first item asked for more than available to return,
    saying what shipped, what is still to ship (cancel it) and which RMAs hold the rest."""
    for item_id, units in wanted.items():
        item = items[item_id]
        q = item_quantities(item)
        if units <= q.available_to_return:
            continue
        sku, available = item.sku, q.available_to_return
        parts = []
        unshipped = q.net_ordered - q.fulfilled
        if unshipped > 0:
            have = "has" if q.fulfilled < 2 else "have"
            shipped = f"only {q.fulfilled} of {q.net_ordered} {sku} {have}"
            if not q.fulfilled:
                shipped = f"none of the {q.net_ordered} {sku} has"
            other = "them" if not q.fulfilled else f"the other {unshipped}"
            parts.append(f"{shipped} shipped; cancel {other} instead")
        if q.return_initiated:
            holders = _holders(session, item_id, exclude)
            on = f" on {_holder_names(holders)}" if holders else ""
            parts.append(
                f"{q.return_initiated} of {q.fulfilled} shipped {sku} are already being "
                f"returned{on}"
            )
        detail = "; ".join(parts) or f"only {available} can be returned"
        if parts and available:
            detail += f" ({available} can be returned)"
        raise ReturnExceedsAvailable(
            f"cannot return {units} {sku}: {detail}",
            field="items",
            order_item_summary_id=item_id,
            sku=sku,
            requested=units,
            available=available,
        )


def _holders(session: Session, item_id: str, exclude: str | None) -> list[tuple[str, int]]:
    """(return order id, units still held) of the open RMAs holding units of the item."""
    rows = session.execute(
        select(
            m.ReturnOrder.id,
            m.ReturnOrderLineItem.quantity_expected,
            m.ReturnOrderLineItem.quantity_canceled,
            m.ReturnOrderLineItem.quantity_credited,
        )
        .join(m.ReturnOrderLineItem, m.ReturnOrderLineItem.return_order_id == m.ReturnOrder.id)
        .where(
            m.ReturnOrderLineItem.order_item_summary_id == item_id,
            m.ReturnOrder.status.in_([s.value for s in (*HOLDING, S.RECEIVED, S.CLOSED)]),
            m.ReturnOrder.id != (exclude or ""),
        )
        .order_by(m.ReturnOrder.id)
    ).all()
    return [(ro, max(exp, cred) - can) for ro, exp, can, cred in rows if max(exp, cred) - can]


def _holder_names(holders: Iterable[tuple[str, int]]) -> str:
    return ", ".join(f"RMA {ro} ({n})" for ro, n in holders)


def _counters(line: m.ReturnOrderLineItem) -> ReturnLine:
    return ReturnLine(
        expected=line.quantity_expected,
        received=line.quantity_received,
        canceled=line.quantity_canceled,
        credited=line.quantity_credited,
    )


def _set_status(ret: _Return, status: ReturnOrderStatus, now: datetime) -> None:
    ret.order.status = status.value
    ret.order.updated_at = now


def _location_id(session: Session, ref: str | None, field: str) -> str | None:
    if ref is None:
        return None
    location_id = session.scalar(select(m.Location.id).where(m.Location.ref == ref))
    if location_id is None:
        raise LocationUnknown(f"no location {ref!r}", field=field)
    return location_id


def _location_refs(session: Session, ids: Iterable[str | None]) -> dict[str, str]:
    wanted = [i for i in ids if i]
    if not wanted:
        return {}
    rows = session.execute(select(m.Location.id, m.Location.ref).where(m.Location.id.in_(wanted)))
    return {location_id: ref for location_id, ref in rows}


def _line_brief(line: m.ReturnOrderLineItem) -> dict[str, Any]:
    return {
        "return_order_line_item_id": line.id,
        "order_item_summary_id": line.order_item_summary_id,
        "sku": line.sku,
        "quantity": line.quantity_expected,
    }


def _receipt_briefs(
    session: Session,
    receipts: Sequence[m.ReturnReceipt],
    by_id: Mapping[str, m.ReturnOrderLineItem],
) -> list[dict[str, Any]]:
    refs = _location_refs(session, {r.location_id for r in receipts})
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
    where = _location_refs(session, [receipt.location_id]).get(receipt.location_id or "")
    received = f"{receipt.quantity} × {sku} received ({receipt.condition})"
    if receipt.disposition == ReturnDisposition.RESTOCK.value:
        return f"{received} and restocked at {where}"
    return f"{received} and written off ({receipt.disposition})"


def _event(session: Session, outbox: Outbox, ret: _Return, verb: str, **extra: Any) -> None:
    payload = {
        "return_order_id": ret.order.id,
        "order_summary_id": ret.summary.id,
        "status": ret.order.status,
        **extra,
    }
    session.flush()
    outbox.record(
        session,
        [
            DomainEvent(
                f"return_order.{verb}", "return_order", ret.order.id, payload, ret.summary.id
            )
        ],
    )


def _money(currency: str) -> Any:
    return lambda minor: format_minor(minor, currency)


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")

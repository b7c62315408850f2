"""Cancel units of an order summary (DESIGN.md §3, §9, §12 `submit-cancel`).

An agent may cancel any unit not shipped yet (ordered − canceled − fulfilled); shipped units
are returned instead. Which units go, per item:

1. units not allocated to any fulfillment order first: the order gives them up at no cost to
   a warehouse, and the delivery group's capture reservation gives back what it holds for
   them beyond what the group still needs (a backordered unit may hold nothing);
2. then units of live fulfillment orders, the least advanced first (ALLOCATED, ASSIGNED,
   PICK_COMPLETE, PACK_COMPLETE; oldest first on ties), through `fulfillment.cancel_lines`,
   which lowers the item's allocated units, releases the FO's reservation units and closes
   an FO left with nothing to ship (CANCELED, or FULFILLED when part of it shipped).

The money is one change order of kind cancel: each item's units take their share of what
the item has not been billed yet (`changes.cancel_line`; never invoiced, so nothing to
credit). With `refund_shipping`, a delivery group left with no product unit ordered also
has its delivery charge canceled (`changes.cancel_charge`, credited for what of it was
invoiced). Money captured beyond what is now owed is refunded by the ensure-refunds job that
`order_summary.changed` queues.

UNMANAGED orders may be canceled too (Salesforce allows change orders on them); openoms
holds no stock and runs no fulfillment for them, so only the counters and the money move.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.repositories import fulfillment as fo_repo
from openoms.adapters.db.repositories import routing as routing_repo
from openoms.adapters.outbox import Outbox
from openoms.domain.changes import cancel_charge, cancel_line
from openoms.domain.errors import CancelExceedsAvailable, DeliveryChargeCancelInvalid
from openoms.domain.fulfillment import RESHIP, FulfillmentOrderStatus
from openoms.domain.order import ItemType
from openoms.domain.summary import ChangeKind, ChangeOrder
from openoms.services import fulfillment
from openoms.services.orders import (
    RecordedChange,
    billed_amounts,
    item_money,
    item_quantities,
    locked_summary,
    product_lines,
    record_change,
)
from openoms.services.routing import release_group_holds

S = FulfillmentOrderStatus
# The order units of live fulfillment orders are canceled in: least advanced first.
CANCEL_ORDER = (S.DRAFT, S.ALLOCATED, S.ASSIGNED, S.PICK_COMPLETE, S.PACK_COMPLETE)


@dataclass(frozen=True, slots=True)
class ItemCancel:
    """Units of one item summary to cancel, with an optional reason of their own."""

    order_item_summary_id: str
    quantity: int
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class CancelItems:
    """A cancel: the units per item, why, and whether a delivery group left with nothing
    ordered gives back its delivery charge too."""

    items: tuple[ItemCancel, ...]
    reason: str | None = None
    refund_shipping: bool = False
    requested_by: str | None = None  # who asked: `api_key:<id>`, `user:<email>`


@dataclass(frozen=True, slots=True)
class CancelPlan:
    """What a cancel takes: units per item (request order), FO lines to cancel (by FO, in
    `CANCEL_ORDER`), and the delivery charges to cancel with their groups."""

    units: dict[str, int]
    fo_lines: dict[str, list[tuple[str, int]]]
    charges: list[m.OrderItemSummary]
    messages: list[str]


def submit_cancel(
    session: Session, outbox: Outbox, summary_id: str, request: CancelItems
) -> list[RecordedChange]:
    """Cancel the requested units (see the module docstring): one change order of kind
    cancel, FO lines and reservations released, the summary's totals and status derived
    again. Refusals change nothing: an unknown item (400 `order_item_summary_unknown`), a
    delivery charge named (400 `delivery_charge_cancel_invalid`), a quantity below one (400
    `quantity_invalid`), more than the units not shipped yet (409 `cancel_exceeds_available`)."""
    recorded, _ = cancel_with_messages(session, outbox, summary_id, request)
    return recorded


def cancel_open_units(
    session: Session, outbox: Outbox, summary_id: str, *, reason: str, refund_shipping: bool
) -> list[RecordedChange]:
    """Cancel every unit of the order not shipped yet (an automation flow's `cancel_order`):
    `submit_cancel` of each product item's unshipped units. Nothing to cancel (all shipped
    or canceled before): no change order, an empty answer."""
    locked_summary(session, summary_id)
    lines = []
    for item in fo_repo.summary_items(session, summary_id):
        q = item_quantities(item)
        if item.type == ItemType.PRODUCT.value and q.net_ordered - q.fulfilled > 0:
            lines.append(ItemCancel(item.id, q.net_ordered - q.fulfilled))
    if not lines:
        return []
    request = CancelItems(tuple(lines), reason=reason, refund_shipping=refund_shipping)
    return submit_cancel(session, outbox, summary_id, request)


def cancel_with_messages(
    session: Session, outbox: Outbox, summary_id: str, request: CancelItems
) -> tuple[list[RecordedChange], list[str]]:
    """`submit_cancel`, also answering the notes for the agent (a delivery charge kept)."""
    summary = locked_summary(session, summary_id)
    items = {i.id: i for i in fo_repo.summary_items(session, summary_id)}
    units = product_lines(
        items,
        request.items,
        action="cancel",
        not_product=DeliveryChargeCancelInvalid,
        instead="cancel the group's products with refund_shipping true to give it back",
    )
    for item_id, n in units.items():
        _check_available(items[item_id], n)
    fos = routing_repo.summary_fulfillment_orders(session, summary_id)
    plan = _plan(items, units, [fo for fo, _ in fos], refund_shipping=request.refund_shipping)
    billed = billed_amounts(session, summary_id)
    changes = [cancel_line(item_money(items[i], billed), n) for i, n in plan.units.items()]
    changes += [cancel_charge(item_money(charge, billed)) for charge in plan.charges]
    for fo_id, lines in plan.fo_lines.items():
        fulfillment.cancel_lines(session, outbox, fo_id, lines)
    change = ChangeOrder(ChangeKind.CANCEL, _reason(request), tuple(c.change for c in changes))
    credit = [c.credit for c in changes if c.credit is not None]
    recorded = record_change(
        session, outbox, summary, change, credit=credit, requested_by=request.requested_by
    )
    groups = {items[i].delivery_group_summary_id for i in plan.units}
    _release_group_stock(session, outbox, summary, sorted(groups))
    return [recorded], plan.messages


# --- availability and plan ----------------------------------------------------------------


def _check_available(item: m.OrderItemSummary, units: int) -> None:
    q = item_quantities(item)
    unshipped = q.net_ordered - q.fulfilled
    if units <= unshipped:
        return
    shipped = min(q.fulfilled, q.net_ordered)
    said = [f"cannot cancel {units} {item.sku}"]
    if shipped:
        were = "is" if shipped == 1 else "are"
        said.append(f"{shipped} of {q.net_ordered} {item.sku} {were} already shipped")
    if q.canceled:
        said.append(f"{q.canceled} canceled already")
    advice = f"cancel at most {unshipped}" if unshipped else "nothing is left to cancel"
    if shipped:
        advice += "; return shipped units instead"
    raise CancelExceedsAvailable(
        f"{': '.join(said[:2])}{''.join(', ' + s for s in said[2:])}; {advice}",
        order_item_summary_id=item.id,
        sku=item.sku,
        requested=units,
        available=unshipped,
        shipped=shipped,
    )


def _plan(
    items: Mapping[str, m.OrderItemSummary],
    units: Mapping[str, int],
    fos: Sequence[m.FulfillmentOrder],
    *,
    refund_shipping: bool,
) -> CancelPlan:
    """Which FO lines give up units (after each item's unallocated units), and which
    delivery charges go with their groups."""
    live = sorted(
        # Reship FOs send replacements: their units are no item's allocated units.
        (fo for fo in fos if fo.status in {s.value for s in CANCEL_ORDER} and fo.type != RESHIP),
        key=lambda fo: (CANCEL_ORDER.index(S(fo.status)), fo.created_at, fo.id),
    )
    fo_lines: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for item_id, n in units.items():
        left = n - min(n, item_quantities(items[item_id]).available_to_fulfill)
        for fo in live:
            for line in fo.lines:
                if left and line.order_item_summary_id == item_id:
                    take = min(left, line.quantity - line.shipped)
                    if take > 0:
                        fo_lines[fo.id].append((line.id, take))
                        left -= take
        if left:  # counters and FO lines disagree: a bug, never an agent's mistake
            raise AssertionError(f"item {item_id}: {left} allocated units on no live FO")
    charges, messages = _charges(items, units, refund_shipping=refund_shipping)
    return CancelPlan(dict(units), dict(fo_lines), charges, messages)


def _charges(
    items: Mapping[str, m.OrderItemSummary], units: Mapping[str, int], *, refund_shipping: bool
) -> tuple[list[m.OrderItemSummary], list[str]]:
    """The delivery charges of the groups this cancel leaves with no product unit ordered
    (only with refund_shipping), and a note for each group whose charge stays."""
    groups = {items[i].delivery_group_summary_id for i in units}
    charges, messages = [], []
    for item in items.values():
        if (
            item.type != ItemType.DELIVERY_CHARGE.value
            or item.delivery_group_summary_id not in groups
        ):
            continue
        if item.quantity_ordered - item.quantity_canceled <= 0:
            continue  # canceled before
        left = sum(
            item_quantities(p).net_ordered - units.get(p.id, 0)
            for p in items.values()
            if p.type == ItemType.PRODUCT.value
            and p.delivery_group_summary_id == item.delivery_group_summary_id
        )
        if left == 0 and refund_shipping:
            charges.append(item)
        elif left == 0:
            messages.append(
                f"the delivery charge {item.sku} is kept: nothing is left to ship in its group; "
                "cancel with refund_shipping true to give it back"
            )
        elif refund_shipping:
            messages.append(
                f"the delivery charge {item.sku} is kept: {left} unit"
                f"{'' if left == 1 else 's'} of its group {'is' if left == 1 else 'are'} "
                "still ordered"
            )
    return charges, messages


def _reason(request: CancelItems) -> str:
    if request.reason:
        return request.reason
    reasons = dict.fromkeys(line.reason for line in request.items if line.reason)
    return "; ".join(r for r in reasons if r)


# --- stock --------------------------------------------------------------------------------


def _release_group_stock(
    session: Session, outbox: Outbox, summary: m.OrderSummary, group_ids: Sequence[str]
) -> None:
    """Each delivery group's capture reservation gives back the units it holds (and no live
    FO uses) beyond what the group's items still have to route; a group left with nothing to
    route also gives back the holds of its rejected FOs, which routing would otherwise free."""
    items = fo_repo.summary_items(session, summary.id)
    for group_id in group_ids:
        group = routing_repo.get_group(session, group_id)
        assert group is not None
        fos = routing_repo.group_fulfillment_orders(session, group_id)
        wanted: dict[str, int] = defaultdict(int)
        for item in items:
            if item.delivery_group_summary_id == group_id and item.type == ItemType.PRODUCT.value:
                wanted[item.sku] += item_quantities(item).available_to_fulfill
        release_group_holds(session, outbox, summary.id, group.ref, fos, wanted)

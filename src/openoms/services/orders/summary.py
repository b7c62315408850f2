"""The order summary as every area touches it: its row lock (the first lock of every
action on an order), an item's quantities, and the status derived from them."""

from __future__ import annotations

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.repositories import fulfillment as repo
from openoms.adapters.outbox import Outbox
from openoms.domain.errors import OrderSummaryNotFound
from openoms.domain.events import DomainEvent
from openoms.domain.order import ItemType
from openoms.domain.quantities import ItemQuantities
from openoms.domain.summary import OrderSummaryStatus, derive_status


def locked_summary(session: Session, order_summary_id: str) -> m.OrderSummary:
    """The order summary, row-locked: every change to an order (its items, payments,
    returns) is serialised on it. OrderSummaryNotFound when there is none."""
    summary = repo.lock_summary(session, order_summary_id)
    if summary is None:
        raise OrderSummaryNotFound(
            f"order summary '{order_summary_id}' does not exist",
            order_summary_id=order_summary_id,
        )
    return summary


def item_quantities(item: m.OrderItemSummary) -> ItemQuantities:
    """An item summary's counters as the domain reads them."""
    return ItemQuantities(
        ordered=item.quantity_ordered,
        canceled=item.quantity_canceled,
        returned=item.quantity_returned,
        return_initiated=item.quantity_return_initiated,
        allocated=item.quantity_allocated,
        fulfilled=item.quantity_fulfilled,
        reshipped=item.quantity_reshipped,
    )


def refresh_summary_status(session: Session, outbox: Outbox, summary_id: str) -> OrderSummaryStatus:
    """Derive the summary's status from its product items' counters again and store it;
    emits `order_summary.status_changed` {from, to} when it changed."""
    # The summary's row lock makes concurrent actions on one order derive in turn, each
    # seeing the other's committed counters.
    summary = locked_summary(session, summary_id)
    items = repo.summary_items(session, summary_id)
    status = derive_status([(ItemType(i.type), item_quantities(i)) for i in items])
    if summary.status != status.value:
        event = DomainEvent(
            "order_summary.status_changed",
            "order_summary",
            summary_id,
            {"from": summary.status, "to": status.value},
            summary_id,
        )
        summary.status = status.value
        outbox.record(session, [event])
    return status

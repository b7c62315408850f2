"""What automation writes on an order itself: a note on its timeline, and the routing
strategy its routing uses instead of its channel's."""

from __future__ import annotations

from sqlalchemy.orm import Session

from openoms.adapters.outbox import Outbox
from openoms.domain.errors import ValidationFailed
from openoms.domain.events import DomainEvent
from openoms.services.orders.channels import RoutingStrategy
from openoms.services.orders.summary import locked_summary

MAX_NOTE = 2000


class RoutingStrategyUnknown(ValidationFailed):
    code = "routing_strategy_unknown"
    title = "Unknown routing strategy"


def routing_strategy(name: str, *, field: str | None = None) -> RoutingStrategy:
    """The strategy called `name`; RoutingStrategyUnknown (400) naming the known ones."""
    try:
        return RoutingStrategy(name)
    except ValueError:
        known = ", ".join(s.value for s in RoutingStrategy)
        raise RoutingStrategyUnknown(
            f"no routing strategy {name!r}; one of {known}", field=field
        ) from None


def add_note(
    session: Session, outbox: Outbox, *, order_summary_id: str, note: str, author: str
) -> None:
    """Add a note to the order's timeline: `order_summary.note_added` (the summary view lists
    the order's events). OrderSummaryNotFound when there is no such order."""
    locked_summary(session, order_summary_id)
    payload = {"order_summary_id": order_summary_id, "note": note[:MAX_NOTE], "author": author}
    outbox.record(
        session,
        [
            DomainEvent(
                "order_summary.note_added",
                "order_summary",
                order_summary_id,
                payload,
                order_summary_id,
            )
        ],
    )


def set_routing_strategy(
    session: Session, outbox: Outbox, *, order_summary_id: str, strategy: str, set_by: str
) -> bool:
    """Route this order by `strategy` from now on, whatever its channel's is (routing/plan.py
    reads the override). False, and no event, when it is set to that already."""
    chosen = routing_strategy(strategy)
    summary = locked_summary(session, order_summary_id)
    previous = summary.routing_strategy
    if previous == chosen.value:
        return False
    summary.routing_strategy = chosen.value
    payload = {
        "order_summary_id": order_summary_id,
        "strategy": chosen.value,
        "previous": previous,
        "set_by": set_by,
    }
    event = DomainEvent(
        "order_summary.routing_strategy_set",
        "order_summary",
        order_summary_id,
        payload,
        order_summary_id,
    )
    outbox.record(session, [event])
    return True

"""What makes routing run again: a new managed order (round 1 of each group), stock arriving
for groups that wait (their round brought forward), a location rejecting a fulfillment order
(a new round without it)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.models import utcnow
from openoms.adapters.db.repositories import routing as repo
from openoms.adapters.outbox import Consumer, Handler, Outbox
from openoms.domain.errors import IllegalTransition
from openoms.domain.events import DomainEvent
from openoms.domain.fulfillment import RESHIP, FulfillmentOrderStatus
from openoms.domain.order import Lifecycle
from openoms.services.fulfillment import FulfillmentOrderNotFound
from openoms.services.orders import queue_order_routing, route_order_job_key
from openoms.services.routing.rounds import GAVE_UP, route_job_key, schedule_routing

# Events after which stock may be free for groups waiting to be routed.
RESTOCK_EVENTS = (
    "inventory.imported",
    "inventory.restocked",
    "reservation.released",
    "reservation.expired",
    "location.upserted",
    "location_group.upserted",
    "channel.upserted",
)


def reroute_after_rejection(
    session: Session, outbox: Outbox, fulfillment_order_id: str, *, reason: str
) -> int:
    """Route the group of a REJECTED fulfillment order again, in a new round that leaves out
    every location that rejected one of the group's fulfillment orders. Call it after the
    rejection is stored (status REJECTED, its unshipped units deallocated), in the same
    transaction. Returns the round queued; emits `order_summary.reroute_requested`."""
    fo = repo.get_fulfillment_order(session, fulfillment_order_id)
    if fo is None:
        raise FulfillmentOrderNotFound(
            f"no fulfillment order {fulfillment_order_id!r}",
            fulfillment_order_id=fulfillment_order_id,
        )
    return _reroute(session, outbox, fo, reason=reason)


def _reroute(session: Session, outbox: Outbox, fo: m.FulfillmentOrder, *, reason: str) -> int:
    if fo.status != FulfillmentOrderStatus.REJECTED.value:
        raise IllegalTransition(
            f"fulfillment order {fo.id} is {fo.status}: only a rejected one is routed again",
            current=fo.status,
        )
    last = repo.last_round(session, fo.delivery_group_summary_id)
    next_round = last + 1
    schedule_routing(session, fo.delivery_group_summary_id, next_round, reason=reason)
    outbox.record(
        session,
        [
            DomainEvent(
                name="order_summary.reroute_requested",
                aggregate_type="order_summary",
                aggregate_id=fo.order_summary_id,
                order_summary_id=fo.order_summary_id,
                payload={
                    "order_summary_id": fo.order_summary_id,
                    "delivery_group_summary_id": fo.delivery_group_summary_id,
                    "rejected_fulfillment_order_id": fo.id,
                    "location_id": fo.location_id,
                    "routing_round": next_round,
                    "reason": reason,
                },
            )
        ],
    )
    return next_round


def on_order_summary_created(session: Session, event: m.Event) -> None:
    """Make sure a managed order's routing is queued. Capture queues it in its own
    transaction (`queue_order_routing`), so this inserts nothing for its orders (same job
    key): it routes orders whose capture did not (before routing was queued at capture)."""
    if event.payload.get("lifecycle") != Lifecycle.MANAGED.value:
        return
    queue_order_routing(session, event.aggregate_id)


def on_stock_added(session: Session, event: m.Event) -> None:
    """Bring forward the routing of every group still waiting for units (of the SKUs the
    event gave back, for reservation events): its failing round, or a new round after the
    last one that placed something. A group whose job is already due is left alone."""
    skus: set[str] | None = None
    if event.name.startswith("reservation.") or event.name == "inventory.restocked":
        skus = {line["sku"] for line in event.payload.get("lines", ())}
        if not skus:
            return
    # Units a group gave back when its routing gave up are no news to that group itself.
    gave_up = event.payload.get(GAVE_UP)
    rounds = {
        route_job_key(group_id, last + 1): (group_id, last + 1)
        for group_id, last in repo.waiting_groups(session, skus)
        if group_id != gave_up
    }
    now = utcnow()
    due = repo.due_jobs(session, list(rounds), now)
    # A new order's groups are routed by its `route_order` job, when that is due.
    due |= {
        route_job_key(group_id, 1)
        for group_id in repo.groups_routed_with_order(
            session, [g for g, round in rounds.values() if round == 1], route_order_job_key(""), now
        )
    }
    for key, (group_id, round) in rounds.items():
        if key not in due:
            schedule_routing(session, group_id, round)


def routing_consumers(outbox: Outbox) -> list[Consumer]:
    return [
        Consumer("routing", ("order_summary.created",), on_order_summary_created),
        Consumer("routing-restock", RESTOCK_EVENTS, on_stock_added),
        Consumer("routing-rejected", ("fulfillment_order.rejected",), on_rejected(outbox)),
    ]


def on_rejected(outbox: Outbox) -> Handler:
    """A location rejected a fulfillment order of ordered units: route its group again."""

    def handle(session: Session, event: m.Event) -> None:
        fo = repo.get_fulfillment_order(session, event.aggregate_id)
        if fo is None or fo.type == RESHIP:  # a reship's units are reships' to route
            return
        _reroute(session, outbox, fo, reason=str(event.payload["reason"]))

    return handle

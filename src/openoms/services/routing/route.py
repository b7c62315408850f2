"""Routing the order (DESIGN.md §6): which locations fulfil which units of each delivery group.

Capture holds each ship group's units where the channel's strategy ships them from, and
queues one `route_order` job per managed order in its own transaction; that job routes
round 1 of every group of the order (routing/jobs.py), a `route_group` job one round of one
group (later rounds, retries). A round gathers the candidate locations and what each has
(its free stock plus the units the group's reservation already holds there, which are the
order's own), runs the channel's strategy, moves the held stock to the chosen locations
(usually nothing to move: capture chose them), and makes one ALLOCATED fulfillment order
per location. A round that made its fulfillment orders is never routed again (retries find
them); a later routing of the same group is a new round — after a rejection, or when stock
arrives for the units a backordering channel left waiting.

When nothing can be routed: a backordering channel's group waits for stock; any other
raises a routing process exception (one per group, refreshed on every retry) and the job
tries again with backoff. Stock arriving (imports, releases, expiries, location and channel
changes) brings waiting groups' routing forward. Success resolves the exception.

Beside this module: routing/plan.py (the candidates and the strategy), routing/stock.py (the
held stock moved), routing/fulfillment_orders.py (what a decision writes), routing/rounds.py
(the job's key, the exception, `schedule_routing`), routing/jobs.py (the job, its retries)
and routing/consumers.py (what queues a round: capture, restock, rejection).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.repositories import routing as repo
from openoms.adapters.outbox import Outbox
from openoms.domain.fulfillment import ProcessExceptionCategory
from openoms.domain.inventory import InsufficientStock
from openoms.domain.order import ItemType, Lifecycle
from openoms.domain.routing import RoutingResult
from openoms.domain.summary import derive_status
from openoms.services.exceptions import raise_exception, resolve_exception
from openoms.services.orders import (
    SYSTEM_OWNER,
    ChannelPolicy,
    ShortagePolicy,
    group_reservation_key,
    is_held,
    item_quantities,
    routing_gates,
)
from openoms.services.routing.fulfillment_orders import (
    create_fulfillment_orders,
    created_event,
    routed_event,
)
from openoms.services.routing.plan import OrderLookups, plan_route, rejected_locations
from openoms.services.routing.rounds import EXCEPTION_SEVERITY, exception_key, retry_round
from openoms.services.routing.stock import (
    StockPlan,
    hold_stock,
    own_units,
    plan_stock,
    rejected_holds,
)

AWAITING_REASON = (
    "waiting for the order's authorizations to be verified or its automation flows to run"
)
HELD_REASON = "the order is on hold; releasing its last hold resumes its routing"


class RouteStatus(StrEnum):
    ROUTED = "routed"  # every open unit of the group is placed
    PARTIALLY_ROUTED = "partially_routed"  # some placed; the rest waits (backorder)
    WAITING = "waiting"  # nothing can be placed now; a backordering channel waits for stock
    NO_ROUTE = "no_route"  # nothing placed; process exception raised, retried with backoff
    RACED = "raced"  # the stock moved while the plan was carried out; retried soon
    ALREADY_ROUTED = "already_routed"  # this round made its fulfillment orders before
    # A gate is shut: the order's authorizations are being verified, or the flows on its
    # creation have not run yet; whichever opens last queues routing (orders/*_gate.py).
    AWAITING_VERIFICATION = "awaiting_verification"
    # The order has an active hold; releasing the last one queues its routing again.
    ON_HOLD = "on_hold"
    NOTHING_TO_ROUTE = "nothing_to_route"  # no open units (or not a managed order)


@dataclass(frozen=True, slots=True)
class RouteOutcome:
    status: RouteStatus
    fulfillment_order_ids: tuple[str, ...] = ()
    reason: str = ""
    shortfall: Mapping[str, int] = field(default_factory=dict)


def route_delivery_group(
    session: Session, outbox: Outbox, group_summary_id: str, *, round: int, now: datetime
) -> RouteOutcome:
    """Route round `round` of a delivery group (see the module docstring). Idempotent per
    (group, round); never allocates more than an item has available to fulfill."""
    found = repo.lock_group_summary(session, group_summary_id)
    if found is None or found[1].lifecycle != Lifecycle.MANAGED:
        return RouteOutcome(RouteStatus.NOTHING_TO_ROUTE, reason="not a managed delivery group")
    group, summary = found
    if repo.any_job_unfinished(session, routing_gates(summary.id)):
        return RouteOutcome(RouteStatus.AWAITING_VERIFICATION, reason=AWAITING_REASON)
    if is_held(session, summary.id):  # read under the summary's lock: see orders/holds.py
        return RouteOutcome(RouteStatus.ON_HOLD, reason=HELD_REASON)
    return route_locked_group(session, outbox, summary, group, round=round, now=now)


def route_locked_group(
    session: Session,
    outbox: Outbox,
    summary: m.OrderSummary,
    group: m.OrderDeliveryGroupSummary,
    *,
    round: int,
    now: datetime,
    shared: OrderLookups | None = None,
) -> RouteOutcome:
    """`route_delivery_group` for a caller that has locked the managed summary (items
    loaded) and checked its authorization gate and holds in this transaction: the order's
    job, which routes all its groups and passes `shared` so the channel's policy and
    locations are read once per order."""
    fulfillment_orders = repo.group_fulfillment_orders(session, group.id)
    done = tuple(fo.id for fo in fulfillment_orders if fo.routing_round == round)
    if done:
        return RouteOutcome(RouteStatus.ALREADY_ROUTED, done)
    items = _open_items(summary, group.id)
    if not items:
        _resolve(session, outbox, summary, group.id, "nothing left to route")
        return RouteOutcome(RouteStatus.NOTHING_TO_ROUTE, reason="no units left to route")
    decision = _decide(session, summary, group, items, fulfillment_orders, shared)
    summary.routing_attempts += 1
    if not decision.result.allocations:
        return _no_route(session, outbox, summary, group, decision, round)
    reservation = decision.reservation
    plan = plan_stock(decision.own, decision.result.allocations, complete=decision.result.complete)
    stale = repo.lock_reservations(session, rejected_holds(fulfillment_orders, reservation))
    fresh: dict[str, str] = {}
    if plan != StockPlan() or stale:  # usually capture held the units where they ship
        session.flush()  # outside the savepoint: a race keeps the attempt counted
        try:
            with session.begin_nested():
                fresh = hold_stock(
                    session,
                    outbox,
                    reservation,
                    plan,
                    order_summary_id=summary.id,
                    fresh_key=lambda location_id: (
                        f"{group_reservation_key(summary.id, group.ref)}:round:{round}:"
                        f"{location_id}"
                    ),
                    stale=stale,
                )
        except InsufficientStock as exc:
            reason = f"stock moved while routing: {exc.detail}"
            return RouteOutcome(RouteStatus.RACED, reason=reason)
    held_in = {
        loc: fresh.get(loc, reservation.id if reservation else None) for loc in decision.locations
    }
    return _record(session, outbox, summary, group, decision, held_in, round=round, now=now)


@dataclass(frozen=True, slots=True)
class _Decision:
    items: list[m.OrderItemSummary]
    policy: ChannelPolicy
    reservation: m.Reservation | None
    own: dict[tuple[str, str], int]
    locations: dict[str, m.Location]
    result: RoutingResult


def _decide(
    session: Session,
    summary: m.OrderSummary,
    group: m.OrderDeliveryGroupSummary,
    items: list[m.OrderItemSummary],
    fulfillment_orders: Sequence[m.FulfillmentOrder],
    shared: OrderLookups | None,
) -> _Decision:
    """Gather the candidates and what each can give, and run the channel's strategy."""
    reservation = repo.lock_reservation(
        session, SYSTEM_OWNER, group_reservation_key(summary.id, group.ref)
    )
    own = own_units(reservation, fulfillment_orders)
    wanted: dict[str, int] = defaultdict(int)
    for item in items:
        wanted[item.sku] += item_quantities(item).available_to_fulfill
    policy, locations, result = plan_route(
        session, summary, group, wanted, own, rejected_locations(fulfillment_orders), shared=shared
    )
    return _Decision(items, policy, reservation, own, locations, result)


def _record(
    session: Session,
    outbox: Outbox,
    summary: m.OrderSummary,
    group: m.OrderDeliveryGroupSummary,
    decision: _Decision,
    held_in: Mapping[str, str | None],
    *,
    round: int,
    now: datetime,
) -> RouteOutcome:
    """Fulfillment orders, counters, derived status, the exception resolved, events."""
    result = decision.result
    # The summary's attempt count goes out with its new status, in one UPDATE, not flushed
    # alone before the fulfillment orders' INSERTs.
    with session.no_autoflush:
        created = create_fulfillment_orders(
            session, summary, group, decision.items, result, held_in, round=round, now=now
        )
    summary.status = derive_status(
        [(ItemType(i.type), item_quantities(i)) for i in summary.items]
    ).value
    _resolve(session, outbox, summary, group.id, f"routed in round {round}")
    fo_ids = [fo.id for fo, _ in created]
    outbox.record(
        session,
        [
            *(created_event(fo, lines, group, decision.locations) for fo, lines in created),
            routed_event(summary, group, result, fo_ids, round),
        ],
    )
    status = RouteStatus.ROUTED if result.complete else RouteStatus.PARTIALLY_ROUTED
    return RouteOutcome(status, tuple(fo_ids), result.reason, dict(result.shortfall))


def record_placement(
    session: Session,
    outbox: Outbox,
    summary: m.OrderSummary,
    group: m.OrderDeliveryGroupSummary,
    placement: Placement,
    *,
    round: int,
    now: datetime,
) -> RouteOutcome:
    """What a round writes, for a decision made elsewhere (a routing run,
    routing/run_apply.py) whose stock the caller has already held: the same fulfillment
    orders, counters, status and events as `route_locked_group`."""
    decision = _Decision(
        open_items(summary, group.id),
        placement.policy,
        placement.reservation,
        dict(placement.own),
        dict(placement.locations),
        placement.result,
    )
    return _record(
        session, outbox, summary, group, decision, placement.held_in, round=round, now=now
    )


@dataclass(frozen=True, slots=True)
class Placement:
    policy: ChannelPolicy
    reservation: m.Reservation | None
    own: Mapping[tuple[str, str], int]
    locations: Mapping[str, m.Location]
    result: RoutingResult
    held_in: Mapping[str, str | None]


def open_items(summary: m.OrderSummary, group_id: str) -> list[m.OrderItemSummary]:
    return _open_items(summary, group_id)


def _open_items(summary: m.OrderSummary, group_id: str) -> list[m.OrderItemSummary]:
    """The group's product items with units available to fulfill, in order position."""
    return [
        i
        for i in summary.items
        if i.delivery_group_summary_id == group_id
        and i.type == ItemType.PRODUCT.value
        and item_quantities(i).available_to_fulfill > 0
    ]


def _no_route(
    session: Session,
    outbox: Outbox,
    summary: m.OrderSummary,
    group: m.OrderDeliveryGroupSummary,
    decision: _Decision,
    round: int,
) -> RouteOutcome:
    result = decision.result
    short = ", ".join(f"{sku} ×{units}" for sku, units in sorted(result.shortfall.items()))
    reason = f"{result.reason}; short: {short}" if short else result.reason
    if decision.policy.shortage_policy is ShortagePolicy.BACKORDER:
        return RouteOutcome(RouteStatus.WAITING, reason=reason, shortfall=dict(result.shortfall))
    raise_exception(
        session,
        outbox,
        order_summary_id=summary.id,
        category=ProcessExceptionCategory.ROUTING,
        severity=EXCEPTION_SEVERITY,
        dedupe_key=exception_key(group.id),
        message=f"Delivery group '{group.ref}' could not be routed: {reason}",
        action=retry_round(group.id, round, {"group_summary_id": group.id, "round": round}),
    )
    return RouteOutcome(RouteStatus.NO_ROUTE, reason=reason, shortfall=dict(result.shortfall))


def _resolve(
    session: Session, outbox: Outbox, summary: m.OrderSummary, group_id: str, note: str
) -> None:
    if summary.active_process_exception_count > 0:  # spares the lookup on the common path
        resolve_exception(session, outbox, exception_key(group_id), note=note)

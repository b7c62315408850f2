"""Routing the order (DESIGN.md §6): which locations fulfil which units of each delivery group.

Capture stays fast: `order_summary.created` only queues one `route_group` job per delivery
group of a managed order. The job routes one round of one group: it gathers the candidate
locations and what each has (its free stock plus the units the group's reservation already
holds there, which are the order's own), runs the channel's strategy, moves the held stock to
the chosen locations, and makes one ALLOCATED fulfillment order per location. A round that
made its fulfillment orders is never routed again (retries find them); a later routing of
the same group is a new round — after a rejection, or when stock arrives for the units a
backordering channel left waiting.

When nothing can be routed: a backordering channel's group waits for stock; any other
raises a routing process exception (one per group, refreshed on every retry) and the job
tries again with backoff. Stock arriving (imports, releases, expiries, location and channel
changes) brings waiting groups' routing forward. Success resolves the exception.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.models import utcnow
from openoms.adapters.db.repositories import routing as repo
from openoms.adapters.jobs import JobContext, JobKind, Reschedule, enqueue, requeue
from openoms.adapters.outbox import Consumer, Handler, Outbox
from openoms.domain.errors import IllegalTransition
from openoms.domain.events import DomainEvent
from openoms.domain.fulfillment import RESHIP, FulfillmentOrderStatus, ProcessExceptionCategory
from openoms.domain.inventory import InsufficientStock
from openoms.domain.order import DeliveryMethod, ItemType, Lifecycle
from openoms.domain.routing import (
    Candidate,
    Destination,
    RoutingItem,
    RoutingPolicy,
    RoutingResult,
    ShippingCost,
    route,
)
from openoms.domain.summary import derive_status
from openoms.services.exceptions import (
    active_exception,
    raise_exception,
    resolve_exception,
    retry_action,
)
from openoms.services.fulfillment import FulfillmentOrderNotFound
from openoms.services.orders import (
    SYSTEM_OWNER,
    ChannelPolicy,
    ShortagePolicy,
    channel_policy,
    group_reservation_key,
    item_quantities,
    routing_gate_key,
)
from openoms.services.routing.fulfillment_orders import (
    create_fulfillment_orders,
    created_event,
    routed_event,
)
from openoms.services.routing.stock import (
    StockPlan,
    hold_stock,
    own_units,
    plan_stock,
    rejected_holds,
    release_group_holds,
)

ROUTE_JOB = "route_group"
ROUTE_JOB_MAX_ATTEMPTS = 20
RACE_DELAY = timedelta(seconds=1)
# In a `reservation.released` event: the delivery group whose routing gave up and released.
GAVE_UP = "delivery_group_summary_id"
EXCEPTION_SEVERITY = "medium"
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


class RouteStatus(StrEnum):
    ROUTED = "routed"  # every open unit of the group is placed
    PARTIALLY_ROUTED = "partially_routed"  # some placed; the rest waits (backorder)
    WAITING = "waiting"  # nothing can be placed now; a backordering channel waits for stock
    NO_ROUTE = "no_route"  # nothing placed; process exception raised, retried with backoff
    RACED = "raced"  # the stock moved while the plan was carried out; retried soon
    ALREADY_ROUTED = "already_routed"  # this round made its fulfillment orders before
    # The order's authorizations are being verified; the check queues routing when it passes.
    AWAITING_VERIFICATION = "awaiting_verification"
    NOTHING_TO_ROUTE = "nothing_to_route"  # no open units (or not a managed order)


@dataclass(frozen=True, slots=True)
class RouteOutcome:
    status: RouteStatus
    fulfillment_order_ids: tuple[str, ...] = ()
    reason: str = ""
    shortfall: Mapping[str, int] = field(default_factory=dict)


def route_job_key(group_summary_id: str, round: int) -> str:
    return f"route:{group_summary_id}:{round}"


def _retry(group_summary_id: str, round: int, payload: dict[str, Any]) -> dict[str, Any]:
    """A routing exception's action: route the group's round again."""
    job = {"group_summary_id": group_summary_id, "round": round}
    return retry_action(
        ROUTE_JOB, payload, key=route_job_key(group_summary_id, round), retry_payload=job
    )


def exception_key(group_summary_id: str) -> str:
    return f"routing:{group_summary_id}"


def schedule_routing(
    session: Session, group_summary_id: str, round: int, *, reason: str | None = None
) -> bool:
    """Queue routing round `round` of the group, or bring its job forward (and revive it
    when done or dead). True when a new job was queued."""
    key = route_job_key(group_summary_id, round)
    payload: dict[str, Any] = {"group_summary_id": group_summary_id, "round": round}
    if reason:
        payload["reason"] = reason
    if enqueue(session, ROUTE_JOB, key, payload):
        return True
    requeue(session, key)
    return False


# --- routing one round of one group -------------------------------------------------------


def route_delivery_group(
    session: Session, outbox: Outbox, group_summary_id: str, *, round: int, now: datetime
) -> RouteOutcome:
    """Route round `round` of a delivery group (see the module docstring). Idempotent per
    (group, round); never allocates more than an item has available to fulfill."""
    found = repo.lock_group_summary(session, group_summary_id)
    if found is None or found[1].lifecycle != Lifecycle.MANAGED:
        return RouteOutcome(RouteStatus.NOTHING_TO_ROUTE, reason="not a managed delivery group")
    group, summary = found
    if repo.job_unfinished(session, routing_gate_key(summary.id)):
        reason = "waiting for the order's authorizations to be verified"
        return RouteOutcome(RouteStatus.AWAITING_VERIFICATION, reason=reason)
    fulfillment_orders = repo.group_fulfillment_orders(session, group.id)
    done = tuple(fo.id for fo in fulfillment_orders if fo.routing_round == round)
    if done:
        return RouteOutcome(RouteStatus.ALREADY_ROUTED, done)
    items = _open_items(summary, group.id)
    if not items:
        _resolve(session, outbox, summary, group.id, "nothing left to route")
        return RouteOutcome(RouteStatus.NOTHING_TO_ROUTE, reason="no units left to route")
    decision = _decide(session, summary, group, items, fulfillment_orders)
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
        session, summary, group, wanted, own, rejected_locations(fulfillment_orders)
    )
    return _Decision(items, policy, reservation, own, locations, result)


def rejected_locations(fulfillment_orders: Sequence[m.FulfillmentOrder]) -> set[str]:
    """Locations that rejected a fulfillment order of the group: never candidates again."""
    return {
        fo.location_id
        for fo in fulfillment_orders
        if fo.status == FulfillmentOrderStatus.REJECTED.value
    }


def plan_route(
    session: Session,
    summary: m.OrderSummary,
    group: m.OrderDeliveryGroupSummary,
    wanted: Mapping[str, int],
    own: Mapping[tuple[str, str], int],
    rejected: set[str],
    *,
    allow_partial: bool | None = None,
) -> tuple[ChannelPolicy, dict[str, m.Location], RoutingResult]:
    """Run the channel's strategy for `wanted` units (SKU → units) of the group over its
    candidate locations, each offering its free stock plus the `own` units held there.
    `allow_partial` defaults to the channel's shortage policy. Shared with reships
    (services/service_actions/reships.py), which route replacement units by the same rules."""
    policy = channel_policy(session, summary.channel)
    locations = _candidate_locations(session, group, policy, rejected)
    if allow_partial is None:
        allow_partial = policy.shortage_policy is ShortagePolicy.BACKORDER
    result = route(
        [RoutingItem(sku, units) for sku, units in wanted.items()],
        _candidates(session, locations, group, summary.currency, wanted, own),
        _destination(group),
        RoutingPolicy(
            strategy=policy.routing_strategy.value,
            max_splits=policy.max_splits,
            allow_partial=allow_partial,
        ),
    )
    return policy, locations, result


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


def _open_items(summary: m.OrderSummary, group_id: str) -> list[m.OrderItemSummary]:
    """The group's product items with units available to fulfill, in order position."""
    return [
        i
        for i in summary.items
        if i.delivery_group_summary_id == group_id
        and i.type == ItemType.PRODUCT.value
        and item_quantities(i).available_to_fulfill > 0
    ]


def _candidate_locations(
    session: Session,
    group: m.OrderDeliveryGroupSummary,
    policy: ChannelPolicy,
    rejected: set[str],
) -> dict[str, m.Location]:
    """Pickup: only the pickup store. Ship: the channel's active locations that can ship.
    Never a location that rejected a fulfillment order of this group."""
    if group.method == DeliveryMethod.PICKUP.value:
        store = repo.location_by_ref(session, group.pickup_location or "")
        found = [store] if store is not None and store.active else []
    else:
        found = repo.ship_locations(session, policy.location_group_id)
    return {loc.id: loc for loc in found if loc.id not in rejected}


def _candidates(
    session: Session,
    locations: Mapping[str, m.Location],
    group: m.OrderDeliveryGroupSummary,
    currency: str,
    wanted: Mapping[str, int],
    own: Mapping[tuple[str, str], int],
) -> list[Candidate]:
    """Each location with what it can give: its free stock plus the order's own units there."""
    free = repo.available_to_fulfill(session, list(locations), list(wanted))
    candidates = []
    for location_id, location in locations.items():
        available = {
            sku: units
            for sku in wanted
            if (units := free.get((location_id, sku), 0) + own.get((location_id, sku), 0)) > 0
        }
        candidates.append(
            Candidate(
                location_id=location_id,
                lat=location.lat,
                lon=location.lon,
                available=available,
                shipping=_shipping_cost(location, group.country, currency),
            )
        )
    return candidates


def _shipping_cost(location: m.Location, country: str | None, currency: str) -> ShippingCost | None:
    """The location's rate to the country in the order's currency, else its "*" rate."""
    rates = [r for r in location.shipping_costs if r.get("currency") == currency]
    for wanted in (country, "*"):
        for rate in rates:
            if rate.get("country") == wanted:
                return ShippingCost(int(rate["per_shipment"]), int(rate["per_unit"]))
    return None


def _destination(group: m.OrderDeliveryGroupSummary) -> Destination | None:
    if group.method == DeliveryMethod.PICKUP.value or group.lat is None or group.lon is None:
        return None
    return Destination(group.lat, group.lon)


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
        action=_retry(group.id, round, {"group_summary_id": group.id, "round": round}),
    )
    return RouteOutcome(RouteStatus.NO_ROUTE, reason=reason, shortfall=dict(result.shortfall))


def _resolve(
    session: Session, outbox: Outbox, summary: m.OrderSummary, group_id: str, note: str
) -> None:
    if summary.active_process_exception_count > 0:  # spares the lookup on the common path
        resolve_exception(session, outbox, exception_key(group_id), note=note)


# --- routing again ------------------------------------------------------------------------


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


# --- consumers and the job ----------------------------------------------------------------


def on_order_summary_created(session: Session, event: m.Event) -> None:
    """Queue round 1 of every delivery group of a managed order."""
    if event.payload.get("lifecycle") != Lifecycle.MANAGED.value:
        return
    for group_id in repo.group_ids(session, event.aggregate_id):
        enqueue(
            session,
            ROUTE_JOB,
            route_job_key(group_id, 1),
            {"group_summary_id": group_id, "round": 1},
        )


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
    due = repo.due_jobs(session, list(rounds), utcnow())
    for key, (group_id, round) in rounds.items():
        if key not in due:
            schedule_routing(session, group_id, round)


def run_route_job(
    context: JobContext, session: Session, payload: dict[str, Any]
) -> Reschedule | None:
    outcome = route_delivery_group(
        session,
        context.outbox,
        str(payload["group_summary_id"]),
        round=int(payload["round"]),
        now=context.now,
    )
    return reschedule_for(outcome)


def reschedule_for(outcome: RouteOutcome) -> Reschedule | None:
    """What a routing job (a group's, or a reship's) does after `outcome`: try again with
    backoff when nothing could be placed, soon when it lost a race, else nothing."""
    if outcome.status is RouteStatus.NO_ROUTE:
        return Reschedule(outcome.reason)  # backoff by attempt
    if outcome.status is RouteStatus.RACED:
        return Reschedule(outcome.reason, delay=RACE_DELAY)
    return None


def on_route_job_dead(
    context: JobContext, session: Session, payload: dict[str, Any], reason: str
) -> None:
    """Retries ran out: the group gives back the stock it holds for units no fulfillment
    order ships (DESIGN.md §5: routing failure releases), and its exception says so (one is
    raised if none is open)."""
    group_id = str(payload["group_summary_id"])
    released = _release_on_failure(session, context.outbox, group_id)
    gave_back = f" and gave back the {released} unit(s) it held" if released else ""
    note = (
        f"routing stopped retrying after {context.attempt} attempts{gave_back}; new stock or "
        "a retry restarts it"
    )
    exception = active_exception(session, exception_key(group_id))
    if exception is not None:
        exception.message = f"{exception.message} ({note})"
        return
    group = repo.get_group(session, group_id)
    raise_exception(
        session,
        context.outbox,
        order_summary_id=group.order_summary_id if group else None,
        category=ProcessExceptionCategory.ROUTING,
        severity=EXCEPTION_SEVERITY,
        dedupe_key=exception_key(group_id),
        message=f"Delivery group could not be routed: {reason} ({note})",
        action=_retry(str(payload["group_summary_id"]), int(payload["round"]), dict(payload)),
    )


def _release_on_failure(session: Session, outbox: Outbox, group_id: str) -> int:
    """Release what the group holds beyond its live fulfillment orders; the units released."""
    found = repo.lock_group_summary(session, group_id)
    if found is None:
        return 0
    group, summary = found
    fulfillment_orders = repo.group_fulfillment_orders(session, group.id)
    why = {"reason": "routing_failed", GAVE_UP: group.id}
    return release_group_holds(
        session, outbox, summary.id, group.ref, fulfillment_orders, {}, why=why
    )


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
        reroute_after_rejection(session, outbox, fo.id, reason=str(event.payload["reason"]))

    return handle


def routing_job_kinds() -> dict[str, JobKind]:
    return {
        ROUTE_JOB: JobKind(
            run_route_job, max_attempts=ROUTE_JOB_MAX_ATTEMPTS, on_dead=on_route_job_dead
        ),
    }

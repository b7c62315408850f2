"""The `route_reship` job (service_actions/reships.py): route one delivery group's replacement
units of a reship, in one round, as the original routing does (services/routing/plan.py), all
or nothing; when stock is short, a routing process exception and a retry with backoff. While
the order is on hold the job ends without routing, its attempts unspent; releasing the
order's last hold runs it again (reship_reroutes.on_released)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.repositories import routing as routing_repo
from openoms.adapters.db.repositories import service_actions as repo
from openoms.adapters.jobs import JobContext, JobKind, Reschedule
from openoms.adapters.outbox import Outbox
from openoms.domain.events import DomainEvent
from openoms.domain.fulfillment import RESHIP, ProcessExceptionCategory
from openoms.domain.inventory import InsufficientStock
from openoms.domain.routing import RoutingResult
from openoms.services.exceptions import (
    active_exception,
    raise_exception,
    resolve_exception,
    retry_action,
)
from openoms.services.orders import SYSTEM_OWNER, is_held
from openoms.services.routing import (
    HELD_REASON,
    RouteOutcome,
    RouteStatus,
    create_fulfillment_orders,
    created_event,
    hold_stock,
    plan_route,
    plan_stock,
    rejected_locations,
    reschedule_for,
)
from openoms.services.service_actions.reship_keys import (
    EXCEPTION_SEVERITY,
    FIRST_ROUND,
    RESHIP_JOB,
    RESHIP_JOB_MAX_ATTEMPTS,
    exception_key,
    job_key,
    reservation_key,
    round_of,
)

ROUTED_EVENT = "order_summary.reship_routed"


def route_reship(
    session: Session, outbox: Outbox, payload: Mapping[str, Any], *, now: datetime
) -> RouteOutcome:
    """Route one delivery group's replacement units of a reship, in the payload's round (the
    docstring of service_actions/reships.py). Idempotent: the round's fulfillment orders,
    once made, are found and nothing more is."""
    reship_id, group_id = str(payload["reship_id"]), str(payload["group_summary_id"])
    round = round_of(payload)
    found = routing_repo.lock_group_summary(session, group_id)
    if found is None:
        return RouteOutcome(RouteStatus.NOTHING_TO_ROUTE, reason="no such delivery group")
    group, summary = found
    fulfillment_orders = routing_repo.group_fulfillment_orders(session, group.id)
    done = _reship_fulfillment_orders(session, fulfillment_orders, reship_id, round)
    if done:
        return RouteOutcome(RouteStatus.ALREADY_ROUTED, tuple(done))
    if is_held(session, summary.id):  # read under the summary's lock, as routing does
        return RouteOutcome(RouteStatus.ON_HOLD, reason=HELD_REASON)
    units = {str(ln["order_item_summary_id"]): int(ln["quantity"]) for ln in payload["lines"]}
    items = [i for i in summary.items if i.id in units]
    wanted = _units_per_sku(items, units)
    rejected = rejected_locations(fulfillment_orders)  # a rejected reship FO's location too
    # A reship ships whole: no replacement waits in pieces.
    _, locations, result = plan_route(
        session, summary, group, wanted, {}, rejected, allow_partial=False
    )
    if not result.complete or not result.allocations:
        return _no_route(session, outbox, summary, group, payload, result.reason, result.shortfall)
    try:
        held_in = _hold(session, outbox, summary.id, result, reship_id, round)
    except InsufficientStock as exc:
        return RouteOutcome(RouteStatus.RACED, reason=f"stock moved while routing: {exc.detail}")
    created = create_fulfillment_orders(
        session,
        summary,
        group,
        items,
        replace(result, reason=_why(payload, result)),
        held_in,
        round=0,  # not a routing round of the group: its rounds stay 1, 2, …
        now=now,
        fo_type=RESHIP,
        reship_units=units,
    )
    resolve_exception(
        session,
        outbox,
        exception_key(group.id, reship_id, round),
        note=f"reship {reship_id} routed",
    )
    fo_ids = tuple(fo.id for fo, _ in created)
    outbox.record(
        session,
        [
            *(created_event(fo, lines, group, locations) for fo, lines in created),
            _routed_event(summary, group, result, reship_id, round, fo_ids),
        ],
    )
    return RouteOutcome(RouteStatus.ROUTED, fo_ids, result.reason)


def _units_per_sku(items: Sequence[m.OrderItemSummary], units: Mapping[str, int]) -> dict[str, int]:
    """SKU → replacement units, from the units per item id."""
    wanted: dict[str, int] = defaultdict(int)
    for item in items:
        wanted[item.sku] += units[item.id]
    return wanted


def _why(payload: Mapping[str, Any], result: RoutingResult) -> str:
    """The reason the reship's fulfillment orders carry: the reship, its reason code, the
    round when not the first, and the strategy's reason."""
    round = round_of(payload)
    again = f", round {round} after a rejection" if round != FIRST_ROUND else ""
    return (
        f"reship {payload['reship_id']} ({payload.get('reason', 'other')}{again}): {result.reason}"
    )


def _hold(
    session: Session,
    outbox: Outbox,
    summary_id: str,
    result: RoutingResult,
    reship_id: str,
    round: int,
) -> dict[str, str | None]:
    """Every replacement unit a fresh hold at its location (InsufficientStock when the stock
    moved meanwhile: nothing is held then); location id → its reservation."""
    plan = plan_stock({}, result.allocations, complete=True)  # every unit: a fresh hold
    session.flush()
    with session.begin_nested():
        held_in = hold_stock(
            session,
            outbox,
            None,
            plan,
            order_summary_id=summary_id,
            fresh_key=lambda location_id: reservation_key(reship_id, location_id, round),
        )
    return dict(held_in)


def _reship_fulfillment_orders(
    session: Session, fulfillment_orders: Sequence[m.FulfillmentOrder], reship_id: str, round: int
) -> list[str]:
    """The group's fulfillment orders this round of the reship made: those holding the
    round's reservation at their location (an earlier round's, rejected or not, never match)."""
    reship_fos = [fo for fo in fulfillment_orders if fo.type == RESHIP and fo.reservation_id]
    if not reship_fos:
        return []
    keys = repo.reservation_keys(
        session, [str(fo.reservation_id) for fo in reship_fos], owner=SYSTEM_OWNER
    )
    return [
        fo.id
        for fo in reship_fos
        if keys.get(str(fo.reservation_id)) == reservation_key(reship_id, fo.location_id, round)
    ]


def _routed_event(
    summary: m.OrderSummary,
    group: m.OrderDeliveryGroupSummary,
    result: RoutingResult,
    reship_id: str,
    round: int,
    fo_ids: Sequence[str],
) -> DomainEvent:
    return DomainEvent(
        ROUTED_EVENT,
        "order_summary",
        summary.id,
        {
            "order_summary_id": summary.id,
            "reship_id": reship_id,
            "round": round,
            "delivery_group_summary_id": group.id,
            "delivery_group": group.ref,
            "strategy": result.strategy,
            "reason": result.reason,
            "fulfillment_order_ids": list(fo_ids),
        },
        summary.id,
    )


def _no_route(
    session: Session,
    outbox: Outbox,
    summary: m.OrderSummary,
    group: m.OrderDeliveryGroupSummary,
    payload: Mapping[str, Any],
    reason: str,
    shortfall: Mapping[str, int],
) -> RouteOutcome:
    short = ", ".join(f"{sku} ×{units}" for sku, units in sorted(shortfall.items()))
    reason = f"{reason}; short: {short}" if short else reason
    reship_id = str(payload["reship_id"])
    raise_exception(
        session,
        outbox,
        order_summary_id=summary.id,
        category=ProcessExceptionCategory.ROUTING,
        severity=EXCEPTION_SEVERITY,
        dedupe_key=exception_key(group.id, reship_id, round_of(payload)),
        message=f"Reship {reship_id} of delivery group '{group.ref}' could not be routed: {reason}",
        action=retry_action(RESHIP_JOB, dict(payload), key=job_key(payload)),
    )
    return RouteOutcome(RouteStatus.NO_ROUTE, reason=reason, shortfall=dict(shortfall))


def run_reship_job(
    context: JobContext, session: Session, payload: dict[str, Any]
) -> Reschedule | None:
    return reschedule_for(route_reship(session, context.outbox, payload, now=context.now))


def on_reship_job_dead(
    context: JobContext, session: Session, payload: dict[str, Any], reason: str
) -> None:
    """Retries ran out: say so on the reship's exception (raise one if none is open)."""
    key = exception_key(
        str(payload["group_summary_id"]), str(payload["reship_id"]), round_of(payload)
    )
    note = f"reship routing stopped retrying after {context.attempt} attempts"
    exception = active_exception(session, key)
    if exception is not None:
        exception.message = f"{exception.message} ({note})"
        return
    raise_exception(
        session,
        context.outbox,
        order_summary_id=str(payload["order_summary_id"]),
        category=ProcessExceptionCategory.ROUTING,
        severity=EXCEPTION_SEVERITY,
        dedupe_key=key,
        message=f"Reship {payload['reship_id']} could not be routed: {reason} ({note})",
        action=retry_action(RESHIP_JOB, dict(payload), key=job_key(payload)),
    )


def reship_job_kind() -> JobKind:
    return JobKind(run_reship_job, max_attempts=RESHIP_JOB_MAX_ATTEMPTS, on_dead=on_reship_job_dead)

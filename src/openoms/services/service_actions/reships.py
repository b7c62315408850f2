"""Reship (DESIGN.md §2, §3): send replacement units, at no charge, for goods lost or damaged.

`submit_reship` is the agent's action, in one transaction under the order summary's lock:
it checks every unit against the item's quantity_available_to_reship (fulfilled −
(reshipped + return_initiated)) before writing anything, raises the items'
quantity_reshipped, emits `order_summary.reshipped` and queues one `route_reship` job per
delivery group. No change order and no money: a reship is free.

The job routes the replacement units as the original routing does (services/routing/route.py:
the channel's strategy, its location group and max splits, a pickup group only to its
store, never a location that rejected the group): each chosen location gets a fresh
reservation keyed `reship:{reship_id}:{location_id}` and one ALLOCATED fulfillment order of
type "reship". A reship routes whole or not at all: when stock is short it raises a routing
process exception (key `routing:{group}:reship:{reship_id}`, refreshed on every retry) and
retries with backoff; success resolves it. A retried job finds the fulfillment orders its
reservations made and does nothing.

Rounds: a location may reject a reship fulfillment order (services/fulfillment.reject gives
its reservation back); `reroute_after_rejection` then queues the job again for the rejected
units in a new round of the reship, numbered 1 + the reship's rejected fulfillment orders.
A later round's keys end in `:{round}` — job `reship:{reship_id}:{group}:{round}`,
reservations `reship:{reship_id}:{location_id}:{round}`, exception
`routing:{group}:reship:{reship_id}:{round}` — so it never mistakes an earlier round's
fulfillment orders for its own; like any routing it leaves out every location that rejected
one of the group's fulfillment orders.
Canceling a reship fulfillment order's lines lowers quantity_reshipped instead: those
replacements are no longer sent, and the agent may reship the units again.

Accounting: the items' allocated and fulfilled counters count the original units only. A
reship fulfillment order's lines name the same item summaries but never raise
quantity_allocated (routing_orders.create_fulfillment_orders with `fo_type="reship"`) nor
quantity_fulfilled when they ship (services/fulfillment/shipping.py); its shipment fulfils its own
reservation (on hand and reserved down) and is never invoiced (services/finance/invoicing.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.ids import new_id
from openoms.adapters.db.repositories import fulfillment as items_repo
from openoms.adapters.db.repositories import routing as routing_repo
from openoms.adapters.jobs import JobContext, JobKind, Reschedule, enqueue
from openoms.adapters.outbox import Consumer, Handler, Outbox
from openoms.domain.errors import ReshipExceedsAvailable, ReshipNotAllowed
from openoms.domain.events import DomainEvent
from openoms.domain.fulfillment import RESHIP, FulfillmentOrderStatus, ProcessExceptionCategory
from openoms.domain.inventory import InsufficientStock
from openoms.domain.order import Lifecycle
from openoms.domain.quantities import ItemQuantities
from openoms.services import fulfillment
from openoms.services.exceptions import (
    active_exception,
    raise_exception,
    resolve_exception,
    retry_action,
)
from openoms.services.orders import (
    SYSTEM_OWNER,
    item_quantities,
    locked_summary,
    product_lines,
    refresh_summary_status,
)
from openoms.services.routing import (
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

RESHIP_JOB = "route_reship"
RESHIP_JOB_MAX_ATTEMPTS = 20
RESHIPPED_EVENT = "order_summary.reshipped"
EXCEPTION_SEVERITY = "medium"
FIRST_ROUND = 1
_RESERVATION_PREFIX = "reship:"


class ReshipReason(StrEnum):
    """Why replacement goods are sent (a stable code for reporting; details go in `note`)."""

    LOST_IN_TRANSIT = "lost_in_transit"
    DAMAGED = "damaged"
    WRONG_ITEM = "wrong_item"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class ReshipRequest:
    """One line of a reship: units of an item summary, with an optional reason of its own."""

    order_item_summary_id: str
    quantity: int
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ReshipLine:
    order_item_summary_id: str
    sku: str
    delivery_group_summary_id: str
    quantity: int
    reason: str | None


@dataclass(frozen=True, slots=True)
class SubmittedReship:
    reship_id: str
    order_summary_id: str
    reason: ReshipReason
    note: str | None
    lines: tuple[ReshipLine, ...]


def reship_job_key(reship_id: str, group_summary_id: str, round: int = FIRST_ROUND) -> str:
    return _in_round(f"reship:{reship_id}:{group_summary_id}", round)


def job_key(payload: Mapping[str, Any]) -> str:
    """The dedupe key of the job that runs `payload` (a process exception's retry rebuilds it
    from the action's payload); KeyError when the payload lacks the reship or the group."""
    return reship_job_key(
        str(payload["reship_id"]), str(payload["group_summary_id"]), _round(payload)
    )


def reservation_key(reship_id: str, location_id: str, round: int = FIRST_ROUND) -> str:
    """The fresh reservation of one location's replacement units in one round (owner SYSTEM)."""
    return _in_round(f"{_RESERVATION_PREFIX}{reship_id}:{location_id}", round)


def exception_key(group_summary_id: str, reship_id: str, round: int = FIRST_ROUND) -> str:
    return _in_round(f"routing:{group_summary_id}:reship:{reship_id}", round)


def _in_round(key: str, round: int) -> str:
    return key if round == FIRST_ROUND else f"{key}:{round}"


def _round(payload: Mapping[str, Any]) -> int:
    return int(payload.get("round", FIRST_ROUND))


# --- the action ---------------------------------------------------------------------------


def submit_reship(
    session: Session,
    outbox: Outbox,
    order_summary_id: str,
    requests: Sequence[ReshipRequest],
    *,
    reason: ReshipReason,
    note: str | None = None,
) -> SubmittedReship:
    """Reship `requests` (see the module docstring). Raises before writing anything: an item
    not on the order (OrderItemSummaryUnknown), a quantity below one (QuantityInvalid), a
    delivery charge or an unmanaged order (ReshipNotAllowed), more than available to reship
    (ReshipExceedsAvailable, 409, naming each short item with its numbers)."""
    summary = locked_summary(session, order_summary_id)
    if summary.lifecycle != Lifecycle.MANAGED.value:
        raise ReshipNotAllowed(
            f"order summary {summary.id} is {summary.lifecycle}: the system that drives it "
            "ships replacements, not openoms"
        )
    known = {i.id: i for i in items_repo.summary_items(session, summary.id)}
    wanted = product_lines(
        known,
        requests,
        action="reship",
        not_product=ReshipNotAllowed,
        instead="only products are sent again",
    )
    items = items_repo.lock_items(session, set(wanted))
    after = _check(items, wanted)
    reship_id = new_id("rs")
    lines = []
    for item_id, units in wanted.items():
        item = items[item_id]
        item.quantity_reshipped = after[item_id].reshipped
        why = next((r.reason for r in requests if r.order_item_summary_id == item_id), None)
        lines.append(ReshipLine(item.id, item.sku, item.delivery_group_summary_id, units, why))
    session.flush()
    refresh_summary_status(session, outbox, summary.id)
    submitted = SubmittedReship(reship_id, summary.id, reason, note, tuple(lines))
    for group_id, group_lines in _by_group(lines).items():
        enqueue(
            session,
            RESHIP_JOB,
            reship_job_key(reship_id, group_id),
            _job_payload(submitted, group_id, group_lines),
        )
    outbox.record(session, [_reshipped_event(submitted)])
    return submitted


def _check(
    items: Mapping[str, m.OrderItemSummary], wanted: Mapping[str, int]
) -> dict[str, ItemQuantities]:
    """Every item's counters after the reship; all shortfalls in one refusal."""
    after: dict[str, ItemQuantities] = {}
    short = []
    for item_id, units in wanted.items():
        q = item_quantities(items[item_id])
        if units > q.available_to_reship:
            short.append((items[item_id], q, units))
            continue
        after[item_id] = q.reship(units)
    if short:
        raise ReshipExceedsAvailable(
            "; ".join(_shortfall(item, q, units) for item, q, units in short),
            shortfall=[
                {
                    "order_item_summary_id": item.id,
                    "sku": item.sku,
                    "requested": units,
                    "available": q.available_to_reship,
                }
                for item, q, units in short
            ],
        )
    return after


def _shortfall(item: m.OrderItemSummary, q: ItemQuantities, units: int) -> str:
    """E.g. "cannot reship 3 TEE-M: 3 of 3 shipped, 1 being returned, 1 reshipped already,
    so 1 is available to reship; reship at most 1"."""
    parts = [f"{q.fulfilled} of {q.net_ordered} shipped"]
    if q.return_initiated:
        parts.append(f"{q.return_initiated} being returned")
    if q.reshipped:
        parts.append(f"{q.reshipped} reshipped already")
    left = q.available_to_reship
    then = f"reship at most {left}" if left else "nothing else can be reshipped"
    return (
        f"cannot reship {units} {item.sku}: {', '.join(parts)}, so {left} "
        f"{'is' if left == 1 else 'are'} available to reship; {then}"
    )


def _by_group(lines: Sequence[ReshipLine]) -> dict[str, list[ReshipLine]]:
    groups: dict[str, list[ReshipLine]] = defaultdict(list)
    for line in lines:
        groups[line.delivery_group_summary_id].append(line)
    return dict(groups)


def _job_payload(
    reship: SubmittedReship, group_id: str, lines: Sequence[ReshipLine]
) -> dict[str, Any]:
    return {
        "reship_id": reship.reship_id,
        "order_summary_id": reship.order_summary_id,
        "group_summary_id": group_id,
        "reason": reship.reason.value,
        "lines": [
            {
                "order_item_summary_id": ln.order_item_summary_id,
                "sku": ln.sku,
                "quantity": ln.quantity,
            }
            for ln in lines
        ],
    }


def _reshipped_event(reship: SubmittedReship) -> DomainEvent:
    return DomainEvent(
        RESHIPPED_EVENT,
        "order_summary",
        reship.order_summary_id,
        {
            "order_summary_id": reship.order_summary_id,
            "reship_id": reship.reship_id,
            "reason": reship.reason.value,
            "note": reship.note,
            "items": [reship_line_out(ln) for ln in reship.lines],
        },
        reship.order_summary_id,
    )


def reship_line_out(line: ReshipLine) -> dict[str, Any]:
    """A reship line as its event and its answer (schemas.reships.ReshipLineOut) show it."""
    return {
        "order_item_summary_id": line.order_item_summary_id,
        "sku": line.sku,
        "quantity": line.quantity,
        "reason": line.reason,
    }


# --- routing the replacement units (the job) ----------------------------------------------


def route_reship(
    session: Session, outbox: Outbox, payload: Mapping[str, Any], *, now: datetime
) -> RouteOutcome:
    """Route one delivery group's replacement units of a reship, in the payload's round (the
    module docstring). Idempotent: the round's fulfillment orders, once made, are found and
    nothing more is."""
    reship_id, group_id = str(payload["reship_id"]), str(payload["group_summary_id"])
    round = _round(payload)
    found = routing_repo.lock_group_summary(session, group_id)
    if found is None:
        return RouteOutcome(RouteStatus.NOTHING_TO_ROUTE, reason="no such delivery group")
    group, summary = found
    fulfillment_orders = routing_repo.group_fulfillment_orders(session, group.id)
    done = _reship_fulfillment_orders(session, fulfillment_orders, reship_id, round)
    if done:
        return RouteOutcome(RouteStatus.ALREADY_ROUTED, tuple(done))
    units = {str(ln["order_item_summary_id"]): int(ln["quantity"]) for ln in payload["lines"]}
    items = [i for i in summary.items if i.id in units]
    wanted: dict[str, int] = defaultdict(int)
    for item in items:
        wanted[item.sku] += units[item.id]
    _, locations, result = plan_route(
        session,
        summary,
        group,
        wanted,
        {},
        rejected_locations(fulfillment_orders),  # a rejected reship FO's location too
        allow_partial=False,  # a reship ships whole: no replacement waits in pieces
    )
    if not result.complete or not result.allocations:
        return _no_route(session, outbox, summary, group, payload, result.reason, result.shortfall)
    plan = plan_stock({}, result.allocations, complete=True)  # every unit: a fresh hold
    session.flush()
    try:
        with session.begin_nested():
            held_in = hold_stock(
                session,
                outbox,
                None,
                plan,
                order_summary_id=summary.id,
                fresh_key=lambda location_id: reservation_key(reship_id, location_id, round),
            )
    except InsufficientStock as exc:
        return RouteOutcome(RouteStatus.RACED, reason=f"stock moved while routing: {exc.detail}")
    again = f", round {round} after a rejection" if round != FIRST_ROUND else ""
    why = f"reship {reship_id} ({payload.get('reason', 'other')}{again}): {result.reason}"
    routed = replace(result, reason=why)
    created = create_fulfillment_orders(
        session,
        summary,
        group,
        items,
        routed,
        dict(held_in),
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
            DomainEvent(
                "order_summary.reship_routed",
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
            ),
        ],
    )
    return RouteOutcome(RouteStatus.ROUTED, fo_ids, result.reason)


def _reship_fulfillment_orders(
    session: Session, fulfillment_orders: Sequence[m.FulfillmentOrder], reship_id: str, round: int
) -> list[str]:
    """The group's fulfillment orders this round of the reship made: those holding the
    round's reservation at their location (an earlier round's, rejected or not, never match)."""
    reship_fos = [fo for fo in fulfillment_orders if fo.type == RESHIP and fo.reservation_id]
    if not reship_fos:
        return []
    keys = _reservation_keys(session, [str(fo.reservation_id) for fo in reship_fos])
    return [
        fo.id
        for fo in reship_fos
        if keys.get(str(fo.reservation_id)) == reservation_key(reship_id, fo.location_id, round)
    ]


def _reservation_keys(session: Session, reservation_ids: Sequence[str]) -> dict[str, str]:
    """Reservation id → idempotency key, of those the system holds."""
    rows = session.execute(
        select(m.Reservation.id, m.Reservation.idempotency_key).where(
            m.Reservation.id.in_(reservation_ids), m.Reservation.owner == SYSTEM_OWNER
        )
    )
    return {reservation_id: key for reservation_id, key in rows}


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
        dedupe_key=exception_key(group.id, reship_id, _round(payload)),
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
        str(payload["group_summary_id"]), str(payload["reship_id"]), _round(payload)
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


# --- routing again after a rejection ------------------------------------------------------


def reship_consumers(outbox: Outbox) -> list[Consumer]:
    return [Consumer("reships-rejected", ("fulfillment_order.rejected",), on_rejected(outbox))]


def on_rejected(outbox: Outbox) -> Handler:
    """A location rejected a reship fulfillment order: route its unshipped units again."""

    def handle(session: Session, event: m.Event) -> None:
        fo = fulfillment.get_fulfillment_order(session, event.aggregate_id)
        if fo.type != RESHIP:  # ordered units are routing's to route
            return
        reroute_after_rejection(session, outbox, fo, reason=str(event.payload["reason"]))

    return handle


def reroute_after_rejection(
    session: Session, outbox: Outbox, fo: m.FulfillmentOrder, *, reason: str
) -> int:
    """Queue the reship job again for the unshipped units of a REJECTED reship fulfillment
    order, in a new round of its reship (the module docstring) that leaves out the location
    (and every other that rejected one of the group's fulfillment orders). Call it after the
    rejection is stored (status REJECTED, the reservation given back), in the same
    transaction. Returns the round queued; emits `order_summary.reship_reroute_requested`."""
    reship_id = _reship_of(session, fo)
    round = FIRST_ROUND + _rejected(session, fo.order_summary_id, reship_id)
    lines = [
        {"order_item_summary_id": ln.order_item_summary_id, "sku": ln.sku, "quantity": units}
        for ln in fo.lines
        if (units := ln.quantity - ln.shipped) > 0
    ]
    payload = {
        "reship_id": reship_id,
        "order_summary_id": fo.order_summary_id,
        "group_summary_id": fo.delivery_group_summary_id,
        "reason": _first_reason(session, reship_id, fo.delivery_group_summary_id),
        "round": round,
        "lines": lines,
    }
    enqueue(session, RESHIP_JOB, job_key(payload), payload)
    outbox.record(
        session,
        [
            DomainEvent(
                "order_summary.reship_reroute_requested",
                "order_summary",
                fo.order_summary_id,
                {
                    "order_summary_id": fo.order_summary_id,
                    "reship_id": reship_id,
                    "round": round,
                    "delivery_group_summary_id": fo.delivery_group_summary_id,
                    "rejected_fulfillment_order_id": fo.id,
                    "location_id": fo.location_id,
                    "reason": reason,
                    "lines": lines,
                },
                fo.order_summary_id,
            )
        ],
    )
    return round


def _reship_of(session: Session, fo: m.FulfillmentOrder) -> str:
    """The reship a reship fulfillment order sends, read from its reservation's key."""
    key = ""
    if fo.reservation_id is not None:
        key = _reservation_keys(session, [fo.reservation_id]).get(fo.reservation_id, "")
    if not key.startswith(_RESERVATION_PREFIX):
        raise ReshipNotAllowed(
            f"fulfillment order {fo.id} holds no reship reservation, so its replacement units "
            "cannot be routed again; cancel its lines and reship the units anew"
        )
    return key.removeprefix(_RESERVATION_PREFIX).split(":", 1)[0]


def _rejected(session: Session, summary_id: str, reship_id: str) -> int:
    """How many fulfillment orders of the reship (any group, any round) were rejected."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(m.FulfillmentOrder)
            .join(m.Reservation, m.Reservation.id == m.FulfillmentOrder.reservation_id)
            .where(
                m.FulfillmentOrder.order_summary_id == summary_id,
                m.FulfillmentOrder.type == RESHIP,
                m.FulfillmentOrder.status == FulfillmentOrderStatus.REJECTED.value,
                m.Reservation.owner == SYSTEM_OWNER,
                m.Reservation.idempotency_key.startswith(
                    f"{_RESERVATION_PREFIX}{reship_id}:", autoescape=True
                ),
            )
        )
        or 0
    )


def _first_reason(session: Session, reship_id: str, group_id: str) -> str:
    """The reship's reason code, as its first job for the group carried it."""
    payload = session.scalar(
        select(m.Job.payload).where(m.Job.dedupe_key == reship_job_key(reship_id, group_id))
    )
    reason = (payload or {}).get("reason")
    return str(reason) if reason else ReshipReason.OTHER.value

"""Carrying out a routing run's plan (docs/routing-runs.md), group by group, each in its own
transaction.

For each group whose plan differs from what it has: lock its order summary (the lock every
change to an order's counters takes first, as routing does), re-read the group and skip it
if anything changed since the run read it (its fingerprint), or if it is now held or
gated. Otherwise cancel its ALLOCATED fulfillment orders (`cancel_lines`: the items'
allocated counters go down and their units go back to stock, with the usual events), hold
the planned units where they ship from (the group's own units first, then fresh
reservations, the same stock moves as a routing round: routing/stock.py) and write the new
round's fulfillment orders and events (`record_placement`). Stock is row-locked in the
same order routing takes it, so nothing is ever oversold: a unit another transaction took
meanwhile makes the hold fail, and the whole group's transaction rolls back.

A group whose planned stock is still held by another group of the run (which gives it up
only when its own move is applied) is tried again after the others, pass after pass while
passes make progress. Groups still blocked then trade stock with each other (A takes B's
unit, B takes A's): they are moved together in one transaction — all their fulfillment
orders canceled first, then all placed — or, if even that fails, skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.repositories import routing as routing_repo
from openoms.adapters.db.repositories import routing_runs as repo
from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.domain.inventory import InsufficientStock
from openoms.domain.routing import Allocation, RoutingResult
from openoms.domain.routing.batch import GroupPlan
from openoms.services.fulfillment import cancel_lines
from openoms.services.orders import (
    SYSTEM_OWNER,
    channel_policy,
    group_reservation_key,
    is_held,
    routing_gates,
)
from openoms.services.routing.route import Placement, record_placement
from openoms.services.routing.runs import (
    Planned,
    RunScope,
    Weighed,
    fingerprint,
    movable_orders,
)
from openoms.services.routing.stock import hold_stock, own_units, plan_stock, rejected_holds

MAX_PASSES = 5


class _Skip(Exception):
    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class _Blocked(Exception):
    """The planned stock is not free yet: roll back and try again in a later pass."""


def apply_run(db: Database, outbox: Outbox, planned: Planned, now: datetime) -> tuple[int, int]:
    """Apply the plan; record each group's outcome and the run's counts. Returns (moved,
    skipped)."""
    todo = {
        w.group_id: (w, p)
        for w, p in zip(planned.weighed, planned.plan.groups, strict=True)
        if p.changed
    }
    outcomes: dict[str, tuple[str, str | None]] = {}
    for _ in range(MAX_PASSES):
        blocked = _pass(db, outbox, planned.run_id, todo, now, outcomes)
        progress = len(blocked) < len(todo)
        todo = blocked
        if not todo or not progress:
            break
    if todo:  # groups that trade stock with each other: moved together, or not at all
        try:
            with db.transaction() as session:
                ordered = sorted(todo.values(), key=lambda wp: wp[0].summary_id)
                released = [_release(session, outbox, w) for w, _ in ordered]
                for ctx, (w, p) in zip(released, ordered, strict=True):
                    _place(session, outbox, planned.run_id, ctx, w, p, now)
            outcomes.update(
                {gid: ("moved", "moved with the groups it traded stock with") for gid in todo}
            )
        except _Skip as skip:
            outcomes.update(
                {gid: ("skipped", f"moved together with others: {skip.why}") for gid in todo}
            )
        except _Blocked:
            why = "the stock it was planned on was not free"
            outcomes.update({gid: ("skipped", why) for gid in todo})
    return _finish(db, planned.run_id, outcomes, now)


def _pass(
    db: Database,
    outbox: Outbox,
    run_id: str,
    todo: Mapping[str, tuple[Weighed, GroupPlan]],
    now: datetime,
    outcomes: dict[str, tuple[str, str | None]],
) -> dict[str, tuple[Weighed, GroupPlan]]:
    """Each group in its own transaction; returns those whose stock was not free yet."""
    blocked: dict[str, tuple[Weighed, GroupPlan]] = {}
    for group_id, (w, p) in todo.items():
        try:
            with db.transaction() as session:
                ctx = _release(session, outbox, w)
                _place(session, outbox, run_id, ctx, w, p, now)
            outcomes[group_id] = ("moved", None)
        except _Skip as skip:
            outcomes[group_id] = ("skipped", skip.why)
        except _Blocked:
            blocked[group_id] = (w, p)
    return blocked


def _finish(
    db: Database, run_id: str, outcomes: Mapping[str, tuple[str, str | None]], now: datetime
) -> tuple[int, int]:
    moved = sum(1 for o, _ in outcomes.values() if o == "moved")
    skipped = sum(1 for o, _ in outcomes.values() if o == "skipped")
    with db.transaction() as session:
        run = repo.get_run(session, run_id)
        assert run is not None
        for row in repo.run_groups(session, run_id):
            if row.delivery_group_summary_id in outcomes:
                row.outcome, row.reason = outcomes[row.delivery_group_summary_id]
        run.status = "applied"
        run.applied = moved
        run.skipped = skipped
        run.finished_at = now
    return moved, skipped


@dataclass(frozen=True, slots=True)
class _Released:
    summary: m.OrderSummary
    group: m.OrderDeliveryGroupSummary


def _release(session: Session, outbox: Outbox, w: Weighed) -> _Released:
    """Lock the group's order, check it is as the run read it, cancel its ALLOCATED
    fulfillment orders (their units go back to stock)."""
    found = routing_repo.lock_group_summary(session, w.group_id)
    if found is None:
        raise _Skip("the group is gone")
    group, summary = found
    if routing_repo.any_job_unfinished(session, routing_gates(summary.id)):
        raise _Skip("the order is waiting for a check or a flow")
    if is_held(session, summary.id):
        raise _Skip("the order is on hold")
    fos = routing_repo.group_fulfillment_orders(session, group.id)
    if fingerprint(summary, group.id, fos) != w.fingerprint:
        raise _Skip("the group changed since the run read it")
    scope = RunScope.UNRELEASED if w.movable else RunScope.WAITING
    for fo in movable_orders(fos, scope) or ():
        lines = [(ln.id, ln.quantity - ln.shipped) for ln in fo.lines if ln.quantity > ln.shipped]
        if lines:
            cancel_lines(session, outbox, fo.id, lines)
    return _Released(summary, group)


def _place(
    session: Session,
    outbox: Outbox,
    run_id: str,
    ctx: _Released,
    w: Weighed,
    p: GroupPlan,
    now: datetime,
) -> None:
    """Hold the planned units where they ship from and write the new round."""
    # Read again (locked already): canceling fulfillment orders refreshed the items.
    found = routing_repo.lock_group_summary(session, ctx.group.id)
    assert found is not None
    group, summary = found
    fos = routing_repo.group_fulfillment_orders(session, group.id)
    policy = channel_policy(session, summary.channel)
    key = group_reservation_key(summary.id, group.ref)
    reservation = routing_repo.lock_reservation(session, SYSTEM_OWNER, key)
    own = own_units(reservation, fos)
    result = _result(run_id, p, w.batch.need)
    stock = plan_stock(own, result.allocations, complete=result.complete)
    stale = routing_repo.lock_reservations(session, rejected_holds(fos, reservation))
    round_ = routing_repo.last_round(session, group.id) + 1
    try:
        with session.begin_nested():
            fresh = hold_stock(
                session,
                outbox,
                reservation,
                stock,
                order_summary_id=summary.id,
                fresh_key=lambda location_id: f"{key}:round:{round_}:{location_id}",
                stale=stale,
            )
    except InsufficientStock as exc:
        raise _Blocked() from exc
    held_in = {
        loc: fresh.get(loc, reservation.id if reservation else None) for loc in result.locations
    }
    locations = routing_repo.ship_locations(session, policy.location_group_id)
    placement = Placement(
        policy=policy,
        reservation=reservation,
        own=own,
        locations={loc.id: loc for loc in locations},
        result=result,
        held_in=held_in,
    )
    summary.routing_attempts += 1
    record_placement(session, outbox, summary, group, placement, round=round_, now=now)


def _result(run_id: str, p: GroupPlan, need: Mapping[str, int]) -> RoutingResult:
    placed: dict[str, int] = {}
    for (_, sku), q in p.units.items():
        placed[sku] = placed.get(sku, 0) + q
    shortfall = {sku: q - placed.get(sku, 0) for sku, q in need.items() if q > placed.get(sku, 0)}
    locations = tuple(dict.fromkeys(loc for loc, _ in p.units))
    return RoutingResult(
        allocations=tuple(Allocation(loc, sku, q) for (loc, sku), q in p.units.items()),
        locations=locations,
        complete=not shortfall,
        shortfall=shortfall,
        reason=(
            f"routing run {run_id}: {p.shipments} shipment(s), cost {p.cost} "
            f"(was {p.current_shipments}, cost {p.current_cost})"
        ),
        strategy="routing_run",
    )

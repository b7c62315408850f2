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

The groups are moved in an order where each finds its planned stock free (`apply_order`
replays the plan's stock in memory): a chain from its free end, each group alone; groups
that wait only for each other's stock (A takes B's unit, B takes A's) together in one
transaction, all their fulfillment orders canceled first, then all placed. A group whose
stock is still not free (taken meanwhile) is tried again after the others, pass after pass
while passes make progress, then skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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
    Cell,
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
    late: dict[str, tuple[Weighed, GroupPlan]] = {}  # blocked although the order said free
    for step in apply_order(planned, set(todo)):
        members = {gid: todo[gid] for gid in step}
        if len(members) == 1:
            late.update(_pass(db, outbox, planned.run_id, members, now, outcomes))
        else:
            late.update(_together(db, outbox, planned.run_id, members, now, outcomes))
    todo = late
    for _ in range(MAX_PASSES):  # what the order got wrong (stock taken meanwhile): again
        if not todo:
            break
        blocked = _pass(db, outbox, planned.run_id, todo, now, outcomes)
        progress = len(blocked) < len(todo)
        todo = blocked
        if not progress:
            break
    if todo:
        _together(db, outbox, planned.run_id, todo, now, outcomes, last=True)
    return _finish(db, planned.run_id, outcomes, now)


def _together(
    db: Database,
    outbox: Outbox,
    run_id: str,
    members: Mapping[str, tuple[Weighed, GroupPlan]],
    now: datetime,
    outcomes: dict[str, tuple[str, str | None]],
    *,
    last: bool = False,
) -> dict[str, tuple[Weighed, GroupPlan]]:
    """Groups that trade stock with each other, moved in one transaction (every one
    released first, then every one placed) or not at all. Returns them when their stock
    was not free (to try again later), unless this is the `last` try."""
    at = ""  # the group being released or placed
    try:
        with db.transaction() as session:
            ordered = sorted(members.values(), key=lambda wp: wp[0].summary_id)
            released = []
            for w, _ in ordered:
                at = w.group_id
                released.append(_release(session, outbox, w))
            for ctx, (w, p) in zip(released, ordered, strict=True):
                at = w.group_id
                _place(session, outbox, run_id, ctx, w, p, now)
        outcomes.update(
            {gid: ("moved", "moved with the groups it traded stock with") for gid in members}
        )
    except _Skip as skip:
        why = f"it trades stock with a group that was skipped: {skip.why}"
        outcomes.update({gid: ("skipped", skip.why if gid == at else why) for gid in members})
    except _Blocked:
        if not last:
            return dict(members)
        why = "the stock it was planned on was not free"
        outcomes.update({gid: ("skipped", why) for gid in members})
    return {}


def apply_order(planned: Planned, todo: set[str]) -> list[list[str]]:
    """The order to move the changed groups in so that each finds its stock free: the
    plan's stock is replayed in memory (free stock, then what each move gives back and
    takes). A group whose stock is free goes alone; when none is, the groups that wait
    for each other's stock (a cycle of the "needs stock held by" graph, with nothing
    outside it to wait for) go together. Groups whose stock no order frees come last,
    alone (they will be tried and skipped if it is still not free)."""
    weighed = {w.group_id: w for w in planned.weighed}
    plans = {p.key: p for p in planned.plan.groups}
    free: dict[Cell, int] = dict(planned.pool)
    for w in planned.weighed:
        for units in (w.batch.current, w.own):
            for cell, q in units.items():
                free[cell] = free.get(cell, 0) - q
    delta: dict[str, dict[Cell, int]] = {}  # per group: + takes, - gives back
    for gid in todo:
        w, p = weighed[gid], plans[gid]
        change: dict[Cell, int] = {}
        for cell, q in p.units.items():
            change[cell] = change.get(cell, 0) + q
        gives = [w.batch.current]
        if p.placed == sum(w.batch.need.values()):  # placed in full: own units left go back
            gives.append(w.own)
        else:  # own units stay held where the plan does not use them
            for cell, q in w.own.items():
                change[cell] = change.get(cell, 0) + max(0, q - p.units.get(cell, 0))
            gives.append(w.own)
        for units in gives:
            for cell, q in units.items():
                change[cell] = change.get(cell, 0) - q
        delta[gid] = {cell: q for cell, q in change.items() if q}

    def fits(members: Sequence[str]) -> bool:
        total: dict[Cell, int] = {}
        for gid in members:
            for cell, q in delta[gid].items():
                total[cell] = total.get(cell, 0) + q
        return all(free.get(cell, 0) >= q for cell, q in total.items() if q > 0)

    def take(members: Sequence[str]) -> None:
        for gid in members:
            for cell, q in delta[gid].items():
                free[cell] = free.get(cell, 0) - q
            left.discard(gid)

    steps: list[list[str]] = []
    left = set(todo)
    while left:
        progress = False
        for gid in sorted(left):
            if fits([gid]):
                take([gid])
                steps.append([gid])
                progress = True
        if progress:
            continue
        cycle = _waiting_cycle(left, delta, free, fits)
        if cycle is None:
            break
        take(cycle)
        steps.append(cycle)
    steps += [[gid] for gid in sorted(left)]
    return steps


def _waiting_cycle(
    left: set[str],
    delta: Mapping[str, Mapping[Cell, int]],
    free: Mapping[Cell, int],
    fits: Callable[[Sequence[str]], bool],
) -> list[str] | None:
    """The smallest set of groups that wait only for each other's stock and fit together:
    a strongly connected component of "g needs a (location, SKU) h gives back" with no edge
    leaving it, tried smallest first."""
    givers: dict[Cell, list[str]] = {}
    for gid in sorted(left):
        for cell, q in delta[gid].items():
            if q < 0:
                givers.setdefault(cell, []).append(gid)
    edges = {
        gid: sorted(
            {
                h
                for cell, q in delta[gid].items()
                if q > 0 and free.get(cell, 0) < q
                for h in givers.get(cell, ())
                if h != gid
            }
        )
        for gid in sorted(left)
    }
    comps = _strongly_connected(edges)
    comp_of = {gid: k for k, comp in enumerate(comps) for gid in comp}
    closed = [
        comp
        for k, comp in enumerate(comps)
        if len(comp) > 1 and all(comp_of[h] == k for gid in comp for h in edges[gid])
    ]
    for comp in sorted(closed, key=lambda c: (len(c), c)):
        if fits(comp):
            return comp
    return None


def _strongly_connected(edges: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, iteratively (each sorted)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    for root in edges:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on.add(node)
            succ = edges[node]
            if i < len(succ):
                work.append((node, i + 1))
                nxt = succ[i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on:
                    low[node] = min(low[node], index[nxt])
                continue
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    top = stack.pop()
                    on.discard(top)
                    comp.append(top)
                    if top == node:
                        break
                out.append(sorted(comp))
    return out


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

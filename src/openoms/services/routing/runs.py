"""Routing runs (docs/routing-runs.md): place a channel's waiting delivery groups — and,
with scope `unreleased`, those whose fulfillment orders are still ALLOCATED — together, so
scarce stock goes where it saves shipments, and report the saving.

A run reads the groups, their units and what they hold, plans them with the batch model
(domain/routing/batch/), compares the plan with the current assignment and with routing
each group on its own, and records all of it (`routing_runs`, `routing_run_groups`). A dry
run stops there: it writes its record and nothing else (no stock, reservation, fulfillment
order or event). An applied run then carries out the plan group by group, each in its own
transaction (routing/run_apply.py), skipping any group that changed since it was read.
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.ids import new_id
from openoms.adapters.db.repositories import routing as routing_repo
from openoms.adapters.db.repositories import routing_runs as repo
from openoms.adapters.db.session import Database
from openoms.domain.errors import NotFound, ValidationFailed
from openoms.domain.fulfillment import FulfillmentOrderStatus
from openoms.domain.order import ItemType
from openoms.domain.routing import ShippingCost
from openoms.domain.routing.batch import (
    BatchGroup,
    BatchPlan,
    Totals,
    assignment_cost,
    one_at_a_time,
    plan_batch,
    totals,
)
from openoms.services.orders import (
    SYSTEM_OWNER,
    ChannelPolicy,
    ShortagePolicy,
    channel_policy,
    group_reservation_key,
    item_quantities,
    routing_gates,
    shipping_cost,
)
from openoms.services.routing.lookahead import Forecast, forecast
from openoms.services.routing.plan import rejected_locations
from openoms.services.routing.stock import own_units

DEFAULT_BUDGET_MS = 5000
Cell = tuple[str, str]
_CLOSED = frozenset(
    {
        FulfillmentOrderStatus.REJECTED.value,
        FulfillmentOrderStatus.CANCELED.value,
        FulfillmentOrderStatus.FULFILLED.value,
    }
)


class RunScope(StrEnum):
    WAITING = "waiting"  # groups with units not placed: new, backordered, rejected, held
    UNRELEASED = "unreleased"  # also groups whose fulfillment orders are still ALLOCATED


class RoutingRunNotFound(NotFound):
    code = "routing_run_not_found"
    title = "Routing run not found"


class RunBudgetInvalid(ValidationFailed):
    code = "routing_run_budget_invalid"
    title = "Routing run time budget is not valid"


@dataclass(frozen=True, slots=True)
class RunRequest:
    channel: str
    scope: RunScope = RunScope.WAITING
    dry_run: bool = True
    trigger: str = "api"
    requested_by: str = ""
    tick_at: datetime | None = None
    time_budget_ms: int = DEFAULT_BUDGET_MS


@dataclass(slots=True)
class Weighed:
    """One group as the run read it."""

    group_id: str
    summary_id: str
    fingerprint: str
    batch: BatchGroup
    movable: tuple[str, ...]  # its ALLOCATED fulfillment orders the run may cancel
    locations: dict[str, str] = field(default_factory=dict)  # location id → ref
    # Units its capture reservation holds that no fulfillment order uses (counted in the pool).
    own: dict[Cell, int] = field(default_factory=dict)


def fingerprint(
    summary: m.OrderSummary, group_id: str, fulfillment_orders: Sequence[m.FulfillmentOrder]
) -> str:
    """What must not change between a run's reading and its applying of a group: the
    group's items' counters and its fulfillment orders' states and quantities."""
    parts: list[Any] = [summary.lifecycle, summary.status]
    for i in sorted(summary.items, key=lambda i: i.id):
        if i.delivery_group_summary_id == group_id:
            q = item_quantities(i)
            parts.append((i.id, q.ordered, q.canceled, q.allocated, q.fulfilled))
    for fo in sorted(fulfillment_orders, key=lambda fo: fo.id):
        lines = sorted((ln.id, ln.quantity, ln.shipped) for ln in fo.lines)
        parts.append((fo.id, fo.status, fo.reservation_id, lines))
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def open_units(summary: m.OrderSummary, group_id: str) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for i in summary.items:
        if i.delivery_group_summary_id == group_id and i.type == ItemType.PRODUCT.value:
            atf = item_quantities(i).available_to_fulfill
            if atf > 0:
                out[i.sku] += atf
    return dict(out)


def movable_orders(
    fulfillment_orders: Sequence[m.FulfillmentOrder], scope: RunScope
) -> list[m.FulfillmentOrder] | None:
    """The group's live fulfillment orders when the run may move them all (scope
    `unreleased`, every one ALLOCATED, standard, nothing shipped), else None."""
    live = [fo for fo in fulfillment_orders if fo.status not in _CLOSED]
    if scope is not RunScope.UNRELEASED or not live:
        return None
    for fo in live:
        if (
            fo.status != FulfillmentOrderStatus.ALLOCATED.value
            or fo.type != "standard"
            or any(ln.shipped for ln in fo.lines)
        ):
            return None
    return live


def gather(
    session: Session, policy: ChannelPolicy, scope: RunScope
) -> tuple[list[Weighed], dict[Cell, int]]:
    """The groups a run weighs and the stock pool (free stock plus what they hold)."""
    rows = repo.candidate_groups(
        session, policy.channel, allocated_too=scope is RunScope.UNRELEASED
    )
    summary_ids = {s.id for _, s in rows}
    held = repo.held_summaries(session, summary_ids)
    gate_keys = {key: sid for sid in summary_ids for key in routing_gates(sid)}
    gated = {gate_keys[k] for k in repo.unfinished_jobs(session, gate_keys)}
    rows = [(g, s) for g, s in rows if s.id not in held and s.id not in gated]
    fos_of = repo.fulfillment_orders_of(session, [g.id for g, _ in rows])
    keys = {group_reservation_key(s.id, g.ref): g.id for g, s in rows}
    reservations = repo.reservations_by_key(session, SYSTEM_OWNER, keys)
    locations = routing_repo.ship_locations(session, policy.location_group_id)
    pool: dict[Cell, int] = defaultdict(int)
    weighed: list[Weighed] = []
    for g, s in rows:
        fos = fos_of[g.id]
        found = _weigh(policy, scope, g, s, fos, locations)
        if found is None:
            continue
        weighed.append(found)
        reservation = reservations.get(group_reservation_key(s.id, g.ref))
        for cell, q in own_units(reservation, fos).items():
            if cell[0] in found.batch.rates:
                pool[cell] += q
                found.own[cell] = q
        for cell, q in found.batch.current.items():
            pool[cell] += q
    skus = {sku for w in weighed for sku in w.batch.need}
    free = routing_repo.available_to_fulfill(session, [loc.id for loc in locations], skus)
    for cell, q in free.items():
        pool[cell] += q
    return weighed, dict(pool)


def _weigh(
    policy: ChannelPolicy,
    scope: RunScope,
    group: m.OrderDeliveryGroupSummary,
    summary: m.OrderSummary,
    fos: Sequence[m.FulfillmentOrder],
    locations: Sequence[m.Location],
) -> Weighed | None:
    need = open_units(summary, group.id)
    current: dict[Cell, int] = defaultdict(int)
    movable = movable_orders(fos, scope)
    for fo in movable or ():
        for ln in fo.lines:
            if ln.quantity > 0:
                current[fo.location_id, ln.sku] += ln.quantity
                need[ln.sku] = need.get(ln.sku, 0) + ln.quantity
    if not need:
        return None
    rejected = rejected_locations(fos)
    usable = [loc for loc in locations if loc.id not in rejected]
    known = [shipping_cost(loc.shipping_costs, group.country, summary.currency) for loc in usable]
    worst = ShippingCost(
        max((c.per_shipment for c in known if c), default=0),
        max((c.per_unit for c in known if c), default=0),
    )
    rates = {loc.id: c or worst for loc, c in zip(usable, known, strict=True)}
    if any(cell[0] not in rates for cell in current):
        return None  # placed where it may no longer ship from: leave it to routing
    placed, total = sum(current.values()), sum(need.values())
    partial = policy.shortage_policy is ShortagePolicy.BACKORDER or 0 < placed < total
    ships_now = len({loc for loc, _ in current})
    return Weighed(
        group_id=group.id,
        summary_id=summary.id,
        fingerprint=fingerprint(summary, group.id, fos),
        batch=BatchGroup(
            key=group.id,
            need=need,
            current=dict(current),
            rates=rates,
            max_locations=max(policy.max_splits + 1, ships_now),
            allow_partial=partial,
        ),
        movable=tuple(fo.id for fo in movable or ()),
        locations={loc.id: loc.ref for loc in usable},
    )


@dataclass(frozen=True, slots=True)
class Planned:
    run_id: str
    weighed: list[Weighed]
    plan: BatchPlan
    pool: dict[Cell, int] = field(default_factory=dict)  # the stock the plan shared out


def plan_run(db: Database, request: RunRequest, now: datetime) -> Planned:
    """Read, plan and record a run (a dry run is then finished)."""
    if not 1 <= request.time_budget_ms <= 60_000:
        raise RunBudgetInvalid("time_budget_ms must be between 1 and 60000", field="time_budget_ms")
    with db.transaction() as session:
        policy = channel_policy(session, request.channel)
        weighed, pool = gather(session, policy, request.scope)
        ahead, bidding = _look_ahead(session, policy, weighed, pool, now)
        started = time.perf_counter()
        groups = [w.batch for w in weighed]
        plan = plan_batch(
            groups,
            bidding,
            time_budget_ms=request.time_budget_ms,
            clock=time.perf_counter,
            expected=ahead.expected if ahead else (),
        )
        solve_ms = round((time.perf_counter() - started) * 1000)
        alone = one_at_a_time(groups, pool)
        run, rows = _record(request, weighed, plan, alone, solve_ms, now)
        if ahead is not None:
            run.totals = {**run.totals, "look_ahead": ahead.record()}
        repo.add_run(session, run, rows)
    return Planned(run.id, weighed, plan, pool)


def _look_ahead(
    session: Session,
    policy: ChannelPolicy,
    weighed: Sequence[Weighed],
    pool: Mapping[Cell, int],
    now: datetime,
) -> tuple[Forecast | None, dict[Cell, int]]:
    """The channel's expected demand (routing/lookahead.py) when its look-ahead is on, and
    the pool it bids in: the run's pool plus the free stock of the SKUs only it asks for."""
    if not policy.routing_lookahead_days or not weighed:
        return None, dict(pool)
    locations = routing_repo.ship_locations(session, policy.location_group_id)
    ahead = forecast(session, policy, locations, now, policy.routing_lookahead_days)
    known = {sku for w in weighed for sku in w.batch.need}
    extra = {sku for e in ahead.expected for sku in e.need} - known
    bidding = dict(pool)
    if extra:
        free = routing_repo.available_to_fulfill(session, [loc.id for loc in locations], extra)
        for cell, q in free.items():
            if q > 0:
                bidding[cell] = bidding.get(cell, 0) + q
    return ahead, bidding


def _record(
    request: RunRequest,
    weighed: Sequence[Weighed],
    plan: BatchPlan,
    alone: Sequence[Mapping[Cell, int]],
    solve_ms: int,
    now: datetime,
) -> tuple[m.RoutingRun, list[m.RoutingRunGroup]]:
    rates = [w.batch.rates for w in weighed]
    figures = {
        "current": _totals(totals([w.batch.current for w in weighed], rates)),
        "one_at_a_time": _totals(totals(list(alone), rates)),
        "plan": _totals(totals([p.units for p in plan.groups], rates)),
    }
    run = m.RoutingRun(
        id=new_id("rrun"),
        channel=request.channel,
        scope=request.scope.value,
        dry_run=request.dry_run,
        trigger=request.trigger,
        requested_by=request.requested_by[:200],
        tick_at=request.tick_at,
        status="planned" if request.dry_run else "applying",
        solve_status=plan.status,
        reason=plan.reason,
        solve_ms=solve_ms,
        groups=len(weighed),
        applied=0,
        skipped=0,
        totals=figures,
        created_at=now,
        finished_at=now if request.dry_run else None,
    )
    rows = []
    for w, p, a in zip(weighed, plan.groups, alone, strict=True):
        rows.append(
            m.RoutingRunGroup(
                run_id=run.id,
                order_summary_id=w.summary_id,
                delivery_group_summary_id=w.group_id,
                outcome="planned" if p.changed else "unchanged",
                reason=None,
                current=_placements(w.batch.current, w.locations),
                planned=_placements(p.units, w.locations),
                figures={
                    "current": _group_figures(w.batch.current, w.batch.rates),
                    "one_at_a_time": _group_figures(a, w.batch.rates),
                    "plan": _group_figures(p.units, w.batch.rates),
                },
            )
        )
    return run, rows


def _totals(t: Totals) -> dict[str, int]:
    return {
        "groups": t.groups,
        "placed": t.placed,
        "shipments": t.shipments,
        "splits": t.splits,
        "cost": t.cost,
    }


def _group_figures(units: Mapping[Cell, int], rates: Mapping[str, ShippingCost]) -> dict[str, int]:
    used = {loc for (loc, _), q in units.items() if q > 0}
    return {
        "placed": sum(units.values()),
        "shipments": len(used),
        "splits": max(0, len(used) - 1),
        "cost": assignment_cost(units, rates),
    }


def _placements(units: Mapping[Cell, int], refs: Mapping[str, str]) -> list[dict[str, Any]]:
    return [
        {"location": refs.get(loc, loc), "location_id": loc, "sku": sku, "quantity": q}
        for (loc, sku), q in sorted(units.items())
        if q > 0
    ]


def get_run(session: Session, run_id: str) -> tuple[m.RoutingRun, list[m.RoutingRunGroup]]:
    """The run and its groups; RoutingRunNotFound when unknown."""
    run = repo.get_run(session, run_id)
    if run is None:
        raise RoutingRunNotFound(f"no routing run {run_id!r}", run_id=run_id)
    return run, repo.run_groups(session, run_id)


def list_runs(
    session: Session,
    channels: frozenset[str] | None,
    *,
    limit: int = 50,
    before: datetime | None = None,
) -> list[m.RoutingRun]:
    """Runs, newest first; only of `channels` when given."""
    return repo.list_runs(session, channels, limit, before)


def _saving(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    return {k: before[k] - after[k] for k in ("shipments", "splits", "cost")}


def run_view(
    run: m.RoutingRun, groups: Sequence[m.RoutingRunGroup] | None = None
) -> dict[str, Any]:
    """A run as the API and the console show it: its totals, its savings against the
    current assignment and against one-at-a-time routing, and (given) each group."""
    t = run.totals
    view: dict[str, Any] = {
        "id": run.id,
        "channel": run.channel,
        "scope": run.scope,
        "dry_run": run.dry_run,
        "trigger": run.trigger,
        "status": run.status,
        "solve_status": run.solve_status,
        "reason": run.reason,
        "solve_ms": run.solve_ms,
        "groups": run.groups,
        "applied": run.applied,
        "skipped": run.skipped,
        "totals": t,
        "savings": {
            "current": _saving(t["current"], t["plan"]),
            "one_at_a_time": _saving(t["one_at_a_time"], t["plan"]),
        },
        "created_at": run.created_at,
        "finished_at": run.finished_at,
        "tick_at": run.tick_at,
        "look_ahead": t.get("look_ahead"),
    }
    if groups is not None:
        view["group_outcomes"] = [
            {
                "order_summary_id": g.order_summary_id,
                "delivery_group_summary_id": g.delivery_group_summary_id,
                "outcome": g.outcome,
                "reason": g.reason,
                "current": g.current,
                "planned": g.planned,
                "figures": g.figures,
            }
            for g in groups
        ]
    return view

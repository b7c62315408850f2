"""Batch routing: a seeded day replayed with one-at-a-time routing and with periodic runs.

The day (bench/routing_day.py; `--day retail`, the default): N orders (default 2,000) of
1–6 lines from a retailer's day, shipped to six countries from 20 locations:

- a national DC (Germany) with the whole range of 400 SKUs, two regional DCs (France, Great
  Britain) with the core range (the 150 best sellers) and 17 stores, two to four a country,
  each with a random half of the 60 best sellers;
- Zipf-like popularity; SKUs in families of 8 (items bought together): an order's further
  lines come from its first line's family with probability 0.6 (`--affinity`);
- scarce stock: each SKU's stock is `--scarcity` (1.15) × its demand over the day, 40 % of
  a best seller's at the stores that carry it, the rest spread over the DCs that carry it;
- orders arriving on a retail profile (night trough, lunch and evening peaks), and the
  warehouse releasing them to picking in waves at 08:00, 12:00, 16:00 and 20:00 (`--waves`)
  of the orders captured 30 minutes before (`--cutoff`); the night's orders go in the next
  morning's first wave.

`--day uniform` is the first bench's day, kept for comparison: 4 DCs holding most of the
range and 16 sites holding a few SKUs each, orders arriving evenly, and (`--waves none`)
released every `--release-every` (60) minutes when captured more than `--release-after`
(120) minutes before.

Both replays go through the real services on a fresh database (a SQLite file; PostgreSQL
with --postgres): each order is captured (`capture_order`) and routed by the worker as
usual (`route_order`, the channel's fewest_splits). Released fulfillment orders become
ASSIGNED (picked, no longer movable). The second replay also makes an applied routing run of
scope `unreleased` every `--run-every` (5) minutes, so orders waiting to be picked are placed
again together (Xu, Allgor & Graves 2009's re-evaluation of assignments before picking).

Printed per replay: orders placed, shipments, splits, extra shipments caused by splits
(shipments − orders placed), shipping cost, and for the runs the solve time (median, max),
the groups moved and the planned moves skipped, with their reasons; then the share of
one-at-a-time's extra shipments the runs removed. Last, the solve time of one dry run over
N waiting orders (every order captured and left ALLOCATED). A `RESULT {json}` line per
figure set.

`--model-only` replays the same day without a database (bench/routing_model.py): the
domain's fewest_splits one order at a time, `plan_batch` every run, and with
`--hindsight-ms` the whole day planned at once; it prints how many orders no single
location could ever ship whole. `--lookahead-days N` adds a replay whose runs also weigh
expected orders (plan_batch's `expected`, docs/routing-runs.md#look-ahead) drawn from N
other days of the same shop (routing_day.history: the day's catalogue, other seeds; never
the replayed day's orders).

    .venv/bin/python bench/batch_routing.py [--orders 2000] [--seed 7] [--day retail|uniform]
        [--model-only [--hindsight-ms 30000] [--lookahead-days 3 [--lookahead-min-lines 2]]]
        [--postgres [URL]]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

import routing_model
from common import DEFAULT_POSTGRES_URL, PostgresBackend, SqliteBackend, machine
from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.domain.fulfillment import FulfillmentOrderStatus
from openoms.domain.inventory import LocationType
from openoms.domain.money import Money
from openoms.schemas.orders import OrderCreate
from openoms.services.fulfillment import change_status
from openoms.services.inventory import (
    Address,
    InventoryLine,
    LocationData,
    ShippingCost,
    apply_inventory_import,
    upsert_location,
)
from openoms.services.orders import ChannelData, ShortagePolicy, capture_order, upsert_channel
from openoms.services.routing import RunRequest, RunScope, run_routing
from openoms.worker.consumers import default_jobs, default_registry
from openoms.worker.runner import Worker
from routing_day import COUNTRIES, Day, history, make_day, rate, releases

CHANNEL = "bench-day"
WAVES = (8.0, 12.0, 16.0, 20.0)  # the retail day's warehouse release waves (hours)
# The simulated day starts tomorrow: jobs queued now are due on the day's clock.
DAY_START = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
ORDERED_AT = datetime.now(UTC).replace(microsecond=0)


def rates(lat: float, lon: float) -> tuple[ShippingCost, ...]:
    out = []
    for country in sorted(COUNTRIES):
        per_shipment, per_unit = rate(lat, lon, country)
        out.append(
            ShippingCost(
                country=country,
                per_shipment=Money(per_shipment, "EUR"),
                per_unit=Money(per_unit, "EUR"),
            )
        )
    return tuple(out)


def set_up(db: Database, outbox: Outbox, day: Day) -> None:
    with db.transaction() as session:
        for ref, (lat, lon, big) in day.sites.items():
            upsert_location(
                session,
                outbox,
                ref,
                LocationData(
                    name=ref,
                    type=LocationType.WAREHOUSE if big else LocationType.STORE,
                    address=Address(line1="1 Bench St", city=ref, country="DE", lat=lat, lon=lon),
                    can_ship=True,
                    can_pickup=False,
                    shipping_costs=rates(lat, lon),
                    groups=("online",),
                ),
            )
        upsert_channel(
            session,
            outbox,
            CHANNEL,
            ChannelData(
                location_group="online", shortage_policy=ShortagePolicy.BACKORDER, max_splits=2
            ),
        )
    records = [
        InventoryLine(line=n, location=loc, sku=sku, on_hand=q)
        for n, ((loc, sku), q) in enumerate(sorted(day.stock.items()), start=1)
    ]
    apply_inventory_import(db, outbox, records, mode="delta")


def payload(k: int, country: str, wanted: dict[str, int], at: datetime) -> dict[str, Any]:
    lat, lon = COUNTRIES[country]
    return {
        "channel": CHANNEL,
        "external_reference": f"DAY-{k:05d}",
        "currency": "EUR",
        "lifecycle": "MANAGED",
        "ordered_at": at.isoformat(),
        "customer": {"name": "Bench Customer", "email": "bench@example.com"},
        "delivery_groups": [
            {
                "ref": "home",
                "method": "ship",
                "recipient": {
                    "name": "Bench Customer",
                    "address": {
                        "line1": "1 Road",
                        "city": "Town",
                        "postal_code": "1000",
                        "country": country,
                        "lat": lat,
                        "lon": lon,
                    },
                },
            }
        ],
        "items": [
            {
                "sku": sku,
                "quantity": q,
                "unit_price": "10.00",
                "tax": "0.00",
                "delivery_group": "home",
            }
            for sku, q in sorted(wanted.items())
        ],
    }


class Clock:
    def __init__(self) -> None:
        self.now = DAY_START

    def __call__(self) -> datetime:
        return self.now


def drain(worker: Worker) -> None:
    while worker.run_once():
        pass


def release(db: Database, outbox: Outbox, captured: dict[str, float], before: float) -> int:
    """Release to the warehouse the ALLOCATED fulfillment orders of the orders captured
    before minute `before` (a run's moving a group does not restart its clock)."""
    with db.reading() as session:
        rows = session.execute(
            select(m.FulfillmentOrder.id, m.FulfillmentOrder.order_summary_id).where(
                m.FulfillmentOrder.status == FulfillmentOrderStatus.ALLOCATED.value
            )
        ).all()
    ids = [fo_id for fo_id, summary_id in rows if captured.get(summary_id, before) < before]
    for fo_id in ids:
        with db.transaction() as session:
            change_status(session, outbox, fo_id, FulfillmentOrderStatus.ASSIGNED)
    return len(ids)


def figures(db: Database) -> dict[str, int]:
    """Orders placed, shipments (live fulfillment orders), splits, cost."""
    with db.reading() as session:
        live = [
            FulfillmentOrderStatus.ALLOCATED.value,
            FulfillmentOrderStatus.ASSIGNED.value,
        ]
        per_order = session.execute(
            select(m.FulfillmentOrder.order_summary_id, func.count())
            .where(m.FulfillmentOrder.status.in_(live))
            .group_by(m.FulfillmentOrder.order_summary_id)
        ).all()
        summaries = session.execute(
            select(m.OrderSummary.id, m.OrderDeliveryGroupSummary.country).join(
                m.OrderDeliveryGroupSummary
            )
        ).all()
        lines = session.execute(
            select(
                m.FulfillmentOrder.order_summary_id,
                m.FulfillmentOrder.location_id,
                func.sum(m.FulfillmentOrderLineItem.quantity),
            )
            .join(m.FulfillmentOrderLineItem)
            .where(m.FulfillmentOrder.status.in_(live))
            .group_by(m.FulfillmentOrder.order_summary_id, m.FulfillmentOrder.location_id)
        ).all()
        costs = {loc.id: loc.shipping_costs for loc in session.scalars(select(m.Location))}
        orders = session.scalar(select(func.count()).select_from(m.OrderSummary)) or 0
    country = dict(summaries)
    cost = 0
    for summary_id, location_id, units in lines:
        rate = next(r for r in costs[location_id] if r["country"] == country[summary_id])
        cost += rate["per_shipment"] + rate["per_unit"] * int(units)
    shipments = sum(n for _, n in per_order)
    placed = len(per_order)
    return {
        "orders": orders,
        "orders_placed": placed,
        "shipments": shipments,
        "splits": sum(n - 1 for _, n in per_order),
        "extra_shipments": shipments - placed,
        "cost": cost,
    }


def unreleased_run(
    db: Database, outbox: Outbox, args: argparse.Namespace, now: datetime, *, dry_run: bool
) -> str:
    """A routing run of the bench channel, scope `unreleased`: its id."""
    return run_routing(
        db,
        outbox,
        RunRequest(
            CHANNEL,
            RunScope.UNRELEASED,
            dry_run=dry_run,
            trigger="bench",
            time_budget_ms=args.budget_ms,
        ),
        now,
    )


def replay(url: str, day: Day, args: argparse.Namespace, *, runs: bool) -> dict[str, Any]:
    db = Database(url)
    outbox = Outbox(default_registry())
    clock = Clock()
    worker = Worker(db, default_registry(), jobs=default_jobs(db), clock=clock)
    set_up(db, outbox, day)
    drain(worker)
    plan = releases(args.waves, args.release_every, args.release_after, args.cutoff)
    next_run = args.run_every
    solve_ms: list[int] = []
    moved = 0
    saved = [0, 0]  # planned shipments saved, cost saved
    skipped: Counter[str] = Counter()  # why planned moves were skipped
    captured: dict[str, float] = {}  # order summary id → minute of capture
    started = time.perf_counter()

    def tick(minute: float) -> None:
        """Runs and releases due by `minute`, in the order of their times."""
        while True:
            at = min(next_run if runs else math.inf, plan[0][0] if plan else math.inf)
            if at > minute:
                return
            if runs and next_run <= at:
                run_once()
            else:
                at, before = plan.pop(0)
                clock.now = DAY_START + timedelta(minutes=at)
                release(db, outbox, captured, before)
                drain(worker)

    def run_once() -> None:
        nonlocal next_run, moved
        clock.now = DAY_START + timedelta(minutes=next_run)
        run_id = unreleased_run(db, outbox, args, clock.now, dry_run=False)
        with db.reading() as session:
            run = session.get(m.RoutingRun, run_id)
            assert run is not None
            solve_ms.append(run.solve_ms)
            moved += run.applied
            saved[0] += run.totals["current"]["shipments"] - run.totals["plan"]["shipments"]
            saved[1] += run.totals["current"]["cost"] - run.totals["plan"]["cost"]
            for group in session.scalars(
                select(m.RoutingRunGroup).where(
                    m.RoutingRunGroup.run_id == run_id, m.RoutingRunGroup.outcome == "skipped"
                )
            ):
                skipped[group.reason or ""] += 1
        drain(worker)
        next_run += args.run_every

    for k, (minute, country, wanted) in enumerate(day.orders):
        tick(minute)
        clock.now = DAY_START + timedelta(minutes=minute)
        draft = OrderCreate.model_validate(payload(k, country, wanted, ORDERED_AT)).to_draft()
        with db.transaction() as session:
            captured[capture_order(session, outbox, draft).order_summary_id] = minute
        drain(worker)
    tick(plan[-1][0])
    out = figures(db)
    out["seconds"] = round(time.perf_counter() - started, 1)
    if runs:
        out["runs"] = len(solve_ms)
        out["groups_moved"] = moved
        out["groups_skipped"] = sum(skipped.values())
        out["skipped_why"] = dict(skipped.most_common())
        out["planned_shipments_saved"], out["planned_cost_saved"] = saved
        out["solve_ms_median"] = round(statistics.median(solve_ms)) if solve_ms else 0
        out["solve_ms_max"] = max(solve_ms, default=0)
    db.dispose()
    return out


def waiting_solve(url: str, day: Day, args: argparse.Namespace) -> dict[str, Any]:
    """Every order captured and routed, none released: one dry run over all of them."""
    db = Database(url)
    outbox = Outbox(default_registry())
    clock = Clock()
    worker = Worker(db, default_registry(), jobs=default_jobs(db), clock=clock)
    set_up(db, outbox, day)
    for k, (minute, country, wanted) in enumerate(day.orders):
        clock.now = DAY_START + timedelta(minutes=minute)
        draft = OrderCreate.model_validate(payload(k, country, wanted, ORDERED_AT)).to_draft()
        with db.transaction() as session:
            capture_order(session, outbox, draft)
        drain(worker)
    started = time.perf_counter()
    run_id = unreleased_run(db, outbox, args, clock.now, dry_run=True)
    wall = time.perf_counter() - started
    with db.reading() as session:
        run = session.get(m.RoutingRun, run_id)
        assert run is not None
        out = {
            "groups": run.groups,
            "solve_ms": run.solve_ms,
            "run_seconds": round(wall, 2),
            "solve_status": run.solve_status,
            "current": run.totals["current"],
            "plan": run.totals["plan"],
            "one_at_a_time": run.totals["one_at_a_time"],
        }
    db.dispose()
    return out


def share(alone: dict[str, Any], other: dict[str, Any]) -> tuple[int, float]:
    removed = alone["extra_shipments"] - other["extra_shipments"]
    return removed, (removed / alone["extra_shipments"] if alone["extra_shipments"] else 0.0)


def report_removed(label: str, name: str, alone: dict[str, Any], other: dict[str, Any]) -> None:
    """Print `other`'s figures, what it removed of one-at-a-time's extra shipments, and its
    RESULT line."""
    removed, part = share(alone, other)
    print(label, json.dumps(other))
    print(f"removed:       {removed} of {alone['extra_shipments']} ({part:.1%})")
    print("RESULT " + json.dumps({"name": name, **other, "removed": removed, "share": part}))


def model_only(day: Day, args: argparse.Namespace) -> None:
    """The replay without a database (bench/routing_model.py)."""
    timing = {
        "run_every": args.run_every,
        "schedule": releases(args.waves, args.release_every, args.release_after, args.cutoff),
        "budget_ms": args.budget_ms,
    }
    alone, placed = routing_model.replay(day, runs=False, **timing)
    print("one-at-a-time:", json.dumps(alone))
    print("RESULT " + json.dumps({"name": "batch_routing_model_one_at_a_time", **alone}))
    unavoidable = routing_model.structural(day)
    print(f"structural:    {unavoidable} orders no single location holds all the SKUs of")
    if not args.skip_runs:
        batch, _ = routing_model.replay(day, runs=True, exact_every=args.exact_every, **timing)
        report_removed("with runs:    ", "batch_routing_model_runs", alone, batch)
    if args.lookahead_days:
        past = [
            order
            for k in range(args.lookahead_days)
            for order in history(
                args.day, args.seed, args.orders, args.scarcity, args.affinity, 1000 + k
            )
        ]
        ahead = routing_model.Lookahead(
            tuple(past),
            days=args.lookahead_days,
            horizon=args.lookahead_hours * 60,
            samples=args.lookahead_samples,
            scale=args.lookahead_scale,
            min_lines=args.lookahead_min_lines,
        )
        print(
            f"look-ahead: {args.lookahead_days} history days (seeds 1000..), "
            f"{args.lookahead_hours:g} h ahead, at most {args.lookahead_samples} expected "
            f"orders of {args.lookahead_min_lines}+ lines, weight x {args.lookahead_scale:g}"
        )
        batch, _ = routing_model.replay(day, runs=True, lookahead=ahead, **timing)
        report_removed("look-ahead:   ", "batch_routing_model_lookahead", alone, batch)
    if args.hindsight_ms:
        best = routing_model.hindsight(day, placed, args.hindsight_ms)
        report_removed("hindsight:    ", "batch_routing_model_hindsight", alone, best)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--day", choices=["retail", "uniform"], default="retail")
    parser.add_argument("--scarcity", type=float, default=1.15)
    parser.add_argument("--affinity", type=float, default=0.6, help="retail day only")
    parser.add_argument("--run-every", type=float, default=5, help="minutes between runs")
    parser.add_argument(
        "--waves",
        default=None,
        help="hours of the day the warehouse releases orders in waves, comma-separated "
        f"(default {','.join(map(str, WAVES))} on the retail day; 'none': every "
        "--release-every minutes, the uniform day's default)",
    )
    parser.add_argument("--cutoff", type=float, default=30, help="minutes before a wave")
    parser.add_argument("--release-every", type=float, default=60, help="minutes")
    parser.add_argument("--release-after", type=float, default=120, help="minutes")
    parser.add_argument("--budget-ms", type=int, default=5000)
    parser.add_argument("--postgres", nargs="?", const=DEFAULT_POSTGRES_URL, default=None)
    parser.add_argument("--skip-waiting", action="store_true")
    parser.add_argument("--skip-alone", action="store_true", help="no one-at-a-time replay")
    parser.add_argument("--skip-runs", action="store_true", help="no replay with runs")
    parser.add_argument(
        "--skip-replays", action="store_true", help="only the dry run over N waiting orders"
    )
    parser.add_argument(
        "--model-only", action="store_true", help="replay with the domain only, no database"
    )
    parser.add_argument(
        "--exact-every",
        type=int,
        default=0,
        help="model only: every this many runs, also solve the whole window in one model "
        "(no neighbourhoods, 30 s) to compare",
    )
    parser.add_argument(
        "--hindsight-ms",
        type=int,
        default=0,
        help="model only: also plan the whole day at once with this budget",
    )
    parser.add_argument(
        "--lookahead-days",
        type=int,
        default=0,
        help="model only: also replay with runs that weigh expected demand drawn from this "
        "many other days of the same shop (other seeds)",
    )
    parser.add_argument("--lookahead-hours", type=float, default=24, help="how far ahead")
    parser.add_argument("--lookahead-samples", type=int, default=300, help="expected orders")
    parser.add_argument("--lookahead-scale", type=float, default=1.0, help="their weight x")
    parser.add_argument("--lookahead-min-lines", type=int, default=1, help="2: multi-line only")
    args = parser.parse_args()
    if args.waves is None:
        args.waves = WAVES if args.day == "retail" else ()
    elif args.waves == "none":
        args.waves = ()
    else:
        args.waves = tuple(float(h) for h in args.waves.split(","))
    for line in machine("highspy"):
        print(line)
    day = make_day(args.day, args.seed, args.orders, args.scarcity, args.affinity)
    print(
        f"day:      {args.day}, {args.orders} orders, seed {args.seed}, {len(day.sites)} "
        f"locations, {len({s for _, s in day.stock})} SKUs, scarcity {args.scarcity}; runs "
        f"every {args.run_every} min; "
        + (
            f"release waves at {', '.join(f'{h:g}h' for h in args.waves)} of the orders "
            f"captured {args.cutoff:g} min before"
            if args.waves
            else f"release every {args.release_every:g} min of the orders captured more "
            f"than {args.release_after:g} min before"
        )
    )
    if args.model_only:
        model_only(day, args)
        return
    backend = (
        PostgresBackend(args.postgres, "openoms_bench_batch_routing")
        if args.postgres
        else SqliteBackend("batch-routing")
    )
    print(f"database: {backend.version()}")
    try:
        if not args.skip_replays and not args.skip_alone:
            alone = replay(backend.fresh(), day, args, runs=False)
            print("one-at-a-time:", json.dumps(alone))
            print("RESULT " + json.dumps({"name": "batch_routing_one_at_a_time", **alone}))
        if not args.skip_replays and not args.skip_runs:
            batch = replay(backend.fresh(), day, args, runs=True)
            print("with runs:    ", json.dumps(batch))
            print("RESULT " + json.dumps({"name": "batch_routing_runs", **batch}))
        if not (args.skip_replays or args.skip_runs or args.skip_alone):
            removed, part = share(alone, batch)
            print(
                f"extra shipments caused by splits: {alone['extra_shipments']} one at a time, "
                f"{batch['extra_shipments']} with runs: {removed} removed ({part:.1%}); "
                f"cost {alone['cost']} -> {batch['cost']}"
            )
            print(
                "RESULT "
                + json.dumps(
                    {"name": "batch_routing_removed", "removed": removed, "share": round(part, 4)}
                )
            )
        if not args.skip_waiting:
            waiting = waiting_solve(backend.fresh(), day, args)
            print("waiting:      ", json.dumps(waiting))
            print("RESULT " + json.dumps({"name": "batch_routing_waiting_solve", **waiting}))
    finally:
        backend.close()


if __name__ == "__main__":
    main()

"""Batch routing: a seeded day replayed with one-at-a-time routing and with periodic runs.

The day: N orders (default 2,000) of 1–6 lines, arriving evenly over 24 hours, shipped to
six countries from 20 locations — 4 distribution centres that hold most of the range and
16 small sites that hold a few SKUs each — with scarce, skewed stock (SKU popularity
Zipf-like; each SKU's stock is `--scarcity` × its demand over the day, most of it at the
DCs). Shipping cost depends on the location and the country.

Both replays go through the real services on a fresh database (a SQLite file; PostgreSQL
with --postgres): each order is captured (`capture_order`) and routed by the worker as
usual (`route_order`). Every `--release-every` minutes of simulated time, fulfillment
orders older than `--release-after` minutes are released to the warehouse (ASSIGNED:
picked, no longer movable). The second replay also makes an applied routing run of scope
`unreleased` every `--run-every` minutes, so orders waiting to be picked are placed again
together (Xu, Allgor & Graves 2009's re-evaluation of assignments before picking).

Printed per replay: orders placed, shipments, splits, extra shipments caused by splits
(shipments − orders placed), shipping cost, and for the runs the solve time (median, max);
then the share of one-at-a-time's extra shipments the runs removed. Last, the solve time
of one dry run over N waiting orders (every order captured and left ALLOCATED). A `RESULT
{json}` line per figure set.

    .venv/bin/python bench/batch_routing.py [--orders 2000] [--seed 7] [--postgres URL]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

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

CHANNEL = "bench-day"
COUNTRIES = {  # country: (lat, lon) of its centre
    "GB": (52.5, -1.5),
    "IE": (53.3, -7.5),
    "FR": (46.6, 2.4),
    "BE": (50.6, 4.6),
    "NL": (52.2, 5.5),
    "DE": (51.0, 10.0),
}
# The simulated day starts tomorrow: jobs queued now are due on the day's clock.
DAY_START = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
ORDERED_AT = datetime.now(UTC).replace(microsecond=0)


@dataclass(frozen=True)
class Day:
    sites: dict[str, tuple[float, float, bool]]  # ref: (lat, lon, big)
    stock: dict[tuple[str, str], int]
    orders: list[tuple[float, str, dict[str, int]]]  # (minute, country, sku → units)


def make_day(
    seed: int, n: int, scarcity: float, dc_share: float = 0.6, dc_range: float = 0.8
) -> Day:
    rng = random.Random(seed)
    sites: dict[str, tuple[float, float, bool]] = {}
    for i in range(20):
        lat, lon = rng.uniform(44, 56), rng.uniform(-8, 12)
        sites[f"{'DC' if i < 4 else 'SITE'}-{i:02d}"] = (lat, lon, i < 4)
    skus = [f"SKU-{k:03d}" for k in range(400)]
    weights = [1 / (k + 1) ** 0.9 for k in range(len(skus))]
    orders = []
    for k in range(n):
        lines = rng.choices([1, 2, 3, 4, 5, 6], [40, 25, 15, 10, 6, 4])[0]
        wanted: dict[str, int] = {}
        for sku in rng.choices(skus, weights, k=lines):
            wanted[sku] = wanted.get(sku, 0) + 1
        orders.append((k * 24 * 60 / n, rng.choice(sorted(COUNTRIES)), wanted))
    demand: dict[str, int] = {}
    for _, _, wanted in orders:
        for sku, q in wanted.items():
            demand[sku] = demand.get(sku, 0) + q
    big = [ref for ref, (_, _, b) in sites.items() if b]
    small = [ref for ref, (_, _, b) in sites.items() if not b]
    stock: dict[tuple[str, str], int] = {}
    for sku, units in sorted(demand.items()):
        dcs = [ref for ref in big if rng.random() < dc_range] or [rng.choice(big)]
        holders = rng.sample(small, rng.randint(1, 5))
        for _ in range(max(1, round(units * scarcity))):
            ref = rng.choice(dcs) if rng.random() < dc_share else rng.choice(holders)
            stock[ref, sku] = stock.get((ref, sku), 0) + 1
    return Day(sites, stock, orders)


def rates(lat: float, lon: float) -> tuple[ShippingCost, ...]:
    out = []
    for country, (clat, clon) in sorted(COUNTRIES.items()):
        km = math.hypot(lat - clat, (lon - clon) * 0.65) * 111
        out.append(
            ShippingCost(
                country=country,
                per_shipment=Money(400 + round(km * 0.8), "EUR"),
                per_unit=Money(30 + round(km * 0.05), "EUR"),
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


def release(db: Database, outbox: Outbox, before: datetime) -> int:
    """Release ALLOCATED fulfillment orders created before `before` to the warehouse."""
    with db.reading() as session:
        ids = list(
            session.scalars(
                select(m.FulfillmentOrder.id).where(
                    m.FulfillmentOrder.status == FulfillmentOrderStatus.ALLOCATED.value,
                    m.FulfillmentOrder.created_at < before,
                )
            )
        )
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


def replay(url: str, day: Day, args: argparse.Namespace, *, runs: bool) -> dict[str, Any]:
    db = Database(url)
    outbox = Outbox(default_registry())
    clock = Clock()
    worker = Worker(db, default_registry(), jobs=default_jobs(db), clock=clock)
    set_up(db, outbox, day)
    drain(worker)
    next_release = args.release_every
    next_run = args.run_every
    solve_ms: list[int] = []
    moved = 0
    saved = [0, 0]  # planned shipments saved, cost saved
    started = time.perf_counter()

    def tick(minute: float) -> None:
        nonlocal next_release, next_run, moved
        while runs and next_run <= minute:
            clock.now = DAY_START + timedelta(minutes=next_run)
            run_id = run_routing(
                db,
                outbox,
                RunRequest(
                    CHANNEL,
                    RunScope.UNRELEASED,
                    dry_run=False,
                    trigger="bench",
                    time_budget_ms=args.budget_ms,
                ),
                clock.now,
            )
            with db.reading() as session:
                run = session.get(m.RoutingRun, run_id)
                assert run is not None
                solve_ms.append(run.solve_ms)
                moved += run.applied
                saved[0] += run.totals["current"]["shipments"] - run.totals["plan"]["shipments"]
                saved[1] += run.totals["current"]["cost"] - run.totals["plan"]["cost"]
            drain(worker)
            next_run += args.run_every
        while next_release <= minute:
            clock.now = DAY_START + timedelta(minutes=next_release)
            release(db, outbox, clock.now - timedelta(minutes=args.release_after))
            drain(worker)
            next_release += args.release_every

    for k, (minute, country, wanted) in enumerate(day.orders):
        tick(minute)
        clock.now = DAY_START + timedelta(minutes=minute)
        draft = OrderCreate.model_validate(payload(k, country, wanted, ORDERED_AT)).to_draft()
        with db.transaction() as session:
            capture_order(session, outbox, draft)
        drain(worker)
    tick(24 * 60 + args.release_after + args.release_every)
    out = figures(db)
    out["seconds"] = round(time.perf_counter() - started, 1)
    if runs:
        out["runs"] = len(solve_ms)
        out["groups_moved"] = moved
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
    run_id = run_routing(
        db,
        outbox,
        RunRequest(
            CHANNEL,
            RunScope.UNRELEASED,
            dry_run=True,
            trigger="bench",
            time_budget_ms=args.budget_ms,
        ),
        clock.now,
    )
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scarcity", type=float, default=1.15)
    parser.add_argument("--run-every", type=float, default=5, help="minutes between runs")
    parser.add_argument("--release-every", type=float, default=60, help="minutes")
    parser.add_argument("--release-after", type=float, default=120, help="minutes")
    parser.add_argument("--budget-ms", type=int, default=5000)
    parser.add_argument("--postgres", nargs="?", const=DEFAULT_POSTGRES_URL, default=None)
    parser.add_argument("--skip-waiting", action="store_true")
    args = parser.parse_args()
    backend = (
        PostgresBackend(args.postgres, "openoms_bench_batch_routing")
        if args.postgres
        else SqliteBackend("batch-routing")
    )
    for line in machine("highspy"):
        print(line)
    print(f"database: {backend.version()}")
    day = make_day(args.seed, args.orders, args.scarcity)
    print(
        f"day:      {args.orders} orders, seed {args.seed}, {len(day.sites)} locations, "
        f"{len({s for _, s in day.stock})} SKUs, scarcity {args.scarcity}; runs every "
        f"{args.run_every} min, release every {args.release_every} min of orders older "
        f"than {args.release_after} min"
    )
    try:
        alone = replay(backend.fresh(), day, args, runs=False)
        print("one-at-a-time:", json.dumps(alone))
        print("RESULT " + json.dumps({"name": "batch_routing_one_at_a_time", **alone}))
        batch = replay(backend.fresh(), day, args, runs=True)
        print("with runs:    ", json.dumps(batch))
        print("RESULT " + json.dumps({"name": "batch_routing_runs", **batch}))
        removed = alone["extra_shipments"] - batch["extra_shipments"]
        share = removed / alone["extra_shipments"] if alone["extra_shipments"] else 0.0
        print(
            f"extra shipments caused by splits: {alone['extra_shipments']} one at a time, "
            f"{batch['extra_shipments']} with runs: {removed} removed ({share:.1%}); "
            f"cost {alone['cost']} -> {batch['cost']}"
        )
        print(
            "RESULT "
            + json.dumps(
                {"name": "batch_routing_removed", "removed": removed, "share": round(share, 4)}
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

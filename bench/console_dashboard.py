"""The console's dashboard over 10,000 orders: server time to compute its figures and to
render the page, on SQLite and PostgreSQL.

    .venv/bin/python bench/console_dashboard.py [--backend sqlite|postgres|both]
        [--orders N] [--repeat N]

Each backend gets a fresh database (PostgreSQL: the scratch database
`openoms_bench_dashboard`, dropped at the end) with large_order.py's network (10 warehouses,
2,000 SKUs). `--orders` orders of 1 to 4 random SKUs, placed over 30 days, are captured
through the API's bulk endpoint and routed by a worker in this process; a fifth of them are
shipped (the ship service, the test carriers). `--route-seconds` stops routing early on a
busy machine: the figures then cover the orders routed so far and the rest waiting.
`--copies K` then copies every order K times in SQL (what the dashboard reads of it: summary,
groups, items, payment summaries, fulfillment orders, shipments): `--orders 500 --copies 19`
makes 10,000 orders where capturing them all takes too long. An
admin signs in, and then, median of `--repeat` after one warm-up each: the figures alone
(services/views `dashboard_figures`, one read transaction) and GET /console/dashboard for
the 30 days, through the ASGI app in this process (no socket), with this process's CPU time
beside.

Verified: the page answers 200 and shows as many orders as were captured. Prints `RESULT`
lines `console_dashboard_ms_<backend>`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import sys
import time
from datetime import date, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import insert, literal, null, select

from common import (
    DEFAULT_POSTGRES_URL,
    Backend,
    PostgresBackend,
    SqliteBackend,
    load,
    machine,
    revision,
)
from large_order import SKUS, payload, seed, sku
from openoms.adapters.carriers import default_carriers
from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.api.app import create_app
from openoms.services.access import Scope, create_api_key, create_console_user
from openoms.services.fulfillment import ship
from openoms.services.views import DashboardQuery, dashboard_figures
from openoms.worker.consumers import default_jobs, default_registry
from openoms.worker.runner import Worker

SCRATCH_DATABASE = "openoms_bench_dashboard"
PASSWORD = "bench dashboard password"
LAST_DAY = date(2026, 12, 7)
DAYS = 30
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
ORDERS = re.compile(r'data-figure="orders">(\d+)<')


def order(n: int, rng: random.Random) -> dict[str, Any]:
    body = payload(f"DASH-{n}", rng.randint(1, 4), 1)
    for item in body["items"]:
        item["sku"] = sku(rng.randrange(SKUS))
    if len({i["sku"] for i in body["items"]}) < len(body["items"]):
        body["items"] = body["items"][:1]
        body["payments"][0]["amount"] = None
    day = LAST_DAY - timedelta(days=n % DAYS)
    body["ordered_at"] = f"{day}T{n % 24:02d}:00:00Z"
    return body


def capture(client: TestClient, headers: dict[str, str], count: int) -> None:
    rng = random.Random(15)
    for start in range(0, count, 100):
        rows = [order(n, rng) for n in range(start, min(start + 100, count))]
        for row in rows:
            if row["payments"][0]["amount"] is None:
                del row["payments"]
        answer = client.post(
            "/api/v1/orders/bulk",
            json={"orders": rows},
            headers={**headers, "Idempotency-Key": f"dash-{start}"},
        )
        assert answer.status_code in (200, 201), answer.text[:500]


def route(db: Database, budget: float | None) -> None:
    """Run the worker until nothing is left to do, or for `budget` seconds at most (on a
    busy machine routing 10,000 orders takes long; the dashboard then reads the orders
    routed so far and the rest waiting)."""
    worker = Worker(db, default_registry(), jobs=default_jobs(db))
    began = time.perf_counter()
    idle = 0
    while idle < 2 and (budget is None or time.perf_counter() - began < budget):
        idle = idle + 1 if worker.run_once() == 0 else 0


def ship_share(db: Database, share: int) -> int:
    """Ship every `share`-th fulfillment order; returns how many."""
    with db.reading() as session:
        ids = list(session.scalars(select(m.FulfillmentOrder.id).order_by(m.FulfillmentOrder.id)))
    carriers = default_carriers(db, env={})
    outbox = Outbox(default_registry())
    chosen = ids[::share]
    for start in range(0, len(chosen), 200):
        with db.transaction() as session:
            for fo_id in chosen[start : start + 200]:
                ship(session, outbox, fo_id, carrier_choice=carriers)
    return len(chosen)


# Per table the dashboard reads: the columns a copy gets a suffix in (its id, the ids it
# refers to among the copied rows, and what must stay unique), and those it drops.
COPIED: list[tuple[Any, tuple[str, ...], tuple[str, ...]]] = [
    (m.OrderSummary, ("id", "external_reference"), ()),
    (m.OrderDeliveryGroupSummary, ("id", "order_summary_id"), ()),
    (m.OrderItemSummary, ("id", "order_summary_id", "delivery_group_summary_id"), ()),
    (m.OrderPaymentSummary, ("id", "order_summary_id"), ()),
    (
        m.FulfillmentOrder,
        ("id", "order_summary_id", "delivery_group_summary_id"),
        ("reservation_id",),
    ),
    (m.Shipment, ("id", "fulfillment_order_id", "order_summary_id"), ()),
]


def copy_orders(db: Database, copies: int) -> None:
    """Make `copies` copies of every order the dashboard reads (summary, groups, items,
    payment summaries, fulfillment orders, shipments) in SQL, ids suffixed `-cN`: a large
    world without capturing and routing each order on a busy machine."""
    for n in range(1, copies + 1):
        suffix = f"-c{n}"
        with db.transaction() as session:
            for model, renamed, dropped in COPIED:
                table = model.__table__
                exprs = [
                    (column + literal(suffix))
                    if column.name in renamed
                    else null()
                    if column.name in dropped
                    else column
                    for column in table.columns
                ]
                originals = select(*exprs).where(~table.c.id.contains("-c"))
                session.execute(insert(table).from_select(list(table.columns), originals))


def timed(repeat: int, action: Any) -> tuple[float, float, Any]:
    action()  # warm-up
    wall, cpu = [], []
    result = None
    for _ in range(repeat):
        began, began_cpu = time.perf_counter(), time.process_time()
        result = action()
        wall.append((time.perf_counter() - began) * 1000)
        cpu.append((time.process_time() - began_cpu) * 1000)
    return statistics.median(wall), statistics.median(cpu), result


def run_backend(
    backend: Backend, orders: int, repeat: int, budget: float | None, copies: int
) -> dict[str, Any]:
    url = backend.fresh()
    seed(url)
    db = Database(url)
    with db.transaction() as session:
        _, key = create_api_key(session, name="bench", scopes=[Scope.ADMIN])
        create_console_user(session, email="admin@bench.test", role="admin", password=PASSWORD)
    app = create_app(db, Outbox(default_registry()))
    problems: list[str] = []
    with TestClient(app, follow_redirects=False) as client:
        began = time.perf_counter()
        capture(client, {"Authorization": f"Bearer {key}"}, orders)
        route(db, budget)
        shipped = ship_share(db, 5) * (copies + 1)
        copy_orders(db, copies)
        orders *= copies + 1
        built = time.perf_counter() - began
        form = client.get("/console/login")
        signed = client.post(
            "/console/login",
            data={
                "email": "admin@bench.test",
                "password": PASSWORD,
                "csrf_token": CSRF.search(form.text).group(1),  # type: ignore[union-attr]
            },
        )
        assert signed.status_code == 303, signed.text
        query = DashboardQuery(LAST_DAY - timedelta(days=DAYS - 1), LAST_DAY)

        def figures() -> Any:
            with db.reading() as session:
                return dashboard_figures(session, query)

        path = f"/console/dashboard?from={query.first}&to={query.last}"
        service_ms, service_cpu, found = timed(repeat, figures)
        page_ms, page_cpu, page = timed(repeat, lambda: client.get(path))
        if page.status_code != 200:
            problems.append(f"page answered {page.status_code}")
        shown = ORDERS.search(page.text)
        if shown is None or int(shown.group(1)) != orders or found.orders != orders:
            problems.append(f"the dashboard counts {shown and shown.group(1)} orders, not {orders}")
        if found.orders_shipped == 0 or found.fulfillment_orders == 0:
            problems.append("nothing routed or shipped")
    db.dispose()
    return {
        "backend": backend.name,
        "orders": orders,
        "shipped": shipped,
        "fos": found.fulfillment_orders,
        "built_s": built,
        "service_ms": service_ms,
        "service_cpu": service_cpu,
        "ms": page_ms,
        "cpu_ms": page_cpu,
        "split_rate": found.split_rate,
        "p50": found.ship_time_micros.get(50),
        "problems": problems,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each")
    parser.add_argument(
        "--copies", type=int, default=0, help="copies of each captured order, made in SQL"
    )
    parser.add_argument(
        "--route-seconds", type=float, default=None, help="stop routing after this long"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("OPENOMS_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
    )
    args = parser.parse_args(argv)
    header = machine("sqlalchemy", "jinja2", "fastapi")
    backends: list[Backend] = []
    if args.backend in ("postgres", "both"):
        backends.append(PostgresBackend(args.postgres_url, SCRATCH_DATABASE))
    if args.backend in ("sqlite", "both"):
        backends.append(SqliteBackend("dashboard"))
    rows = []
    try:
        for backend in backends:
            header.append(f"{backend.name + ':':9s} {backend.version()}")
            rows.append(
                run_backend(backend, args.orders, args.repeat, args.route_seconds, args.copies)
            )
    finally:
        for backend in backends:
            backend.close()
    header.append(load("after the runs"))
    print("\n".join([*header, f"code:     {revision()}", ""]))
    print(
        "| backend | orders | FOs of ship groups | FOs shipped | figures ms (CPU) "
        "| page ms (CPU) | verified |"
    )
    print("|---|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(
            f"| {r['backend']} | {r['orders']} | {r['fos']} | {r['shipped']} "
            f"| {r['service_ms']:.0f} ({r['service_cpu']:.0f}) | {r['ms']:.0f} ({r['cpu_ms']:.0f}) "
            f"| {not r['problems']} |"
        )
        for problem in r["problems"]:
            print(f"  problem: {problem}", file=sys.stderr)
    for r in rows:
        result = {
            "figure": f"console_dashboard_ms_{r['backend']}",
            "value": round(r["ms"], 1),
            "unit": "ms",
            "verified": not r["problems"],
        }
        print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()

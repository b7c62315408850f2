"""Large orders: one order of 2,000 lines (Salesforce's limit per order summary) captured,
routed and rendered, on SQLite and PostgreSQL.

    .venv/bin/python bench/large_order.py [--backend sqlite|postgres|both] [--lines N]
        [--groups 1,4] [--repeat N]

Each backend gets a fresh database (PostgreSQL: the scratch database
`openoms_bench_large_order`, dropped at the end) with 10 warehouses across Great Britain in
one group, the channel `web-big` routed over that group (fewest_splits, max_splits 9), and
2,000 SKUs: every SKU at the main warehouse with a probability of 0.8 and at each other
with 0.3 (at least one), 1,000,000 units each, so an order of every SKU must be split.

`openoms serve --no-worker` runs on the database; per order shape (1 delivery group, and 4
groups shipping to 4 cities):
- capture: POST /api/v1/orders over real HTTP, one line per SKU (1-3 units, a third with a
  discount), the payment authorized for the grand total: what a storefront would send
  (the body's size is printed: the JSON body cap is 1 MiB);
- route: a worker in this process (`Worker.run_once` until nothing is left) takes the
  order's events, routing jobs and fulfillment orders;
- summary: GET /api/v1/order-summaries/{id} over HTTP, after routing (every item with its
  allocations and fulfillment orders), median of `--repeat` after one warm-up request.

Verified: every item of the order is allocated in full and its fulfillment order lines
add up to its units; every inventory record's `reserved` equals its reservation lines; no
record is oversold; every job and event delivery is done. Prints `RESULT` lines
`large_order_capture_ms`, `large_order_route_ms` and `large_order_summary_ms` (the 1-group
order: the slower backend's figure).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import statistics
import sys
import time
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import text

from common import (
    DEFAULT_POSTGRES_URL,
    Backend,
    PostgresBackend,
    SqliteBackend,
    free_port,
    load,
    machine,
    openoms_serve,
    pid_cpu,
    postgres_cpu,
    revision,
    server_env,
    serving,
)
from lifecycle import verify
from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.demo import grand_total
from openoms.domain.inventory import LocationType
from openoms.services.inventory import (
    Address,
    InventoryLine,
    LocationData,
    apply_inventory_import,
    upsert_location,
)
from openoms.services.orders import ChannelData, upsert_channel
from openoms.worker.consumers import default_jobs, default_registry
from openoms.worker.runner import Worker

SCRATCH_DATABASE = "openoms_bench_large_order"
CHANNEL, GROUP = "web-big", "online-big"
SKUS = 2_000
ON_HAND = 1_000_000
# (ref, city, lat, lon): the first is the main warehouse.
WAREHOUSES = (
    ("WH-MK", "Milton Keynes", 52.04, -0.76),
    ("WH-LDS", "Leeds", 53.80, -1.55),
    ("WH-BRS", "Bristol", 51.45, -2.59),
    ("WH-GLA", "Glasgow", 55.86, -4.25),
    ("WH-MAN", "Manchester", 53.48, -2.24),
    ("WH-BHM", "Birmingham", 52.49, -1.89),
    ("WH-NCL", "Newcastle", 54.98, -1.61),
    ("WH-CDF", "Cardiff", 51.48, -3.18),
    ("WH-NOR", "Norwich", 52.63, 1.30),
    ("WH-SOU", "Southampton", 50.90, -1.40),
)
CITIES = (
    ("London", "EC1A 1BB", 51.52, -0.10),
    ("York", "YO1 7HH", 53.96, -1.08),
    ("Exeter", "EX1 1AA", 50.72, -3.53),
    ("Edinburgh", "EH1 1YZ", 55.95, -3.19),
)


def sku(n: int) -> str:
    return f"BIG-{n:05}"


# --- the network --------------------------------------------------------------------------


def seed(url: str) -> None:
    db = Database(url)
    outbox = Outbox(default_registry())
    with db.transaction() as session:
        for ref, city, lat, lon in WAREHOUSES:
            address = Address(line1="1 Depot Road", city=city, country="GB", lat=lat, lon=lon)
            data = LocationData(
                name=city,
                type=LocationType.WAREHOUSE,
                address=address,
                can_ship=True,
                can_pickup=False,
                daily_capacity=100_000,
                groups=(GROUP,),
            )
            upsert_location(session, outbox, ref, data)
        upsert_channel(session, outbox, CHANNEL, ChannelData(location_group=GROUP, max_splits=9))
    rng = random.Random(5)
    lines: list[InventoryLine] = []
    for n in range(SKUS):
        held = [w for i, w in enumerate(WAREHOUSES) if rng.random() < (0.8 if i == 0 else 0.3)]
        for ref, *_ in held or [rng.choice(WAREHOUSES)]:
            lines.append(
                InventoryLine(line=len(lines) + 1, location=ref, sku=sku(n), on_hand=ON_HAND)
            )
    apply_inventory_import(db, outbox, lines, mode="delta")
    db.dispose()


def payload(reference: str, lines: int, groups: int) -> dict[str, Any]:
    """An order of `lines` SKUs over `groups` ship groups, as a storefront sends it."""
    rng = random.Random(reference)
    delivery_groups = []
    for g in range(groups):
        city, postal_code, lat, lon = CITIES[g % len(CITIES)]
        delivery_groups.append(
            {
                "ref": f"ship-{g + 1}",
                "method": "ship",
                "service": "standard",
                "recipient": {
                    "name": "Ada Lovelace",
                    "email": "ada@example.com",
                    "address": {
                        "line1": f"{g + 1} High Street",
                        "city": city,
                        "postal_code": postal_code,
                        "country": "GB",
                        "lat": lat,
                        "lon": lon,
                    },
                },
                "delivery_charge": {"amount": "4.99", "tax": "1.00"},
            }
        )
    items = []
    for n in range(lines):
        quantity = rng.randint(1, 3)
        price = Decimal(rng.randint(100, 9_999)) / 100
        item: dict[str, Any] = {
            "sku": sku(n),
            "name": f"Catalogue item {n}",
            "quantity": quantity,
            "unit_price": str(price),
            "tax": str((price * quantity / 5).quantize(Decimal("0.01"))),
            "delivery_group": f"ship-{n % groups + 1}",
        }
        if n % 3 == 0:
            item["adjustments"] = [{"amount": "-0.50", "reason": "bundle"}]
        items.append(item)
    order: dict[str, Any] = {
        "channel": CHANNEL,
        "external_reference": reference,
        "currency": "GBP",
        "ordered_at": "2026-12-07T09:00:00Z",
        "customer": {"name": "Ada Lovelace", "email": "ada@example.com"},
        "delivery_groups": delivery_groups,
        "items": items,
    }
    order["payments"] = [
        {"gateway": "sandbox", "token": "tok_visa", "amount": str(grand_total(order))}
    ]
    return order


# --- one order ----------------------------------------------------------------------------


def route(db: Database) -> float:
    """Run the worker until nothing is left to do; returns the seconds it took."""
    worker = Worker(db, default_registry(), jobs=default_jobs(db))
    began = time.perf_counter()
    idle = 0
    while idle < 2:
        idle = idle + 1 if worker.run_once() == 0 else 0
    return time.perf_counter() - began


_ORDER_CHECKS = {
    "items not allocated in full": """
        SELECT count(*) FROM order_item_summaries
        WHERE order_summary_id = :id AND type = 'product'
          AND quantity_allocated <> quantity_ordered""",
    "product items": """
        SELECT count(*) FROM order_item_summaries
        WHERE order_summary_id = :id AND type = 'product'""",
    "fulfillment orders": """
        SELECT count(*) FROM fulfillment_orders WHERE order_summary_id = :id""",
}


def order_figures(db: Database, summary_id: str) -> dict[str, int]:
    with db.reading() as session:
        return {
            what: session.execute(text(sql), {"id": summary_id}).scalar_one()
            for what, sql in _ORDER_CHECKS.items()
        }


class Cpu:
    """CPU seconds of the server process, this process and the scratch PostgreSQL
    database's backends (SQLite: none) since the last `lap`: unlike wall time, they hardly
    depend on what else the shared machine is doing."""

    def __init__(self, server_pid: int) -> None:
        self._pid = server_pid
        self._last = self._now()

    def _now(self) -> tuple[float, float, float]:
        return (
            pid_cpu(self._pid) or 0.0,
            time.process_time(),
            postgres_cpu(SCRATCH_DATABASE) or 0.0,
        )

    def lap(self) -> tuple[float, float, float]:
        now = self._now()
        spent = (now[0] - self._last[0], now[1] - self._last[1], now[2] - self._last[2])
        self._last = now
        return spent


def run_shape(
    db: Database, http: httpx.Client, cpu: Cpu, shape: tuple[str, int, int], repeat: int
) -> dict[str, Any]:
    backend, lines, groups = shape
    order = payload(f"BIG-{backend}-{groups}-{secrets.token_hex(3)}", lines, groups)
    body = json.dumps(order).encode()
    headers = {"Content-Type": "application/json", "Idempotency-Key": secrets.token_hex(8)}
    cpu.lap()
    began = time.perf_counter()
    response = http.post("/api/v1/orders", content=body, headers=headers)
    capture = time.perf_counter() - began
    capture_cpu = cpu.lap()
    if response.status_code != 201:
        raise RuntimeError(f"capture: {response.status_code} {response.text[:500]}")
    summary_id = response.json()["id"]
    routing = route(db)
    route_cpu = cpu.lap()
    summaries = []
    for n in range(repeat + 1):
        if n == 1:
            cpu.lap()
        began = time.perf_counter()
        got = http.get(f"/api/v1/order-summaries/{summary_id}")
        if n:
            summaries.append(time.perf_counter() - began)
        if got.status_code != 200:
            raise RuntimeError(f"summary: {got.status_code} {got.text[:500]}")
    summary_cpu = cpu.lap()
    figures = order_figures(db, summary_id)
    problems = []
    if figures["items not allocated in full"]:
        problems.append(f"{figures['items not allocated in full']} items not allocated in full")
    if figures["product items"] != lines:
        problems.append(f"{figures['product items']} product items, not {lines}")
    if len(got.json()["items"]) < lines:
        problems.append("the summary does not list every item")
    return {
        "backend": backend,
        "groups": groups,
        "lines": lines,
        "body_kb": len(body) / 1024,
        "summary_kb": len(got.content) / 1024,
        "capture_ms": capture * 1000,
        "route_ms": routing * 1000,
        "summary_ms": statistics.median(summaries) * 1000,
        # server + database at capture and summary (per GET), worker + database at routing
        "capture_cpu_ms": (capture_cpu[0] + capture_cpu[2]) * 1000,
        "route_cpu_ms": (route_cpu[1] + route_cpu[2]) * 1000,
        "summary_cpu_ms": (summary_cpu[0] + summary_cpu[2]) / repeat * 1000,
        "fulfillment_orders": figures["fulfillment orders"],
        "problems": problems,
    }


def run_backend(
    backend: Backend, lines: int, shapes: list[int], repeat: int
) -> list[dict[str, Any]]:
    url = backend.fresh()
    seed(url)
    db = Database(url)
    key = f"oms_benchkey_{secrets.token_urlsafe(32)}"
    rows = []
    try:
        port = free_port()
        with serving(openoms_serve(port), port=port, env=server_env(url, key)) as (base, pid):
            auth = {"Authorization": f"Bearer {key}"}
            cpu = Cpu(pid)
            with httpx.Client(base_url=base, headers=auth, timeout=600) as http:
                for groups in shapes:
                    row = run_shape(db, http, cpu, (backend.name, lines, groups), repeat)
                    print(row, file=sys.stderr, flush=True)
                    rows.append(row)
        problems = verify(db)
        for row in rows:
            row["problems"] += problems
    finally:
        db.dispose()
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--lines", type=int, default=2_000)
    parser.add_argument("--groups", default="1,4", help="delivery groups per order, a list")
    parser.add_argument("--repeat", type=int, default=5, help="summary GETs timed")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("OPENOMS_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
    )
    args = parser.parse_args(argv)
    shapes = [int(g) for g in args.groups.split(",")]
    header = machine("sqlalchemy", "pydantic", "uvicorn", "httpx")
    backends: list[Backend] = []
    if args.backend in ("postgres", "both"):
        backends.append(PostgresBackend(args.postgres_url, SCRATCH_DATABASE))
    if args.backend in ("sqlite", "both"):
        backends.append(SqliteBackend("large_order"))
    rows: list[dict[str, Any]] = []
    try:
        for backend in backends:
            header.append(f"{backend.name + ':':9s} {backend.version()}")
            rows += run_backend(backend, args.lines, shapes, args.repeat)
    finally:
        for backend in backends:
            backend.close()
    header.append(load("after the runs"))
    print("\n".join([*header, f"code:     {revision()}", ""]))
    print(
        "| backend | lines | groups | body KB | capture ms (CPU) | route ms (CPU) "
        "| fulfillment orders | summary ms (CPU) | summary KB | verified |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(
            f"| {r['backend']} | {r['lines']} | {r['groups']} | {r['body_kb']:.0f} "
            f"| {r['capture_ms']:.0f} ({r['capture_cpu_ms']:.0f}) "
            f"| {r['route_ms']:.0f} ({r['route_cpu_ms']:.0f}) | {r['fulfillment_orders']} "
            f"| {r['summary_ms']:.0f} ({r['summary_cpu_ms']:.0f}) | {r['summary_kb']:.0f} "
            f"| {not r['problems']} |"
        )
    print(
        "\nCPU: the server and PostgreSQL's backends at capture and per summary GET, the "
        "worker (this process) and the backends at routing."
    )
    for r in rows:
        for problem in r["problems"]:
            print(f"PROBLEM {r['backend']} {r['groups']} groups: {problem}")
    verified = bool(rows) and all(not r["problems"] for r in rows)
    headline = [r for r in rows if r["groups"] == shapes[0]]
    for figure, column in (
        ("large_order_capture_ms", "capture_ms"),
        ("large_order_route_ms", "route_ms"),
        ("large_order_summary_ms", "summary_ms"),
    ):
        value = max(r[column] for r in headline) if headline else 0.0
        result = {"figure": figure, "value": round(value, 1), "unit": "ms"}
        print("RESULT " + json.dumps({**result, "verified": verified}), flush=True)


if __name__ == "__main__":
    main()

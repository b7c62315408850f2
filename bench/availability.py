"""Availability through the HTTP API on PostgreSQL, as a storefront asks for it.

    .venv/bin/python bench/availability.py [--requests N] [--rounds N] [--postgres-url URL]

A fresh scratch database (`openoms_bench_availability`, dropped at the end) is seeded as
bench/inventory.py does: 100 active locations, all in the group "online", 2,000 SKUs each
(200,000 records, 10 % with futures, reserved set on most). `openoms serve --no-worker`
then answers over real HTTP: one keep-alive client, one request at a time, each asking for
20 random SKUs either at the 100 locations named one by one (2,000 figures) or at the
group "online" (20 sums). Latency is request sent to whole body read. Each shape first
runs untimed warm-up requests; with `--rounds` above 1 the two shapes alternate in rounds
so both see the same moments of a shared machine.

Verified: every answer's figures add up to the seeded stock (per SKU, the sums of on_hand
and reserved over the 100 locations equal the database's, for the list and for the group).

DESIGN.md §11 target: 20 SKUs × 100 locations through the API, p99 < 10 ms. Prints
`RESULT` lines `availability_p99_locations` and `availability_p99_group` (ms).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from typing import Any

import httpx
from sqlalchemy import text

from common import (
    DEFAULT_POSTGRES_URL,
    PostgresBackend,
    load,
    machine,
    percentile,
    pid_cpu,
    postgres_cpu,
    revision,
)
from inventory import _requests, _server, seed_availability
from openoms.adapters.db.session import Database

SCRATCH_DATABASE = "openoms_bench_availability"
PATH = "/api/v1/inventory/actions/get-availability"
TARGET_P99_MS = 10.0
WARM_UP = 100
SHAPES = {"100 locations": "availability_p99_locations", "group of 100": "availability_p99_group"}


def seeded_totals(url: str) -> dict[str, tuple[int, int]]:
    """sku → (on_hand, reserved) summed over every location, as seeded."""
    db = Database(url)
    try:
        with db.reading() as session:
            rows = session.execute(
                text("SELECT sku, sum(on_hand), sum(reserved) FROM inventory_records GROUP BY sku")
            )
            return {sku: (int(on_hand), int(reserved)) for sku, on_hand, reserved in rows}
    finally:
        db.dispose()


def answer_totals(body: dict[str, Any]) -> list[dict[str, tuple[int, int]]]:
    """Per answered place kind (the locations together, each group): sku → (on_hand,
    reserved)."""
    kinds: list[dict[str, tuple[int, int]]] = []
    if body["locations"]:
        summed: dict[str, tuple[int, int]] = {}
        for place in body["locations"]:
            for record in place["inventory_records"]:
                on_hand, reserved = summed.get(record["sku"], (0, 0))
                summed[record["sku"]] = (on_hand + record["on_hand"], reserved + record["reserved"])
        kinds.append(summed)
    for group in body["location_groups"]:
        kinds.append({r["sku"]: (r["on_hand"], r["reserved"]) for r in group["inventory_records"]})
    return kinds


def _cpu(server_pid: int) -> tuple[float, float, float]:
    """CPU seconds so far: the server, this client, the scratch database's backends."""
    return (
        pid_cpu(server_pid) or 0.0,
        time.process_time(),
        postgres_cpu(SCRATCH_DATABASE) or 0.0,
    )


def run(url: str, refs: list[str], count: int, rounds: int) -> tuple[dict[str, Any], bool]:
    key = f"oms_benchkey_{secrets.token_urlsafe(32)}"
    totals = seeded_totals(url)
    asks = _requests(refs, (count + WARM_UP) * rounds, seed=13)
    latencies: dict[str, list[float]] = {shape: [] for shape in SHAPES}
    cpu: dict[str, list[float]] = {shape: [0.0, 0.0, 0.0] for shape in SHAPES}
    verified = True
    with _server(url, key) as (base_url, server_pid):
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=base_url, headers=headers, timeout=30) as http:
            for r in range(rounds):
                for shape in SHAPES:
                    bodies = asks[shape][r * (count + WARM_UP) : (r + 1) * (count + WARM_UP)]
                    before = _cpu(server_pid)
                    for n, body in enumerate(bodies):
                        if n == WARM_UP:
                            before = _cpu(server_pid)
                        began = time.perf_counter()
                        response = http.post(PATH, json=body)
                        response.read()
                        elapsed = time.perf_counter() - began
                        if response.status_code != 200:
                            raise RuntimeError(f"{response.status_code}: {response.text[:300]}")
                        if n >= WARM_UP:
                            latencies[shape].append(elapsed)
                        for kind in answer_totals(json.loads(response.content)):
                            if kind != {sku: totals[sku] for sku in body["skus"]}:
                                verified = False
                    after = _cpu(server_pid)
                    for i in range(3):
                        cpu[shape][i] += after[i] - before[i]
    figures = {
        shape: {
            "requests": len(values),
            "p50": percentile(values, 50) * 1000,
            "p90": percentile(values, 90) * 1000,
            "p99": percentile(values, 99) * 1000,
            "max": max(values) * 1000,
            "server_cpu": cpu[shape][0] / len(values) * 1000,
            "client_cpu": cpu[shape][1] / len(values) * 1000,
            "db_cpu": cpu[shape][2] / len(values) * 1000,
        }
        for shape, values in latencies.items()
    }
    return figures, verified


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--requests", type=int, default=500, help="timed requests per shape")
    parser.add_argument("--rounds", type=int, default=2, help="alternations of the two shapes")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("OPENOMS_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
    )
    args = parser.parse_args(argv)
    header = machine("sqlalchemy", "pydantic", "uvicorn", "httpx")
    backend = PostgresBackend(args.postgres_url, SCRATCH_DATABASE)
    try:
        header.append(f"postgres: {backend.version()}")
        url = backend.fresh()
        refs = seed_availability(url)
        header.append(load("before the timed requests"))
        figures, verified = run(url, refs, args.requests // args.rounds, args.rounds)
        header.append(load("after"))
    finally:
        backend.close()
    print("\n".join([*header, f"code:     {revision()}", ""]))
    print(
        "| 20 SKUs at | requests | p50 ms | p90 ms | p99 ms | max ms | server CPU ms/req "
        "| client CPU ms/req | db CPU ms/req |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for shape, f in figures.items():
        print(
            f"| {shape} | {f['requests']} | {f['p50']:.2f} | {f['p90']:.2f} | {f['p99']:.2f} "
            f"| {f['max']:.2f} | {f['server_cpu']:.2f} | {f['client_cpu']:.2f} "
            f"| {f['db_cpu']:.2f} |"
        )
    print(f"\nverified (every answer adds up to the seeded stock): {verified}")
    for shape in SHAPES:
        p99 = figures[shape]["p99"]
        met = "met" if p99 < TARGET_P99_MS else "MISSED"
        print(f"target p99 < {TARGET_P99_MS:.0f} ms, {shape}: {p99:.2f} ms: {met}")
    for shape, name in SHAPES.items():
        result = {"figure": name, "value": round(figures[shape]["p99"], 2), "unit": "ms"}
        print("RESULT " + json.dumps({**result, "verified": verified}), flush=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()

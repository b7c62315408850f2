"""The console's order page for a 1,000-line order: server time to render it, on SQLite and
PostgreSQL.

    .venv/bin/python bench/console.py [--backend sqlite|postgres|both] [--lines N] [--repeat N]

Each backend gets a fresh database (PostgreSQL: the scratch database `openoms_bench_console`,
dropped at the end) with large_order.py's network (10 warehouses, 2,000 SKUs). One order of
`--lines` lines (one ship group) is captured through the API and routed by a worker in this
process, an agent signs in to the console, and GET /console/orders/{id} is timed in this
process through the ASGI app (no socket: what the server spends, from the request reaching
the app to the last byte of the page), median of `--repeat` after one warm-up request; CPU
time of this process beside it.

Verified: the page answers 200 with one row per item of the order and the totals that
GET /api/v1/order-summaries/{id} answers. Prints `RESULT` lines `console_order_page_ms_<backend>`
(target: under 500 ms).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from typing import Any

from fastapi.testclient import TestClient

from common import (
    DEFAULT_POSTGRES_URL,
    Backend,
    PostgresBackend,
    SqliteBackend,
    load,
    machine,
    revision,
)
from large_order import payload, route, seed
from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.api.app import create_app
from openoms.services.access import Scope, create_api_key, create_console_user
from openoms.worker.consumers import default_registry

SCRATCH_DATABASE = "openoms_bench_console"
PASSWORD = "bench console password"
TARGET_MS = 500.0
ROW = re.compile(r'<tr data-item="')
TOTAL = re.compile(r'data-total="(\w+)">([^<]+)<')
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def run_backend(backend: Backend, lines: int, repeat: int) -> dict[str, Any]:
    url = backend.fresh()
    seed(url)
    db = Database(url)
    with db.transaction() as session:
        _, key = create_api_key(session, name="bench", scopes=[Scope.ADMIN])
        create_console_user(session, email="agent@bench.test", role="agent", password=PASSWORD)
    app = create_app(db, Outbox(default_registry()))
    problems: list[str] = []
    with TestClient(app, follow_redirects=False) as client:
        headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "bench-console"}
        captured = client.post(
            "/api/v1/orders", json=payload("CONSOLE-1", lines, 1), headers=headers
        )
        assert captured.status_code == 201, captured.text
        summary_id = captured.json()["id"]
        route(db)
        truth = client.get(f"/api/v1/order-summaries/{summary_id}", headers=headers).json()
        form = client.get("/console/login")
        signed = client.post(
            "/console/login",
            data={
                "email": "agent@bench.test",
                "password": PASSWORD,
                "csrf_token": CSRF.search(form.text).group(1),
            },  # type: ignore[union-attr]
        )
        assert signed.status_code == 303, signed.text
        path = f"/console/orders/{summary_id}"
        client.get(path)  # warm-up: templates compiled, caches filled
        wall, cpu = [], []
        for _ in range(repeat):
            began, began_cpu = time.perf_counter(), time.process_time()
            page = client.get(path)
            wall.append((time.perf_counter() - began) * 1000)
            cpu.append((time.process_time() - began_cpu) * 1000)
        if page.status_code != 200:
            problems.append(f"page answered {page.status_code}")
        rows = len(ROW.findall(page.text))
        if rows != len(truth["items"]):
            problems.append(f"{rows} item rows on the page, {len(truth['items'])} items")
        if dict(TOTAL.findall(page.text)) != truth["totals"]:
            problems.append("page totals differ from the API's")
        if len(truth["fulfillment_orders"]) == 0:
            problems.append("the order was not routed")
    db.dispose()
    return {
        "backend": backend.name,
        "lines": lines,
        "items": len(truth["items"]),
        "page_kb": len(page.content) / 1024,
        "ms": statistics.median(wall),
        "cpu_ms": statistics.median(cpu),
        "problems": problems,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--lines", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5, help="page GETs timed")
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
        backends.append(SqliteBackend("console"))
    rows = []
    try:
        for backend in backends:
            header.append(f"{backend.name + ':':9s} {backend.version()}")
            rows.append(run_backend(backend, args.lines, args.repeat))
    finally:
        for backend in backends:
            backend.close()
    header.append(load("after the runs"))
    print("\n".join([*header, f"code:     {revision()}", ""]))
    print("| backend | lines | items | page KB | order page ms (CPU) | verified |")
    print("|---|---:|---:|---:|---:|---|")
    for r in rows:
        print(
            f"| {r['backend']} | {r['lines']} | {r['items']} | {r['page_kb']:.0f} "
            f"| {r['ms']:.0f} ({r['cpu_ms']:.0f}) | {not r['problems']} |"
        )
        for problem in r["problems"]:
            print(f"  problem: {problem}", file=sys.stderr)
    for r in rows:
        result = {
            "figure": f"console_order_page_ms_{r['backend']}",
            "value": round(r["ms"], 1),
            "unit": "ms",
            "verified": not r["problems"],
        }
        print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()

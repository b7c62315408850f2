"""Hot-SKU reservations: many concurrent clients reserving one SKU at one location through
the service layer (`openoms.services.reservations.reserve`), on PostgreSQL.

    .venv/bin/python bench/reservation_load.py [--database-url URL] [--clients 64]
        [--seconds 5] [--processes N] [--in-place]

By default the run uses a scratch database `openoms_bench_reservations` on the server of
`--database-url` (created, migrated, dropped at the end); `--in-place` uses the database of
the URL itself. `run()` always works in place: it migrates the database and adds its own
uniquely named location and SKU, so other benchmarks can call it on theirs.

One reservation is one `reserve` of 1 unit in its own transaction, exactly as an API
request or a capture would run it, each client with its own connection. The clients are
threads spread over N processes, one by default: on a hot SKU the row lock serialises the
reservations, and a second Python process only takes CPU from PostgreSQL (measured on the
2-core machine: 1 process 505/s, 2 processes 365/s, 4 and more fewer still). Each client
first makes a few untimed reservations so connections and statement caches exist before
the clock starts.

Three phases:
- throughput: the hot record has far more stock than the run can take; the figure is
  successful reservations per second over the timed window;
- exhaustion: a second hot record with on_hand 1,000 and safety_stock 10 is hammered until
  every client has been refused; exactly 990 units must be reserved;
- ceiling: the same clients run nothing but the conditional UPDATE and a COMMIT on a third
  hot record, in plain psycopg. A hot record's row lock is held from the UPDATE until the
  COMMIT has been flushed to disk, so this is what the disk and the CPUs allow any
  implementation of the design on this machine, at this moment.
The first two end with the oversell check: Σ units of successful reservations == the record's
`reserved` ≤ on_hand − safety_stock, and no reservation line holds units the record does
not count.

DESIGN.md §11 target: 64 concurrent clients on a hot SKU, zero oversell, ≥ 2,000
reservations/s on PostgreSQL.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import threading
import time
import uuid
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import psycopg
from sqlalchemy import func, make_url, select

from common import DEFAULT_POSTGRES_URL, load, machine, percentile, scratch_postgres
from openoms.adapters.db.migrate import upgrade
from openoms.adapters.db.models import InventoryRecord, Location, ReservationLine
from openoms.adapters.db.session import Database
from openoms.adapters.outbox import ConsumerRegistry, Outbox
from openoms.config import normalise_database_url
from openoms.domain.inventory import InsufficientStock
from openoms.services.inventory import reserve

SCRATCH_DATABASE = "openoms_bench_reservations"
TARGET_PER_SECOND = 2_000  # DESIGN.md §11
WARM_UP = 5  # reservations per client before the clock starts
EXHAUST_ON_HAND, EXHAUST_SAFETY = 1_000, 10
RAW_HOLD = (
    "UPDATE inventory_records SET reserved = reserved + 1 WHERE location_id = %s AND sku = %s"
    " AND on_hand - reserved - safety_stock >= 1"
)


@dataclass(slots=True)
class _ClientTally:
    units: int = 0
    refused: int = 0
    latencies: list[float] = field(default_factory=list)


def run(
    database_url: str,
    *,
    clients: int = 64,
    seconds: float = 5.0,
    processes: int | None = None,
) -> dict[str, Any]:
    """Measure hot-SKU reservations/s with `clients` concurrent clients (threads spread over
    `processes`, one by default: see the module docstring), then exhaust a small record,
    then measure the bare UPDATE + COMMIT ceiling. Verifies zero oversell; returns the
    figures; raises AssertionError on any oversell."""
    url = normalise_database_url(database_url)
    upgrade(url)
    processes = max(1, min(processes or 1, clients))
    tag = uuid.uuid4().hex[:10]
    location_id = f"loc_bench_{tag}"
    hot_sku, exhaust_sku, raw_sku = f"HOT-{tag}", f"LAST-{tag}", f"RAW-{tag}"
    big = 100_000_000
    _seed(
        url, location_id, [(hot_sku, big, 0), (exhaust_sku, EXHAUST_ON_HAND, 0), (raw_sku, big, 0)]
    )
    layout = (clients, processes)
    throughput = _phase(url, location_id, hot_sku, *layout, seconds, mode="reserve")
    _set_stock(url, location_id, exhaust_sku, EXHAUST_ON_HAND, EXHAUST_SAFETY)
    exhaust = _phase(url, location_id, exhaust_sku, *layout, 60.0, mode="exhaust")
    ceiling = _phase(url, location_id, raw_sku, *layout, seconds, mode="raw")
    if exhaust["reserved"] != EXHAUST_ON_HAND - EXHAUST_SAFETY:
        raise AssertionError(f"exhaustion left stock unreserved or oversold: {exhaust}")
    return {
        "backend": make_url(url).get_backend_name(),
        "clients": clients,
        "processes": processes,
        "threads_per_process": -(-clients // processes),
        **{k: throughput[k] for k in ("reservations", "seconds", "per_second", "p50_ms", "p99_ms")},
        "target_per_second": TARGET_PER_SECOND,
        # The same clients running only the conditional UPDATE and COMMIT on a hot record, in
        # plain psycopg: what the row lock and the commit flush allow on this machine.
        "raw_update_commit_per_second": ceiling["per_second"],
        "oversold": throughput["oversold"] + exhaust["oversold"],
        "exhaust": {
            k: exhaust[k]
            for k in ("on_hand", "safety_stock", "reserved", "reservations", "refused", "seconds")
        },
    }


# --- phases -------------------------------------------------------------------------------


def _phase(
    url: str,
    location_id: str,
    sku: str,
    clients: int,
    processes: int,
    seconds: float,
    *,
    mode: str,
) -> dict[str, Any]:
    shares = [
        clients // processes + (1 if i < clients % processes else 0) for i in range(processes)
    ]
    context = multiprocessing.get_context("spawn")
    ready, results = context.Queue(), context.Queue()
    go = context.Event()
    args = (url, location_id, sku, seconds, mode, ready, go, results)
    workers = [
        context.Process(target=_process_main, args=(i, share, *args), daemon=True)
        for i, share in enumerate(shares)
    ]
    for worker in workers:
        worker.start()
    for _ in workers:
        ready.get(timeout=120)  # every process connected and warmed up
    before = _record(url, location_id, sku)["reserved"]
    started = time.perf_counter()
    go.set()
    tallies = [results.get(timeout=seconds + 120) for _ in workers]
    elapsed = time.perf_counter() - started
    for worker in workers:
        worker.join(timeout=30)
    units = sum(t["units"] for t in tallies)
    warm = sum(t["warm_units"] for t in tallies)
    latencies = [x for t in tallies for x in t["latencies"]]
    record = _record(url, location_id, sku)
    oversold = 0
    if mode != "raw":
        oversold = _check_no_oversell(record, expected_reserved=before + units, warm=warm)
    timed = max(t["elapsed"] for t in tallies)
    return {
        **record,
        "reservations": len(latencies),
        "refused": sum(t["refused"] for t in tallies),
        "seconds": round(elapsed if mode == "exhaust" else timed, 3),
        "per_second": round(len(latencies) / timed, 1) if timed else 0.0,
        "p50_ms": round(percentile(latencies, 50) * 1000, 2) if latencies else None,
        "p99_ms": round(percentile(latencies, 99) * 1000, 2) if latencies else None,
        "oversold": oversold,
    }


def _check_no_oversell(record: dict[str, Any], *, expected_reserved: int, warm: int) -> int:
    """Zero oversell: the record counts exactly the units of successful reservations (and its
    lines agree), and never more than on_hand − safety_stock."""
    limit = record["on_hand"] - record["safety_stock"]
    if record["reserved"] != expected_reserved or record["lines"] != record["reserved"]:
        raise AssertionError(
            f"reserved {record['reserved']} ≠ Σ successful units {expected_reserved} "
            f"(lines {record['lines']}, warm-up {warm})"
        )
    if record["reserved"] > limit:
        raise AssertionError(f"OVERSOLD: reserved {record['reserved']} > {limit}")
    return max(record["reserved"] - limit, 0)


def _process_main(
    index: int,
    threads: int,
    url: str,
    location_id: str,
    sku: str,
    seconds: float,
    mode: str,
    ready: Any,
    go: Any,
    results: Any,
) -> None:
    db = Database(url, pool_size=threads, max_overflow=0)
    outbox = Outbox(ConsumerRegistry())
    tallies = [_ClientTally() for _ in range(threads)]
    warm_units = 0
    local = threading.local()
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)

    def one(tally: _ClientTally, key: str) -> bool:
        if mode == "raw":
            if not hasattr(local, "connection"):
                local.connection = psycopg.connect(dsn)
            local.connection.execute(RAW_HOLD, (location_id, sku))
            local.connection.commit()
            return True
        try:
            with db.transaction() as session:
                reserve(
                    session,
                    outbox,
                    owner="bench",
                    idempotency_key=key,
                    request_hash="bench",
                    items={sku: 1},
                    location_id=location_id,
                )
        except InsufficientStock:
            tally.refused += 1
            return False
        return True

    prefix = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    if mode != "exhaust":
        for t in range(threads):  # sequential: opens every connection in the pool
            for n in range(WARM_UP):
                warm_units += one(_ClientTally(), f"{prefix}-w{t}-{n}")
    ready.put(index)
    go.wait()
    deadline = time.perf_counter() + seconds

    def client(t: int, tally: _ClientTally) -> None:
        n = 0
        while time.perf_counter() < deadline:
            n += 1
            began = time.perf_counter()
            if one(tally, f"{prefix}-{t}-{n}"):
                tally.units += 1
                tally.latencies.append(time.perf_counter() - began)
            elif mode == "exhaust":
                return

    began = time.perf_counter()
    workers = [threading.Thread(target=client, args=(t, tally)) for t, tally in enumerate(tallies)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    results.put(
        {
            "units": sum(t.units for t in tallies),
            "refused": sum(t.refused for t in tallies),
            "latencies": [x for t in tallies for x in t.latencies],
            "elapsed": time.perf_counter() - began,
            "warm_units": warm_units,
        }
    )
    db.dispose()


# --- data ---------------------------------------------------------------------------------


def _seed(url: str, location_id: str, records: list[tuple[str, int, int]]) -> None:
    db = Database(url)
    with db.transaction() as session:
        session.add(Location(id=location_id, ref=location_id, name="bench", type="warehouse"))
        session.flush()
        for sku, on_hand, safety in records:
            session.add(
                InventoryRecord(
                    location_id=location_id, sku=sku, on_hand=on_hand, safety_stock=safety
                )
            )
    db.dispose()


def _set_stock(url: str, location_id: str, sku: str, on_hand: int, safety: int) -> None:
    db = Database(url)
    with db.transaction() as session:
        session.execute(
            InventoryRecord.__table__.update()
            .where(InventoryRecord.location_id == location_id, InventoryRecord.sku == sku)
            .values(on_hand=on_hand, safety_stock=safety)
        )
    db.dispose()


def _record(url: str, location_id: str, sku: str) -> dict[str, Any]:
    db = Database(url)
    with db.reading() as session:
        record = session.scalars(
            select(InventoryRecord).where(
                InventoryRecord.location_id == location_id, InventoryRecord.sku == sku
            )
        ).one()
        lines = session.scalar(
            select(func.coalesce(func.sum(ReservationLine.quantity), 0)).where(
                ReservationLine.location_id == location_id, ReservationLine.sku == sku
            )
        )
    db.dispose()
    return {
        "on_hand": record.on_hand,
        "safety_stock": record.safety_stock,
        "reserved": record.reserved,
        "lines": int(lines or 0),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", default=os.environ.get("OPENOMS_BENCH_URL", DEFAULT_POSTGRES_URL)
    )
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--processes", type=int, default=None)
    parser.add_argument("--in-place", action="store_true", help="use the URL's database itself")
    args = parser.parse_args(argv)
    database = nullcontext(args.database_url) if args.in_place else None
    header = machine("sqlalchemy", "psycopg")
    with database or scratch_postgres(args.database_url, SCRATCH_DATABASE) as url:
        figures = run(url, clients=args.clients, seconds=args.seconds, processes=args.processes)
    print("\n".join([*header, load("after the runs")]))
    print(
        f"  hot SKU, {figures['clients']} clients ({figures['processes']} processes × "
        f"{figures['threads_per_process']} threads), {figures['seconds']} s: "
        f"{figures['reservations']} reservations, {figures['per_second']:.0f}/s "
        f"(target {TARGET_PER_SECOND}), p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms"
    )
    ex = figures["exhaust"]
    print(
        f"  exhaustion: on_hand {ex['on_hand']}, safety {ex['safety_stock']} → reserved "
        f"{ex['reserved']} by {ex['reservations']} reservations, {ex['refused']} refused, "
        f"in {ex['seconds']} s"
    )
    print(
        f"  ceiling: plain psycopg UPDATE + COMMIT on a hot record, same clients: "
        f"{figures['raw_update_commit_per_second']:.0f}/s"
    )
    print(f"  oversold: {figures['oversold']}")
    return 0 if figures["per_second"] >= TARGET_PER_SECOND else 1


if __name__ == "__main__":
    sys.exit(main())

"""Hot-SKU reservations: many concurrent clients reserving one SKU at one location through
the service layer, on PostgreSQL: by default through the process's `ReservationBatcher`
(group commit: the requests waiting share one transaction and one commit, as
`POST /api/v1/reservations` runs them), with `--unbatched` one `reserve` per transaction.

    .venv/bin/python bench/reservation_load.py [--database-url URL] [--clients 64]
        [--seconds 5] [--processes N] [--in-place] [--unbatched] [--loosen-guard]

`--loosen-guard` runs the batcher with its guard loosened (each request judged against the
batch's first read, the record updated without its condition): the exhaustion phase must
then report an oversell, which shows the check can fail (the run exits non-zero, verified
false).

By default the run uses a scratch database `openoms_bench_reservations` on the server of
`--database-url` (created, migrated, dropped at the end); `--in-place` uses the database of
the URL itself. `run()` always works in place: it migrates the database and adds its own
uniquely named location and SKU, so other benchmarks can call it on theirs.

Batched, one reservation is one `ReservationBatcher.submit` of 1 unit, and the clients of a
process share its batcher (one thread, one connection for the writes). Unbatched, one
reservation is one `reserve` of 1 unit in its own transaction, as a capture runs it, each
client with its own connection. The clients are
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
import json
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
from openoms.services.inventory import ReservationBatcher, ReserveRequest, reserve

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
    batched: bool = True,
    loosen_guard: bool = False,
) -> dict[str, Any]:
    """Measure hot-SKU reservations/s with `clients` concurrent clients (threads spread over
    `processes`, one by default: see the module docstring), through each process's batcher
    unless not `batched`, then exhaust a small record, then measure the bare UPDATE + COMMIT
    ceiling. Returns the figures; `verified` says zero oversell and exactly 990 units
    reserved by the exhaustion (raises AssertionError when the books disagree)."""
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
    how = "loose" if loosen_guard else "batched" if batched else "single"
    throughput = _phase(url, location_id, hot_sku, *layout, seconds, mode="reserve", how=how)
    _set_stock(url, location_id, exhaust_sku, EXHAUST_ON_HAND, EXHAUST_SAFETY)
    exhaust = _phase(url, location_id, exhaust_sku, *layout, 60.0, mode="exhaust", how=how)
    ceiling = _phase(url, location_id, raw_sku, *layout, seconds, mode="raw", how=how)
    exact = exhaust["reserved"] == EXHAUST_ON_HAND - EXHAUST_SAFETY
    oversold = throughput["oversold"] + exhaust["oversold"]
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
        "raw_verified": ceiling["raw_exact"],
        "path": how,
        "mean_batch": throughput["mean_batch"],
        "cpu_ms": throughput["cpu_ms"],
        "batcher_cpu_ms": throughput["batcher_cpu_ms"],
        "oversold": oversold,
        "verified": oversold == 0 and exact,
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
    how: str,
) -> dict[str, Any]:
    shares = [
        clients // processes + (1 if i < clients % processes else 0) for i in range(processes)
    ]
    context = multiprocessing.get_context("spawn")
    ready, results = context.Queue(), context.Queue()
    go = context.Event()
    args = (url, location_id, sku, seconds, mode, how, ready, go, results)
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
    batches = sum(t["batches"] for t in tallies)
    done = max(units, 1)
    return {
        **record,
        "reservations": len(latencies),
        "refused": sum(t["refused"] for t in tallies),
        "seconds": round(elapsed if mode == "exhaust" else timed, 3),
        "per_second": round(len(latencies) / timed, 1) if timed else 0.0,
        "p50_ms": round(percentile(latencies, 50) * 1000, 2) if latencies else None,
        "p99_ms": round(percentile(latencies, 99) * 1000, 2) if latencies else None,
        "oversold": oversold,
        "raw_exact": record["reserved"] == before + units,
        "mean_batch": round(units / batches, 1) if batches else None,
        # CPU of the client processes per reservation (ms), and of that the batcher's thread.
        "cpu_ms": round(sum(t["cpu"] for t in tallies) / done * 1000, 3),
        "batcher_cpu_ms": round(sum(t["batcher_cpu"] for t in tallies) / done * 1000, 3),
    }


def _check_no_oversell(record: dict[str, Any], *, expected_reserved: int, warm: int) -> int:
    """Zero oversell: the record counts exactly the units of successful reservations (and its
    lines agree), and never more than on_hand − safety_stock. Returns the units oversold;
    raises AssertionError when the books disagree."""
    limit = record["on_hand"] - record["safety_stock"]
    if record["reserved"] != expected_reserved or record["lines"] != record["reserved"]:
        raise AssertionError(
            f"reserved {record['reserved']} ≠ Σ successful units {expected_reserved} "
            f"(lines {record['lines']}, warm-up {warm})"
        )
    if record["reserved"] > limit:
        print(f"  OVERSOLD: reserved {record['reserved']} > on_hand − safety_stock {limit}")
    return max(record["reserved"] - limit, 0)


def _process_main(
    index: int,
    threads: int,
    url: str,
    location_id: str,
    sku: str,
    seconds: float,
    mode: str,
    how: str,
    ready: Any,
    go: Any,
    results: Any,
) -> None:
    db = Database(url, pool_size=threads, max_overflow=0)
    outbox = Outbox(ConsumerRegistry())
    batcher = ReservationBatcher(db, outbox, loosened_guard=how == "loose")
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
            if how != "single":
                batcher.submit(
                    ReserveRequest(
                        owner="bench",
                        idempotency_key=key,
                        request_hash="bench",
                        items={sku: 1},
                        location_id=location_id,
                    )
                )
                return True
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

    began, cpu_began = time.perf_counter(), time.process_time()
    batcher_began, batches_began = batcher.cpu_seconds, batcher.batches
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
            "batches": batcher.batches - batches_began,
            "cpu": time.process_time() - cpu_began,
            "batcher_cpu": batcher.cpu_seconds - batcher_began,
        }
    )
    batcher.close()
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
    parser.add_argument(
        "--unbatched", action="store_true", help="one reserve per transaction (the old path)"
    )
    parser.add_argument(
        "--loosen-guard",
        action="store_true",
        help="batch with the guard loosened: the run must report an oversell",
    )
    args = parser.parse_args(argv)
    database = nullcontext(args.database_url) if args.in_place else None
    header = machine("sqlalchemy", "psycopg")
    with database or scratch_postgres(args.database_url, SCRATCH_DATABASE) as url:
        figures = run(
            url,
            clients=args.clients,
            seconds=args.seconds,
            processes=args.processes,
            batched=not args.unbatched,
            loosen_guard=args.loosen_guard,
        )
    print("\n".join([*header, load("after the runs")]))
    print(
        f"  path: {PATHS[figures['path']]}, mean batch {figures['mean_batch']} reservations; "
        f"client process CPU {figures['cpu_ms']} ms per reservation "
        f"(batcher thread {figures['batcher_cpu_ms']} ms)"
    )
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
    result("hot_sku_reservations", figures["per_second"], "reservations/s", figures["verified"])
    result(
        "hot_sku_ceiling",
        figures["raw_update_commit_per_second"],
        "commits/s",
        figures["raw_verified"],
    )
    return 0 if figures["verified"] and figures["per_second"] >= TARGET_PER_SECOND else 1


PATHS = {
    "batched": "batched (ReservationBatcher, group commit)",
    "single": "unbatched (one reserve per transaction)",
    "loose": "batched with the guard LOOSENED (must oversell)",
}


def result(figure: str, value: float, unit: str, verified: bool) -> None:
    line = {"figure": figure, "value": value, "unit": unit, "verified": verified}
    print(f"RESULT {json.dumps(line)}")


if __name__ == "__main__":
    sys.exit(main())

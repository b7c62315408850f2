"""End to end: capture → reserve → route → fulfillment orders, with workers, SQLite and PostgreSQL.

    .venv/bin/python bench/lifecycle.py [--backend sqlite|postgres|both] [--orders N]
        [--clients C] [--client-mode thread|process] [--workers W]
        [--worker-mode thread|process|both] [--poll SECONDS]

Every run starts from a freshly migrated database (a temporary SQLite file, or the scratch
PostgreSQL database `openoms_bench_lifecycle`, dropped at the end) holding the demo network
(`seed_demo_network`) with 10,000,000 units of every SKU everywhere, so no order waits for
stock. The payload dicts (`demo_orders`, MANAGED: 1–4 lines, a quarter with a store pickup)
are built before the clock starts; validation and pricing are timed.

While C clients capture (`capture_order`, one transaction per order, reserving each
delivery group where the channel's strategy ships it from, and queueing the order's
`route_order` job), W workers (`Worker(db, default_registry(),
jobs=default_jobs(db)).run_forever`, threads in this process or processes of their own)
drain the outbox and run the jobs (route the order's groups, move stock only where routing
chose elsewhere, create the fulfillment orders; authorize the payments). A monitor polls
the database for orders whose every delivery group has a fulfillment order. The clock
starts when the clients start and stops when the last order is routed: orders/s = orders ÷
that time. Time to routed = when the monitor saw the order's last group routed − when its
capture returned (the monitor polls every 20 ms, so figures below that are its resolution).
A few warm-up orders are captured and routed untimed first.

CPU per order (what a loaded, shared machine moves least): *app* is this process (clients
and workers as threads, and the monitor) plus the worker and client processes; *db* is the
PostgreSQL backends of the scratch database (from /proc, so only for a local server), both
over the timed region.

At the end every order must be WAITING_TO_FULFILL, each product item allocated in full
(quantity_allocated == ordered, and its fulfillment order lines sum to the same), no job or
delivery dead or pending, and no oversell: every inventory record's `reserved` equals the sum
of its reservation lines and stays within on_hand − safety_stock.

Targets: ≥ 200 orders/s on SQLite, ≥ 500 orders/s on PostgreSQL. The last lines are one
`RESULT {json}` per figure of each run: `pipeline_sqlite`, `pipeline_postgres_processes` or
`pipeline_postgres_threads` (orders/s), and the same names with `_app_cpu` / `_db_cpu`
(ms of CPU per order); `verified` is whether that run's end-state checks passed.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from common import (
    DEFAULT_POSTGRES_URL,
    STOCK_CHECKS,
    Backend,
    PostgresBackend,
    SqliteBackend,
    machine,
    percentile,
    pid_cpu,
    postgres_pids,
    stocked_demo_database,
)
from openoms.adapters.db.session import Database, retry_transient
from openoms.adapters.outbox import Outbox
from openoms.demo import demo_orders
from openoms.schemas.orders import OrderCreate
from openoms.services.orders import CaptureResult, capture_order
from openoms.worker.consumers import default_jobs, default_registry
from openoms.worker.runner import Worker

SCRATCH_DATABASE = "openoms_bench_lifecycle"
TARGETS = {"sqlite": 200, "postgres": 500}  # orders/s, DESIGN.md §11
WARM_UP = 20  # orders captured and routed before the clock starts
MONITOR_SECONDS = 0.02
DRAIN_TIMEOUT = 120.0  # seconds after the last capture before the run is declared stuck


@dataclass(slots=True)
class Run:
    backend: str
    clients: str
    workers: str
    orders: int = 0
    seconds: float = 0.0
    capture_seconds: float = 0.0
    capture_latencies: list[float] = field(default_factory=list)
    routed_latencies: list[float] = field(default_factory=list)
    failures: int = 0
    retries: int = 0
    problems: list[str] = field(default_factory=list)
    app_cpu: float = 0.0  # CPU seconds of this process, its worker and client processes
    db_cpu: float | None = None  # CPU seconds of the PostgreSQL backends of the database

    @property
    def per_second(self) -> float:
        return self.orders / self.seconds if self.seconds else 0.0


def _ms(values: list[float], p: float) -> float:
    """Nearest-rank percentile of latencies in seconds, in milliseconds (NaN for none)."""
    return percentile(values, p) * 1000 if values else float("nan")


# --- databases ----------------------------------------------------------------------------


def payloads(count: int, *, prefix: str, seed: int) -> list[dict[str, Any]]:
    orders = demo_orders(count, seed=seed, prefix=prefix)
    for order in orders:
        order["lifecycle"] = "MANAGED"
    return orders


# --- capture clients ----------------------------------------------------------------------


def capture_one(db: Database, outbox: Outbox, payload: dict[str, Any]) -> tuple[str, int]:
    """Validate, then one transaction, run afresh after a deadlock or serialization failure
    (as the API does). Returns the summary id and how many times it was retried."""
    attempts = 0

    def attempt() -> CaptureResult:
        nonlocal attempts
        attempts += 1
        draft = OrderCreate.model_validate(payload).to_draft()
        with db.transaction() as session:
            return capture_order(session, outbox, draft)

    result = retry_transient(attempt)
    if not result.created:
        raise RuntimeError(f"{payload['external_reference']} was not created")
    return result.order_summary_id, attempts - 1


def capture_all(
    db: Database,
    batch: list[dict[str, Any]],
    report: Callable[[tuple[str, float, float, int]], object],
    start: Callable[[], object],
) -> None:
    """Capture `batch`; report (summary id, latency, end time, retries) per order, or
    ("", latency, end, -1) for a failed one."""
    outbox = Outbox(default_registry())
    start()
    for payload in batch:
        began = time.monotonic()
        try:
            summary_id, retried = capture_one(db, outbox, payload)
        except Exception as exc:  # counted and shown; the run goes on
            print(f"capture failed: {exc!r:.300}", file=sys.stderr)
            summary_id, retried = "", -1
        end = time.monotonic()
        report((summary_id, end - began, end, retried))


def _client_process(url: str, batch: Any, results: Any, go: Any) -> None:
    db = Database(url)
    capture_all(db, batch, results.put, go.wait)
    results.put(None)
    db.dispose()


# --- workers ------------------------------------------------------------------------------


def worker_loop(url: str, stop: Any, poll: float | None) -> None:
    db = Database(url)
    worker = Worker(db, default_registry(), jobs=default_jobs(db))
    if poll is not None:
        worker.poll_seconds = poll
    worker.run_forever(stop)
    db.dispose()


class Workers:
    """W workers as threads of this process or as processes of their own."""

    def __init__(self, url: str, count: int, mode: str, poll: float | None) -> None:
        self._mode = mode
        if mode == "process":
            context = multiprocessing.get_context("spawn")
            self._stop: Any = context.Event()
            self._runners: list[Any] = [
                context.Process(target=worker_loop, args=(url, self._stop, poll), daemon=True)
                for _ in range(count)
            ]
        else:
            self._stop = threading.Event()
            self._runners = [
                threading.Thread(target=worker_loop, args=(url, self._stop, poll), daemon=True)
                for _ in range(count)
            ]

    def start(self) -> None:
        for runner in self._runners:
            runner.start()

    @property
    def pids(self) -> list[int]:
        return [r.pid for r in self._runners] if self._mode == "process" else []

    def stop(self) -> None:
        self._stop.set()
        for runner in self._runners:
            runner.join(timeout=30)


# --- CPU ---------------------------------------------------------------------------------


def _cpu(pid: int) -> float:
    """utime + stime of a process (all its threads); 0 when it is gone."""
    return pid_cpu(pid) or 0.0


def _backends() -> list[int]:
    """PostgreSQL backends serving the scratch database (a local server only)."""
    return postgres_pids(SCRATCH_DATABASE)


class CpuMeter:
    """CPU used from now on by the app's processes and, on PostgreSQL, the backends."""

    def __init__(self, pids: list[int], backend: Backend) -> None:
        self._pids = pids
        self._postgres = backend.name == "postgres"
        self._app = {pid: _cpu(pid) for pid in pids}
        self._db = {pid: _cpu(pid) for pid in _backends()} if self._postgres else {}

    def used(self) -> tuple[float, float | None]:
        app = sum(_cpu(pid) - self._app[pid] for pid in self._pids)
        if not self._postgres:
            return app, None
        return app, sum(_cpu(pid) - self._db.get(pid, 0.0) for pid in _backends())


# --- the monitor --------------------------------------------------------------------------

_ROUTED = text(
    """
    SELECT g.order_summary_id
    FROM order_delivery_group_summaries g
    WHERE g.order_summary_id IN ({ids})
    GROUP BY g.order_summary_id
    HAVING count(*) = sum(CASE WHEN EXISTS (SELECT 1 FROM fulfillment_orders f
                                        WHERE f.delivery_group_summary_id = g.id)
                          THEN 1 ELSE 0 END)
    """
)


def routed_among(db: Database, ids: list[str]) -> set[str]:
    """Those of the orders whose every delivery group has a fulfillment order."""
    done: set[str] = set()
    with db.reading() as session:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join(f":i{n}" for n in range(len(chunk)))
            statement = text(_ROUTED.text.format(ids=marks))
            rows = session.execute(statement, {f"i{n}": i for n, i in enumerate(chunk)})
            done.update(row[0] for row in rows)
    return done


def wait_routed(
    db: Database, captured: dict[str, float], routed: dict[str, float], until: Callable[[], bool]
) -> None:
    """Poll until `until()` and every captured order is routed; record when each was seen."""
    while True:
        finished = until()
        pending = [i for i in list(captured) if i not in routed]
        if pending:
            seen = time.monotonic()
            for summary_id in routed_among(db, pending):
                routed[summary_id] = seen
        elif finished:
            return
        time.sleep(MONITOR_SECONDS)


# --- one run ------------------------------------------------------------------------------


def run(
    backend: Backend,
    *,
    orders: int,
    clients: int,
    client_mode: str,
    workers: int,
    worker_mode: str,
    poll: float | None,
) -> Run:
    url = stocked_demo_database(backend)
    db = Database(url)
    figures = Run(backend.name, _count(clients, client_mode), _count(workers, worker_mode))
    try:
        _warm_up(db)
        every = payloads(orders, prefix="LC", seed=1)
        batches = [every[n::clients] for n in range(clients)]
        pool = Workers(url, workers, worker_mode, poll)
        pool.start()
        time.sleep(1.0 if worker_mode == "process" else 0.1)  # let them connect and go idle
        captured: dict[str, float] = {}
        routed: dict[str, float] = {}
        outcome: queue.Queue[Any] | Any
        done_clients = 0

        def take(item: tuple[str, float, float, int] | None) -> None:
            nonlocal done_clients
            if item is None:
                done_clients += 1
                return
            summary_id, latency, end, retried = item
            figures.capture_latencies.append(latency)
            if retried < 0:
                figures.failures += 1
                return
            figures.retries += retried
            captured[summary_id] = end

        if client_mode == "process":
            context = multiprocessing.get_context("spawn")
            outcome, go = context.Queue(), context.Event()
            procs = [
                context.Process(target=_client_process, args=(url, batch, outcome, go))
                for batch in batches
            ]
            for proc in procs:
                proc.start()
            time.sleep(1.0)
            app_pids = [os.getpid(), *pool.pids, *(p.pid for p in procs if p.pid)]
            cpu = CpuMeter(app_pids, backend)
            start = time.monotonic()
            go.set()
        else:
            outcome = queue.Queue()
            go_t = threading.Event()
            threads = [
                threading.Thread(target=_client_thread, args=(db, batch, outcome, go_t))
                for batch in batches
            ]
            for thread in threads:
                thread.start()
            cpu = CpuMeter([os.getpid(), *pool.pids], backend)
            start = time.monotonic()
            go_t.set()

        capture_end = 0.0

        def all_captured() -> bool:
            nonlocal capture_end
            while True:
                try:
                    take(outcome.get_nowait())
                except queue.Empty:
                    break
            if done_clients == clients and not capture_end:
                capture_end = time.monotonic()
            if capture_end and time.monotonic() - capture_end > DRAIN_TIMEOUT:
                raise TimeoutError(f"{len(captured) - len(routed)} orders not routed in time")
            return done_clients == clients

        wait_routed(db, captured, routed, all_captured)
        end = max(routed.values(), default=start)
        figures.app_cpu, figures.db_cpu = cpu.used()
        # The clock stops at the last routed order; the deliveries of its last events (no
        # longer on the routing path) are left to the workers before the checks.
        wait_drained(db)
        pool.stop()
        figures.orders = len(captured)
        figures.seconds = end - start
        figures.capture_seconds = capture_end - start
        figures.routed_latencies = [routed[i] - captured[i] for i in captured]
        figures.problems = verify(db)
    finally:
        db.dispose()
    return figures


def _count(n: int, mode: str) -> str:
    return f"{n} {mode}" + ("" if n == 1 else "es" if mode == "process" else "s")


def _client_thread(db: Database, batch: Any, results: Any, go: threading.Event) -> None:
    capture_all(db, batch, results.put, go.wait)
    results.put(None)


def _warm_up(db: Database) -> None:
    """Capture and route a few orders so connections, caches and imports exist."""
    outbox = Outbox(default_registry())
    for payload in payloads(WARM_UP, prefix="WARM", seed=99):
        capture_one(db, outbox, payload)
    worker = Worker(db, default_registry(), jobs=default_jobs(db))
    for _ in range(20):
        if not worker.run_once():
            break


# --- verification -------------------------------------------------------------------------

_CHECKS = {
    "orders not WAITING_TO_FULFILL": """
        SELECT count(*) FROM order_summaries WHERE status <> 'WAITING_TO_FULFILL'""",
    "product items not allocated in full": """
        SELECT count(*) FROM order_item_summaries
        WHERE type = 'product' AND quantity_allocated <> quantity_ordered""",
    "product items whose fulfillment order lines differ from the ordered units": """
        SELECT count(*) FROM order_item_summaries i
        WHERE i.type = 'product' AND i.quantity_ordered <> (
            SELECT coalesce(sum(l.quantity), 0) FROM fulfillment_order_line_items l
            WHERE l.order_item_summary_id = i.id)""",
    **STOCK_CHECKS,
    "jobs not done": "SELECT count(*) FROM jobs WHERE status <> 'done'",
    "deliveries not done": "SELECT count(*) FROM event_deliveries WHERE status <> 'done'",
}


def wait_drained(db: Database, timeout: float = DRAIN_TIMEOUT) -> None:
    """Until no job or delivery is left undone, or `timeout` (verify then says what is)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.reading() as session:
            left = session.execute(text(_UNDONE)).scalar_one()
        if not left:
            return
        time.sleep(0.05)


_UNDONE = """
    SELECT (SELECT count(*) FROM jobs WHERE status <> 'done')
         + (SELECT count(*) FROM event_deliveries WHERE status <> 'done')"""


def verify(db: Database) -> list[str]:
    """What is wrong at the end (nothing, if the run was correct)."""
    problems = []
    with db.reading() as session:
        for what, sql in _CHECKS.items():
            count = session.execute(text(sql)).scalar_one()
            if count:
                problems.append(f"{count} {what}")
        orders = session.execute(text("SELECT count(*) FROM order_summaries")).scalar_one()
        if not orders:
            problems.append("no orders")
    return problems


# --- report -------------------------------------------------------------------------------


def table(rows: Iterable[Run]) -> list[str]:
    lines = [
        "| backend | clients | workers | orders | orders/s | capture only/s "
        "| capture p50 ms | capture p99 ms | to routed p50 ms | to routed p99 ms "
        "| app CPU ms/order | db CPU ms/order | retried | failed | verified |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        capture_rate = r.orders / r.capture_seconds if r.capture_seconds else 0.0
        app = f"{1000 * r.app_cpu / r.orders:.1f}" if r.orders else "–"
        db = f"{1000 * r.db_cpu / r.orders:.1f}" if r.orders and r.db_cpu is not None else "–"
        lines.append(
            f"| {r.backend} | {r.clients} | {r.workers} | {r.orders} | {r.per_second:.0f} "
            f"| {capture_rate:.0f} | {_ms(r.capture_latencies, 50):.2f} "
            f"| {_ms(r.capture_latencies, 99):.2f} "
            f"| {_ms(r.routed_latencies, 50):.1f} "
            f"| {_ms(r.routed_latencies, 99):.1f} | {app} | {db} | {r.retries} "
            f"| {r.failures} "
            f"| {'ok' if not r.problems else 'FAILED'} |"
        )
    return lines


def figure_name(r: Run) -> str:
    """pipeline_sqlite, pipeline_postgres_processes or pipeline_postgres_threads."""
    if r.backend == "sqlite":
        return "pipeline_sqlite"
    return "pipeline_postgres_" + ("processes" if "process" in r.workers else "threads")


def results(rows: Iterable[Run]) -> list[str]:
    """The machine-readable lines: orders/s, then app (and db) CPU ms per order, per run."""
    lines = []
    for r in rows:
        name, verified = figure_name(r), not r.problems
        figures = [(name, round(r.per_second, 1), "orders/s")]
        if r.orders:
            figures.append((f"{name}_app_cpu", round(1000 * r.app_cpu / r.orders, 2), "ms/order"))
            if r.db_cpu is not None:
                db = round(1000 * r.db_cpu / r.orders, 2)
                figures.append((f"{name}_db_cpu", db, "ms/order"))
        for figure, value, unit in figures:
            line = {"figure": figure, "value": value, "unit": unit, "verified": verified}
            lines.append("RESULT " + json.dumps(line))
    return lines


def verdict(rows: list[Run]) -> list[str]:
    lines = ["", "target (DESIGN.md §11): capture → route → fulfillment orders, end to end"]
    for backend, target in TARGETS.items():
        mine = [r for r in rows if r.backend == backend and not r.problems]
        if not mine:
            continue
        best = max(mine, key=lambda r: r.per_second)
        met = "met" if best.per_second >= target else "MISSED"
        lines.append(
            f"  {backend}: >= {target} orders/s: best {best.per_second:.0f} orders/s "
            f"({best.clients}, {best.workers} workers): {met}"
        )
    for r in rows:
        for problem in r.problems:
            lines.append(
                f"  VERIFICATION FAILED ({r.backend}, {r.clients}, {r.workers}): {problem}"
            )
    return lines


# --- main ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--orders", type=int, default=1000, help="orders per run")
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--client-mode", choices=("thread", "process"), default="thread")
    parser.add_argument(
        "--workers", type=int, default=0, help="workers per run (default: 1 on SQLite, 2 on PG)"
    )
    parser.add_argument(
        "--worker-mode",
        choices=("thread", "process", "both"),
        default="both",
        help="on PostgreSQL: worker threads, processes or both in turn (SQLite: threads)",
    )
    parser.add_argument(
        "--poll", type=float, default=None, help="worker idle poll seconds (default: Worker's)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    backends: list[Backend] = []
    if args.backend in ("sqlite", "both"):
        backends.append(SqliteBackend("lifecycle"))
    if args.backend in ("postgres", "both"):
        try:
            backend = PostgresBackend(args.postgres_url, SCRATCH_DATABASE)
            backend.version()
            backends.append(backend)
        except OperationalError as exc:
            if args.backend == "postgres":
                raise
            print(f"PostgreSQL unreachable, skipped: {exc}", file=sys.stderr)
    header = machine("sqlalchemy")
    rows: list[Run] = []
    try:
        for backend in backends:
            header.append(f"{backend.name + ':':9} {backend.version()}")
            modes = ["thread"]
            if backend.name == "postgres":
                modes = ["thread", "process"] if args.worker_mode == "both" else [args.worker_mode]
            elif args.worker_mode == "process":
                modes = ["process"]
            workers = args.workers or (1 if backend.name == "sqlite" else 2)
            for mode in modes:
                figures = run(
                    backend,
                    orders=args.orders,
                    clients=args.clients,
                    client_mode=args.client_mode,
                    workers=workers,
                    worker_mode=mode,
                    poll=args.poll,
                )
                rows.append(figures)
                print(table([figures])[-1], file=sys.stderr, flush=True)
    finally:
        for backend in backends:
            backend.close()
    print("\n".join(header))
    print()
    print("\n".join(table(rows)))
    print("\n".join(verdict(rows)))
    print("\n".join(results(rows)))
    if any(r.problems for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()

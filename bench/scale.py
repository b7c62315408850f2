"""Scale-out across processes: N API processes and N worker processes over one PostgreSQL.

    .venv/bin/python bench/scale.py [--orders 10000] [--small-orders 2000]
        [--configs 1x1,2x2,4x4] [--clients 32] [--ship 500] [--bulk] [--no-crash]
        [--postgres-url URL]

Each configuration AxW runs on a fresh scratch database `openoms_bench_scale` (dropped at
the end) holding the demo network with 10,000,000 units of every SKU everywhere:
`openoms serve --workers A --no-worker` on a free port and `openoms worker --processes W`,
both real processes as an operator runs them. C client threads with keep-alive connections
POST the orders (single-order `POST /api/v1/orders` with an Idempotency-Key, or with
`--bulk` `POST /api/v1/orders/bulk`, 100 a call, where the build has it) after a few
untimed warm-up orders each. The clock runs from the first timed POST until a monitor
(polling every 0.25 s) sees every order's every delivery group with a fulfillment order:
orders/s = timed orders ÷ that time. The largest configuration posts `--orders`, the
others `--small-orders`.

Crash: in the largest configuration, when half the orders are posted, one worker process
is killed with SIGKILL; the supervisor starts another. Whatever it held uncommitted rolls
back with its connection.

Then (untimed) `--ship` fulfillment orders are shipped through the API, so invoices and
payment captures happen, and the run waits until no job or delivery is pending.

CPU per order: *app* is the API and worker process trees (parents, live children, and the
children they reaped, e.g. the killed one), *db* the PostgreSQL backends of the scratch
database (from /proc: a local server only) but the monitor's, both over the timed region.

Verified (exact, by SQL over the whole database):
- nothing lost: every order answered 201 has its summary; every delivery group a
  fulfillment order; every product item's FO lines add up to the units ordered; every FO
  a reservation; every shipment an invoice; every invoice paid; no job or outbox delivery
  pending or dead;
- nothing done twice: one FO per (group, routing round, location); one
  `fulfillment_order.created` and one `order_summary.created` event per FO and order;
  invoiced units per item = shipped units; captured money per invoice = its total, and the
  sandbox gateway's capture ledger = the payments recorded; one delivery per (event,
  consumer) and every one done;
- stock exact: every inventory record's reserved = its reservation lines, never above
  on_hand − safety_stock, on_hand = the stock loaded − the units shipped from it, and every
  FO's unshipped units held by its reservation.

Prints `RESULT` lines: scale_<A>x<W> (orders/s, verified = every check above passed).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from common import (
    ABUNDANT_STOCK,
    DEFAULT_POSTGRES_URL,
    STOCK_CHECKS,
    PostgresBackend,
    free_port,
    load,
    machine,
    pid_cpu,
    postgres_cpu,
    server_env,
    serving,
    stocked_demo_database,
)
from openoms.adapters.db.session import Database
from openoms.demo import demo_orders

SCRATCH_DATABASE = "openoms_bench_scale"
WARM_UP = 5  # orders per client, untimed
MONITOR_SECONDS = 0.25
DRAIN_TIMEOUT = 3600.0  # seconds for the workers to finish after the last POST (a loaded
# 2-core machine took 19 minutes after 10,000 POSTs)
BULK_SIZE = 100
OPENOMS = str(Path(sys.executable).with_name("openoms"))


@dataclass
class Run:
    api: int
    workers: int
    orders: int
    seconds: float = 0.0
    post_seconds: float = 0.0
    app_cpu: float | None = None
    db_cpu: float | None = None
    failures: int = 0
    crashed: int | None = None  # pid killed
    shipped: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"scale_{self.api}x{self.workers}" + (
            f"_{self.orders}" if self.orders >= 10_000 else ""
        )

    @property
    def rate(self) -> float:
        return self.orders / self.seconds if self.seconds else 0.0


# --- processes and their CPU ----------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = _stat(int(stat.parent.name))
        if fields is not None and int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def tree_cpu(root: int) -> float:
    """CPU seconds of `root`, its live descendants and the children they reaped."""
    total, pending = 0.0, [root]
    while pending:
        pid = pending.pop()
        fields = _stat(pid)
        if fields is None:
            continue
        total += sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
        pending += children(pid)
    return total


def worker_children(supervisor: int) -> list[int]:
    """The worker processes of a `worker --processes` supervisor (not its resource tracker)."""
    found = []
    for pid in children(supervisor):
        with contextlib.suppress(OSError):
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"spawn_main" in cmdline:
                found.append(pid)
    return found


@contextlib.contextmanager
def worker_processes(count: int, env: dict[str, str]) -> Iterator[int]:
    with tempfile.TemporaryFile() as log:
        command = [OPENOMS, "worker", "--processes", str(count)]
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield process.pid
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.returncode:
                log.seek(0)
                print(log.read().decode()[-3000:], file=sys.stderr)


# --- clients ----------------------------------------------------------------------------------


class Clients:
    """C keep-alive client threads posting their share of the orders."""

    def __init__(self, base_url: str, key: str, clients: int, *, bulk: bool) -> None:
        self.base_url, self.key, self.clients, self.bulk = base_url, key, clients, bulk
        self.posted = 0
        self.failures = 0
        self.created: list[str] = []
        self._lock = threading.Lock()

    def http(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.key}"}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=120)

    def post(self, http: httpx.Client, batch: list[dict[str, Any]]) -> None:
        if self.bulk:
            key = f"bulk-{batch[0]['external_reference']}"
            response = _retry(
                lambda: http.post(
                    "/api/v1/orders/bulk", json={"orders": batch}, headers={"Idempotency-Key": key}
                ),
            )
            ok = response.status_code in (200, 201, 207)
            refs = [o["external_reference"] for o in batch] if ok else []
        else:
            payload = batch[0]
            key = f"capture-{payload['external_reference']}"
            response = _retry(
                lambda: http.post("/api/v1/orders", json=payload, headers={"Idempotency-Key": key})
            )
            ok = response.status_code == 201
            refs = [payload["external_reference"]] if ok else []
        with self._lock:
            self.posted += len(batch)
            self.created += refs
            if not ok:
                self.failures += len(batch)
                print(f"{response.status_code}: {response.text[:300]}", file=sys.stderr)

    def run(self, orders: list[dict[str, Any]], warm_ups: list[list[dict[str, Any]]]) -> float:
        """Post everything; returns when the timed posts started (monotonic)."""
        size = BULK_SIZE if self.bulk else 1
        batches = [orders[n : n + size] for n in range(0, len(orders), size)]
        shares = [batches[n :: self.clients] for n in range(self.clients)]
        barrier = threading.Barrier(self.clients + 1)
        errors: list[BaseException] = []

        def client(n: int) -> None:
            with self.http() as http:
                try:
                    for payload in warm_ups[n]:
                        self.post(http, [payload])
                    barrier.wait()
                    for batch in shares[n]:
                        self.post(http, batch)
                except BaseException as exc:
                    errors.append(exc)
                    barrier.abort()
                    raise

        threads = [threading.Thread(target=client, args=(n,)) for n in range(self.clients)]
        for thread in threads:
            thread.start()
        barrier.wait()
        self.started = time.monotonic()
        self.threads = threads
        return self.started

    def join(self) -> None:
        for thread in self.threads:
            thread.join()


def _retry(call: Any) -> httpx.Response:
    """Once more after a transport error: the same Idempotency-Key makes it safe."""
    try:
        return call()  # type: ignore[no-any-return]
    except httpx.TransportError:
        time.sleep(1)
        return call()  # type: ignore[no-any-return]


# --- one run ------------------------------------------------------------------------------------

_UNROUTED = text(
    """SELECT (SELECT count(*) FROM order_summaries),
              (SELECT count(*) FROM order_delivery_group_summaries g WHERE NOT EXISTS (
                  SELECT 1 FROM fulfillment_orders f WHERE f.delivery_group_summary_id = g.id))"""
)
_PENDING = text(
    """SELECT (SELECT count(*) FROM jobs WHERE status = 'pending')
            + (SELECT count(*) FROM event_deliveries WHERE status = 'pending')"""
)


def run(
    backend: PostgresBackend, args: argparse.Namespace, api: int, workers: int, orders: int
) -> Run:
    url = stocked_demo_database(backend)
    key = f"oms_benchkey_{secrets.token_urlsafe(32)}"
    env = server_env(url, key)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    tag = f"S{api}x{workers}"
    payloads = demo_orders(orders, seed=11, prefix=f"{tag}-RUN")
    warm = [demo_orders(WARM_UP, seed=300 + n, prefix=f"{tag}-W{n}") for n in range(args.clients)]
    result = Run(api, workers, orders)
    crash = not args.no_crash and orders == max(args.orders, args.small_orders)
    db = Database(url)
    port = free_port()
    serve = [OPENOMS, "serve", "--no-worker", "--host", "127.0.0.1", "--port", str(port)]
    serve += ["--workers", str(api)]
    with (
        serving(serve, port=port, env=env) as (base_url, serve_pid),
        worker_processes(workers, env) as supervisor,
    ):
        clients = Clients(base_url, key, args.clients, bulk=args.bulk)
        expected = orders + args.clients * WARM_UP
        _wait_quiet(db, 1, 60)  # the workers have drained what seeding queued
        cpu0 = tree_cpu(serve_pid) + tree_cpu(supervisor)
        # The monitor polls on a connection of its own, whose backend's CPU is not the
        # pipeline's: it is taken out of the db figure.
        monitor = db.engine.connect()
        monitor_pid = monitor.execute(text("SELECT pg_backend_pid()")).scalar_one()
        monitor0 = pid_cpu(monitor_pid) or 0.0
        db0 = postgres_cpu(backend.database)
        started = clients.run(payloads, warm)
        while True:
            if crash and result.crashed is None and clients.posted >= expected // 2:
                victims = worker_children(supervisor)
                if victims:
                    os.kill(victims[0], signal.SIGKILL)
                    result.crashed = victims[0]
            count, unrouted = monitor.execute(_UNROUTED).one()
            monitor.rollback()
            posting = any(t.is_alive() for t in clients.threads)
            if not posting and result.post_seconds == 0.0:
                result.post_seconds = time.monotonic() - started
            if not posting and count >= clients.posted - clients.failures and not unrouted:
                break
            if not posting and time.monotonic() - started > DRAIN_TIMEOUT + result.post_seconds:
                result.problems.append(f"{unrouted} groups still unrouted after the drain")
                break
            time.sleep(MONITOR_SECONDS)
        result.seconds = time.monotonic() - started
        result.app_cpu = tree_cpu(serve_pid) + tree_cpu(supervisor) - cpu0
        db1 = postgres_cpu(backend.database)
        polled = (pid_cpu(monitor_pid) or 0.0) - monitor0
        monitor.close()
        result.db_cpu = None if db0 is None or db1 is None else db1 - db0 - polled
        clients.join()
        result.failures = clients.failures
        print(
            f"  {api}x{workers}: {orders} orders routed in {result.seconds:.1f} s "
            f"({result.rate:.1f}/s; POSTs done after {result.post_seconds:.1f} s); "
            f"crash: {result.crashed or 'none'}; shipping {args.ship} FOs",
            flush=True,
        )
        result.shipped = ship(clients, db, args.ship)
        if not _wait_quiet(db, 0.5, DRAIN_TIMEOUT):
            result.problems.append("jobs or deliveries still pending after the drain")
    result.problems += verify(db, clients.created)
    result.counts = counts(db)
    db.dispose()
    return result


def _wait_quiet(db: Database, pause: float, timeout: float) -> bool:
    """Wait until no job or delivery is pending (at least `pause` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        time.sleep(pause)
        with db.reading() as session:
            if not session.execute(_PENDING).scalar_one():
                return True
        if time.monotonic() > deadline:
            return False


def ship(clients: Clients, db: Database, count: int) -> int:
    """Ship `count` fulfillment orders through the API (untimed), C clients at a time."""
    with db.reading() as session:
        ids = list(
            session.execute(
                text("SELECT id FROM fulfillment_orders WHERE status = 'ALLOCATED' ORDER BY id"),
            ).scalars()
        )[:count]
    shares = [ids[n :: clients.clients] for n in range(clients.clients)]
    shipped = [0] * len(shares)

    def client(n: int) -> None:
        with clients.http() as http:
            for fo_id in shares[n]:
                response = _retry(
                    lambda fo_id=fo_id: http.post(
                        f"/api/v1/fulfillment-orders/{fo_id}/actions/ship",
                        json={},
                        headers={"Idempotency-Key": f"ship-{fo_id}"},
                    )
                )
                if response.status_code in (201, 202):
                    shipped[n] += 1
                else:
                    print(f"ship {response.status_code}: {response.text[:300]}", file=sys.stderr)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(len(shares))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(shipped)


# --- verification -------------------------------------------------------------------------------

_CHECKS = {
    # nothing lost
    "delivery groups without a fulfillment order": """
        SELECT count(*) FROM order_delivery_group_summaries g WHERE NOT EXISTS (
            SELECT 1 FROM fulfillment_orders f WHERE f.delivery_group_summary_id = g.id)""",
    "product items whose fulfillment order lines differ from the ordered units": """
        SELECT count(*) FROM order_item_summaries i
        WHERE i.type = 'product' AND i.quantity_ordered <> (
            SELECT coalesce(sum(l.quantity), 0) FROM fulfillment_order_line_items l
            WHERE l.order_item_summary_id = i.id)""",
    "fulfillment orders without a reservation": """
        SELECT count(*) FROM fulfillment_orders WHERE reservation_id IS NULL""",
    "shipments without an invoice": """
        SELECT count(*) FROM shipments s WHERE NOT EXISTS (
            SELECT 1 FROM invoices i WHERE i.source_key = 'shipment:' || s.id)""",
    "invoices not paid in full": "SELECT count(*) FROM invoices WHERE balance <> 0",
    "jobs not done": "SELECT count(*) FROM jobs WHERE status <> 'done'",
    "outbox deliveries not done": "SELECT count(*) FROM event_deliveries WHERE status <> 'done'",
    # nothing done twice
    "fulfillment orders beyond one per (group, routing round, location)": """
        SELECT coalesce(sum(n - 1), 0) FROM (
            SELECT count(*) AS n FROM fulfillment_orders
            GROUP BY delivery_group_summary_id, routing_round, location_id) d""",
    "fulfillment orders without exactly one fulfillment_order.created event": """
        SELECT count(*) FROM fulfillment_orders f LEFT JOIN (
            SELECT aggregate_id, count(*) AS n FROM events
            WHERE name = 'fulfillment_order.created' GROUP BY aggregate_id) e
            ON e.aggregate_id = f.id
        WHERE coalesce(e.n, 0) <> 1""",
    "orders without exactly one order_summary.created event": """
        SELECT count(*) FROM order_summaries s LEFT JOIN (
            SELECT aggregate_id, count(*) AS n FROM events
            WHERE name = 'order_summary.created' GROUP BY aggregate_id) e
            ON e.aggregate_id = s.id
        WHERE coalesce(e.n, 0) <> 1""",
    "order items whose invoiced units differ from their shipped units": """
        SELECT count(*) FROM order_item_summaries i
        WHERE i.type = 'product' AND (
            SELECT coalesce(sum(l.quantity), 0) FROM invoice_lines l
            WHERE l.order_item_summary_id = i.id AND l.type = 'product') <> (
            SELECT coalesce(sum(s.quantity), 0) FROM shipment_items s
            WHERE s.order_item_summary_id = i.id)""",
    "invoices whose captured payments differ from their total": """
        SELECT count(*) FROM invoices i WHERE i.grand_total <> (
            SELECT coalesce(sum(p.amount), 0) FROM payments p
            WHERE p.invoice_id = i.id AND p.status = 'PROCESSED')""",
    "money captured at the gateway minus the payments recorded (minor units)": """
        SELECT abs((SELECT coalesce(sum(amount), 0) FROM sandbox_gateway_movements
                    WHERE operation = 'capture')
                 - (SELECT coalesce(sum(amount), 0) FROM payments WHERE status = 'PROCESSED'))""",
    "outbox deliveries beyond one per (event, consumer)": """
        SELECT coalesce(sum(n - 1), 0) FROM (
            SELECT count(*) AS n FROM event_deliveries GROUP BY event_id, consumer) d""",
    # stock exact
    **STOCK_CHECKS,
    "inventory records whose on_hand differs from the stock loaded minus units shipped": f"""
        SELECT count(*) FROM inventory_records r
        WHERE r.on_hand <> {ABUNDANT_STOCK} - (
            SELECT coalesce(sum(i.quantity), 0) FROM shipment_items i
            JOIN shipments s ON s.id = i.shipment_id
            JOIN fulfillment_orders f ON f.id = s.fulfillment_order_id
            WHERE f.location_id = r.location_id AND i.sku = r.sku)""",
}

_COUNTS = {
    "orders": "SELECT count(*) FROM order_summaries",
    "fulfillment orders": "SELECT count(*) FROM fulfillment_orders",
    "shipments": "SELECT count(*) FROM shipments",
    "invoices": "SELECT count(*) FROM invoices",
    "captures": "SELECT count(*) FROM payments WHERE status = 'PROCESSED'",
    "events": "SELECT count(*) FROM events",
    "deliveries": "SELECT count(*) FROM event_deliveries",
    "jobs": "SELECT count(*) FROM jobs",
}


def verify(db: Database, created: list[str]) -> list[str]:
    problems = []
    with db.reading() as session:
        for what, sql in _CHECKS.items():
            count = session.execute(text(sql)).scalar_one()
            if count:
                problems.append(f"{count} {what}")
        found = set(
            session.execute(
                text(
                    "SELECT external_reference FROM order_summaries"
                    " WHERE external_reference = ANY(:r)"
                ),
                {"r": created},
            ).scalars()
        )
    missing = len(set(created) - found)
    if missing:
        problems.append(f"{missing} orders answered 201 without a summary")
    if not created:
        problems.append("no orders")
    return problems


def counts(db: Database) -> dict[str, int]:
    with db.reading() as session:
        return {what: session.execute(text(sql)).scalar_one() for what, sql in _COUNTS.items()}


# --- report -----------------------------------------------------------------------------------


def _ms(seconds: float | None, orders: int) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000 / orders:.1f}"


def report(runs: list[Run]) -> list[str]:
    lines = [
        "| API × worker processes | orders | orders/s | POSTs/s | app CPU ms/order "
        "| db CPU ms/order | failures | crash | shipped | verified |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        posts = r.orders / r.post_seconds if r.post_seconds else 0.0
        crash = f"kill -9 pid {r.crashed}" if r.crashed else "none"
        lines.append(
            f"| {r.api} × {r.workers} | {r.orders:,} | {r.rate:.1f} | {posts:.1f} "
            f"| {_ms(r.app_cpu, r.orders)} | {_ms(r.db_cpu, r.orders)} | {r.failures} "
            f"| {crash} | {r.shipped} | {'yes' if not r.problems else 'NO'} |"
        )
    return lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=10_000, help="the largest configuration")
    parser.add_argument("--small-orders", type=int, default=2_000, help="the other ones")
    parser.add_argument("--configs", default="1x1,2x2,4x4", help="API×worker processes")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--ship", type=int, default=500, help="FOs shipped after routing")
    parser.add_argument("--bulk", action="store_true", help="POST /api/v1/orders/bulk")
    parser.add_argument("--no-crash", action="store_true", help="kill no worker process")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--database", default=SCRATCH_DATABASE, help="scratch database name")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    configs = [tuple(int(n) for n in c.split("x")) for c in args.configs.split(",")]
    largest = max(a * w for a, w in configs)
    for line in machine("psycopg", "uvicorn"):
        print(line)
    backend = PostgresBackend(args.postgres_url, args.database)
    print(backend.version())
    runs = []
    try:
        for api, workers in configs:
            orders = args.orders if api * workers == largest else args.small_orders
            r = run(backend, args, api, workers, orders)
            runs.append(r)
            print(f"{r.name}: {r.rate:.1f} orders/s; {r.counts}", flush=True)
            for problem in r.problems:
                print(f"  PROBLEM: {problem}", flush=True)
    finally:
        backend.close()
    print(load("after the runs"))
    print("\n".join(report(runs)))
    for r in runs:
        figure = {"figure": r.name, "value": round(r.rate, 1), "unit": "orders/s"}
        print("RESULT " + json.dumps({**figure, "verified": not r.problems and not r.failures}))


if __name__ == "__main__":
    main()

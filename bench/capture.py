"""Capture throughput and latency: the service layer and the HTTP API, SQLite and PostgreSQL.

    .venv/bin/python bench/capture.py [--backend sqlite|postgres|both] [--orders N] [--clients C]

Every run starts from a freshly migrated database (a temporary SQLite file, or the scratch
PostgreSQL database `openoms_bench`, dropped again at the end) holding the demo network
with more stock than any run takes. One order is one capture in one transaction, as in
production: the payload is validated and priced inside the timed region
(`OrderCreate.model_validate(payload).to_draft()`, then `capture_order`); only the payload
dicts are built beforehand. Each thread or process first captures a few warm-up orders,
untimed, so connections and statement caches exist before the clock starts. A deadlock or
serialization failure is retried, as the API does, and counted.

Service-layer runs, MANAGED orders (capture and reserve stock): one thread; C threads
sharing one engine; 2 and C processes (the GIL lets one process use about one core).
UNMANAGED orders (capture alone): one thread, 2 processes. API runs (MANAGED):
`openoms serve --no-worker` (one uvicorn process) and, on PostgreSQL, uvicorn with two
worker processes over the app factory below, each driven over real HTTP by C client
threads with keep-alive connections. The clients run on the same two cores as the server
and the database.

DESIGN.md §11 target: capture, service layer, PostgreSQL: >= 1,000 orders/s.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.exc import OperationalError

from common import (
    DEFAULT_POSTGRES_URL,
    Backend,
    PostgresBackend,
    SqliteBackend,
    free_port,
    load,
    machine,
    openoms_serve,
    percentile,
    server_env,
    serving,
    stocked_demo_database,
)
from openoms.adapters.db.session import Database, retry_transient
from openoms.adapters.outbox import Outbox
from openoms.demo import demo_orders
from openoms.schemas.orders import OrderCreate
from openoms.services.orders import CaptureResult, capture_order
from openoms.worker.consumers import default_registry

SCRATCH_DATABASE = "openoms_bench"
TARGET_PER_SECOND = 1_000  # DESIGN.md §11: capture alone, service layer, PostgreSQL
WARM_UP = 25  # orders per thread or process, captured before the clock starts
LIFECYCLES = {
    "MANAGED": "capture and reserve stock, what a storefront order does",
    "UNMANAGED": "capture alone: order, summary, payments, event",
}


@dataclass(frozen=True, slots=True)
class Figures:
    backend: str
    path: str
    lifecycle: str
    concurrency: str
    orders: int
    seconds: float
    latencies: list[float]  # seconds, one per order
    failures: int = 0
    retries: int | None = None  # deadlocks and serialization failures run afresh
    client_cpu: float | None = None  # CPU seconds of the capturing threads or processes
    server_cpu: float | None = None  # CPU seconds of the PostgreSQL backends serving them

    @property
    def per_second(self) -> float:
        return self.orders / self.seconds

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile of the latencies, in milliseconds."""
        return percentile(self.latencies, p) * 1000


# --- databases ----------------------------------------------------------------------------


def demo_payloads(
    count: int, *, prefix: str, lifecycle: str = "MANAGED", seed: int = 7
) -> list[dict[str, Any]]:
    payloads = demo_orders(count, seed=seed, prefix=prefix)
    for payload in payloads:
        payload["lifecycle"] = lifecycle
    return payloads


def open_backends(choice: str, postgres_url: str) -> list[Backend]:
    backends: list[Backend] = []
    if choice in ("sqlite", "both"):
        backends.append(SqliteBackend("capture"))
    if choice in ("postgres", "both"):
        try:
            backend = PostgresBackend(postgres_url, SCRATCH_DATABASE)
            backend.version()
        except OperationalError as exc:
            if choice == "postgres":
                raise
            print(f"PostgreSQL at {postgres_url} unreachable, skipped: {exc}", file=sys.stderr)
        else:
            backends.append(backend)
    return backends


# --- service layer ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Span:
    """One runner's timed region: monotonic start and end (one clock for every process of
    the machine), its thread's CPU seconds, and each capture's latency."""

    start: float
    end: float
    cpu: float
    latencies: list[float]
    failures: int
    retries: int


def capture_batch(
    db: Database,
    payloads: list[dict[str, Any]],
    warm_up: list[dict[str, Any]],
    ready: Callable[[], object],
) -> Span:
    """Capture `payloads`, one transaction each, after `warm_up`; `ready()` blocks until
    every runner is ready and the clock starts. A capture that raises counts as failed."""
    outbox = Outbox(default_registry())
    for payload in warm_up:
        _capture_one(db, outbox, payload)
    ready()
    latencies, failures, retries = [], 0, 0
    cpu, start = time.thread_time(), time.monotonic()
    for payload in payloads:
        began = time.monotonic()
        try:
            retries += _capture_one(db, outbox, payload)
        except Exception as exc:  # counted and shown; the run goes on
            failures += 1
            print(f"capture failed: {exc!r:.300}", file=sys.stderr)
        latencies.append(time.monotonic() - began)
    cpu = time.thread_time() - cpu
    return Span(start, time.monotonic(), cpu, latencies, failures, retries)


def _capture_one(db: Database, outbox: Outbox, payload: dict[str, Any]) -> int:
    """Capture as the API and the importer do: validate, then one transaction, run afresh
    after a deadlock or serialization failure. Returns how many times it was retried."""
    attempts = 0

    def attempt() -> CaptureResult:
        nonlocal attempts
        attempts += 1
        draft = OrderCreate.model_validate(payload).to_draft()
        with db.transaction() as session:
            return capture_order(session, outbox, draft)

    if not retry_transient(attempt).created:
        raise RuntimeError(f"{payload['external_reference']} was not created")
    return attempts - 1


def run_service(
    backend: Backend, orders: int, runners: int, *, processes: bool, lifecycle: str
) -> Figures:
    """`orders` captures split over `runners` threads (one shared engine) or processes."""
    url = stocked_demo_database(backend)
    tag = f"S{runners}{'P' if processes else 'T'}"
    payloads = demo_payloads(orders, prefix=f"{tag}-RUN", lifecycle=lifecycle)
    warm_ups = [
        demo_payloads(WARM_UP, prefix=f"{tag}-WARM{n}", lifecycle=lifecycle, seed=100 + n)
        for n in range(runners)
    ]
    run = _in_processes if processes else _in_threads
    spans, server_cpu = run(url, _split(payloads, runners), warm_ups, backend.server_cpu)
    return Figures(
        backend=backend.name,
        path="service",
        lifecycle=lifecycle,
        concurrency=_count(runners, "process" if processes else "thread"),
        orders=orders,
        seconds=max(s.end for s in spans) - min(s.start for s in spans),
        latencies=[latency for span in spans for latency in span.latencies],
        failures=sum(s.failures for s in spans),
        retries=sum(s.retries for s in spans),
        client_cpu=sum(s.cpu for s in spans),
        server_cpu=server_cpu,
    )


ServerCpu = Callable[[], "float | None"]


def _in_threads(
    url: str, chunks: list[Any], warm_ups: list[Any], server_cpu: ServerCpu
) -> tuple[list[Span], float | None]:
    db = Database(url)
    ready, go = threading.Barrier(len(chunks) + 1), threading.Event()
    spans: list[Any] = [None] * len(chunks)

    def runner(n: int) -> None:
        try:
            spans[n] = capture_batch(db, chunks[n], warm_ups[n], lambda: (ready.wait(), go.wait()))
        except BaseException:
            ready.abort()
            raise

    threads = [threading.Thread(target=runner, args=(n,)) for n in range(len(chunks))]
    for thread in threads:
        thread.start()
    ready.wait()
    before = server_cpu()
    go.set()
    for thread in threads:
        thread.join()
    after = server_cpu()  # before dispose: the backends' CPU leaves with their connections
    db.dispose()
    if any(span is None for span in spans):
        raise RuntimeError("a capture thread failed (its traceback is above)")
    return spans, _difference(before, after)


def _process_main(url: str, payloads: Any, warm_up: Any, sync: Any, results: Any) -> None:
    ready, go, done = sync
    db = Database(url)
    try:
        results.put(capture_batch(db, payloads, warm_up, lambda: (ready.wait(), go.wait())))
        done.wait()
    except BaseException as exc:
        ready.abort()
        results.put(exc)
        raise
    finally:
        db.dispose()


def _in_processes(
    url: str, chunks: list[Any], warm_ups: list[Any], server_cpu: ServerCpu
) -> tuple[list[Span], float | None]:
    # spawn, not fork: a child must not inherit the parent's engines or threads.
    context = multiprocessing.get_context("spawn")
    sync = (context.Barrier(len(chunks) + 1), context.Event(), context.Event())
    ready, go, done = sync
    results = context.Queue()
    children = [
        context.Process(target=_process_main, args=(url, chunk, warm_up, sync, results))
        for chunk, warm_up in zip(chunks, warm_ups, strict=True)
    ]
    for child in children:
        child.start()
    try:
        ready.wait()
        before = server_cpu()
        go.set()
        spans = [results.get() for _ in children]
        after = server_cpu()
    finally:
        done.set()
        for child in children:
            child.join()
    for span in spans:
        if isinstance(span, BaseException):
            raise RuntimeError("a capture process failed") from span
    return spans, _difference(before, after)


def _difference(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


def _split(items: list[Any], parts: int) -> list[list[Any]]:
    return [items[n::parts] for n in range(parts)]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}{'es' if noun.endswith('s') else 's'}"


# --- HTTP API -----------------------------------------------------------------------------


def api_app() -> Any:
    """The app as `openoms serve --no-worker` builds it, as a factory for
    `uvicorn --factory --workers N` (which `openoms serve` cannot do: it passes uvicorn an
    app object, and several workers need an import string)."""
    from openoms.api.app import create_app
    from openoms.config import Settings

    settings = Settings.from_env()
    return create_app(
        Database(settings.database_url), Outbox(default_registry()), rate_limit=settings.rate_limit
    )


def serve_workers(port: int, workers: int) -> None:
    """uvicorn with `workers` processes over `api_app` on 127.0.0.1:`port` (run by `_server`)."""
    import uvicorn
    from uvicorn.config import Config

    bind_socket = Config.bind_socket

    def bind_tcp_socket(config: Config) -> socket.socket:
        # uvicorn 0.54 binds the shared socket with proto 0, so asyncio never sets TCP_NODELAY
        # on accepted connections and each keep-alive response waits ~40 ms for a delayed ACK
        # (Kludex/uvicorn#3149). Label it TCP, as a single-process server's socket is.
        sock = bind_socket(config)
        return socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())

    Config.bind_socket = bind_tcp_socket  # type: ignore[method-assign,assignment]
    uvicorn.run("capture:api_app", factory=True, host="127.0.0.1", port=port, workers=workers)


def run_api(backend: Backend, orders: int, clients: int, *, workers: int) -> Figures:
    """`orders` POST /api/v1/orders from `clients` threads against a fresh server."""
    url = stocked_demo_database(backend)
    key = f"oms_benchkey_{secrets.token_urlsafe(32)}"
    tag = f"A{workers}W"
    chunks = _split(demo_payloads(orders, prefix=f"{tag}-RUN"), clients)
    warm_ups = [
        demo_payloads(WARM_UP, prefix=f"{tag}-WARM{n}", seed=200 + n) for n in range(clients)
    ]
    with _server(url, key, workers) as base_url:
        spans = _drive(base_url, key, chunks, warm_ups)
    server = "openoms serve" if workers == 1 else f"uvicorn --workers {workers}"
    return Figures(
        backend=backend.name,
        path=f"API ({server})",
        lifecycle="MANAGED",
        concurrency=_count(clients, "client"),
        orders=orders,
        seconds=max(end for _, end, _, _ in spans) - min(start for start, _, _, _ in spans),
        latencies=[latency for _, _, latencies, _ in spans for latency in latencies],
        failures=sum(failures for _, _, _, failures in spans),
    )


@contextlib.contextmanager
def _server(url: str, key: str, workers: int) -> Iterator[str]:
    """Serve the API on a free loopback port until the block ends; yields its base URL."""
    port = free_port()
    env = server_env(url, key)
    if workers == 1:
        command = openoms_serve(port)
    else:
        _install_admin_key(url, key)  # what `openoms serve` does on first start
        bench_dir = str(Path(__file__).resolve().parent)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [bench_dir, env.get("PYTHONPATH")]))
        code = f"import capture; capture.serve_workers({port}, {workers})"
        command = [sys.executable, "-c", code]
    with serving(command, port=port, env=env) as (base_url, _):
        yield base_url


def _install_admin_key(url: str, key: str) -> None:
    from openoms.services.access import ensure_initial_admin_key

    db = Database(url)
    with db.transaction() as session:
        ensure_initial_admin_key(session, key)
    db.dispose()


def _drive(
    base_url: str,
    key: str,
    chunks: list[list[dict[str, Any]]],
    warm_ups: list[list[dict[str, Any]]],
) -> list[tuple[float, float, list[float], int]]:
    barrier = threading.Barrier(len(chunks))
    spans: list[Any] = [None] * len(chunks)

    def client(n: int) -> None:
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=base_url, headers=headers, timeout=60) as http:
            try:
                for payload in warm_ups[n]:
                    _post(http, payload)
                barrier.wait()
                latencies, failures = [], 0
                start = time.monotonic()
                for payload in chunks[n]:
                    began = time.monotonic()
                    failures += not _post(http, payload)
                    latencies.append(time.monotonic() - began)
                spans[n] = (start, time.monotonic(), latencies, failures)
            except BaseException:
                barrier.abort()
                raise

    threads = [threading.Thread(target=client, args=(n,)) for n in range(len(chunks))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if any(span is None for span in spans):
        raise RuntimeError("a client thread failed (its traceback is above)")
    return spans


def _post(http: httpx.Client, payload: dict[str, Any]) -> bool:
    """One capture as a storefront sends it (with an Idempotency-Key); True on 201."""
    headers = {"Idempotency-Key": f"capture-{payload['external_reference']}"}
    response = http.post("/api/v1/orders", json=payload, headers=headers)
    if response.status_code != 201:
        print(f"{response.status_code}: {response.text[:300]}", file=sys.stderr)
        return False
    return True


# --- report -------------------------------------------------------------------------------


def table(rows: list[Figures]) -> list[str]:
    lines = [
        "| backend | path | lifecycle | concurrency | orders | orders/s | p50 ms | p99 ms "
        "| client CPU ms/order | db CPU ms/order | retried | failed |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.backend} | {row.path} | {row.lifecycle} | {row.concurrency} | {row.orders} "
            f"| {row.per_second:,.0f} | {row.percentile(50):.2f} | {row.percentile(99):.2f} "
            f"| {_per_order(row.client_cpu, row.orders)} "
            f"| {_per_order(row.server_cpu, row.orders)} "
            f"| {'–' if row.retries is None else row.retries} | {row.failures} |"
        )
    return lines


def _per_order(seconds: float | None, orders: int) -> str:
    return "–" if seconds is None else f"{seconds / orders * 1000:.2f}"


def verdict(rows: list[Figures]) -> list[str]:
    lines = [
        f"target (DESIGN.md §11): capture >= {TARGET_PER_SECOND:,} orders/s, service layer, "
        "PostgreSQL"
    ]
    for lifecycle, what in LIFECYCLES.items():
        service = [
            r
            for r in rows
            if r.backend == "postgres" and r.path == "service" and r.lifecycle == lifecycle
        ]
        if not service:
            continue
        best = max(service, key=lambda r: r.per_second)
        met = "met" if best.per_second >= TARGET_PER_SECOND else "MISSED"
        lines.append(
            f"  {lifecycle} ({what}): best {best.per_second:,.0f} orders/s "
            f"({best.concurrency}): {met}"
        )
        # What the CPU cost alone allows, whatever else the machine was doing meanwhile.
        measured = [(r.client_cpu or 0) + (r.server_cpu or 0) for r in service if r.server_cpu]
        if measured:
            cpu = min(measured) / best.orders
            cores = os.cpu_count() or 1
            lines.append(
                f"    CPU per order (capturing process + PostgreSQL backend) {cpu * 1000:.2f} ms:"
                f" at most {cores / cpu:,.0f} orders/s with {cores} cores fully used"
            )
    if len(lines) == 1:
        lines.append("  not measured (no PostgreSQL run)")
    return lines


# --- main ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--orders", type=int, default=1000, help="orders per run")
    parser.add_argument(
        "--clients", type=int, default=4, help="threads, processes and HTTP clients per run"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("OPENOMS_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help=f"a server to create the scratch database {SCRATCH_DATABASE!r} on "
        "(default: $OPENOMS_BENCH_POSTGRES_URL or %(default)s)",
    )
    parser.add_argument("--skip-api", action="store_true", help="service layer only")
    return parser.parse_args(argv)


def plan(backend: Backend, args: argparse.Namespace) -> list[Callable[[], Figures]]:
    n, c = args.orders, args.clients

    def service(runners: int, processes: bool, lifecycle: str) -> Callable[[], Figures]:
        return lambda: run_service(backend, n, runners, processes=processes, lifecycle=lifecycle)

    runs = [service(threads, False, "MANAGED") for threads in sorted({1, c})]
    runs += [service(processes, True, "MANAGED") for processes in sorted({2, c})]
    runs += [service(1, False, "UNMANAGED"), service(2, True, "UNMANAGED")]
    if not args.skip_api:
        runs.append(lambda: run_api(backend, n, c, workers=1))
        if backend.name == "postgres":  # SQLite has one writer: more processes only queue
            runs.append(lambda: run_api(backend, n, c, workers=2))
    return runs


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    header = machine("sqlalchemy", "pydantic", "uvicorn", "httpx")
    backends = open_backends(args.backend, args.postgres_url)
    rows: list[Figures] = []
    try:
        for backend in backends:
            header.append(f"{backend.name + ':':9s} {backend.version()}")
            for run in plan(backend, args):
                rows.append(run())
                print(table(rows[-1:])[-1], file=sys.stderr, flush=True)
    finally:
        for backend in backends:
            backend.close()
    header.insert(5, load("after the runs"))
    print("\n".join([*header, "", *table(rows), "", *verdict(rows)]))


if __name__ == "__main__":
    main()

"""Through the HTTP API, as a storefront sees it: capture → reserve → route → fulfillment
orders on PostgreSQL, with `openoms serve` and `openoms worker` processes.

    .venv/bin/python bench/api_pipeline.py [--mode single|bulk|both] [--orders N]
        [--clients C] [--api-processes A] [--worker-processes W] [--postgres-url URL]
        [--py-spy FILE]

Each run starts from the scratch PostgreSQL database `openoms_bench_api` (dropped and created
afresh, dropped at the end) holding the demo network with 10,000,000 units of every SKU
everywhere. A `openoms serve --no-worker` processes listen on ports of their own (clients
take them round robin) and W `openoms worker` processes drain the outbox and run the routing
jobs. C client threads, each with its own keep-alive httpx client, then post the orders
(`demo_orders`, MANAGED, 1–4 lines, payloads built before the clock starts):

- `single`: one `POST /api/v1/orders` per order, with an Idempotency-Key;
- `bulk`: `POST /api/v1/orders/bulk` with 100 orders per call (`reject_everything`).

A monitor polls the database for orders whose every delivery group has a fulfillment order.
The clock starts when the clients start and stops when the last order is routed: orders/s =
orders ÷ that time. A few warm-up orders per client are captured and routed untimed first.
CPU per order over the timed region: *api* the serve processes, *workers* the worker
processes, *db* the PostgreSQL backends of the scratch database (from /proc).

At the end every order must be WAITING_TO_FULFILL, each product item allocated in full, no
job or delivery left, and every inventory record's `reserved` equal to its reservation lines
(the checks of bench/lifecycle.py). `--py-spy FILE` records the first serve process over
the timed region with `py-spy record --gil --format raw` (collapsed stacks in FILE; py-spy must be
installed in the venv, and may attach to the process).

Issue 13 targets: ≥ 150 orders/s with single POSTs, ≥ 400 orders/s with the bulk endpoint.
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
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from common import (
    DEFAULT_POSTGRES_URL,
    PostgresBackend,
    free_port,
    load,
    machine,
    openoms_serve,
    percentile,
    pid_cpu,
    postgres_cpu,
    server_env,
    serving,
    stocked_demo_database,
)
from lifecycle import routed_among, verify
from openoms.adapters.db.session import Database
from openoms.demo import demo_orders
from openoms.services.access import ensure_initial_admin_key

DATABASE = "openoms_bench_api"
BATCH = 100
WARM_UP = 3  # orders per client, captured and routed before the clock starts
MONITOR_SECONDS = 0.05
TARGETS = {"single": 150.0, "bulk": 400.0}


@dataclass
class Run:
    mode: str
    orders: int
    clients: int
    api_processes: int
    worker_processes: int
    seconds: float
    capture_seconds: float  # until the last answer: the API's own pace
    latencies: list[float]
    failures: int
    cpu: dict[str, float | None]
    problems: list[str]

    @property
    def per_second(self) -> float:
        return self.orders / self.seconds


def payloads(count: int, *, prefix: str, seed: int) -> list[dict[str, Any]]:
    orders = demo_orders(count, seed=seed, prefix=prefix)
    for order in orders:
        order["lifecycle"] = "MANAGED"
    return orders


# --- processes ----------------------------------------------------------------------------


def openoms_command() -> str:
    return str(Path(sys.executable).with_name("openoms"))


@contextlib.contextmanager
def api_servers(url: str, key: str, count: int) -> Iterator[list[tuple[str, int]]]:
    """`count` `openoms serve --no-worker` processes, each on a free port: (base URL, pid)."""
    env = server_env(url, key)
    with contextlib.ExitStack() as stack:
        servers = []
        for _ in range(count):
            port = free_port()
            servers.append(stack.enter_context(serving(openoms_serve(port), port=port, env=env)))
        yield servers


@contextlib.contextmanager
def profiling(pid: int, output: Path | None) -> Iterator[None]:
    """`py-spy record` on process `pid` (collapsed stacks in `output`) until the block ends."""
    if output is None:
        yield
        return
    spy = str(Path(sys.executable).with_name("py-spy"))
    command = [spy, "record", "--pid", str(pid), "--format", "raw", "-o", str(output)]
    # --gil: only the thread holding the GIL, i.e. where the process's CPU goes.
    recorder = subprocess.Popen([*command, "--gil", "--rate", "200"], stdout=subprocess.DEVNULL)
    try:
        time.sleep(1.0)  # attached
        yield
    finally:
        recorder.send_signal(signal.SIGINT)
        recorder.wait(timeout=60)


@contextlib.contextmanager
def workers(url: str, count: int) -> Iterator[list[int]]:
    env = {**os.environ, "OPENOMS_DATABASE_URL": url, "OPENOMS_WORKER_POLL_SECONDS": "0.05"}
    started = [
        subprocess.Popen(
            [openoms_command(), "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]
    try:
        yield [p.pid for p in started]
    finally:
        for process in started:
            process.terminate()
        for process in started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# --- clients ------------------------------------------------------------------------------


def post_single(http: httpx.Client, payload: dict[str, Any]) -> list[str]:
    headers = {"Idempotency-Key": f"capture-{payload['external_reference']}"}
    answer = http.post("/api/v1/orders", json=payload, headers=headers)
    if answer.status_code not in (200, 201):
        print(f"{answer.status_code}: {answer.text[:300]}", file=sys.stderr)
        return []
    return [answer.json()["id"]]


def post_bulk(http: httpx.Client, batch: list[dict[str, Any]]) -> list[str]:
    headers = {"Idempotency-Key": f"bulk-{batch[0]['external_reference']}"}
    answer = http.post("/api/v1/orders/bulk", json={"orders": batch}, headers=headers)
    if answer.status_code != 200:
        print(f"{answer.status_code}: {answer.text[:300]}", file=sys.stderr)
        return []
    return [row["order_summary_id"] for row in answer.json()["results"]]


def units(mode: str, orders: list[dict[str, Any]]) -> list[Any]:
    """What one request sends: an order, or a batch of up to 100."""
    if mode == "single":
        return orders
    return [orders[i : i + BATCH] for i in range(0, len(orders), BATCH)]


def drive(
    mode: str,
    servers: list[str],
    key: str,
    chunks: list[list[Any]],
    captured: dict[str, float],
    start: threading.Barrier,
) -> list[tuple[list[float], int]]:
    """Each client posts its chunk through its own keep-alive connection; returns its
    latencies and failures. `captured` gets each summary id as its answer arrives."""
    post = post_single if mode == "single" else post_bulk
    results: list[Any] = [None] * len(chunks)

    def client(n: int) -> None:
        headers = {"Authorization": f"Bearer {key}"}
        base_url = servers[n % len(servers)]
        with httpx.Client(base_url=base_url, headers=headers, timeout=120) as http:
            try:
                start.wait()
                latencies, failures = [], 0
                for unit in chunks[n]:
                    began = time.monotonic()
                    ids = post(http, unit)
                    latencies.append(time.monotonic() - began)
                    failures += (len(unit) if mode == "bulk" else 1) - len(ids)
                    for summary_id in ids:
                        captured[summary_id] = time.monotonic()
                results[n] = (latencies, failures)
            except BaseException:
                start.abort()
                raise

    threads = [threading.Thread(target=client, args=(n,)) for n in range(len(chunks))]
    for thread in threads:
        thread.start()
    start.wait()
    for thread in threads:
        thread.join()
    if any(r is None for r in results):
        raise RuntimeError("a client thread failed (its traceback is above)")
    return results


def wait_routed(db: Database, ids: list[str], deadline: float) -> None:
    pending = set(ids)
    while pending and time.monotonic() < deadline:
        pending -= routed_among(db, sorted(pending))
        if pending:
            time.sleep(MONITOR_SECONDS)
    if pending:
        raise RuntimeError(f"{len(pending)} orders not routed before the deadline")


def settled(db: Database, deadline: float) -> list[str]:
    """The end-state problems once the workers have finished what routing left them (the
    jobs and deliveries after the fulfillment orders), or those left at the deadline."""
    while (problems := verify(db)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return problems


# --- one run ------------------------------------------------------------------------------


def run(args: argparse.Namespace, mode: str) -> Run:
    backend = PostgresBackend(args.postgres_url, DATABASE)
    try:
        url = stocked_demo_database(backend)
        key = f"oms_benchkey_{secrets.token_urlsafe(32)}"
        db = Database(url)
        with db.transaction() as session:  # what `openoms serve` does on first start
            ensure_initial_admin_key(session, key)
        try:
            return _measure(args, mode, url, key, db)
        finally:
            db.dispose()
    finally:
        backend.close()


def _measure(args: argparse.Namespace, mode: str, url: str, key: str, db: Database) -> Run:
    clients = args.clients
    orders = payloads(args.orders, prefix=f"API-{mode}", seed=11)
    chunks = [units(mode, orders[n::clients]) for n in range(clients)]
    chunks = [c for c in chunks if c]
    warm = payloads(WARM_UP * len(chunks), prefix=f"WARM-{mode}", seed=12)
    warm_chunks = [units(mode, warm[n :: len(chunks)]) for n in range(len(chunks))]
    with (
        api_servers(url, key, args.api_processes) as servers,
        workers(url, args.worker_processes) as worker_pids,
    ):
        bases = [base for base, _ in servers]
        warm_ids: dict[str, float] = {}
        drive(mode, bases, key, warm_chunks, warm_ids, threading.Barrier(len(chunks) + 1))
        wait_routed(db, list(warm_ids), time.monotonic() + 120)
        pids = {"api": [pid for _, pid in servers], "workers": worker_pids}
        before = _cpu(pids)
        captured: dict[str, float] = {}
        with profiling(servers[0][1], args.py_spy):
            began = time.monotonic()
            results = drive(mode, bases, key, chunks, captured, threading.Barrier(len(chunks) + 1))
            capture_seconds = time.monotonic() - began
            wait_routed(db, list(captured), time.monotonic() + 600)
            seconds = time.monotonic() - began
            after = _cpu(pids)
        problems = settled(db, time.monotonic() + 120)
    return Run(
        mode=mode,
        orders=len(captured),
        clients=len(chunks),
        api_processes=args.api_processes,
        worker_processes=args.worker_processes,
        seconds=seconds,
        capture_seconds=capture_seconds,
        latencies=[latency for latencies, _ in results for latency in latencies],
        failures=sum(failures for _, failures in results),
        cpu={what: _less(after[what], before[what]) for what in after},
        problems=problems + ([] if len(captured) == args.orders else ["orders missing"]),
    )


def _cpu(pids: dict[str, list[int]]) -> dict[str, float | None]:
    used: dict[str, float | None] = {
        what: sum(pid_cpu(pid) or 0.0 for pid in group) for what, group in pids.items()
    }
    used["db"] = postgres_cpu(DATABASE)
    return used


def _less(after: float | None, before: float | None) -> float | None:
    return None if after is None or before is None else after - before


# --- report -------------------------------------------------------------------------------


def report(run: Run) -> list[str]:
    per_order = ", ".join(
        f"{what} {seconds * 1000 / run.orders:.1f}"
        for what, seconds in run.cpu.items()
        if seconds is not None
    )
    unit = "POST" if run.mode == "single" else "bulk POST of 100"
    p50, p99 = (percentile(run.latencies, p) * 1000 for p in (50, 99))
    lines = [
        f"{run.mode}: {run.orders} orders, {run.clients} clients, {run.api_processes} API "
        f"process(es), {run.worker_processes} worker process(es)",
        f"  {run.per_second:.1f} orders/s captured and routed ({run.seconds:.2f} s); "
        f"failures {run.failures}",
        f"  captured (last answer) after {run.capture_seconds:.2f} s: "
        f"{run.orders / run.capture_seconds:.1f} orders/s through the API alone",
        f"  latency per {unit}: p50 {p50:.1f} ms, p99 {p99:.1f} ms",
        f"  CPU ms per order: {per_order}",
        f"  target {TARGETS[run.mode]:.0f}/s: {run.per_second / TARGETS[run.mode]:.2f}×",
        "  verified: " + ("yes" if not run.problems else "NO: " + "; ".join(run.problems)),
    ]
    return lines


def result_line(run: Run) -> str:
    figure = {
        "figure": f"api_{run.mode}_postgres",
        "value": round(run.per_second, 1),
        "unit": "orders/s",
        "verified": not run.problems and not run.failures,
    }
    return "RESULT " + json.dumps(figure)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=["single", "bulk", "both"], default="both")
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=0, help="default: 32 single, 4 bulk")
    parser.add_argument("--api-processes", type=int, default=1)
    parser.add_argument("--worker-processes", type=int, default=2)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--py-spy", type=Path, default=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    print("\n".join(machine("fastapi", "uvicorn", "sqlalchemy", "psycopg", "httpx")))
    modes = ["single", "bulk"] if args.mode == "both" else [args.mode]
    runs = []
    clients = args.clients
    for mode in modes:
        args.clients = clients or (32 if mode == "single" else 4)
        runs.append(run(args, mode))
        print("\n".join(report(runs[-1])), flush=True)
    print(load("after the runs"))
    for finished in runs:
        print(result_line(finished))


if __name__ == "__main__":
    main()

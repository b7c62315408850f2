"""Webhook delivery: deliveries per second to a local receiver over 4 connections, and the
latency from a state change to its receipt, on PostgreSQL.

    .venv/bin/python bench/webhooks.py [--postgres-url URL] [--events N]
        [--latency-events M] [--processes 4] [--poll-seconds 0.5]

Setup: the scratch PostgreSQL database `openoms_webhooks_bench` (dropped at the end), one
endpoint registered to a receiver in this process (an HTTP/1.1 server on 127.0.0.1, a
thread per connection, answering 204 at once after verifying the signature with the
official `standardwebhooks` library), and `openoms worker --processes 4`: four worker
processes, each sending one delivery at a time on its own keep-alive connection, so the
receiver sees 4 connections.

1. Throughput: N events (default 4,000) of N/4 orders, four events per order, committed to
   the outbox before the workers start; the workers fan them out and send them, each
   order's events in order. Deliveries per second = (N − 1) ÷ (last receipt − first
   receipt), so the workers' start-up is not counted.
2. Latency: with the workers idle and polling (every `--poll-seconds`, the default of
   `openoms worker`), M events (default 300), one per transaction as a state change writes
   it, one every 20 ms, each of its own order: receipt time − commit time, p50 and p99 (ms).

Verified: every event received exactly once with a valid signature, each order's events
received in the order they happened, every delivery `succeeded` in the database.

DESIGN.md §11 sets no target for webhooks; these figures are for reading.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from common import DEFAULT_POSTGRES_URL, PostgresBackend, machine, percentile

DATABASE = "openoms_webhooks_bench"
LATENCY_GAP_SECONDS = 0.02
WAIT_SECONDS = 600.0


class Receiver:
    """Verifies and records every delivery: (webhook-id, time received, verified)."""

    def __init__(self) -> None:
        self.secret = ""
        self.lock = threading.Lock()
        self.hits: list[tuple[str, float, bool]] = []
        self.peers: set[tuple[str, int]] = set()

    def handle(self, body: bytes, headers: dict[str, str], peer: tuple[str, int]) -> None:
        from standardwebhooks import Webhook
        from standardwebhooks.webhooks import WebhookVerificationError

        at = time.time()
        try:
            Webhook(self.secret).verify(body, headers)
            verified = True
        except WebhookVerificationError:
            verified = False
        with self.lock:
            self.hits.append((headers.get("webhook-id", ""), at, verified))
            self.peers.add(peer)

    def count(self) -> int:
        with self.lock:
            return len(self.hits)


def serve(receiver: Receiver) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            receiver.handle(body, headers, self.client_address)
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def record(db: Any, events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Commit `events` ((order summary id, payload) each) in one transaction; their ids."""
    from openoms.adapters.outbox import Outbox
    from openoms.domain.events import DomainEvent
    from openoms.worker.consumers import default_registry

    outbox = Outbox(default_registry())
    with db.transaction() as session:
        stored = outbox.record(
            session,
            [
                # No consumer but webhooks subscribes to it: only sending is measured.
                DomainEvent(
                    name="fulfillment_order.status_changed",
                    aggregate_type="fulfillment_order",
                    aggregate_id=f"fo_{order}",
                    order_summary_id=order,
                    payload=payload,
                )
                for order, payload in events
            ],
        )
        return [e.event_id for e in stored]


def wait_for(what: str, done: Any) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not done():
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: not done within {WAIT_SECONDS:.0f} s")
        time.sleep(0.05)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--latency-events", type=int, default=300)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--poll-seconds", type=float, default=0.5)
    args = parser.parse_args(argv)
    for line in machine("sqlalchemy", "httpx", "standardwebhooks"):
        print(line, flush=True)

    from sqlalchemy import func, select

    from openoms.adapters.db import models as m
    from openoms.adapters.db.session import Database
    from openoms.services.webhooks import create_endpoint

    backend = PostgresBackend(args.postgres_url, DATABASE)
    receiver = Receiver()
    server = serve(receiver)
    url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    try:
        database_url = backend.fresh()
        print(f"database: {backend.version()}", flush=True)
        db = Database(database_url)
        with db.transaction() as session:
            endpoint = create_endpoint(
                session,
                url=url,
                event_types=None,
                channels=None,
                description="bench",
                allow_private=True,
            )
            receiver.secret = endpoint.secret
        throughput_ids = record(
            db,
            [
                (f"os_bench_{i // 4:06d}", {"fulfillment_order_id": f"fo_{i // 4}", "step": i % 4})
                for i in range(args.events)
            ],
        )
        env = {
            **os.environ,
            "OPENOMS_DATABASE_URL": database_url,
            "OPENOMS_WEBHOOK_ALLOW_PRIVATE": "true",
            "OPENOMS_WORKER_POLL_SECONDS": str(args.poll_seconds),
        }
        command = [str(Path(sys.executable).with_name("openoms")), "worker"]
        command += ["--processes", str(args.processes)]
        with tempfile.TemporaryFile() as log:
            workers = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                started = time.monotonic()
                wait_for("throughput", lambda: receiver.count() >= args.events)
                print(f"throughput phase: {time.monotonic() - started:.1f} s in all", flush=True)
                latencies, latency_ids = measure_latency(db, receiver, args.latency_events)
            finally:
                workers.send_signal(signal.SIGTERM)
                workers.wait(timeout=60)
                log.seek(0)
                errors = log.read().decode(errors="replace").count("Traceback")
        with db.reading() as session:
            statuses = dict(
                session.execute(
                    select(m.WebhookDelivery.status, func.count()).group_by(
                        m.WebhookDelivery.status
                    )
                ).all()
            )
        db.dispose()
    finally:
        server.shutdown()
        backend.close()

    hits = list(receiver.hits)
    throughput_hits = [h for h in hits if h[0] in set(throughput_ids)]
    times = sorted(at for _, at, _ in throughput_hits)
    rate = (len(times) - 1) / (times[-1] - times[0])
    expected = len(throughput_ids) + len(latency_ids)
    received = Counter(h[0] for h in hits)
    order_of = {eid: i // 4 for i, eid in enumerate(throughput_ids)}
    arrival = {}
    for eid, at, _ in hits:
        arrival.setdefault(eid, at)
    in_order = all(
        arrival[a] <= arrival[b]
        for a, b in itertools.pairwise(throughput_ids)
        if order_of[a] == order_of[b]
    )
    checks = {
        "every event received once": set(received) == {*throughput_ids, *latency_ids}
        and set(received.values()) == {1},
        "every signature valid": all(ok for _, _, ok in hits),
        "each order's events in order": in_order,
        "every delivery succeeded": statuses == {"succeeded": expected},
        "no worker traceback": errors == 0,
    }
    for name, ok in checks.items():
        print(f"check: {name}: {'ok' if ok else 'FAILED'}", flush=True)
    verified = all(checks.values())
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    print(
        f"{len(throughput_hits)} deliveries over {len(receiver.peers)} connections: "
        f"{rate:,.0f} deliveries/s; state change → receipt over {len(latencies)} events: "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms (workers polling every {args.poll_seconds} s)",
        flush=True,
    )
    for figure, value, unit in [
        ("webhooks_deliveries_per_second", rate, "deliveries/s"),
        ("webhooks_latency_p50", p50, "ms"),
        ("webhooks_latency_p99", p99, "ms"),
    ]:
        result = {"figure": figure, "value": round(value, 2), "unit": unit, "verified": verified}
        print("RESULT " + json.dumps(result), flush=True)
    if not verified:
        raise SystemExit(1)


def measure_latency(db: Any, receiver: Receiver, count: int) -> tuple[list[float], list[str]]:
    """One event per transaction, LATENCY_GAP_SECONDS apart, each its own order: the ms
    from its commit to its receipt."""
    committed: dict[str, float] = {}
    for i in range(count):
        (event_id,) = record(db, [(f"os_latency_{i:06d}", {"fulfillment_order_id": f"fo_l{i}"})])
        committed[event_id] = time.time()
        time.sleep(LATENCY_GAP_SECONDS)
    wait_for("latency", lambda: all_received(receiver, committed))
    with receiver.lock:
        arrival = {eid: at for eid, at, _ in receiver.hits if eid in committed}
    return [(arrival[e] - committed[e]) * 1000 for e in committed], list(committed)


def all_received(receiver: Receiver, ids: dict[str, float]) -> bool:
    with receiver.lock:
        return len({eid for eid, _, _ in receiver.hits if eid in ids}) == len(ids)


if __name__ == "__main__":
    main()

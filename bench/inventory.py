"""Inventory: availability latency (service and HTTP API) and the import rate, on SQLite and
PostgreSQL.

    .venv/bin/python bench/inventory.py [--backend sqlite|postgres|both] [--requests N]
        [--records N] [--skip-import] [--skip-api]

Availability: a fresh database is seeded directly (100 active locations, all in the group
"online", 2,000 SKUs each: 200,000 records, 10% with futures, reserved set on most), then
each request asks for 20 random SKUs, either at the 100 locations named one by one (2,000
figures answered) or at the group "online" (20 sums over 100 locations). Measured in
process (`answer_availability` in a read transaction: its query, two on SQLite, and the
figures, no JSON) and over real HTTP against `openoms serve --no-worker` as a subprocess (one
keep-alive client, one request at a time; latency = request sent to whole body read). Each
path first runs untimed warm-up requests.

Import: `--records` JSON lines (default 1,000,000: 1,000 locations × 1,000 SKUs, every line
with a record_id, a third with safety_stock, 5% with futures) are written to a temporary
file, then read, parsed and validated (`parse_inventory_lines`) and applied
(`apply_inventory_import`, delta mode, into an empty table) through the service.

PostgreSQL runs use the scratch database `openoms_bench_inventory` (dropped at the end).

DESIGN.md §11 targets: availability for 20 SKUs across 100 locations p99 < 10 ms through
the API; import of 1,000,000 inventory records < 60 s.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import json
import os
import random
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from common import (
    DEFAULT_POSTGRES_URL,
    Backend,
    PostgresBackend,
    SqliteBackend,
    free_port,
    machine,
    openoms_serve,
    percentile,
    pid_cpu,
    postgres_cpu,
    server_env,
    serving,
)
from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from openoms.adapters.outbox import ConsumerRegistry, Outbox
from openoms.schemas.inventory import parse_inventory_lines
from openoms.services.inventory import answer_availability, apply_inventory_import

SCRATCH_DATABASE = "openoms_bench_inventory"
LOCATIONS, SKUS, ASKED_SKUS = 100, 2_000, 20
WARM_UP = 50
TARGET_P99_MS = 10.0  # availability, 20 SKUs × 100 locations, through the API
TARGET_IMPORT_SECONDS = 60.0  # 1,000,000 records


@dataclass(frozen=True, slots=True)
class Latency:
    backend: str
    path: str
    request: str
    latencies: list[float]  # seconds
    # CPU seconds over the timed requests: of the process answering them (the bench itself
    # in process, the server over HTTP), of the HTTP client, of the PostgreSQL backends.
    # Unlike latency they hardly depend on what else the machine is doing.
    app_cpu: float | None = None
    client_cpu: float | None = None
    db_cpu: float | None = None

    def per_request(self, seconds: float | None) -> str:
        return "–" if seconds is None else f"{seconds / len(self.latencies) * 1000:.2f}"

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile, in milliseconds."""
        return percentile(self.latencies, p) * 1000


@dataclass(frozen=True, slots=True)
class ImportRun:
    backend: str
    records: int
    parse_seconds: float
    apply_seconds: float

    @property
    def seconds(self) -> float:
        return self.parse_seconds + self.apply_seconds


# --- databases ----------------------------------------------------------------------------


def _outbox() -> Outbox:
    return Outbox(ConsumerRegistry())  # no consumers: the event row alone is written


def _add_locations(db: Database, count: int, *, group: str | None = None) -> list[str]:
    refs = [f"L{n:04}" for n in range(count)]
    with db.transaction() as session:
        if group:
            session.add(m.LocationGroup(id=f"grp_{group}", ref=group, name=group))
        session.add_all(
            m.Location(id=f"loc_{ref}", ref=ref, name=ref, type="warehouse") for ref in refs
        )
        session.flush()
        if group:
            session.add_all(
                m.LocationGroupMember(group_id=f"grp_{group}", location_id=f"loc_{ref}")
                for ref in refs
            )
    return refs


def _analyze(db: Database) -> None:
    if db.dialect == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    else:
        with db.engine.begin() as connection:
            connection.execute(text("ANALYZE"))


# --- availability -------------------------------------------------------------------------


def seed_availability(url: str) -> list[str]:
    """100 locations in group "online" with 2,000 SKUs each; returns the location refs."""
    db = Database(url)
    refs = _add_locations(db, LOCATIONS, group="online")
    rng = random.Random(7)
    soon = (date.today() + timedelta(days=10)).isoformat()
    later = (date.today() + timedelta(days=60)).isoformat()
    lines = []
    for ref in refs:
        for n in range(SKUS):
            line: dict[str, Any] = {"location": ref, "sku": _sku(n), "on_hand": rng.randint(0, 80)}
            if rng.random() < 0.3:
                line["safety_stock"] = rng.randint(0, 3)
            if rng.random() < 0.1:
                line["futures"] = [
                    {"quantity": 12, "expected_date": soon},
                    {"quantity": 40, "expected_date": later},
                ]
            lines.append(json.dumps(line))
    records, errors = parse_inventory_lines(lines, "jsonl")
    assert not errors, errors[:3]
    apply_inventory_import(db, _outbox(), records, mode="full")
    with db.transaction() as session:  # reservations, as orders would have made them
        session.execute(text("UPDATE inventory_records SET reserved = on_hand / 4"))
    _analyze(db)
    db.dispose()
    return refs


def _sku(n: int) -> str:
    return f"SKU-{n:05}"


def _requests(refs: list[str], count: int, seed: int) -> dict[str, list[dict[str, Any]]]:
    rng = random.Random(seed)
    asks = [[_sku(n) for n in rng.sample(range(SKUS), ASKED_SKUS)] for _ in range(count)]
    return {
        "100 locations": [{"skus": skus, "locations": refs} for skus in asks],
        "group of 100": [{"skus": skus, "location_groups": ["online"]} for skus in asks],
    }


def run_in_process(backend: Backend, url: str, refs: list[str], count: int) -> list[Latency]:
    db = Database(url)
    today = datetime.now(UTC).date()
    rows = []
    try:
        for kind, bodies in _requests(refs, count + WARM_UP, seed=11).items():
            latencies: list[float] = []
            cpu = _Cpu()
            for n, body in enumerate(bodies):
                if n == WARM_UP:
                    cpu.start()
                began = time.perf_counter()
                with db.reading() as session:
                    answer_availability(session, today=today, **body)
                if n >= WARM_UP:
                    latencies.append(time.perf_counter() - began)
            app, _, database = cpu.stop()
            rows.append(Latency(backend.name, "service", kind, latencies, app, None, database))
    finally:
        db.dispose()
    return rows


def run_api(backend: Backend, url: str, refs: list[str], count: int) -> list[Latency]:
    key = f"oms_benchkey_{secrets.token_urlsafe(32)}"
    rows = []
    with _server(url, key) as (base_url, server_pid):
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=base_url, headers=headers, timeout=30) as http:
            for kind, bodies in _requests(refs, count + WARM_UP, seed=13).items():
                latencies: list[float] = []
                cpu = _Cpu(server_pid)
                for n, body in enumerate(bodies):
                    if n == WARM_UP:
                        cpu.start()
                    began = time.perf_counter()
                    response = http.post("/api/v1/inventory/actions/get-availability", json=body)
                    response.read()
                    elapsed = time.perf_counter() - began
                    if response.status_code != 200:
                        raise RuntimeError(f"{response.status_code}: {response.text[:300]}")
                    if n >= WARM_UP:
                        latencies.append(elapsed)
                server, client, database = cpu.stop()
                rows.append(
                    Latency(
                        backend.name,
                        "API (openoms serve)",
                        kind,
                        latencies,
                        server,
                        client,
                        database,
                    )
                )
    return rows


class _Cpu:
    """CPU seconds used between start() and stop(): by this process, by `server_pid` when
    given, and by the PostgreSQL backends of the scratch database (read from /proc: None
    where it cannot be seen)."""

    def __init__(self, server_pid: int | None = None) -> None:
        self._server_pid = server_pid
        self._before: tuple[float, float | None, float | None] = (0.0, None, None)

    def _now(self) -> tuple[float, float | None, float | None]:
        server = None if self._server_pid is None else pid_cpu(self._server_pid)
        return time.process_time(), server, postgres_cpu(SCRATCH_DATABASE)

    def start(self) -> None:
        self._before = self._now()

    def stop(self) -> tuple[float | None, float | None, float | None]:
        """(answering process, HTTP client, database) CPU seconds."""
        own, server, database = self._now()
        own_before, server_before, database_before = self._before
        delta_db = (
            None if database is None or database_before is None else database - database_before
        )
        if self._server_pid is None:
            return own - own_before, None, delta_db
        delta_server = None if server is None or server_before is None else server - server_before
        return delta_server, own - own_before, delta_db


@contextlib.contextmanager
def _server(url: str, key: str) -> Iterator[tuple[str, int]]:
    """`openoms serve --no-worker` on a free loopback port until the block ends; yields its
    base URL and process id."""
    port = free_port()
    with serving(openoms_serve(port), port=port, env=server_env(url, key)) as server:
        yield server


# --- import -------------------------------------------------------------------------------


def write_import_file(path: Path, records: int) -> None:
    """`records` JSON lines over 1,000 locations (fewer for small runs)."""
    locations = min(1_000, records)
    rng = random.Random(5)
    soon = (date.today() + timedelta(days=7)).isoformat()
    with path.open("w", encoding="utf-8") as out:
        for n in range(records):
            line: dict[str, Any] = {
                "location": f"L{n % locations:04}",
                "sku": _sku(n // locations),
                "on_hand": rng.randint(0, 500),
            }
            if n % 3 == 0:
                line["safety_stock"] = 2
            if n % 20 == 0:
                line["futures"] = [{"quantity": 24, "expected_date": soon}]
            line["record_id"] = f"wms-{n:08}"
            out.write(json.dumps(line) + "\n")


def run_import(backend: Backend, path: Path, records: int) -> ImportRun:
    url = backend.fresh()
    db = Database(url)
    try:
        _add_locations(db, min(1_000, records))
        began = time.perf_counter()
        with path.open(encoding="utf-8") as lines:
            parsed, errors = parse_inventory_lines(lines, "jsonl")
        parsed_at = time.perf_counter()
        assert not errors, errors[:3]
        result = apply_inventory_import(db, _outbox(), parsed, mode="delta")
        done = time.perf_counter()
        assert result.applied == records, result
    finally:
        db.dispose()
    return ImportRun(backend.name, records, parsed_at - began, done - parsed_at)


# --- hot-SKU reservations (bench/reservation_load.py, written separately) ------------------


def hot_sku_reservations(url: str) -> list[str]:
    """Runs `bench.reservation_load.run(url, clients=64)` when that module exists, on the
    PostgreSQL database `url`; returns its figures as report lines."""
    try:
        module = importlib.import_module("reservation_load")  # bench/ is on sys.path
    except ModuleNotFoundError:
        try:
            module = importlib.import_module("bench.reservation_load")
        except ModuleNotFoundError:
            return ["hot-SKU reservations: bench/reservation_load.py not present, skipped"]
    run: Callable[..., Any] = module.run
    if "clients" not in inspect.signature(run).parameters:
        return ["hot-SKU reservations: reservation_load.run takes no `clients`, skipped"]
    figures = run(url, clients=64)
    if isinstance(figures, dict):
        return ["hot-SKU reservations (bench/reservation_load.py, 64 clients):"] + [
            f"  {k}: {v}" for k, v in figures.items()
        ]
    return [f"hot-SKU reservations (bench/reservation_load.py, 64 clients): {figures}"]


# --- report -------------------------------------------------------------------------------


def latency_table(rows: list[Latency]) -> list[str]:
    lines = [
        "| backend | path | 20 SKUs at | requests | p50 ms | p90 ms | p99 ms | max ms "
        "| app CPU ms/req | client CPU ms/req | db CPU ms/req |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.backend} | {row.path} | {row.request} | {len(row.latencies)} "
            f"| {row.percentile(50):.2f} | {row.percentile(90):.2f} "
            f"| {row.percentile(99):.2f} | {row.percentile(100):.2f} "
            f"| {row.per_request(row.app_cpu)} | {row.per_request(row.client_cpu)} "
            f"| {row.per_request(row.db_cpu)} |"
        )
    return lines


def import_table(rows: list[ImportRun]) -> list[str]:
    lines = [
        "| backend | records | read + parse s | apply s | total s | records/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.backend} | {row.records:,} | {row.parse_seconds:.1f} "
            f"| {row.apply_seconds:.1f} | {row.seconds:.1f} | {row.records / row.seconds:,.0f} |"
        )
    return lines


def verdicts(latencies: list[Latency], imports: list[ImportRun]) -> list[str]:
    lines = []
    api = [r for r in latencies if r.path.startswith("API") and r.request == "100 locations"]
    for row in api:
        met = "met" if row.percentile(99) < TARGET_P99_MS else "MISSED"
        lines.append(
            f"target (DESIGN.md §11): availability 20 SKUs × 100 locations through the API "
            f"p99 < {TARGET_P99_MS:.0f} ms — {row.backend}: {row.percentile(99):.2f} ms: {met}"
        )
    for run in imports:
        scaled = run.seconds * 1_000_000 / run.records
        met = "met" if scaled < TARGET_IMPORT_SECONDS else "MISSED"
        note = "" if run.records == 1_000_000 else f" (scaled from {run.records:,})"
        lines.append(
            f"target (DESIGN.md §11): 1,000,000 records imported < {TARGET_IMPORT_SECONDS:.0f} s"
            f" — {run.backend}: {scaled:.1f} s{note}: {met}"
        )
    return lines


# --- main ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--requests", type=int, default=600, help="timed requests per row")
    parser.add_argument("--records", type=int, default=1_000_000, help="records to import")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("OPENOMS_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help=f"a server to create the scratch database {SCRATCH_DATABASE!r} on "
        "(default: $OPENOMS_BENCH_POSTGRES_URL or %(default)s)",
    )
    parser.add_argument("--skip-import", action="store_true", help="availability only")
    parser.add_argument("--skip-api", action="store_true", help="no HTTP server runs")
    parser.add_argument(
        "--skip-reservations", action="store_true", help="skip the hot-SKU reservation hook"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    header = machine("sqlalchemy", "pydantic", "uvicorn", "httpx")
    backends: list[Backend] = []
    if args.backend in ("sqlite", "both"):
        backends.append(SqliteBackend("inventory"))
    if args.backend in ("postgres", "both"):
        backends.append(PostgresBackend(args.postgres_url, SCRATCH_DATABASE))
    latencies: list[Latency] = []
    imports: list[ImportRun] = []
    extra: list[str] = []
    try:
        for backend in backends:
            header.append(f"{backend.name + ':':9s} {backend.version()}")
            url = backend.fresh()
            refs = seed_availability(url)
            rows = run_in_process(backend, url, refs, args.requests)
            if not args.skip_api:
                rows += run_api(backend, url, refs, args.requests)
            for row in rows:
                print(latency_table([row])[-1], file=sys.stderr, flush=True)
            latencies += rows
            # hot-SKU reservations
            if backend.name == "postgres" and not args.skip_reservations:
                extra += hot_sku_reservations(url)
        if not args.skip_import:
            with tempfile.TemporaryDirectory(prefix="openoms-bench-import-") as tmp:
                path = Path(tmp) / "inventory.jsonl"
                write_import_file(path, args.records)
                for backend in backends:
                    imports.append(run_import(backend, path, args.records))
                    print(import_table(imports[-1:])[-1], file=sys.stderr, flush=True)
    finally:
        for backend in backends:
            backend.close()
    report = [*header, "", "availability (20 random SKUs per request)", ""]
    report += latency_table(latencies)
    if imports:
        report += ["", "import (JSON lines, delta, every line with a record_id)", ""]
        report += import_table(imports)
    report += ["", *verdicts(latencies, imports)]
    if extra:
        report += ["", *extra]
    print("\n".join(report))
    for run in imports:
        if run.backend == "postgres":  # the §11 figure (every line applied: asserted above)
            scaled = run.seconds * 1_000_000 / run.records
            figure = {"figure": "import_1m", "value": round(scaled, 1), "unit": "s"}
            print("RESULT " + json.dumps({**figure, "verified": True}), flush=True)


if __name__ == "__main__":
    main()

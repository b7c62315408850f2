"""What the benchmarks share: the report header, nearest-rank percentiles, scratch
databases (a temporary SQLite file, or a PostgreSQL database created and dropped on a
server), and `openoms serve` run as a subprocess.

bench/ is not a package: run as `.venv/bin/python bench/X.py`, a script has bench/ on
sys.path and imports this module as `common`.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import shlex
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import IO

import httpx
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

from openoms.adapters.db.migrate import upgrade
from openoms.config import normalise_database_url

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SERVER_START_SECONDS = 60.0

# --- report -------------------------------------------------------------------------------


def machine(*packages: str) -> list[str]:
    """Header lines saying when, what and where: date, command, commit, machine, load
    average before the runs, and the versions of Python and of `packages`."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = ", ".join(f"{package} {version(package)}" for package in packages)
    return [
        f"date:     {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"command:  {shlex.join([Path(sys.executable).name, *sys.argv])}",
        f"code:     {revision()}",
        f"machine:  {os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}",
        load("before the runs; the machine may be shared"),
        f"python:   {platform.python_version()}" + (f", {versions}" if versions else ""),
    ]


def load(when: str) -> str:
    """The load average as a header line."""
    figures = ", ".join(f"{n:.2f}" for n in os.getloadavg())
    return f"load:     {figures} (1, 5, 15 min, {when})"


def revision() -> str:
    """The commit measured, and whether the working tree differed from it."""
    repo = Path(__file__).resolve().parent.parent
    git = ["git", "-C", str(repo)]
    try:
        commit = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            [*git, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"commit {commit}" + (" with uncommitted changes" if changed else "")


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile `p` (0-100] of `values`, in their unit."""
    ordered = sorted(values)
    # p * n first: for whole p the product is exact, so an exact rank is not pushed up by
    # the rounding of p / 100.
    return ordered[max(1, math.ceil(p * len(ordered) / 100)) - 1]


# --- databases ----------------------------------------------------------------------------


class Backend:
    """Hands out a fresh, migrated database per run and cleans up after itself."""

    name: str

    def fresh(self) -> str:
        raise NotImplementedError

    def close(self) -> None:
        """Drop what `fresh` created."""

    def version(self) -> str:
        raise NotImplementedError

    def server_cpu(self) -> float | None:
        """CPU seconds used so far by a database server, when there is one to observe."""
        return None


class SqliteBackend(Backend):
    """Numbered database files in a temporary directory named after `bench`."""

    name = "sqlite"

    def __init__(self, bench: str) -> None:
        self._bench = bench
        self._dir = tempfile.TemporaryDirectory(prefix=f"openoms-bench-{bench}-")
        self._runs = 0

    def fresh(self) -> str:
        self._runs += 1
        url = f"sqlite:///{self._dir.name}/{self._bench}-{self._runs}.db"
        upgrade(url)
        return url

    def close(self) -> None:
        self._dir.cleanup()

    def version(self) -> str:
        return f"SQLite {sqlite3.sqlite_version} (WAL, synchronous=NORMAL)"


class PostgresBackend(Backend):
    """The scratch database `database` on the server of `server_url`, dropped and created
    afresh per run and dropped on `close`."""

    name = "postgres"

    def __init__(self, server_url: str, database: str) -> None:
        url = normalise_database_url(server_url)
        # Connect to the server's maintenance database to create and drop the scratch one.
        self._admin = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        self._url = make_url(url).set(database=database)
        self.database = database

    def create(self) -> str:
        """An empty scratch database; returns its URL."""
        self._drop()
        with self._admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{self.database}"'))
        return self._url.render_as_string(hide_password=False)

    def fresh(self) -> str:
        url = self.create()
        upgrade(url)
        return url

    def _drop(self) -> None:
        with self._admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'))

    def close(self) -> None:
        self._drop()
        self._admin.dispose()

    def server_cpu(self) -> float | None:
        return postgres_cpu(self.database)

    def version(self) -> str:
        with self._admin.connect() as connection:
            server = connection.execute(text("SHOW server_version")).scalar()
            commit = connection.execute(text("SHOW synchronous_commit")).scalar()
        return f"PostgreSQL {server} (synchronous_commit={commit}), psycopg {version('psycopg')}"


@contextlib.contextmanager
def scratch_postgres(server_url: str, database: str) -> Iterator[str]:
    """An empty scratch database on the server of `server_url` until the block ends."""
    backend = PostgresBackend(server_url, database)
    try:
        yield backend.create()
    finally:
        backend.close()


def pid_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) used so far by process `pid`, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # Fields after the command name: utime and stime are the 12th and 13th.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_pids(database: str) -> list[int]:
    """Process ids of the live PostgreSQL backends connected to `database`, read from /proc:
    none unless the server runs on this machine and /proc shows its processes."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            if f" {database} ".encode() in cmdline.read_bytes()[:200]:
                found.append(int(cmdline.parent.name))
    return found


def postgres_cpu(database: str) -> float | None:
    """CPU seconds of the live PostgreSQL backends connected to `database` (see
    `postgres_pids`): None when none can be observed."""
    seen = [cpu for pid in postgres_pids(database) if (cpu := pid_cpu(pid)) is not None]
    return sum(seen) if seen else None


# --- HTTP server --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def openoms_serve(port: int) -> list[str]:
    """The command line of `openoms serve --no-worker` on 127.0.0.1:`port`."""
    command = [str(Path(sys.executable).with_name("openoms")), "serve", "--no-worker"]
    return [*command, "--host", "127.0.0.1", "--port", str(port)]


def server_env(database_url: str, admin_key: str) -> dict[str, str]:
    # A benchmark drives the API far harder than any client should: no per-key rate limit.
    return {
        **os.environ,
        "OPENOMS_DATABASE_URL": database_url,
        "OPENOMS_ADMIN_KEY": admin_key,
        "OPENOMS_RATE_LIMIT_PER_MINUTE": "0",
    }


@contextlib.contextmanager
def serving(command: list[str], *, port: int, env: Mapping[str, str]) -> Iterator[tuple[str, int]]:
    """Run `command`, a server on 127.0.0.1:`port`, until the block ends; yields its base URL
    and process id once GET /health answers 200."""
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            base_url = f"http://127.0.0.1:{port}"
            _wait_until_healthy(base_url, server, log)
            yield base_url, server.pid
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            _report_errors(log)


def _report_errors(log: IO[bytes]) -> None:
    """The server's first logged traceback, if any (a 500's cause), and how many it logged."""
    log.seek(0)
    text = log.read().decode(errors="replace")
    count = text.count("Traceback (most recent call last)")
    if count:
        first = text[text.index("Traceback (most recent call last)") :]
        print(
            f"the server logged {count} traceback(s); the first:\n{first[:4000]}", file=sys.stderr
        )


def _wait_until_healthy(base_url: str, server: subprocess.Popen[bytes], log: IO[bytes]) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            break
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    log.seek(0)
    raise RuntimeError(f"the server did not become healthy:\n{log.read().decode()[-3000:]}")


# --- a stocked demo network ---------------------------------------------------------------

ABUNDANT_STOCK = 10_000_000  # units of every demo SKU at every demo location


def stocked_demo_database(backend: Backend, *, on_hand: int = ABUNDANT_STOCK) -> str:
    """A fresh, migrated database holding the demo network (locations, groups, channels) with
    more stock than any run takes, so every MANAGED order can reserve what it orders."""
    from openoms.adapters.db.session import Database
    from openoms.adapters.outbox import Outbox
    from openoms.demo import CATALOGUE, SITES, seed_demo_network
    from openoms.services.inventory import InventoryLine, apply_inventory_import
    from openoms.worker.consumers import default_registry

    url = backend.fresh()
    db = Database(url)
    outbox = Outbox(default_registry())
    seed_demo_network(db, outbox)
    stock = [
        InventoryLine(line=n, location=site.ref, sku=product.sku, on_hand=on_hand)
        for n, (site, product) in enumerate(
            ((site, product) for site in SITES for product in CATALOGUE), start=1
        )
    ]
    apply_inventory_import(db, outbox, stock, mode="delta")
    db.dispose()
    return url


# End-state checks every pipeline bench runs (a count that must be 0), by what they find.
# A fulfillment order's unshipped units must be held by its reservation where it ships.
STOCK_CHECKS = {
    "inventory records whose reserved differs from their reservation lines": """
        SELECT count(*) FROM inventory_records r
        WHERE r.reserved <> (
            SELECT coalesce(sum(l.quantity), 0) FROM reservation_lines l
            WHERE l.location_id = r.location_id AND l.sku = r.sku)""",
    "inventory records oversold (reserved > on_hand - safety_stock)": """
        SELECT count(*) FROM inventory_records WHERE reserved > on_hand - safety_stock""",
    "fulfillment order units not held by their reservation": """
        SELECT count(*) FROM (
            SELECT f.reservation_id, f.location_id, l.sku, sum(l.quantity - l.shipped) AS units
            FROM fulfillment_orders f JOIN fulfillment_order_line_items l
                ON l.fulfillment_order_id = f.id
            GROUP BY f.reservation_id, f.location_id, l.sku) u
        WHERE u.units > coalesce((
            SELECT sum(r.quantity) FROM reservation_lines r
            WHERE r.reservation_id = u.reservation_id AND r.location_id = u.location_id
              AND r.sku = u.sku), 0)""",
}

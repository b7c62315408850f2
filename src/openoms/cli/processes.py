"""The processes `openoms serve` and `openoms worker` run, one or several.

Everything a request or a job needs that another process could change lives in the
database: orders, stock, jobs and outbox deliveries (claimed with `FOR UPDATE SKIP
LOCKED`), idempotency records, API keys, the sandbox gateways' and carriers' state. What
each process keeps in memory is a cache or a guard, never the truth:

- the API key caches (api/auth.py): a key revoked through one process stops working in
  every other within their 5 s TTL, and a key created through one is accepted by the others
  within 5 s at worst (only if it was presented, unknown, in that window before);
- the per-key rate limiter (api/ratelimit.py): each process has its own buckets, so N API
  processes allow a key up to N times OPENOMS_RATE_LIMIT_PER_MINUTE (see there why);
- a worker's periodic-job schedule (worker/runner.py): it only decides when to look;
- Prometheus values: under PROMETHEUS_MULTIPROC_DIR each process writes its own files and a
  scrape of any API process adds them up (`metrics_dir`).

`serve --workers N` (N > 1) migrates the schema and creates the initial admin key once, in
the parent, then lets uvicorn fork N processes that each build the app from the environment
(`app_from_env`), with an outbox worker thread each unless `--no-worker`. `worker
--processes N` runs N worker processes under a `Supervisor`. Several processes need
PostgreSQL: SQLite has one writer, so both commands refuse N > 1 on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from uvicorn.config import Config
from uvicorn.supervisors import Multiprocess

from openoms.adapters.carriers import default_carriers
from openoms.adapters.db.session import Database
from openoms.adapters.metrics import MULTIPROC_ENV
from openoms.adapters.outbox import Outbox
from openoms.adapters.payments import default_gateways
from openoms.api.app import create_app
from openoms.api.logs import LOG_FORMAT_ENV, configure_logging
from openoms.config import Settings
from openoms.domain.ports import EventStream, EventStreamUnavailable
from openoms.worker.consumers import (
    default_jobs,
    default_metrics,
    default_registry,
    open_event_stream,
)
from openoms.worker.jobs import standard_worker
from openoms.worker.runner import Worker
from openoms.worker.supervisor import Supervisor

log = logging.getLogger(__name__)

# Set by `serve --workers N` for its children: "1" runs an outbox worker thread in each.
IN_PROCESS_WORKER_ENV = "OPENOMS_SERVE_IN_PROCESS_WORKER"
FACTORY = "openoms.cli.processes:app_from_env"
# How long shutdown waits for a worker thread's pass before closing the event stream.
WORKER_STOP_SECONDS = 30.0


class SingleWriter(ValueError):
    """More than one process asked for on SQLite."""


def refuse_sqlite(db: Database, count: int, what: str) -> None:
    if count > 1 and db.dialect == "sqlite":
        raise SingleWriter(
            f"{what} {count} needs PostgreSQL: SQLite has a single writer, so several "
            "processes would wait on each other's locks. Set OPENOMS_DATABASE_URL=postgresql://… "
            "or run one process."
        )


def build_app(settings: Settings, db: Database, *, worker: bool) -> FastAPI:
    """The API over `db` as `openoms serve` runs it: one set of carriers, gateways and
    metrics shared with an outbox worker thread (when `worker`), which stops with the app,
    closing the process's event stream connection (OPENOMS_EVENT_STREAM_URL) after it."""
    stream = open_event_stream(settings)
    registry = default_registry(settings, event_stream=stream)
    carriers, gateways, metrics = default_carriers(db), default_gateways(db), default_metrics()
    carriers.instrument(metrics.carrier)
    gateways.instrument(metrics.gateway)
    app = create_app(
        db,
        Outbox(registry),
        carriers=carriers,
        gateways=gateways,
        rate_limit=settings.rate_limit,
        max_body_bytes=settings.max_body_bytes,
        max_import_bytes=settings.max_import_bytes,
        metrics=metrics,
    )
    if worker:
        jobs = default_jobs(db, carriers, gateways)
        jobs.observer = metrics.job_ran
        in_process = standard_worker(db, registry, jobs, poll_seconds=settings.worker_poll_seconds)
        _stop_with_app(app, in_process, stream)
    return app


def _stop_with_app(app: FastAPI, worker: Worker, stream: EventStream | None) -> None:
    """Run `worker` in a thread from the app's startup until its shutdown; then close the
    event stream, once the worker's last pass is over (or WORKER_STOP_SECONDS passed)."""
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app_: Any) -> AsyncIterator[Any]:
        if stream is not None:  # connect before the first pass (up to 2 s if NATS is down)
            await asyncio.to_thread(start_event_stream, stream)
        thread, stop = worker.start_in_thread()
        try:
            async with inner(app_) as state:
                yield state
        finally:
            stop.set()
            if stream is not None:  # off the event loop: both may take seconds
                await asyncio.to_thread(thread.join, WORKER_STOP_SECONDS)
                await asyncio.to_thread(stream.close)

    app.router.lifespan_context = lifespan


def app_from_env() -> FastAPI:
    """The app factory each `serve --workers N` process calls: everything from the
    environment, nothing inherited (the schema and admin key are the parent's work)."""
    configure_logging(os.environ.get(LOG_FORMAT_ENV, "text").strip().lower())
    settings = Settings.from_env()
    worker = os.environ.get(IN_PROCESS_WORKER_ENV, "0") == "1"
    return build_app(settings, Database(settings.database_url), worker=worker)


class _TcpConfig(Config):
    def bind_socket(self) -> socket.socket:
        # uvicorn binds the shared socket with protocol 0, so asyncio never sets TCP_NODELAY
        # on accepted connections and each keep-alive answer waits ~40 ms for a delayed ACK
        # (Kludex/uvicorn#3149). Label it TCP, as a single-process server's socket is.
        sock = super().bind_socket()
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return sock
        return socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())


# How long a `serve --workers N` process may take to import and build the app before uvicorn
# calls it dead, and to answer uvicorn's later health pings. uvicorn's default of 5 s is
# shorter than a start on a busy host (importing openoms takes about 2.5 s of CPU on the
# 2-core machine, and each process spawned re-imports it): uvicorn then killed every process
# it started, forever, and the server never answered.
WORKER_STARTUP_SECONDS = 60


def processes_config(host: str, port: int, workers: int) -> Config:
    """uvicorn's settings for `workers` processes over `app_from_env`."""
    return _TcpConfig(
        FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        log_config=None,
        timeout_worker_healthcheck=WORKER_STARTUP_SECONDS,
    )


def serve_processes(host: str, port: int, workers: int, *, worker: bool) -> None:
    """uvicorn with `workers` processes over `app_from_env` (which restarts one that dies)."""
    os.environ[IN_PROCESS_WORKER_ENV] = "1" if worker else "0"
    config = processes_config(host, port, workers)
    Multiprocess(config, sockets=[config.bind_socket()]).run()


@contextlib.contextmanager
def metrics_dir(processes: int) -> Iterator[Path | None]:
    """The PROMETHEUS_MULTIPROC_DIR the processes share. A given one is kept, minus the
    files of processes that no longer run (a stale file would add a dead run's figures to
    every scrape); none given and several processes: a temporary one until the block ends;
    none given and one process: none (values stay in memory)."""
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        removed = remove_stale_metric_files(path)
        if removed:
            log.info("removed %d metric files of ended processes from %s", removed, path)
        yield path
        return
    if processes <= 1:
        yield None
        return
    path = Path(tempfile.mkdtemp(prefix="openoms-metrics-"))
    os.environ[MULTIPROC_ENV] = str(path)
    try:
        yield path
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(path, ignore_errors=True)


def remove_stale_metric_files(path: Path, alive: Callable[[int], bool] | None = None) -> int:
    """Delete prometheus-client's `<kind>_<pid>.db` files whose process has ended."""
    alive = alive or pid_alive
    removed = 0
    for file in path.glob("*.db"):
        pid = file.stem.rsplit("_", 1)[-1]
        if pid.isdigit() and not alive(int(pid)):
            file.unlink(missing_ok=True)
            removed += 1
    return removed


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def worker_main() -> None:
    """One worker process (a child of `run_worker_processes`, or `openoms worker` itself):
    builds everything from the environment and drains until SIGINT or SIGTERM."""
    configure_logging(os.environ.get(LOG_FORMAT_ENV, "text").strip().lower())
    settings = Settings.from_env()
    db = Database(settings.database_url)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        run_worker_until(settings, db, stop)
    finally:
        db.dispose()


def run_worker_until(settings: Settings, db: Database, stop: threading.Event) -> None:
    """The standard worker over `db`, with this process's metrics and its one event stream
    connection (OPENOMS_EVENT_STREAM_URL), until `stop` is set."""
    carriers, gateways, metrics = default_carriers(db), default_gateways(db), default_metrics()
    carriers.instrument(metrics.carrier)
    gateways.instrument(metrics.gateway)
    jobs = default_jobs(db, carriers, gateways)
    jobs.observer = metrics.job_ran
    poll = settings.worker_poll_seconds
    stream = open_event_stream(settings)
    registry = default_registry(settings, event_stream=stream)
    try:
        if stream is not None:
            start_event_stream(stream)
        standard_worker(db, registry, jobs, poll_seconds=poll).run_forever(stop)
    finally:
        if stream is not None:
            stream.close()


def start_event_stream(stream: EventStream) -> None:
    """Connect and create the stream at start-up if NATS is there; if not, say so and go on:
    the deliveries wait and are retried until it is."""
    try:
        stream.start()
    except EventStreamUnavailable as exc:
        log.warning("event stream unavailable at start-up (publishes will retry): %s", exc)


def run_worker_processes(processes: int) -> int:
    """`processes` worker processes under a Supervisor until SIGINT or SIGTERM; the exit
    code (1: children kept dying)."""
    context = multiprocessing.get_context("spawn")
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    supervisor = Supervisor(
        lambda slot: context.Process(target=worker_main, name=f"openoms-worker-{slot}"),
        processes,
    )
    return supervisor.run(stop)

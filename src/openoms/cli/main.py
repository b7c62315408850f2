"""Core commands: serve, worker, db, keys, orders import, seed, demo."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.markup import escape
from rich.panel import Panel

from openoms.adapters.db.migrate import upgrade
from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.api.logs import LOG_FORMAT_ENV, configure_logging
from openoms.cli.common import (
    app,
    console,
    db_app,
    fail,
    import_app,
    keys_app,
    load_settings,
    open_database,
    progress_bar,
)
from openoms.cli.demo_run import run_demo
from openoms.cli.processes import (
    SingleWriter,
    build_app,
    metrics_dir,
    refuse_sqlite,
    run_worker_processes,
    run_worker_until,
    serve_processes,
)
from openoms.cli.tables import print_table
from openoms.demo import SITES, demo_orders, seed_demo_network
from openoms.domain.errors import DomainError
from openoms.schemas.orders import read_order_lines
from openoms.services.access import (
    Scope,
    create_api_key,
    ensure_initial_admin_key,
    list_api_keys,
    revoke_api_key,
)
from openoms.services.orders import ImportReport, import_orders
from openoms.worker.consumers import default_registry


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at debug level.")] = False,
) -> None:
    # OPENOMS_LOG_FORMAT=json: one JSON object per line (api/logs.py); else plain text.
    fmt = os.environ.get(LOG_FORMAT_ENV, "text").strip().lower()
    configure_logging(fmt, level=logging.DEBUG if verbose else logging.INFO)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the latest version (safe to run again)."""
    settings = load_settings()
    upgrade(settings.database_url)
    console.print(f"schema up to date on {Database(settings.database_url).dialect}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    worker: Annotated[
        bool,
        typer.Option(
            "--worker/--no-worker",
            help="Run an outbox worker thread in-process (in each API process).",
        ),
    ] = True,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help="API processes sharing the port (more than 1 needs PostgreSQL).",
        ),
    ] = 1,
) -> None:
    """Serve the REST API (and /docs) with the outbox worker, migrating the schema first.

    On first start, OPENOMS_ADMIN_KEY becomes the admin key; without it one is generated
    and printed once. With --workers N, N processes answer on one port, each with its own
    outbox worker thread unless --no-worker; uvicorn restarts one that dies."""

    settings, db = open_database()
    try:
        refuse_sqlite(db, workers, "--workers")
    except SingleWriter as exc:
        raise fail(str(exc)) from None
    with db.transaction() as session:
        generated = ensure_initial_admin_key(session, settings.admin_key)
    if generated:
        console.print(
            Panel(
                f"[bold]{generated}[/bold]\n\nThis admin API key is shown once. Keep it; "
                "create others with `openoms keys create`.",
                title="initial admin key",
            )
        )
    with metrics_dir(workers):
        if workers > 1:
            db.dispose()  # the children open their own
            serve_processes(host, port, workers, worker=worker)
            return
        app_ = build_app(settings, db, worker=worker)
        try:
            # log_config=None: uvicorn's loggers write through the handler set up above.
            uvicorn.run(app_, host=host, port=port, log_level="info", log_config=None)
        finally:
            db.dispose()


@app.command("worker")
def run_worker(
    processes: Annotated[
        int,
        typer.Option(
            "--processes",
            min=1,
            help="Worker processes under one supervisor (more than 1 needs PostgreSQL).",
        ),
    ] = 1,
) -> None:
    """Run an outbox worker until interrupted. Any number may run over one PostgreSQL.

    With --processes N, a supervisor runs N worker processes, restarts one that dies (and
    gives up, exit 1, if they keep dying), and stops them all on SIGINT or SIGTERM."""

    settings, db = open_database()
    try:
        refuse_sqlite(db, processes, "--processes")
    except SingleWriter as exc:
        raise fail(str(exc)) from None
    plural = f"{processes} worker processes" if processes > 1 else "worker"
    console.print(f"{plural} running on {db.dialect}; Ctrl-C to stop")
    # Its metrics reach a scrape only through a PROMETHEUS_MULTIPROC_DIR it shares with
    # the API (README); its own processes' ended files are removed from it first.
    with metrics_dir(1):
        if processes > 1:
            db.dispose()
            code = run_worker_processes(processes)
            if code:
                raise typer.Exit(code=code)
            return
        stop = threading.Event()
        # SIGTERM (a service manager's stop) ends the pass in hand and closes the event
        # stream's connection, as Ctrl-C does; the worker processes of --processes do the same.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        try:
            run_worker_until(settings, db, stop)
        finally:
            db.dispose()


@keys_app.command("create")
def keys_create(
    scope: Annotated[
        list[Scope],
        typer.Option("--scope", "-s", help="storefront, warehouse, agent, metrics or admin."),
    ],
    name: Annotated[str, typer.Option(help="What the key is for.")] = "API key",
    channel: Annotated[
        list[str] | None,
        typer.Option(
            "--channel",
            "-c",
            help="Bind the key to this configured channel (repeat for several): it sees and "
            "acts on those channels' orders only. Without it the key sees every channel.",
        ),
    ] = None,
) -> None:
    """Create an API key; its secret is printed once and stored only as a hash."""
    _, db = open_database()
    try:
        with db.transaction() as session:
            api_key, plaintext = create_api_key(
                session, name=name, scopes=scope, channels=channel or None
            )
    except DomainError as exc:
        raise fail(exc.detail) from None
    bound = f"  channels: {', '.join(api_key.channels)}" if api_key.channels else ""
    console.print(f"{api_key.id}  scopes: {api_key.scopes}{bound}", highlight=False)
    console.print(plaintext, soft_wrap=True, highlight=False)


@keys_app.command("list")
def keys_list() -> None:
    """List API keys (never their secrets) with their scopes and channels ("all": unbound)."""
    _, db = open_database()
    with db.reading() as session:
        keys = list_api_keys(session)
    rows = [
        (
            k.id,
            escape(k.name),
            k.prefix,
            k.scopes,
            ", ".join(k.channels) if k.channels is not None else "all",
            k.created_at.isoformat(sep=" ", timespec="seconds"),
            k.revoked_at.isoformat(sep=" ", timespec="seconds") if k.revoked_at else "",
        )
        for k in keys
    ]
    columns = ("id", "name", "prefix", "scopes", "channels", "created", "revoked")
    print_table(console, columns, rows, keep=("id", "name", "prefix"))


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (key_…).")]) -> None:
    """Revoke an API key."""
    _, db = open_database()
    try:
        with db.transaction() as session:
            revoke_api_key(session, key_id)
    except DomainError as exc:
        raise fail(exc.detail) from None
    console.print(f"revoked {key_id}")


@import_app.command("orders")
def import_orders_command(
    file: Annotated[Path, typer.Argument(help="JSON lines: one order payload (§12) per line.")],
) -> None:
    """Capture every order in FILE through bulk capture, 100 lines per transaction. Each
    line is all or nothing; a summary lists accepted, duplicate and rejected lines with the
    line, field and reason of each rejection. Exits 1 if any line was rejected."""
    if not file.is_file():
        raise fail(f"{file}: no such file")
    text = file.read_text(encoding="utf-8")
    lines = text.splitlines()
    _, db = open_database()
    outbox = Outbox(default_registry())
    with progress_bar() as progress:
        task = progress.add_task(f"importing {file.name}", total=len(lines))
        report = import_orders(
            db,
            outbox,
            read_order_lines(lines),
            on_line=lambda n: progress.update(task, completed=n),
        )
    _print_import_report(report)
    if report.rejected:
        raise typer.Exit(code=1)


def _print_import_report(report: ImportReport) -> None:
    console.print(
        f"{report.lines} lines: [green]{report.accepted} accepted[/green], "
        f"{report.duplicates} duplicate, [red]{len(report.rejected)} rejected[/red]"
    )
    for rejection in report.rejected:
        console.print(f"  {rejection}", highlight=False, soft_wrap=True)


@app.command()
def seed(
    orders: Annotated[int, typer.Option(help="How many demo orders.")] = 12,
) -> None:
    """Seed the demo network — locations in three countries, groups, channels, stock — and
    demo orders (safe to run again: nothing is created or captured twice)."""

    _, db = open_database()
    outbox = Outbox(default_registry())
    records = seed_demo_network(db, outbox)
    lines = [json.dumps(o) for o in demo_orders(orders)]
    report = import_orders(db, outbox, read_order_lines(lines))
    console.print(
        f"demo network: {len(SITES)} locations, {records} stock records applied; "
        f"{report.accepted} orders captured, {report.duplicates} already there"
    )
    if report.rejected:
        raise fail("; ".join(str(r) for r in report.rejected))


@app.command()
def demo() -> None:
    """A scripted run: capture realistic orders, retry one, refuse a bad one, ship one; then
    an agent's cancel, refusal, return, discount and reship; show and reconcile the results."""

    _, db = open_database()
    run_demo(db, Outbox(default_registry()), console)

"""`openoms import inventory …` and inventory commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from openoms.adapters.outbox import Outbox
from openoms.cli.common import console, err, fail, import_app, open_database, progress_bar
from openoms.domain.file_lines import LineError
from openoms.domain.inventory import InventoryImportInvalid
from openoms.schemas.inventory import ImportFormat, parse_inventory_lines
from openoms.services.inventory import MAX_REPORTED_ERRORS, ImportMode, apply_inventory_import
from openoms.worker.consumers import default_registry

_EXTENSIONS: dict[str, ImportFormat] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
}


@import_app.command("inventory")
def import_inventory_command(
    file: Annotated[Path, typer.Argument(help="JSON lines or CSV, one record per line.")],
    mode: Annotated[
        ImportMode,
        typer.Option(
            help="delta: set the listed records; full: also zero unlisted SKUs "
            "of the listed locations."
        ),
    ] = "delta",
    fmt: Annotated[
        ImportFormat | None,
        typer.Option("--format", help="jsonl or csv (default: from the file extension)."),
    ] = None,
) -> None:
    """Import stock levels from FILE. Every line is checked first: if any is bad, each
    problem is listed with its line and field, nothing is applied, and the exit code is 1.
    Reservations are never changed; lines whose record_id was applied before are skipped."""
    if not file.is_file():
        raise fail(f"{file}: no such file")
    fmt = fmt or _EXTENSIONS.get(file.suffix.lower())
    if fmt is None:
        raise fail(f"{file.name}: cannot tell the format from the extension; pass --format")
    with file.open(encoding="utf-8-sig", newline="") as lines:
        records, errors = parse_inventory_lines(lines, fmt)
    if errors:
        _report(errors)
        raise typer.Exit(code=1)
    _, db = open_database()
    try:
        with progress_bar() as progress:
            task = progress.add_task(f"importing {file.name}", total=len(records))
            result = apply_inventory_import(
                db,
                Outbox(default_registry()),
                records,
                mode=mode,
                on_progress=lambda n: progress.update(task, completed=n),
            )
    except InventoryImportInvalid as exc:
        shown = exc.extra.get("errors", [])
        total = int(exc.extra.get("error_count", len(shown)))
        _report([LineError(e["line"], e["field"], e["message"]) for e in shown], total)
        raise typer.Exit(code=1) from None
    finally:
        db.dispose()
    console.print(
        f"{result.records} records ({mode}): [green]{result.applied} applied[/green], "
        f"{result.skipped_duplicates} duplicate, {result.zeroed} zeroed, "
        f"{result.locations_touched} locations"
    )


def _report(errors: list[LineError], total: int | None = None) -> None:
    total = len(errors) if total is None else total
    err.print(f"[red]{total} problem(s), nothing was applied:[/red]")
    shown = errors[:MAX_REPORTED_ERRORS]
    for error in shown:
        err.print(f"  {error}", highlight=False)
    if total > len(shown):
        err.print(f"  … and {total - len(shown)} more")

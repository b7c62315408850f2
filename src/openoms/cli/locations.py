"""`openoms locations …` commands: import a file of locations, list them.

An import checks every line before it applies any: one bad line and nothing is applied.
Then every line is applied in one transaction.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.markup import escape

from openoms.adapters.outbox import Outbox
from openoms.cli.common import app, console, err, fail, open_database, progress_bar
from openoms.cli.tables import print_table
from openoms.domain.errors import DomainError
from openoms.domain.file_lines import LineError
from openoms.domain.inventory import LocationType
from openoms.schemas import field_path
from openoms.schemas.file_lines import csv_typed
from openoms.schemas.locations import LocationImportLine
from openoms.services.inventory import (
    LocationData,
    check_ref,
    list_locations,
    location_group_refs,
    upsert_location,
    validate_location,
)
from openoms.worker.consumers import default_registry

locations_app = typer.Typer(help="Locations: warehouses, stores, 3PLs.", no_args_is_help=True)
app.add_typer(locations_app, name="locations")

CSV_COLUMNS = (
    "ref name type line1 city region postal_code country lat lon can_ship can_pickup active "
    "daily_capacity groups".split()
)
_CSV_REQUIRED = frozenset("ref name type line1 city country can_ship can_pickup".split())
_ADDRESS = ("line1", "city", "region", "postal_code", "country", "lat", "lon")
# CSV cells are text: these columns are read as the JSON types the payload wants.
_CSV_TYPES = {
    "lat": float,
    "lon": float,
    "daily_capacity": int,
    "can_ship": bool,
    "can_pickup": bool,
    "active": bool,
}


@dataclass(frozen=True, slots=True)
class GoodLine:
    line: int
    ref: str
    data: LocationData


@locations_app.command("import")
def import_locations(
    file: Annotated[
        Path,
        typer.Argument(
            help="JSON lines (one location PUT body with its `ref` per line), or CSV with "
            f"columns {','.join(CSV_COLUMNS)} (groups separated by '|')."
        ),
    ],
    format: Annotated[
        str, typer.Option(help="jsonl, csv, or auto: csv for a .csv file, else jsonl.")
    ] = "auto",
) -> None:
    """Create or replace every location in FILE, all in one transaction. Every line is
    checked first: if any is bad, each bad line is reported and nothing is applied."""
    if not file.is_file():
        raise fail(f"{file}: no such file")
    if format not in ("auto", "jsonl", "csv"):
        raise fail(f"--format must be auto, jsonl or csv, not {format!r}")
    is_csv = format == "csv" or (format == "auto" and file.suffix.lower() == ".csv")
    text = file.read_text(encoding="utf-8-sig")
    good, bad = check_lines(_csv_rows(text) if is_csv else _json_rows(text), is_csv=is_csv)
    if bad:
        for problem in bad:
            err.print(escape(str(problem)), soft_wrap=True, highlight=False)
        lines = len({problem.line for problem in bad})
        raise fail(f"{lines} bad line(s) in {file.name}; nothing was imported")
    if not good:
        raise fail(f"{file.name} holds no locations")
    _, db = open_database()
    outbox = Outbox(default_registry())
    created = number = 0
    try:
        with progress_bar() as progress, db.transaction() as session:
            task = progress.add_task(f"importing {file.name}", total=len(good))
            for line in good:
                number = line.line
                _, new = upsert_location(session, outbox, line.ref, line.data)
                created += new
                progress.advance(task)
    except DomainError as exc:
        # Every line was checked above, so only a rule that needs the database lands here;
        # the transaction rolled back, so nothing was applied.
        problem = LineError(number, exc.field, exc.detail)
        raise fail(escape(f"{problem}; nothing was imported")) from None
    finally:
        db.dispose()
    console.print(f"imported {_count(len(good))}: {created} created, {len(good) - created} updated")


@locations_app.command("list")
def list_command(
    type: Annotated[LocationType | None, typer.Option(help="Only this type.")] = None,
    group: Annotated[str | None, typer.Option(help="Only members of this group.")] = None,
    active: Annotated[
        bool | None, typer.Option("--active/--inactive", help="Only (in)active ones.")
    ] = None,
) -> None:
    """List locations by ref, with their groups."""
    _, db = open_database()
    try:
        with db.reading() as session:
            rows = list_locations(session, type=type, group=group, active=active)
            groups = location_group_refs(session, [r.id for r in rows])
    finally:
        db.dispose()
    columns = ("ref", "name", "type", "city", "country", "ship", "pickup", "active", "groups")
    cells = [
        (
            escape(r.ref),
            escape(r.name),
            r.type,
            escape(r.city or ""),
            r.country or "",
            _yes(r.can_ship),
            _yes(r.can_pickup),
            _yes(r.active),
            escape(", ".join(groups.get(r.id, []))),
        )
        for r in rows
    ]
    print_table(console, columns, cells, keep=("ref", "name"))
    console.print(_count(len(rows)))


def _count(n: int) -> str:
    return f"{n} location" if n == 1 else f"{n} locations"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


# --- checking lines ---------------------------------------------------------------------

# (line number, parsed object or the reason it could not be read)
Row = tuple[int, dict[str, Any] | LineError]


def check_lines(
    rows: Iterator[Row], *, is_csv: bool = False
) -> tuple[list[GoodLine], list[LineError]]:
    """Every row parsed and checked as a location PUT would be; a ref given twice is bad."""
    good: list[GoodLine] = []
    bad: list[LineError] = []
    first_line: dict[str, int] = {}
    for number, row in rows:
        if isinstance(row, LineError):
            bad.append(row)
            continue
        try:
            payload = LocationImportLine.model_validate(row)
            check_ref(payload.ref)
            data = payload.to_data()
            validate_location(payload.ref, data)
        except ValidationError as exc:
            bad.extend(LineError(number, _field(e["loc"], is_csv), e["msg"]) for e in exc.errors())
            continue
        except DomainError as exc:
            # Amount errors repeat their field in the detail; say it once.
            reason = exc.detail.removeprefix(f"{exc.field}: ")
            bad.append(LineError(number, _field(exc.field, is_csv), reason))
            continue
        if payload.ref in first_line:
            bad.append(
                LineError(
                    number, "ref", f"{payload.ref!r} is also on line {first_line[payload.ref]}"
                )
            )
            continue
        first_line[payload.ref] = number
        good.append(GoodLine(number, payload.ref, data))
    return good, bad


def _field(loc: tuple[Any, ...] | str | None, is_csv: bool) -> str | None:
    if loc is None:
        return None
    name = loc if isinstance(loc, str) else field_path(loc)
    if is_csv and name.startswith("address."):
        return name.removeprefix("address.")  # CSV columns are flat
    if is_csv and name.startswith("groups["):
        return "groups"
    return name or None


def _json_rows(text: str) -> Iterator[Row]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield (
                number,
                LineError(number, None, f"not valid JSON: {exc.msg} at column {exc.colno}"),
            )
            continue
        if not isinstance(value, dict):
            yield number, LineError(number, None, "expected a JSON object")
            continue
        yield number, value


def _csv_rows(text: str) -> Iterator[Row]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = [c.strip() for c in reader.fieldnames or []]
    unknown = [c for c in columns if c not in CSV_COLUMNS]
    missing = sorted(_CSV_REQUIRED - set(columns))
    if unknown or missing:
        for column in unknown:
            yield 1, LineError(1, column, f"unknown column; known: {','.join(CSV_COLUMNS)}")
        for column in missing:
            yield 1, LineError(1, column, "required column is missing")
        return
    reader.fieldnames = columns
    end = reader.line_num
    for raw in reader:
        number, end = end + 1, reader.line_num
        if None in raw:
            yield number, LineError(number, None, "more values than columns")
            continue
        values = {k: (v or "").strip() for k, v in raw.items()}
        if not any(values.values()):
            continue
        yield number, _csv_payload(values)


def _csv_payload(values: dict[str, str]) -> dict[str, Any]:
    """A CSV row as a location PUT body: empty cells are left out (defaults apply)."""
    typed = {k: csv_typed(v, _CSV_TYPES.get(k, str)) for k, v in values.items() if v}
    payload: dict[str, Any] = {
        k: v for k, v in typed.items() if k not in _ADDRESS and k != "groups"
    }
    payload["address"] = {k: typed[k] for k in _ADDRESS if k in typed}
    payload["groups"] = [g.strip() for g in values.get("groups", "").split("|") if g.strip()]
    return payload

"""Inventory wire contract (DESIGN.md §12): import lines, availability requests and answers,
inventory records; and the reading of an import file, JSON lines or CSV, into the
`InventoryLine` values the inventory service applies (`parse_inventory_lines`).

Import lines are strict (`Payload`): unknown fields are rejected, quantities must be JSON
integers from 0 to 1,000,000 (not 1.0, not "5"), refs hold no control characters or
surrounding spaces, and every future needs an `expected_date` (YYYY-MM-DD).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, ValidationError

from openoms.domain.file_lines import LineError
from openoms.domain.inventory import InventoryImportEmpty
from openoms.schemas import field_path
from openoms.schemas.common import Identifier, IsoDate, Payload, StockQuantity
from openoms.schemas.file_lines import csv_integer
from openoms.services.inventory import InventoryLine, lines_listed_twice

MAX_FUTURES = 100

Ref = Annotated[Identifier, Field(min_length=1, max_length=100)]


class FutureIn(Payload):
    """Stock expected to arrive; it counts toward available_to_order within the horizon."""

    quantity: StockQuantity
    expected_date: IsoDate = Field(description="YYYY-MM-DD.", examples=["2026-12-01"])


class InventoryLineIn(Payload):
    """One line of an inventory import: the stock of one SKU at one location.

    `safety_stock` and `futures`, when left out, keep their current values (0 and none for a
    new record); `futures: []` clears them. A `record_id` makes the line idempotent: a line
    whose record_id was applied before is skipped."""

    location: Ref = Field(description="Location ref.", examples=["WH-1"])
    sku: Ref = Field(examples=["TEE-M"])
    on_hand: StockQuantity
    safety_stock: StockQuantity | None = None
    futures: list[FutureIn] | None = Field(default=None, max_length=MAX_FUTURES)
    record_id: Annotated[Identifier, Field(min_length=1, max_length=200)] | None = None


class ImportLineError(BaseModel):
    line: int = Field(description="1-based line number in the file (CSV: the header is 1).")
    field: str | None = Field(description="The field at fault; null for the whole line.")
    message: str


class InventoryImportResult(BaseModel):
    """What an import did. Nothing is applied when any line is bad (400 instead)."""

    import_id: str
    mode: Literal["delta", "full"]
    records: int = Field(description="Records read (blank lines aside).")
    applied: int = Field(description="Records written.")
    skipped_duplicates: int = Field(description="Records whose record_id was applied before.")
    zeroed: int = Field(description="Full mode: unlisted records set to zero on hand.")
    locations_touched: int = Field(description="Distinct locations the import names.")


# --- availability -------------------------------------------------------------------------


class AvailabilityRequest(Payload):
    """SKUs (at most 100) at named locations and location groups (at most 100 together);
    with neither, every active location. A SKU without a record counts as zero."""

    skus: list[Ref] = Field(min_length=1, examples=[["TEE-M", "MUG"]])
    locations: list[Ref] | None = Field(default=None, examples=[["WH-1"]])
    location_groups: list[Ref] | None = Field(default=None, examples=[["online"]])


class SkuAvailability(BaseModel):
    sku: str
    on_hand: int
    reserved: int
    safety_stock: int
    available_to_fulfill: int = Field(description="on_hand − reserved − safety_stock.")
    available_to_order: int = Field(
        description="available_to_fulfill + futures expected within the horizon (30 days)."
    )


class LocationAvailability(BaseModel):
    location: str
    inventory_records: list[SkuAvailability]


class GroupAvailability(BaseModel):
    location_group: str
    inventory_records: list[SkuAvailability] = Field(
        description="Sums over the group's active locations; a location that is short "
        "counts as zero in the available figures."
    )


class AvailabilityResponse(BaseModel):
    locations: list[LocationAvailability]
    location_groups: list[GroupAvailability]


# --- records ------------------------------------------------------------------------------


class FutureOut(BaseModel):
    quantity: int
    expected_date: date


class InventoryRecordOut(BaseModel):
    location: str
    sku: str
    on_hand: int
    reserved: int
    safety_stock: int
    available_to_fulfill: int
    available_to_order: int
    futures: list[FutureOut]
    updated_at: datetime


class InventoryRecordPage(BaseModel):
    items: list[InventoryRecordOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


ImportFormat = Literal["jsonl", "csv"]
CSV_COLUMNS = ("location", "sku", "on_hand", "safety_stock", "futures", "record_id")
CSV_REQUIRED = ("location", "sku", "on_hand")
EMPTY = InventoryImportEmpty.code  # the code of the one error of a file without records

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


# --- import files (JSON lines, CSV) -------------------------------------------------------


def parse_inventory_lines(
    lines: Iterable[str], fmt: ImportFormat
) -> tuple[list[InventoryLine], list[LineError]]:
    """Parse and validate every line (no database): each line on its own, then the file
    (a location and SKU listed twice, no record at all). Blank lines are skipped but
    counted, so line numbers match the file; a CSV file's first line is its header."""
    counted = _Counted(lines)
    if fmt == "jsonl":
        records, errors = _parse_jsonl(counted)
    elif fmt == "csv":
        records, errors = _parse_csv(counted)
    else:
        raise ValueError(f"unknown import format {fmt!r}")
    errors = sorted(errors + lines_listed_twice(records), key=_by_line)
    if not records and not errors:
        errors = [LineError(counted.read + 1, None, "the file holds no records", EMPTY)]
    return records, errors


class _Counted:
    """The lines of a file, counting those read."""

    def __init__(self, lines: Iterable[str]) -> None:
        self.lines = lines
        self.read = 0

    def __iter__(self) -> Iterator[str]:
        for line in self.lines:
            self.read += 1
            yield line


def _by_line(error: LineError) -> int:
    return error.line


def _parse_jsonl(lines: Iterable[str]) -> tuple[list[InventoryLine], list[LineError]]:
    records: list[InventoryLine] = []
    errors: list[LineError] = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            model = InventoryLineIn.model_validate_json(text)
        except ValidationError as exc:
            errors.extend(_line_errors(number, exc))
        else:
            records.append(_record(number, model))
    return records, errors


def _parse_csv(lines: Iterable[str]) -> tuple[list[InventoryLine], list[LineError]]:
    records: list[InventoryLine] = []
    errors: list[LineError] = []
    reader = csv.reader(lines, strict=True)
    header: list[str] | None = None
    try:
        for row in reader:
            number = reader.line_num
            cells = [cell.strip() for cell in row]
            if not any(cells):
                continue
            if header is None:
                header = cells
                errors.extend(_header_errors(number, header))
                if errors:
                    return [], errors
                continue
            if len(cells) != len(header):
                message = f"expected {len(header)} fields ({', '.join(header)}), found {len(cells)}"
                errors.append(LineError(number, None, message))
                continue
            try:
                model = InventoryLineIn.model_validate(_csv_values(header, cells))
            except ValidationError as exc:
                errors.extend(_line_errors(number, exc))
            else:
                records.append(_record(number, model))
    except csv.Error as exc:
        errors.append(LineError(reader.line_num, None, f"malformed CSV: {exc}"))
    return records, errors  # no header at all: a file without records


def _header_errors(number: int, header: list[str]) -> list[LineError]:
    errors = [
        LineError(number, name, f"unknown column (known: {', '.join(CSV_COLUMNS)})")
        for name in header
        if name not in CSV_COLUMNS
    ]
    errors += [
        LineError(number, name, "column appears twice")
        for name in dict.fromkeys(header)
        if header.count(name) > 1
    ]
    errors += [
        LineError(number, name, "required column is missing")
        for name in CSV_REQUIRED
        if name not in header
    ]
    return errors


def _csv_values(header: list[str], cells: list[str]) -> dict[str, Any]:
    """A CSV row as the JSON line would have it: empty cells left out, whole numbers as
    ints and futures (`qty@YYYY-MM-DD;…`) as objects. Anything else stays a string and the
    strict schema rejects it with the field named."""
    values: dict[str, Any] = {}
    for name, cell in zip(header, cells, strict=True):
        if not cell:
            continue
        if name in ("on_hand", "safety_stock"):
            values[name] = csv_integer(cell)
        elif name == "futures":
            values[name] = [_csv_future(part.strip()) for part in cell.split(";") if part.strip()]
        else:
            values[name] = cell
    return values


def _csv_future(part: str) -> dict[str, Any]:
    quantity, _, when = part.partition("@")
    future: dict[str, Any] = {"quantity": csv_integer(quantity.strip())}
    when = when.strip()
    if when:
        try:
            future["expected_date"] = (
                date.fromisoformat(when) if _ISO_DATE.fullmatch(when) else when
            )
        except ValueError:
            future["expected_date"] = when
    return future


def _line_errors(number: int, exc: ValidationError) -> list[LineError]:
    return [
        LineError(number, field_path(tuple(e["loc"])) or None, e["msg"])
        for e in exc.errors(include_url=False)
    ]


def _record(number: int, model: InventoryLineIn) -> InventoryLine:
    futures = None
    if model.futures is not None:
        futures = tuple(
            sorted(((f.quantity, f.expected_date) for f in model.futures), key=_by_date)
        )
    return InventoryLine(
        number,
        model.location,
        model.sku,
        model.on_hand,
        model.safety_stock,
        futures,
        model.record_id,
    )


def _by_date(future: tuple[int, date]) -> date:
    return future[1]

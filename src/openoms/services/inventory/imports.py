"""Inventory imports (DESIGN.md §5, §12): full snapshots and deltas.

The edge reads the file, JSON lines or CSV, into `InventoryLine` values
(`openoms.schemas.inventory.parse_inventory_lines`), checking each line and, with
`lines_listed_twice`, the lines together. Validate everything first, then write: a file
with any bad line (malformed, a negative or fractional quantity, a future without a date,
an unknown location, the same location and SKU as an earlier line) or with no record at
all applies nothing (`invalid_import`).

Writes are `INSERT … ON CONFLICT (location_id, sku) DO UPDATE` setting on_hand (and
safety_stock, futures when given) and never `reserved`: a reservation's conditional update
running at the same moment is neither lost nor counted twice, and an import may leave
on_hand below reserved (available_to_fulfill goes negative until stock arrives).

Batches of `BATCH_SIZE` records commit one by one, so row locks are held for one batch only
and orders keep reserving during a large import. A batch claims its record ids in
`inventory_import_records` in the same transaction as it writes the records, so a record id
is applied exactly once, even by two imports racing. A file names each location and SKU
once (a line repeating an earlier one's `record_id` is a resend of that record, skipped).
A full import then sets on_hand to 0 on every record of the listed locations it did not
list (found by `last_import_id`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy.orm import Session

from openoms.adapters.db.ids import new_id
from openoms.adapters.db.models import utcnow
from openoms.adapters.db.repositories import inventory_import as repo
from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.domain.events import DomainEvent
from openoms.domain.file_lines import LineError
from openoms.domain.inventory import InventoryImportEmpty, InventoryImportInvalid

ImportMode = Literal["delta", "full"]

BATCH_SIZE = 5_000
MAX_REPORTED_ERRORS = 100


@dataclass(frozen=True, slots=True)
class InventoryLine:
    """One valid import line. None for safety_stock or futures: keep the current value."""

    line: int
    location: str
    sku: str
    on_hand: int
    safety_stock: int | None = None
    futures: tuple[tuple[int, date], ...] | None = None  # (quantity, expected_date)
    record_id: str | None = None


@dataclass(frozen=True, slots=True)
class ImportResult:
    import_id: str
    mode: ImportMode
    records: int
    applied: int
    skipped_duplicates: int
    zeroed: int
    locations_touched: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- checking -----------------------------------------------------------------------------


def lines_listed_twice(records: Sequence[InventoryLine]) -> list[LineError]:
    """A line naming the location and SKU of an earlier one (unless it resends that line's
    record_id): which stock level would be meant is anybody's guess."""
    first: dict[tuple[str, str], InventoryLine] = {}
    errors = []
    for record in records:
        earlier = first.setdefault((record.location, record.sku), record)
        if earlier is not record and (
            record.record_id is None or earlier.record_id != record.record_id
        ):
            errors.append(
                LineError(
                    record.line,
                    "sku",
                    f"{record.location} / {record.sku} is on line {earlier.line} too: list "
                    "each location and SKU once",
                )
            )
    return errors


def invalid_import(errors: Sequence[LineError]) -> InventoryImportInvalid:
    """The error answering an import with bad lines (the first 100 listed), or without any
    record (InventoryImportEmpty)."""
    shown = errors[:MAX_REPORTED_ERRORS]
    more = f" (first {len(shown)} listed)" if len(errors) > len(shown) else ""
    empty = [e.code for e in errors] == [InventoryImportEmpty.code]
    kind = InventoryImportEmpty if empty else InventoryImportInvalid
    return kind(
        f"{len(errors)} problem(s) in the import{more}, nothing was applied: {shown[0]}",
        errors=[{"line": e.line, "field": e.field, "message": e.message} for e in shown],
        error_count=len(errors),
    )


# --- applying -----------------------------------------------------------------------------


def apply_inventory_import(
    db: Database,
    outbox: Outbox,
    records: Sequence[InventoryLine],
    *,
    mode: ImportMode,
    on_progress: Callable[[int], None] | None = None,
    batch_size: int = BATCH_SIZE,
) -> ImportResult:
    """Apply parsed records: `delta` sets the listed records and leaves the rest; `full`
    also sets on_hand to 0 on every unlisted record of the listed locations. Reservations
    are kept in both. A record whose record_id was applied before is skipped.

    Raises InventoryImportInvalid, applying nothing, when a line names an unknown location.
    Commits per batch (see the module docstring); `on_progress(n)` after each, n records
    done. Emits one `inventory.imported` event with the counts."""
    import_id = new_id("imp")
    with db.reading() as session:
        location_ids = _resolve_locations(session, records)
    applied = skipped = 0
    seen: set[str] = set()
    for start in range(0, len(records), batch_size):
        batch = records[start : start + batch_size]
        with db.transaction() as session:
            now = utcnow()
            fresh, repeats = _claim(session, import_id, batch, seen, now)
            repo.upsert_records(session, import_id, _rows(location_ids, fresh), now)
            if mode == "full":
                # Skipped but listed: not "unlisted", so not zeroed below.
                keys = sorted({(location_ids[r.location], r.sku) for r in repeats})
                repo.mark_listed(session, import_id, keys)
        applied += len(fresh)
        skipped += len(repeats)
        if on_progress is not None:
            on_progress(start + len(batch))
    touched = sorted(set(location_ids.values()))
    with db.transaction() as session:
        zeroed = repo.zero_unlisted(session, import_id, touched, utcnow()) if mode == "full" else 0
        result = ImportResult(import_id, mode, len(records), applied, skipped, zeroed, len(touched))
        event = DomainEvent("inventory.imported", "inventory_import", import_id, result.as_dict())
        outbox.record(session, [event])
    return result


def _resolve_locations(session: Session, records: Sequence[InventoryLine]) -> dict[str, str]:
    """ref → location id for every location the records name; any unknown one fails the
    whole import, naming each line that uses it."""
    refs = sorted({r.location for r in records})
    found = repo.location_ids(session, refs)
    if len(found) < len(refs):
        errors = [
            LineError(r.line, "location", f"unknown location '{r.location}'")
            for r in records
            if r.location not in found
        ]
        raise invalid_import(errors)
    return found


def _claim(
    session: Session,
    import_id: str,
    batch: Sequence[InventoryLine],
    seen: set[str],
    now: datetime,
) -> tuple[list[InventoryLine], list[InventoryLine]]:
    """Split a batch into records to apply and repeats (record id applied before, by an
    earlier import or earlier in this one), claiming the new record ids."""
    ids: list[str] = []
    for record in batch:
        if record.record_id is not None and record.record_id not in seen:
            seen.add(record.record_id)
            ids.append(record.record_id)
    claimed = repo.claim_record_ids(session, import_id, ids, now)
    fresh: list[InventoryLine] = []
    repeats: list[InventoryLine] = []
    for record in batch:
        rid = record.record_id
        if rid is None or rid in claimed:
            claimed.discard(rid)  # the same id again later in this batch is a repeat
            fresh.append(record)
        else:
            repeats.append(record)
    return fresh, repeats


def _rows(location_ids: dict[str, str], records: Sequence[InventoryLine]) -> list[repo.RecordRow]:
    """One row per (location, SKU) (a parsed file lists each once; records given directly
    may repeat one, the last winning), in (location, SKU) order so that concurrent writers
    lock rows in one order."""
    latest: dict[tuple[str, str], InventoryLine] = {}
    for record in records:
        latest[(location_ids[record.location], record.sku)] = record
    return [
        repo.RecordRow(
            location_id,
            sku,
            record.on_hand,
            record.safety_stock,
            None
            if record.futures is None
            else [{"quantity": q, "expected_date": d.isoformat()} for q, d in record.futures],
        )
        for (location_id, sku), record in sorted(latest.items(), key=_key)
    ]


def _key(item: tuple[tuple[str, str], InventoryLine]) -> tuple[str, str]:
    return item[0]

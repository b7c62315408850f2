"""The writes of an inventory import, in bulk.

None of these statements names `reserved` in an UPDATE: reservations move it with their own
conditional updates at any moment, and an import must neither undo nor repeat one.

PostgreSQL gets one statement per batch with the rows as arrays (`unnest`), several times
faster than a driver executemany; SQLite gets an executemany, which runs in-process.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, bindparam, or_, select, text, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from openoms.adapters.db.models import InventoryImportRecord, InventoryRecord, Location

_RECORDS = cast(Table, InventoryRecord.__table__)
_CLAIMS = cast(Table, InventoryImportRecord.__table__)


@dataclass(frozen=True, slots=True)
class RecordRow:
    """Values to set on one inventory record; None keeps the stored safety stock or futures
    (0 and [] for a new record)."""

    location_id: str
    sku: str
    on_hand: int
    safety_stock: int | None
    futures: list[dict[str, Any]] | None


def location_ids(session: Session, refs: Sequence[str]) -> dict[str, str]:
    """ref -> location id of the named locations that exist, read 1,000 refs at a time."""
    found: dict[str, str] = {}
    for start in range(0, len(refs), 1000):
        chunk = refs[start : start + 1000]
        query = select(Location.ref, Location.id).where(Location.ref.in_(chunk))
        found.update({ref: location_id for ref, location_id in session.execute(query)})
    return found


def claim_record_ids(
    session: Session, import_id: str, record_ids: Sequence[str], now: datetime
) -> set[str]:
    """Insert the record ids not applied before and return those; the others belong to an
    earlier import (or a concurrent one, which this waits for on PostgreSQL)."""
    if not record_ids:
        return set()
    if _is_postgres(session):
        claimed = session.execute(
            text(
                "INSERT INTO inventory_import_records (record_id, import_id, applied_at) "
                "SELECT r, :import_id, :now FROM unnest(CAST(:ids AS text[])) AS r "
                "ON CONFLICT (record_id) DO NOTHING RETURNING record_id"
            ),
            {"ids": list(record_ids), "import_id": import_id, "now": now},
        )
        return set(claimed.scalars())
    insert = sqlite.insert(_CLAIMS).on_conflict_do_nothing(index_elements=["record_id"])
    rows = [{"record_id": i, "import_id": import_id, "applied_at": now} for i in record_ids]
    return set(session.scalars(insert.returning(_CLAIMS.c.record_id), rows))


def upsert_records(
    session: Session, import_id: str, rows: Sequence[RecordRow], now: datetime
) -> None:
    """Insert or update the records (one per (location, SKU) in `rows`), in the given order;
    one statement per shape (which of safety_stock and futures are given)."""
    shapes: dict[tuple[bool, bool], list[RecordRow]] = {}
    for row in rows:
        shapes.setdefault((row.safety_stock is not None, row.futures is not None), []).append(row)
    for (with_safety, with_futures), group in shapes.items():
        kept = ["on_hand", "last_import_id", "updated_at"]
        kept += ["safety_stock"] * with_safety + ["futures"] * with_futures
        if _is_postgres(session):
            _upsert_postgres(session, import_id, group, kept, now)
        else:
            _upsert_sqlite(session, import_id, group, kept, now)


_PG_UPSERT = (
    "INSERT INTO inventory_records (location_id, sku, on_hand, reserved, safety_stock, futures, "
    "last_import_id, updated_at) "
    "SELECT t.location_id, t.sku, t.on_hand, 0, t.safety_stock, CAST(t.futures AS json), "
    ":import_id, :now "
    "FROM unnest(CAST(:location_ids AS text[]), CAST(:skus AS text[]), "
    "CAST(:on_hands AS integer[]), CAST(:safety_stocks AS integer[]), CAST(:futures AS text[])) "
    "AS t(location_id, sku, on_hand, safety_stock, futures) "
    "ON CONFLICT (location_id, sku) DO UPDATE SET "
)


def _upsert_postgres(
    session: Session, import_id: str, rows: list[RecordRow], kept: list[str], now: datetime
) -> None:
    # `kept` holds column names from upsert_records, never input.
    assignments = ", ".join(f"{name} = excluded.{name}" for name in kept)
    session.execute(
        text(_PG_UPSERT + assignments),
        {
            "location_ids": [r.location_id for r in rows],
            "skus": [r.sku for r in rows],
            "on_hands": [r.on_hand for r in rows],
            "safety_stocks": [r.safety_stock or 0 for r in rows],
            "futures": [json.dumps(r.futures) if r.futures else "[]" for r in rows],
            "import_id": import_id,
            "now": now,
        },
    )


def _upsert_sqlite(
    session: Session, import_id: str, rows: list[RecordRow], kept: list[str], now: datetime
) -> None:
    insert = sqlite.insert(_RECORDS)
    upsert = insert.on_conflict_do_update(
        index_elements=["location_id", "sku"],
        set_={name: insert.excluded[name] for name in kept},
    )
    values = [
        {
            "location_id": r.location_id,
            "sku": r.sku,
            "on_hand": r.on_hand,
            "reserved": 0,  # a new record's; the update above never sets it
            "safety_stock": r.safety_stock or 0,
            "futures": r.futures or [],
            "last_import_id": import_id,
            "updated_at": now,
        }
        for r in rows
    ]
    session.execute(upsert, values)


def mark_listed(session: Session, import_id: str, keys: Sequence[tuple[str, str]]) -> None:
    """Stamp records listed by a full import but not written (their record id was applied
    before), so `zero_unlisted` leaves them alone."""
    if not keys:
        return
    if _is_postgres(session):
        session.execute(
            text(
                "UPDATE inventory_records AS r SET last_import_id = :import_id "
                "FROM unnest(CAST(:location_ids AS text[]), CAST(:skus AS text[])) "
                "AS t(location_id, sku) WHERE r.location_id = t.location_id AND r.sku = t.sku"
            ),
            {
                "location_ids": [loc for loc, _ in keys],
                "skus": [sku for _, sku in keys],
                "import_id": import_id,
            },
        )
        return
    session.execute(
        update(_RECORDS)
        .where(
            _RECORDS.c.location_id == bindparam("b_location_id"),
            _RECORDS.c.sku == bindparam("b_sku"),
        )
        .values(last_import_id=import_id),
        [{"b_location_id": loc, "b_sku": sku} for loc, sku in keys],
    )


def zero_unlisted(
    session: Session, import_id: str, location_ids: Sequence[str], now: datetime
) -> int:
    """Set on_hand to 0 on records of `location_ids` that import `import_id` did not list;
    returns how many had stock. Rows are locked in (location, SKU) order, as the upserts
    lock them, so a reservation holding several rows cannot deadlock with an import."""
    zeroed = 0
    for start in range(0, len(location_ids), 500):
        unlisted = (
            select(_RECORDS.c.id)
            .where(
                _RECORDS.c.location_id.in_(location_ids[start : start + 500]),
                _RECORDS.c.on_hand > 0,
                or_(
                    _RECORDS.c.last_import_id.is_(None),
                    _RECORDS.c.last_import_id != import_id,
                ),
            )
            .order_by(_RECORDS.c.location_id, _RECORDS.c.sku)
        )
        if _is_postgres(session):
            unlisted = unlisted.with_for_update()
        result = session.execute(
            update(_RECORDS)
            .where(_RECORDS.c.id.in_(unlisted.scalar_subquery()))
            .values(on_hand=0, last_import_id=import_id, updated_at=now)
        )
        zeroed += cast(CursorResult[Any], result).rowcount
    return zeroed


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"

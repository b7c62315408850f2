"""Reads behind availability and the inventory record list.

Availability reads up to 2,000 records per request and must answer in a few milliseconds,
so its record query goes straight to the driver, with no SQLAlchemy row processing (see
`stock_rows`): that halves the request on SQLite.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import literal, select, union_all
from sqlalchemy.orm import Session

from openoms.adapters.db.models import InventoryRecord, Location, LocationGroup
from openoms.adapters.db.models import LocationGroupMember as Member

# kind ("L" a named location, "G" a member of a named group), ref, location id, active;
# a group without members has one row with location id and active NULL.
PlaceRow = tuple[str, str, str | None, bool | None]
# location id, sku, on_hand, reserved, safety_stock, futures (JSON text)
StockRow = tuple[str, str, int, int, int, str]

_PG_PLACES = (
    "SELECT 'L', ref, id, active FROM locations WHERE ref = ANY(CAST(%s AS text[])) "
    "UNION ALL "
    "SELECT 'G', g.ref, m.location_id, l.active FROM location_groups AS g "
    "LEFT JOIN location_group_members AS m ON m.group_id = g.id "
    "LEFT JOIN locations AS l ON l.id = m.location_id "
    "WHERE g.ref = ANY(CAST(%s AS text[]))"
)
_SQLITE_STOCK = (
    "SELECT location_id, sku, on_hand, reserved, safety_stock, CAST(futures AS TEXT) "
    "FROM inventory_records WHERE location_id IN ({locations}) AND sku IN ({skus})"
)
_PG_STOCK = (
    "SELECT location_id, sku, on_hand, reserved, safety_stock, CAST(futures AS text) "
    "FROM inventory_records WHERE sku = ANY(%s) AND location_id = ANY(%s)"
)


def places(
    session: Session, location_refs: Sequence[str], group_refs: Sequence[str]
) -> list[PlaceRow]:
    """Named locations and the members of named groups, in one query."""
    if not location_refs and not group_refs:
        return []
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # Through the driver with one array per list, as `stock_rows` (a third of the time).
        driver: Any = connection.connection.driver_connection
        cursor = driver.execute(_PG_PLACES, (list(location_refs), list(group_refs)))
        found: list[PlaceRow] = cursor.fetchall()
        return found
    parts = []
    if location_refs:
        parts.append(
            select(literal("L"), Location.ref, Location.id, Location.active).where(
                Location.ref.in_(location_refs)
            )
        )
    if group_refs:
        parts.append(
            select(literal("G"), LocationGroup.ref, Member.location_id, Location.active)
            .select_from(LocationGroup)
            .outerjoin(Member, Member.group_id == LocationGroup.id)
            .outerjoin(Location, Location.id == Member.location_id)
            .where(LocationGroup.ref.in_(group_refs))
        )
    rows = connection.execute(union_all(*parts))
    return [(kind, ref, location_id, active) for kind, ref, location_id, active in rows]


def active_locations(session: Session, *, limit: int) -> list[tuple[str, str]]:
    """(ref, id) of active locations in ref order, at most `limit`."""
    rows = session.connection().execute(
        select(Location.ref, Location.id)
        .where(Location.active.is_(True))
        .order_by(Location.ref)
        .limit(limit)
    )
    return [(ref, location_id) for ref, location_id in rows]


def stock_rows(
    session: Session, location_ids: Collection[str], skus: Sequence[str]
) -> Sequence[StockRow]:
    """The records of `skus` at `location_ids` that exist."""
    if not location_ids or not skus:
        return []
    connection = session.connection()
    driver: Any = connection.connection.driver_connection
    if connection.dialect.name == "postgresql":
        with driver.cursor() as cursor:
            # Unprepared, so each execution is planned for its own arrays: psycopg prepares a
            # statement after 5 runs, and the generic plan then probes the (location, sku)
            # index once per pair (2,000 probes) instead of scanning 20 SKUs' entries.
            cursor.execute(_PG_STOCK, (list(skus), list(location_ids)), prepare=False)
            found: list[StockRow] = cursor.fetchall()
            return found
    # SQLite: the same through the driver too; the statement holds only placeholders.
    sqlite_query = _SQLITE_STOCK.format(
        locations=",".join("?" * len(location_ids)), skus=",".join("?" * len(skus))
    )
    rows: list[StockRow] = driver.execute(sqlite_query, [*location_ids, *skus]).fetchall()
    return rows


def location_id(session: Session, ref: str) -> str | None:
    return session.scalar(select(Location.id).where(Location.ref == ref))


def list_records(
    session: Session,
    *,
    location_id: str | None,
    sku: str | None,
    after_id: int | None,
    limit: int,
) -> list[tuple[str, InventoryRecord]]:
    """(location ref, record) in id order after `after_id`, at most `limit`."""
    query = (
        select(Location.ref, InventoryRecord)
        .join(Location, Location.id == InventoryRecord.location_id)
        .order_by(InventoryRecord.id)
        .limit(limit)
    )
    if location_id is not None:
        query = query.where(InventoryRecord.location_id == location_id)
    if sku is not None:
        query = query.where(InventoryRecord.sku == sku)
    if after_id is not None:
        query = query.where(InventoryRecord.id > after_id)
    return [(ref, record) for ref, record in session.execute(query).all()]

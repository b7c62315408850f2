"""Queries of the inventory area: availability, the inventory record list, locations and
location groups.

Availability reads up to 2,000 records per request and must answer in a few milliseconds,
so its queries go straight to the driver, with no SQLAlchemy row processing (see
`_sqlite_stock_rows`): that halves the request on SQLite. On PostgreSQL the places and their
records are one statement (`availability_rows`), so a request is one round trip.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import date
from typing import Any

from sqlalchemy import Table, delete, literal, select, union_all
from sqlalchemy.orm import Session

from openoms.adapters.db.ids import new_id
from openoms.adapters.db.models import InventoryRecord, Location, LocationGroup, utcnow
from openoms.adapters.db.models import LocationGroupMember as Member
from openoms.adapters.db.session import dialect_insert
from openoms.domain.inventory import expected_by, stored_futures

# kind ("L" a named location, "G" a member of a named group), ref, location id, active;
# a group without members has one row with location id and active NULL.
PlaceRow = tuple[str, str, str | None, bool | None]
# location id, sku, on_hand, reserved, safety_stock, units its futures expect by the last
# day of the horizon (`incoming`)
StockRow = tuple[str, str, int, int, int, int]
# kind "A": an active location, when every active location is asked about (ref order).
EVERY_ACTIVE = "A"

_PG_PLACES = (
    "SELECT 'L', ref, id, active FROM locations WHERE ref = ANY(CAST(%s AS text[])) "
    "UNION ALL "
    "SELECT 'G', g.ref, m.location_id, l.active FROM location_groups AS g "
    "LEFT JOIN location_group_members AS m ON m.group_id = g.id "
    "LEFT JOIN locations AS l ON l.id = m.location_id "
    "WHERE g.ref = ANY(CAST(%s AS text[]))"
)
# The places as `_PG_PLACES` (or every active location, %(every)s, by ref, at most
# %(limit)s; `active` last), then the records of the asked SKUs at the named locations and
# the groups' active members: kind "R", then the columns of a StockRow. Planned for each
# request's arrays (unprepared, see `availability_rows`).
_PG_AVAILABILITY = (
    "WITH p AS ("
    "SELECT 'L' AS kind, ref, id AS location_id, active FROM locations "
    "WHERE ref = ANY(CAST(%(locations)s AS text[])) "
    "UNION ALL "
    "SELECT 'A', ref, id, active FROM (SELECT ref, id, active FROM locations "
    "WHERE %(every)s AND active ORDER BY ref LIMIT %(limit)s) AS a "
    "UNION ALL "
    "SELECT 'G', g.ref, m.location_id, l.active FROM location_groups AS g "
    "LEFT JOIN location_group_members AS m ON m.group_id = g.id "
    "LEFT JOIN locations AS l ON l.id = m.location_id "
    "WHERE g.ref = ANY(CAST(%(groups)s AS text[]))) "
    "SELECT kind, ref, location_id, NULL, NULL, NULL, NULL, active FROM p "
    "UNION ALL "
    "SELECT 'R', location_id, sku, on_hand, reserved, safety_stock, "
    # `domain.inventory.expected_by` in SQL: the units of the record's futures expected by
    # %(last_day)s, overdue ones included. Summed here, futures never cross the wire:
    # decoding their JSON in Python took half the time of a 2,000-record answer.
    "CASE WHEN CAST(futures AS text) = '[]' THEN 0 ELSE COALESCE(("
    "SELECT sum(CAST(f ->> 'quantity' AS integer)) FROM json_array_elements(futures) AS f "
    "WHERE CAST(f ->> 'expected_date' AS date) <= %(last_day)s), 0) END, NULL "
    "FROM inventory_records WHERE sku = ANY(CAST(%(skus)s AS text[])) "
    "AND location_id IN (SELECT location_id FROM p WHERE kind <> 'G' OR active)"
)
_SQLITE_STOCK = (
    "SELECT location_id, sku, on_hand, reserved, safety_stock, CAST(futures AS TEXT) "
    "FROM inventory_records WHERE location_id IN ({locations}) AND sku IN ({skus})"
)


def places(
    session: Session, location_refs: Sequence[str], group_refs: Sequence[str]
) -> list[PlaceRow]:
    """Named locations and the members of named groups, in one query."""
    if not location_refs and not group_refs:
        return []
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # Through the driver with one array per list (a third of the time).
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


def availability_rows(
    session: Session,
    location_refs: Sequence[str],
    group_refs: Sequence[str],
    skus: Sequence[str],
    *,
    every_limit: int,
    last_day: date,
) -> tuple[list[PlaceRow], Sequence[StockRow]]:
    """The named places (as `places`; with none named, every active location by ref, at
    most `every_limit`, as kind EVERY_ACTIVE rows) and the records of `skus` that exist at
    the named locations and at the groups' active members, each with the units its futures
    expect by `last_day`. One statement on PostgreSQL, which needs no transaction around it
    (see `Database.reading_one_statement`)."""
    every = not location_refs and not group_refs
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        found: list[PlaceRow]
        if every:
            found = [
                (EVERY_ACTIVE, ref, location_id, True)
                for ref, location_id in active_locations(session, limit=every_limit)
            ]
        else:
            found = places(session, location_refs, group_refs)
        ids = {location_id for kind, _, location_id, active in found if kind != "G" or active}
        return found, _sqlite_stock_rows(session, [i for i in ids if i is not None], skus, last_day)
    driver: Any = connection.connection.driver_connection
    parameters = {
        "locations": list(location_refs),
        "groups": list(group_refs),
        "every": every,
        "limit": every_limit,
        "skus": list(skus),
        "last_day": last_day,
    }
    # Binary: 2,000 records' integers are read a third faster than from text.
    with driver.cursor(binary=True) as cursor:
        # Unprepared, so each execution is planned for its own arrays: psycopg prepares a
        # statement after 5 runs, and the generic plan then probes the (location, sku)
        # index once per pair (2,000 probes) instead of scanning 20 SKUs' entries.
        cursor.execute(_PG_AVAILABILITY, parameters, prepare=False)
        rows = cursor.fetchall()
    named: list[PlaceRow] = [(row[0], row[1], row[2], row[7]) for row in rows if row[0] != "R"]
    stock: list[StockRow] = [row[1:7] for row in rows if row[0] == "R"]
    return named, stock


def active_locations(session: Session, *, limit: int) -> list[tuple[str, str]]:
    """(ref, id) of active locations in ref order, at most `limit`."""
    rows = session.connection().execute(
        select(Location.ref, Location.id)
        .where(Location.active.is_(True))
        .order_by(Location.ref)
        .limit(limit)
    )
    return [(ref, location_id) for ref, location_id in rows]


def _sqlite_stock_rows(
    session: Session, location_ids: Collection[str], skus: Sequence[str], last_day: date
) -> list[StockRow]:
    """The records of `skus` at `location_ids` that exist, through the driver (the statement
    holds only placeholders), their futures summed in Python by the domain's rule."""
    if not location_ids or not skus:
        return []
    driver: Any = session.connection().connection.driver_connection
    query = _SQLITE_STOCK.format(
        locations=",".join("?" * len(location_ids)), skus=",".join("?" * len(skus))
    )
    rows = driver.execute(query, [*location_ids, *skus]).fetchall()
    return [
        (location, sku, on_hand, reserved, safety, _expected(futures, last_day))
        for location, sku, on_hand, reserved, safety, futures in rows
    ]


def _expected(futures: str, last_day: date) -> int:
    if futures == "[]":  # as every writer stores an empty list; anything else is decoded
        return 0
    return expected_by(stored_futures(json.loads(futures)), last_day)


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


# --- locations and location groups --------------------------------------------------------

_ID_PREFIX = {Location: "loc", LocationGroup: "lg"}


def location_refs(session: Session, location_ids: Collection[str]) -> dict[str, str]:
    """location id -> ref of the given locations."""
    rows = session.execute(
        select(Location.id, Location.ref).where(Location.id.in_(list(location_ids)))
    )
    return {location_id: ref for location_id, ref in rows}


def location_ids_by_ref(session: Session, refs: Collection[str]) -> dict[str, str]:
    """ref -> location id of the named locations that exist."""
    rows = session.execute(select(Location.ref, Location.id).where(Location.ref.in_(list(refs))))
    return {ref: location_id for ref, location_id in rows}


def location_by_ref(session: Session, ref: str | None) -> Location | None:
    return session.scalar(select(Location).where(Location.ref == ref))


def lock_location(session: Session, ref: str) -> Location | None:
    """The location `ref`, locked FOR NO KEY UPDATE: serialises upserts of one ref, yet lets
    a racing membership insert check its foreign key (FOR KEY SHARE) without a deadlock."""
    return session.scalar(
        select(Location).where(Location.ref == ref).with_for_update(key_share=True)
    )


def list_locations(
    session: Session,
    *,
    type: str | None,
    group: str | None,
    active: bool | None,
    can_ship: bool | None,
    can_pickup: bool | None,
) -> list[Location]:
    """Locations by ref, each given filter matching; `group` is a group ref."""
    query = select(Location).order_by(Location.ref)
    if type is not None:
        query = query.where(Location.type == type)
    if active is not None:
        query = query.where(Location.active.is_(active))
    if can_ship is not None:
        query = query.where(Location.can_ship.is_(can_ship))
    if can_pickup is not None:
        query = query.where(Location.can_pickup.is_(can_pickup))
    if group is not None:
        query = (
            query.join(Member, Member.location_id == Location.id)
            .join(LocationGroup, LocationGroup.id == Member.group_id)
            .where(LocationGroup.ref == group)
        )
    return list(session.scalars(query))


def locations_by_refs(session: Session, refs: Sequence[str]) -> list[Location]:
    """The locations among `refs` that exist, in no particular order."""
    return list(session.scalars(select(Location).where(Location.ref.in_(refs))))


def group_refs_of_locations(session: Session, location_ids: list[str]) -> list[tuple[str, str]]:
    """(location id, group ref) of every membership of `location_ids`, by group ref."""
    rows = session.execute(
        select(Member.location_id, LocationGroup.ref)
        .join(LocationGroup, LocationGroup.id == Member.group_id)
        .where(Member.location_id.in_(location_ids))
        .order_by(LocationGroup.ref)
    )
    return [(location_id, group_ref) for location_id, group_ref in rows]


def group_by_ref(session: Session, ref: str) -> LocationGroup | None:
    return session.scalar(select(LocationGroup).where(LocationGroup.ref == ref))


def group_id(session: Session, ref: str) -> str | None:
    return session.scalar(select(LocationGroup.id).where(LocationGroup.ref == ref))


def group_ref(session: Session, group_id: str) -> str | None:
    return session.scalar(select(LocationGroup.ref).where(LocationGroup.id == group_id))


def lock_group(session: Session, ref: str) -> LocationGroup | None:
    """The group `ref`, locked FOR NO KEY UPDATE (as `lock_location`)."""
    return session.scalar(
        select(LocationGroup).where(LocationGroup.ref == ref).with_for_update(key_share=True)
    )


def all_groups(session: Session) -> list[LocationGroup]:
    """Every group, by ref."""
    return list(session.scalars(select(LocationGroup).order_by(LocationGroup.ref)))


def existing_group_refs(session: Session, refs: Sequence[str]) -> set[str]:
    """Those of `refs` that name a group."""
    return set(session.scalars(select(LocationGroup.ref).where(LocationGroup.ref.in_(refs))))


def groups_by_refs(session: Session, refs: Sequence[str]) -> list[LocationGroup]:
    """The groups among `refs` that exist, in no particular order."""
    return list(session.scalars(select(LocationGroup).where(LocationGroup.ref.in_(refs))))


def member_refs_of_groups(session: Session, group_ids: list[str]) -> list[tuple[str, str]]:
    """(group id, location ref) of every member of `group_ids`, by location ref."""
    rows = session.execute(
        select(Member.group_id, Location.ref)
        .join(Location, Location.id == Member.location_id)
        .where(Member.group_id.in_(group_ids))
        .order_by(Location.ref)
    )
    return [(group_id, location_ref) for group_id, location_ref in rows]


def member_ids(session: Session, group_id: str) -> list[str]:
    """The ids of the group's member locations."""
    return list(session.scalars(select(Member.location_id).where(Member.group_id == group_id)))


def claim_ref(
    session: Session, model: type[Location] | type[LocationGroup], ref: str, values: dict[str, Any]
) -> bool:
    """Insert the row for `ref` with `values` unless one exists (or a racing transaction
    commits one first: ON CONFLICT waits for it); True when this call created it."""
    table = model.__table__
    assert isinstance(table, Table)
    now = utcnow()
    stamps = {"created_at": now} | ({"updated_at": now} if "updated_at" in table.c else {})
    statement = (
        dialect_insert(session, table)
        .values(id=new_id(_ID_PREFIX[model]), ref=ref, **values, **stamps)
        .on_conflict_do_nothing(index_elements=["ref"])
        .returning(table.c.id)
    )
    return session.execute(statement).scalar() is not None


def remove_group_members_except(session: Session, group_id: str, keep: Collection[str]) -> None:
    """Drop the group's members whose location id is not in `keep`."""
    session.execute(
        delete(Member).where(Member.group_id == group_id, Member.location_id.not_in(keep))
    )


def remove_location_groups_except(
    session: Session, location_id: str, keep: Collection[str]
) -> None:
    """Take the location out of every group whose id is not in `keep`."""
    session.execute(
        delete(Member).where(Member.location_id == location_id, Member.group_id.not_in(keep))
    )


def insert_members(session: Session, pairs: Sequence[tuple[str, str]]) -> None:
    """Add (group id, location id) memberships; those that exist are left alone."""
    if not pairs:
        return
    table = Member.__table__
    assert isinstance(table, Table)
    statement = dialect_insert(session, table).on_conflict_do_nothing()
    session.execute(statement, [{"group_id": g, "location_id": loc} for g, loc in pairs])


def lock_stock_of_skus(session: Session, skus: Collection[str]) -> None:
    """Lock every inventory record of `skus`, at every location, in one statement and one
    order (location, SKU): a transaction that takes all its stock locks this way up front
    (bulk capture) cannot deadlock with another one doing the same. (SQLite: a no-op query;
    its write lock is already the transaction's.)"""
    if skus:
        session.execute(
            select(InventoryRecord.id)
            .where(InventoryRecord.sku.in_(sorted(skus)))
            .order_by(InventoryRecord.location_id, InventoryRecord.sku)
            .with_for_update()
        ).all()

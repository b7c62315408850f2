"""Queries of a batch of reservations at single locations, run in one transaction
(services/inventory/batching.py): the hot records are locked once and each changed by one
statement for the whole batch; reservations, lines and stored API answers are multi-row
INSERTs.

The guard stays in SQL even though the batch is planned in memory against the locked rows:

    UPDATE inventory_records SET reserved = reserved + :q
     WHERE location_id = :l AND sku = :s AND on_hand - reserved - safety_stock >= :q

`FORCE_HOLD` leaves the condition out. It exists only to prove that the oversell checks
can fail (the batcher's `loosened_guard`); nothing else uses it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from functools import cache
from typing import Any

from sqlalchemy import bindparam, delete, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from openoms.adapters.db.models import Base
from openoms.adapters.db.repositories.reservations import CLAIM_COLUMNS

_TABLES = Base.metadata.tables
_RECORDS = _TABLES["inventory_records"]
_RESERVATIONS = _TABLES["reservations"]
_LOCATIONS = _TABLES["locations"]
_ANSWERS = _TABLES["idempotency_records"]
_INSERT_LINES = (
    _TABLES["reservation_lines"]
    .insert()
    .returning(
        _TABLES["reservation_lines"].c.id,
        _TABLES["reservation_lines"].c.reservation_id,
        _TABLES["reservation_lines"].c.sku,
    )
)
_LINES = _TABLES["reservation_lines"]
_EVENTS = _TABLES["events"]
_DELIVERIES = _TABLES["event_deliveries"]
_R = _RECORDS.c
_FORCE_HOLD = (
    update(_RECORDS)
    .where(_R.location_id == bindparam("l"), _R.sku == bindparam("s"))
    .values(reserved=_R.reserved + bindparam("q"))
)
ANSWER_COLUMNS = (
    "api_key_id",
    "key",
    "method",
    "path",
    "request_hash",
    "status_code",
    "response_body",
)

Key = tuple[str, str]  # (owner, idempotency_key)
Place = tuple[str, str]  # (location_id, sku)


def claimed_keys(conn: Connection, keys: Collection[Key]) -> set[Key]:
    """Which (owner, idempotency_key) pairs already have a reservation."""
    if not keys:
        return set()
    res = _RESERVATIONS.c
    rows = conn.execute(  # two plain IN lists use the unique index on both backends
        select(res.owner, res.idempotency_key).where(
            res.owner.in_(sorted({o for o, _ in keys})),
            res.idempotency_key.in_(sorted({k for _, k in keys})),
        )
    )
    return {(owner, key) for owner, key in rows} & set(keys)


def locations_active(conn: Connection, location_ids: Collection[str]) -> dict[str, bool]:
    """location id → active, for those that exist."""
    loc = _LOCATIONS.c
    rows = conn.execute(select(loc.id, loc.active).where(loc.id.in_(sorted(location_ids))))
    return {location_id: bool(active) for location_id, active in rows}


def lock_available(conn: Connection, places: Collection[Place]) -> dict[Place, int]:
    """Lock the records of `places` (sorted, so batches never deadlock; SQLite's writer
    already holds the database) and return what each has available to fulfill. A place
    without a record is absent."""
    if not places:
        return {}
    rows = conn.execute(
        select(_R.location_id, _R.sku, _R.on_hand - _R.reserved - _R.safety_stock)
        .where(tuple_(_R.location_id, _R.sku).in_(sorted(places)))
        .order_by(_R.location_id, _R.sku)
        .with_for_update()
    )
    return {(location_id, sku): int(atf) for location_id, sku, atf in rows}


def hold_total(conn: Connection, place: Place, quantity: int, *, guarded: bool = True) -> bool:
    """reserved += quantity at `place`, if that much is available (unless not `guarded`);
    False when refused."""
    location_id, sku = place
    params = {"l": location_id, "s": sku, "q": quantity}
    statement = _HOLD if guarded else _FORCE_HOLD
    return bool(conn.execute(statement, params).rowcount == 1)


def claim_many(conn: Connection, rows: Sequence[dict[str, Any]]) -> set[str]:
    """INSERT the reservation `rows`, skipping any whose (owner, idempotency_key) exists
    (a concurrent writer committed it); the ids inserted."""
    if not rows:
        return set()
    if conn.dialect.name == "postgresql":
        found = _driver(conn).execute(_PG_CLAIM, _columns(rows, CLAIM_COLUMNS)).fetchall()
        return {reservation_id for (reservation_id,) in found}
    return set(conn.execute(_claim_statement(conn.dialect.name), list(rows)).scalars())


def insert_lines(conn: Connection, rows: Sequence[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """INSERT reservation lines (one per reservation and SKU); their ids by
    (reservation_id, sku)."""
    if not rows:
        return {}
    if conn.dialect.name == "postgresql":
        found = _driver(conn).execute(_PG_LINES, _columns(rows, LINE_COLUMNS)).fetchall()
    else:
        found = conn.execute(_INSERT_LINES, list(rows)).all()
    return {(reservation_id, sku): line_id for line_id, reservation_id, sku in found}


# PostgreSQL: one array per column, so the statement text is the same for every batch size
# (psycopg caches and prepares it; a multi-row VALUES of a few hundred parameters is parsed
# again on every call, which was 40 % of a batch's CPU).
_PG_CLAIM = (
    "INSERT INTO reservations (id, owner, idempotency_key, request_hash, location_group_id,"
    " location_id, order_summary_id, status, expires_at, created_at, updated_at)"
    " SELECT * FROM unnest(%s::varchar[], %s::varchar[], %s::varchar[], %s::varchar[],"
    " %s::varchar[], %s::varchar[], %s::varchar[], %s::varchar[], %s::timestamptz[],"
    " %s::timestamptz[], %s::timestamptz[])"
    " ON CONFLICT (owner, idempotency_key) DO NOTHING RETURNING id"
)
_PG_LINES = (
    "INSERT INTO reservation_lines (reservation_id, sku, location_id, quantity, fulfilled,"
    " released) SELECT * FROM unnest(%s::varchar[], %s::varchar[], %s::varchar[], %s::int[],"
    " %s::int[], %s::int[]) RETURNING id, reservation_id, sku"
)
LINE_COLUMNS = ("reservation_id", "sku", "location_id", "quantity", "fulfilled", "released")


def _columns(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> list[list[Any]]:
    return [[row[column] for row in rows] for column in columns]


def _driver(conn: Connection) -> Any:
    """The psycopg connection under `conn`, in the same transaction."""
    return conn.connection.driver_connection


def store_answers(conn: Connection, rows: Sequence[dict[str, Any]]) -> set[tuple[str, str]]:
    """INSERT stored API answers (idempotency records), skipping any whose (api_key_id, key)
    exists; the (api_key_id, key) pairs inserted."""
    if not rows:
        return set()
    result = conn.execute(_answer_statement(conn.dialect.name), list(rows))
    return {(api_key_id, key) for api_key_id, key in result}


def drop_reservations(
    conn: Connection, reservation_ids: Collection[str], event_ids: Collection[int]
) -> None:
    """Delete reservations this transaction claimed and then refused: their lines, and
    their events with their deliveries (none of it was ever committed)."""
    if event_ids:
        events = sorted(event_ids)
        conn.execute(delete(_DELIVERIES).where(_DELIVERIES.c.event_id.in_(events)))
        conn.execute(delete(_EVENTS).where(_EVENTS.c.id.in_(events)))
    if reservation_ids:
        ids = sorted(reservation_ids)
        conn.execute(delete(_LINES).where(_LINES.c.reservation_id.in_(ids)))
        conn.execute(delete(_RESERVATIONS).where(_RESERVATIONS.c.id.in_(ids)))


@cache
def _claim_statement(dialect: str) -> Any:
    return _insert_new(dialect, _RESERVATIONS, CLAIM_COLUMNS, ["owner", "idempotency_key"], "id")


@cache
def _answer_statement(dialect: str) -> Any:
    return _insert_new(
        dialect, _ANSWERS, ANSWER_COLUMNS, ["api_key_id", "key"], "api_key_id", "key"
    )


def _insert_new(
    dialect: str, table: Any, columns: Sequence[str], unique: list[str], *returned: str
) -> Any:
    """INSERT of `columns` that skips a row whose `unique` key is taken, returning `returned`
    of the rows it inserted."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    params = {c: bindparam(c, type_=table.c[c].type) for c in columns}
    return (
        insert(table)
        .values(params)
        .on_conflict_do_nothing(index_elements=unique)
        .returning(*(table.c[c] for c in returned))
    )


_HOLD = (
    update(_RECORDS)
    .where(
        _R.location_id == bindparam("l"),
        _R.sku == bindparam("s"),
        _R.on_hand - _R.reserved - _R.safety_stock >= bindparam("q"),
    )
    .values(reserved=_R.reserved + bindparam("q"))
)

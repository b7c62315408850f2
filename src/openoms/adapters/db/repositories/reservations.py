"""Queries of reservations and of the inventory records they hold.

Every change to a record is one statement that checks and changes it at once; rowcount 0
is a refusal, and nothing is ever read, computed in Python and written back:

    UPDATE inventory_records SET reserved = reserved + :q
     WHERE location_id = :l AND sku = :s AND on_hand - reserved - safety_stock >= :q

Statements are built once (Core, on the session's connection: the reservation path is hot).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import BindParameter, Integer, and_, bindparam, exists, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, selectinload

from openoms.adapters.db.models import Base, Reservation
from openoms.domain.inventory import Hold, ReservationStatus

Available = dict[str, list[tuple[str, int]]]
"""SKU → [(location_id, available_to_fulfill)], as `plan_holds` takes it."""

_TABLES = Base.metadata.tables
_RECORDS = _TABLES["inventory_records"]
_RESERVATIONS = _TABLES["reservations"]
_LINES = _TABLES["reservation_lines"]
_LOCATIONS = _TABLES["locations"]
_GROUPS = _TABLES["location_groups"]
_MEMBERS = _TABLES["location_group_members"]
_R = _RECORDS.c
_ATF = _R.on_hand - _R.reserved - _R.safety_stock
_AT_RECORD = (_R.location_id == bindparam("l"), _R.sku == bindparam("s"))
_Q: BindParameter[int] = bindparam("q", type_=Integer())

_HOLD = update(_RECORDS).where(*_AT_RECORD, _ATF >= _Q).values(reserved=_R.reserved + _Q)
_UNHOLD = update(_RECORDS).where(*_AT_RECORD, _R.reserved >= _Q).values(reserved=_R.reserved - _Q)
_SHIP = (
    update(_RECORDS)
    .where(*_AT_RECORD, _R.reserved >= _Q, _R.on_hand >= _Q)
    .values(reserved=_R.reserved - _Q, on_hand=_R.on_hand - _Q)
)
_INSERT_LINES = _LINES.insert().returning(_LINES.c.id, sort_by_parameter_order=True)
CLAIM_COLUMNS = (
    "id",
    "owner",
    "idempotency_key",
    "request_hash",
    "location_group_id",
    "location_id",
    "order_summary_id",
    "status",
    "expires_at",
    "created_at",
    "updated_at",
)


# --- inventory records --------------------------------------------------------------------


def hold(conn: Connection, change: Hold) -> bool:
    """reserved += q if that much is available to fulfill; False when refused."""
    return _apply(conn, _HOLD, change)


def unhold(conn: Connection, change: Hold) -> bool:
    """reserved −= q; False when the record holds less than that."""
    return _apply(conn, _UNHOLD, change)


def ship(conn: Connection, change: Hold) -> bool:
    """on_hand −= q and reserved −= q; False when either holds less than that."""
    return _apply(conn, _SHIP, change)


def _apply(conn: Connection, statement: Any, change: Hold) -> bool:
    params = {"l": change.location_id, "s": change.sku, "q": change.quantity}
    return bool(conn.execute(statement, params).rowcount == 1)


def available_at_location(
    conn: Connection, location_id: str, skus: Sequence[str]
) -> Available | None:
    """What one location has of `skus`; None when the location does not exist, nothing
    when it is inactive. A SKU without a record is absent."""
    loc = _LOCATIONS.c
    rows = conn.execute(
        select(loc.active, _R.sku, _ATF)
        .select_from(
            _LOCATIONS.outerjoin(_RECORDS, and_(_R.location_id == loc.id, _R.sku.in_(skus)))
        )
        .where(loc.id == location_id)
    ).all()
    if not rows:
        return None
    return _by_sku((location_id, sku, atf) for active, sku, atf in rows if active and sku)


def available_in_group(
    conn: Connection, group_id: str, skus: Sequence[str], *, can_ship: bool = False
) -> Available | None:
    """What the group's active members (only those that can ship, with `can_ship`) have of
    `skus`; None when the group does not exist."""
    loc, member = _LOCATIONS.c, _MEMBERS.c
    usable = and_(loc.id == member.location_id, *_usable(can_ship=can_ship))
    stock = _MEMBERS.join(_LOCATIONS, usable)
    stock = stock.join(_RECORDS, and_(_R.location_id == loc.id, _R.sku.in_(skus)))
    rows = conn.execute(
        select(_GROUPS.c.id, _R.location_id, _R.sku, _ATF)
        .select_from(_GROUPS.outerjoin(stock, member.group_id == _GROUPS.c.id))
        .where(_GROUPS.c.id == group_id)
    ).all()
    if not rows:
        return None
    return _by_sku((location, sku, atf) for _, location, sku, atf in rows if sku)


def available_anywhere(
    conn: Connection, skus: Sequence[str], *, can_ship: bool = False
) -> Available:
    """What every active location (only those that can ship, with `can_ship`) has of `skus`
    (a channel with no location group)."""
    loc = _LOCATIONS.c
    rows = conn.execute(
        select(_R.location_id, _R.sku, _ATF)
        .select_from(_RECORDS.join(_LOCATIONS, loc.id == _R.location_id))
        .where(*_usable(can_ship=can_ship), _R.sku.in_(skus))
    ).all()
    return _by_sku((location, sku, atf) for location, sku, atf in rows)


def _usable(*, can_ship: bool) -> tuple[Any, ...]:
    loc = _LOCATIONS.c
    return (loc.active.is_(True), loc.can_ship.is_(True)) if can_ship else (loc.active.is_(True),)


def _by_sku(rows: Iterable[tuple[str, str, int]]) -> Available:
    available: Available = defaultdict(list)
    for location_id, sku, atf in rows:
        available[sku].append((location_id, atf))
    return available


def location_active(conn: Connection, location_id: str) -> bool | None:
    """Whether the location is active; None when it does not exist."""
    active: bool | None = conn.scalar(
        select(_LOCATIONS.c.active).where(_LOCATIONS.c.id == location_id)
    )
    return active


def location_exists(conn: Connection, location_id: str) -> bool:
    return location_active(conn, location_id) is not None


# --- reservations -------------------------------------------------------------------------


def claim(conn: Connection, row: dict[str, Any], *, at_active_location: bool) -> bool:
    """INSERT the reservation `row` unless its (owner, idempotency_key) exists; True when
    inserted. A concurrent duplicate waits on the unique index until the first commits, then
    inserts nothing. `at_active_location` also inserts nothing unless the location exists
    and is active, which spares the caller a read."""
    statement = _claim_statement(conn.dialect.name, at_active_location)
    return conn.execute(statement, row).scalar() is not None


@cache
def _claim_statement(dialect: str, at_active_location: bool) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    params = {c: bindparam(c, type_=_RESERVATIONS.c[c].type) for c in CLAIM_COLUMNS}
    if at_active_location:
        loc = _LOCATIONS.c
        values = select(*params.values()).where(
            exists().where(loc.id == params["location_id"], loc.active.is_(True))
        )
        statement = insert(_RESERVATIONS).from_select(CLAIM_COLUMNS, values)
    else:
        statement = insert(_RESERVATIONS).values(params)
    return statement.on_conflict_do_nothing(index_elements=["owner", "idempotency_key"]).returning(
        _RESERVATIONS.c.id
    )


def insert_lines(conn: Connection, rows: Sequence[dict[str, Any]]) -> list[int]:
    """INSERT reservation lines; their ids in the given order."""
    if len(rows) == 1:  # the common case: skip the executemany machinery
        return [conn.execute(_INSERT_LINES, rows[0]).scalar_one()]
    return list(conn.execute(_INSERT_LINES, rows).scalars()) if rows else []


def by_key(session: Session, owner: str, idempotency_key: str) -> Reservation | None:
    return session.scalars(
        select(Reservation)
        .where(Reservation.owner == owner, Reservation.idempotency_key == idempotency_key)
        .options(selectinload(Reservation.lines))
    ).one_or_none()


def get(session: Session, reservation_id: str, *, lock: bool = False) -> Reservation | None:
    """The reservation with its lines. `lock` takes its row lock first (which serialises
    every change to its lines) and refreshes what the session already holds."""
    query = (
        select(Reservation)
        .where(Reservation.id == reservation_id)
        .options(selectinload(Reservation.lines))
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalars(query).one_or_none()


def due_ids(session: Session, now: datetime, limit: int) -> list[str]:
    """ACTIVE reservations whose time is up, soonest first."""
    return list(
        session.scalars(
            select(Reservation.id)
            .where(*_due(now))
            .order_by(Reservation.expires_at, Reservation.id)
            .limit(limit)
        )
    )


def claim_due(session: Session, reservation_id: str, now: datetime) -> Reservation | None:
    """Lock the reservation if it is still due and nobody else holds it (SKIP LOCKED)."""
    return session.scalars(
        select(Reservation)
        .where(Reservation.id == reservation_id, *_due(now))
        .options(selectinload(Reservation.lines))
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    ).one_or_none()


def _due(now: datetime) -> tuple[Any, ...]:
    return (Reservation.status == ReservationStatus.ACTIVE.value, Reservation.expires_at <= now)

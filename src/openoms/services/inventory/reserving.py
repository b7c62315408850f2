"""Reserve (DESIGN.md §5): hold stock against a location group, one location or every
active location, all or nothing (or, partially, what is there).

The record updates of one call run sorted by (location_id, sku), so two transactions lock
records in the same order and never deadlock; a plan touching several records runs in a
savepoint, so a failed attempt gives its row locks back before the next one. Rowcount 0
means the plan raced with another writer: re-read, re-plan, a few bounded tries, then
`InsufficientStock` (see reservations.py for the statement each hold is).

Hot rows: a record's row lock is held from its UPDATE until COMMIT, so on a hot SKU the
rate is bounded by that window. A reservation at a location therefore writes its own rows
(reservation, lines, event) first and updates the record last: the lock covers only the
UPDATE and the COMMIT.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from openoms.adapters.db.ids import new_id
from openoms.adapters.db.models import Reservation, ReservationLine, utcnow
from openoms.adapters.db.repositories import reservations as repo
from openoms.adapters.outbox import Outbox
from openoms.domain.errors import IdempotencyKeyReused
from openoms.domain.inventory import (
    Hold,
    InsufficientStock,
    ReservationStatus,
    Shortfall,
    plan_holds,
)
from openoms.services.inventory.location_data import LocationGroupNotFound, LocationNotFound
from openoms.services.inventory.reservation_common import (
    Available,
    ReservationInvalid,
    check_items,
    find_shortfall,
    hold_payload,
    iso,
    read_location,
    reservation_event,
    scope_payload,
)

# Chooses a reservation's holds from what its scope has (None: deepest stock first).
Placement = Callable[[Available], list[Hold] | None]

MAX_ATTEMPTS = 5  # tries of a plan that keeps racing before answering InsufficientStock


@dataclass(frozen=True, slots=True)
class ReserveResult:
    reservation: Reservation  # lines loaded
    replayed: bool  # the same (owner, idempotency_key) was reserved before: nothing new held
    shortfall: tuple[Shortfall, ...] = ()  # only with allow_partial: what could not be held


def reserve(
    session: Session,
    outbox: Outbox,
    *,
    owner: str,
    idempotency_key: str,
    request_hash: str,
    items: Mapping[str, int],
    location_group_id: str | None = None,
    location_id: str | None = None,
    order_summary_id: str | None = None,
    expires_at: datetime | None = None,
    allow_partial: bool = False,
    anywhere: bool = False,
    can_ship: bool = False,
    check: Callable[[Available], None] | None = None,
    placement: Placement | None = None,
) -> ReserveResult:
    """Hold `items` (SKU → units) against a location group or one location, all or nothing.

    A group reservation is spread over the group's active members, deepest stock first;
    with neither a group nor a location, over every active location (`anywhere=True`);
    `can_ship` leaves out the locations that cannot ship. `check`, when given, sees what
    the scope has (SKU → [(location id, available)]) before each plan and may raise to
    refuse. A SKU with no record at the scope has nothing available. A shortage raises
    `InsufficientStock` with every short SKU; with `allow_partial` what is available is held
    and the rest reported in `shortfall`. The same (owner, idempotency_key) again returns
    the first reservation (`replayed`), or raises `IdempotencyKeyReused` when
    `request_hash` differs. Emits `reservation.created`. `placement`, when given (and not
    `allow_partial`), chooses the holds from what the scope has instead of deepest stock
    first (capture holds a group where routing will ship it); None from it falls back.
    """
    requested = check_items(items)
    scopes = (location_group_id is not None) + (location_id is not None) + anywhere
    if scopes != 1:
        raise ReservationInvalid(
            "reserve against exactly one of a location group, a location, or anywhere"
        )
    if expires_at is not None and expires_at.tzinfo is None:
        raise ReservationInvalid("expires_at needs a time zone", field="expires_at")
    now = utcnow()
    row: dict[str, Any] = {
        "id": new_id("res"),
        "owner": owner,
        "idempotency_key": idempotency_key,
        "request_hash": request_hash,
        "location_group_id": location_group_id,
        "location_id": location_id,
        "order_summary_id": order_summary_id,
        "status": ReservationStatus.ACTIVE.value,
        "expires_at": expires_at,
        "created_at": now,
        "updated_at": now,
    }
    conn = session.connection()
    if location_id is not None and not allow_partial and check is None:
        return _reserve_at_location(session, conn, outbox, row, requested)
    scope = _Scope(allow_partial=allow_partial, can_ship=can_ship, check=check, placement=placement)
    return _reserve_planned(session, conn, outbox, row, requested, scope)


def _reserve_at_location(
    session: Session,
    conn: Connection,
    outbox: Outbox,
    row: dict[str, Any],
    requested: dict[str, int],
) -> ReserveResult:
    """The lean path: the plan is known without reading (each SKU at the one location)."""
    location_id = row["location_id"]
    if not repo.claim(conn, row, at_active_location=True):
        if (replay := _replay(session, row, requested, partial=False)) is not None:
            return replay
        if not repo.location_exists(conn, location_id):
            raise LocationNotFound(f"no location {location_id!r}", location_id=location_id)
        # An inactive location offers nothing.
        raise InsufficientStock([Shortfall(s, q, 0) for s, q in requested.items()])
    holds = [Hold(sku, location_id, q) for sku, q in sorted(requested.items())]
    reservation = _store(session, conn, outbox, row, holds, ())
    for done, hold in enumerate(holds):  # sorted by SKU: one location
        for _ in range(MAX_ATTEMPTS):
            if repo.hold(conn, hold):
                break
            available = read_location(conn, location_id, list(requested))
            if sum(atf for _, atf in available.get(hold.sku, ())) < hold.quantity:
                raise InsufficientStock(find_shortfall(requested, available, holds[:done]))
        else:
            raise InsufficientStock([Shortfall(hold.sku, hold.quantity, hold.quantity - 1)])
    return ReserveResult(reservation, replayed=False)


@dataclass(frozen=True, slots=True)
class _Scope:
    """How a planned reservation reads and judges its scope (see `reserve`)."""

    allow_partial: bool
    can_ship: bool
    check: Callable[[Available], None] | None
    placement: Placement | None = None


def _reserve_planned(
    session: Session,
    conn: Connection,
    outbox: Outbox,
    row: dict[str, Any],
    requested: dict[str, int],
    scope: _Scope,
) -> ReserveResult:
    """Read what the scope has, plan, hold; re-read and re-plan when a hold races."""
    skus = list(requested)
    group_id, location_id = row["location_group_id"], row["location_id"]
    allow_partial = scope.allow_partial

    def read() -> Available:
        if group_id is None and location_id is None:
            available = repo.available_anywhere(conn, skus, can_ship=scope.can_ship)
        elif group_id is None:
            available = read_location(conn, location_id, skus)
        else:
            found = repo.available_in_group(conn, group_id, skus, can_ship=scope.can_ship)
            if found is None:
                raise LocationGroupNotFound(
                    f"no location group {group_id!r}", location_group_id=group_id
                )
            available = found
        if scope.check is not None:
            scope.check(available)
        return available

    available = read()  # raises NotFound for an unknown scope, before anything is written
    if not repo.claim(conn, row, at_active_location=False):
        if (replay := _replay(session, row, requested, partial=allow_partial)) is not None:
            return replay
        raise AssertionError("the reservation claim conflicted but no reservation exists")
    for _ in range(MAX_ATTEMPTS):
        placed = None if allow_partial or not scope.placement else scope.placement(available)
        if placed is None:
            holds, short = _plan(requested, available, allow_partial=allow_partial)
        else:
            holds, short = placed, []
        if _hold_all(session, conn, holds):
            reservation = _store(session, conn, outbox, row, holds, short)
            return ReserveResult(reservation, replayed=False, shortfall=tuple(short))
        available = read()
    raise InsufficientStock(
        find_shortfall(requested, available, ())
        or [Shortfall(s, q, q - 1) for s, q in requested.items()]
    )


def _plan(
    requested: Mapping[str, int],
    available: Mapping[str, Sequence[tuple[str, int]]],
    *,
    allow_partial: bool,
) -> tuple[list[Hold], list[Shortfall]]:
    if not allow_partial:
        return plan_holds(requested, available), []
    short = find_shortfall(requested, available, ())
    clipped = dict(requested)
    for s in short:
        clipped[s.sku] = max(s.available, 0)
    return plan_holds({k: v for k, v in clipped.items() if v > 0}, available), short


def _hold_all(session: Session, conn: Connection, holds: Sequence[Hold]) -> bool:
    """Apply every hold or none; False when one raced. Sorted, so no deadlock."""
    ordered = sorted(holds, key=lambda h: (h.location_id, h.sku))
    if len(ordered) <= 1:
        return all(repo.hold(conn, h) for h in ordered)
    try:
        with session.begin_nested():  # a failed attempt releases its row locks
            for hold in ordered:
                if not repo.hold(conn, hold):
                    raise _Raced
    except _Raced:
        return False
    return True


class _Raced(Exception):
    pass


def _store(
    session: Session,
    conn: Connection,
    outbox: Outbox,
    row: dict[str, Any],
    holds: Sequence[Hold],
    short: Sequence[Shortfall],
) -> Reservation:
    """Insert the lines and the `reservation.created` event; the claimed row and the lines
    become persistent objects in the session without another round trip."""
    line_rows = [
        {
            "reservation_id": row["id"],
            "sku": h.sku,
            "location_id": h.location_id,
            "quantity": h.quantity,
            "fulfilled": 0,
            "released": 0,
        }
        for h in holds
    ]
    ids = repo.insert_lines(conn, line_rows)
    reservation = Reservation(**row)
    lines = [ReservationLine(id=i, **r) for i, r in zip(ids, line_rows, strict=True)]
    for obj in (reservation, *lines):
        make_transient_to_detached(obj)  # already in the database: no INSERT at flush
    set_committed_value(reservation, "lines", lines)
    session.add(reservation)
    payload = scope_payload(reservation)
    payload["expires_at"] = iso(reservation.expires_at)
    payload["lines"] = [hold_payload(h.sku, h.location_id, h.quantity) for h in holds]
    if short:
        payload["shortfall"] = [
            {"sku": s.sku, "requested": s.requested, "available": max(s.available, 0)}
            for s in short
        ]
    outbox.record(session, [reservation_event("reservation.created", reservation, payload)])
    return reservation


def _replay(
    session: Session, row: dict[str, Any], requested: Mapping[str, int], *, partial: bool
) -> ReserveResult | None:
    existing = repo.by_key(session, row["owner"], row["idempotency_key"])
    if existing is None:
        return None
    if existing.request_hash != row["request_hash"]:
        raise IdempotencyKeyReused(
            f"idempotency key {row['idempotency_key']!r} was already used for a different "
            f"reservation ({existing.id})",
            reservation_id=existing.id,
        )
    short: list[Shortfall] = []
    if partial:
        # Everything a partial reservation held is still on its lines, wherever it went since.
        held: dict[str, int] = defaultdict(int)
        for line in existing.lines:
            held[line.sku] += line.quantity + line.fulfilled + line.released
        short = [Shortfall(s, q, held[s]) for s, q in requested.items() if held[s] < q]
    return ReserveResult(existing, replayed=True, shortfall=tuple(short))

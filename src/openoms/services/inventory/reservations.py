"""Reservations (DESIGN.md §5): move the holds of a reservation to locations, ship them,
give them back, let them expire (reserving.py makes them).

Every unit held sits on a concrete inventory record, and every change to a record is one
statement that checks and changes it at once, never a read-modify-write in Python:

    UPDATE inventory_records SET reserved = reserved + :q
     WHERE location_id = :l AND sku = :s AND on_hand - reserved - safety_stock >= :q

The record updates of one call run sorted by (location_id, sku), so two transactions lock
records in the same order and never deadlock. A reservation's own row lock serialises every
change to its lines.

A shortage raises with the per-SKU shortfall; the caller's transaction rolls back, so
nothing moves. Services flush, never commit; no external call happens in here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from openoms.adapters.db.models import Reservation, ReservationLine, utcnow
from openoms.adapters.db.repositories import reservations as repo
from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.domain.errors import IllegalTransition
from openoms.domain.inventory import (
    Hold,
    InsufficientStock,
    ReservationStatus,
    check_reservation_transition,
)
from openoms.services.inventory.location_data import LocationNotFound
from openoms.services.inventory.reservation_common import (
    ExceedsReserved,
    FulfillExceedsReserved,
    ReleaseExceedsReserved,
    ReservationNotFound,
    TransferExceedsReserved,
    check_items,
    find_shortfall,
    hold_payload,
    out_of_step,
    positive_units,
    read_location,
    reservation_event,
    scope_payload,
    short_by_one,
)


def transfer(
    session: Session,
    outbox: Outbox,
    reservation_id: str,
    *,
    to_location_id: str,
    items: Mapping[str, int] | None = None,
    from_location_id: str | None = None,
) -> Reservation:
    """Move held units (all, or `items` SKU → units) to `to_location_id`, from every other
    location or only `from_location_id`. Units the reservation already holds at the target
    are its own; only the units moved need availability there (else InsufficientStock and
    nothing moves). More than held → TransferExceedsReserved. Emits
    `reservation.transferred` (nothing when there is nothing to move)."""
    return transfer_held(
        session,
        outbox,
        _lock(session, reservation_id),
        to_location_id=to_location_id,
        items=items,
        from_location_id=from_location_id,
    )


def transfer_held(
    session: Session,
    outbox: Outbox,
    reservation: Reservation,
    *,
    to_location_id: str,
    items: Mapping[str, int] | None = None,
    from_location_id: str | None = None,
    target_active: bool | None = None,
) -> Reservation:
    """`transfer` for a caller that already holds the reservation's row lock and loaded its
    lines in this transaction (routing): spares reading it again. `target_active`: whether
    the target location is active, when the caller read it in this transaction (None: read
    it here)."""
    if reservation.status != ReservationStatus.ACTIVE:
        raise IllegalTransition(
            f"a reservation that is {reservation.status} cannot be transferred",
            current=reservation.status,
        )
    conn = session.connection()
    if target_active is None:
        target_active = repo.location_active(conn, to_location_id)
    if target_active is None:
        raise LocationNotFound(f"no location {to_location_id!r}", location_id=to_location_id)
    takes = _take(
        reservation.lines,
        items,
        TransferExceedsReserved,
        keep=lambda line: (
            line.location_id != to_location_id and from_location_id in (None, line.location_id)
        ),
    )
    if not takes:
        return reservation
    moved: dict[str, int] = defaultdict(int)
    for line, units in takes:
        moved[line.sku] += units
    _move_holds(conn, takes, moved, to_location_id, target_active=target_active)
    _move_lines(reservation, takes, moved, to_location_id)
    reservation.updated_at = utcnow()
    payload = scope_payload(reservation)
    payload["to_location_id"] = to_location_id
    payload["moves"] = [
        {"sku": line.sku, "from_location_id": line.location_id, "quantity": n} for line, n in takes
    ]
    outbox.record(session, [reservation_event("reservation.transferred", reservation, payload)])
    session.flush()
    return reservation


def _move_holds(
    conn: Connection,
    takes: Sequence[tuple[ReservationLine, int]],
    moved: Mapping[str, int],
    to_location_id: str,
    *,
    target_active: bool,
) -> None:
    """Decrement at the sources, conditionally increment at the target: one sorted pass."""
    changes = [(False, Hold(line.sku, line.location_id, n)) for line, n in takes]
    changes += [(True, Hold(sku, to_location_id, n)) for sku, n in moved.items()]
    for is_target, change in sorted(changes, key=lambda c: (c[1].location_id, c[1].sku)):
        if not is_target:
            if not repo.unhold(conn, change):
                raise out_of_step(change)
        elif not (target_active and repo.hold(conn, change)):
            available = read_location(conn, to_location_id, list(moved))
            raise InsufficientStock(find_shortfall(moved, available, ()) or [short_by_one(change)])


def _move_lines(
    reservation: Reservation,
    takes: Sequence[tuple[ReservationLine, int]],
    moved: Mapping[str, int],
    to_location_id: str,
) -> None:
    lines = {(line.sku, line.location_id): line for line in reservation.lines}
    for line, units in takes:
        line.quantity -= units
    for sku, units in moved.items():
        if (target := lines.get((sku, to_location_id))) is None:
            target = ReservationLine(
                reservation_id=reservation.id,
                sku=sku,
                location_id=to_location_id,
                quantity=0,
                fulfilled=0,
                released=0,
            )
            reservation.lines.append(target)
        target.quantity += units


def fulfill(
    session: Session,
    outbox: Outbox,
    reservation_id: str,
    *,
    items: Sequence[tuple[str, str, int]] | None = None,
) -> Reservation:
    """Ship held units: everything, or `items` as (sku, location_id, units). On hand and
    reserved both go down by the units. More than held → FulfillExceedsReserved. Once
    nothing is held the reservation is FULFILLED. Emits `reservation.fulfilled`."""
    reservation = _lock(session, reservation_id)
    check_reservation_transition(ReservationStatus(reservation.status), ReservationStatus.FULFILLED)
    by_place = {(line.sku, line.location_id): line for line in reservation.lines}
    if items is None:
        takes = [(line, line.quantity) for line in reservation.lines if line.quantity > 0]
    else:
        wanted: dict[tuple[str, str], int] = defaultdict(int)
        for sku, location_id, units in items:
            wanted[(sku, location_id)] += positive_units(sku, units)
        takes = []
        for (sku, location_id), units in wanted.items():
            line = by_place.get((sku, location_id))
            held = line.quantity if line is not None else 0
            if line is None or units > held:
                raise FulfillExceedsReserved(sku, units, held, location_id)
            takes.append((line, units))
    conn = session.connection()
    for line, units in sorted(takes, key=lambda t: (t[0].location_id, t[0].sku)):
        if not repo.ship(conn, Hold(line.sku, line.location_id, units)):
            raise out_of_step(Hold(line.sku, line.location_id, units), shipping=True)
        line.quantity -= units
        line.fulfilled += units
    return _settle(session, outbox, reservation, takes, ReservationStatus.FULFILLED)


def release(
    session: Session,
    outbox: Outbox,
    reservation_id: str,
    *,
    items: Mapping[str, int] | None = None,
    location_id: str | None = None,
) -> Reservation:
    """Give back held units: everything, or `items` (SKU → units; taken from the
    reservation's lines in order, or only at `location_id`). More than held →
    ReleaseExceedsReserved. Once nothing is held the reservation is RELEASED. Emits
    `reservation.released`."""
    return release_held(session, outbox, _lock(session, reservation_id), items, location_id)


def release_held(
    session: Session,
    outbox: Outbox,
    reservation: Reservation,
    items: Mapping[str, int] | None = None,
    location_id: str | None = None,
    *,
    why: Mapping[str, str] | None = None,
) -> Reservation:
    """`release` for a caller that already holds the reservation's row lock and loaded its
    lines in this transaction (routing): spares reading it again. `why` is added to the
    event's payload (e.g. the routing failure that gave the units back)."""
    check_reservation_transition(ReservationStatus(reservation.status), ReservationStatus.RELEASED)
    takes = _take(
        reservation.lines,
        items,
        ReleaseExceedsReserved,
        keep=lambda line: location_id in (None, line.location_id),
    )
    _give_back(session.connection(), takes)
    return _settle(session, outbox, reservation, takes, ReservationStatus.RELEASED, why)


def expire_due(db: Database, outbox: Outbox, now: datetime, *, batch: int = 200) -> int:
    """Release ACTIVE reservations whose `expires_at` ≤ now as EXPIRED, each in its own
    transaction, claimed with FOR UPDATE SKIP LOCKED (one in use elsewhere waits for the
    next run). Emits `reservation.expired`. Returns how many expired."""
    with db.reading() as session:
        ids = repo.due_ids(session, now, batch)
    expired = 0
    for reservation_id in ids:
        with db.transaction() as session:
            reservation = repo.claim_due(session, reservation_id, now)
            if reservation is None:
                continue  # taken by another worker, or changed since the scan
            takes = [(line, line.quantity) for line in reservation.lines if line.quantity > 0]
            _give_back(session.connection(), takes)
            _settle(session, outbox, reservation, takes, ReservationStatus.EXPIRED)
            expired += 1
    return expired


def get_reservation(session: Session, reservation_id: str) -> Reservation:
    """The reservation with its lines; ReservationNotFound when unknown."""
    reservation = repo.get(session, reservation_id)
    if reservation is None:
        raise ReservationNotFound(
            f"no reservation {reservation_id!r}", reservation_id=reservation_id
        )
    return reservation


def _lock(session: Session, reservation_id: str) -> Reservation:
    """Load and lock the reservation (its row lock serialises changes to its lines)."""
    reservation = repo.get(session, reservation_id, lock=True)
    if reservation is None:
        raise ReservationNotFound(
            f"no reservation {reservation_id!r}", reservation_id=reservation_id
        )
    return reservation


def _take(
    lines: Sequence[ReservationLine],
    items: Mapping[str, int] | None,
    error: type[ExceedsReserved],
    *,
    keep: Callable[[ReservationLine], bool],
) -> list[tuple[ReservationLine, int]]:
    """Which units of which lines: all held on the kept lines, or per SKU in line order."""
    eligible = [line for line in lines if line.quantity > 0 and keep(line)]
    if items is None:
        return [(line, line.quantity) for line in eligible]
    takes = []
    for sku, units in check_items(items).items():
        left = units
        for line in (line for line in eligible if line.sku == sku):
            take = min(line.quantity, left)
            takes.append((line, take))
            left -= take
            if left == 0:
                break
        if left:
            raise error(sku, units, units - left)
    return takes


def _give_back(conn: Connection, takes: Sequence[tuple[ReservationLine, int]]) -> None:
    for line, units in sorted(takes, key=lambda t: (t[0].location_id, t[0].sku)):
        hold = Hold(line.sku, line.location_id, units)
        if not repo.unhold(conn, hold):
            raise out_of_step(hold)
        line.quantity -= units
        line.released += units


def _settle(
    session: Session,
    outbox: Outbox,
    reservation: Reservation,
    takes: Sequence[tuple[ReservationLine, int]],
    done: ReservationStatus,
    why: Mapping[str, str] | None = None,
) -> Reservation:
    """Set `done` once nothing is held, record the event (with `why` in its payload),
    flush."""
    if all(line.quantity == 0 for line in reservation.lines):
        check_reservation_transition(ReservationStatus(reservation.status), done)
        reservation.status = done.value
    reservation.updated_at = utcnow()
    name = {
        ReservationStatus.FULFILLED: "reservation.fulfilled",
        ReservationStatus.RELEASED: "reservation.released",
        ReservationStatus.EXPIRED: "reservation.expired",
    }[done]
    payload = scope_payload(reservation)
    payload["lines"] = [hold_payload(line.sku, line.location_id, n) for line, n in takes]
    payload.update(why or {})
    outbox.record(session, [reservation_event(name, reservation, payload)])
    session.flush()
    return reservation

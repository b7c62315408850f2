"""Reservations (DESIGN.md §5): hold stock against a location group or one location, move
the holds to locations, ship them, give them back, let them expire.

Every unit held sits on a concrete inventory record, and every change to a record is one
statement that checks and changes it at once, never a read-modify-write in Python:

    UPDATE inventory_records SET reserved = reserved + :q
     WHERE location_id = :l AND sku = :s AND on_hand - reserved - safety_stock >= :q

Rowcount 0 means the plan raced with another writer: re-read, re-plan, a few bounded tries,
then `InsufficientStock`. The record updates of one call run sorted by (location_id, sku),
so two transactions lock records in the same order and never deadlock; a plan touching
several records runs in a savepoint, so a failed attempt gives its row locks back before
the next one.

Hot rows: a record's row lock is held from its UPDATE until COMMIT, so on a hot SKU the
rate is bounded by that window. A reservation at a location therefore writes its own rows
(reservation, lines, event) first and updates the record last: the lock covers only the
UPDATE and the COMMIT.

A shortage raises with the per-SKU shortfall; the caller's transaction rolls back, so
nothing is reserved. Services flush, never commit; no external call happens in here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from openoms.adapters.db.ids import new_id
from openoms.adapters.db.models import Reservation, ReservationLine, utcnow
from openoms.adapters.db.repositories import reservations as repo
from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.domain.errors import (
    Conflict,
    IdempotencyKeyReused,
    IllegalTransition,
    NotFound,
    QuantityInvalid,
    QuantityInvariantViolated,
    ValidationFailed,
)
from openoms.domain.events import DomainEvent
from openoms.domain.inventory import (
    Hold,
    InsufficientStock,
    ReservationStatus,
    Shortfall,
    check_reservation_transition,
    plan_holds,
)
from openoms.services.inventory.locations import LocationGroupNotFound, LocationNotFound

MAX_ATTEMPTS = 5  # tries of a plan that keeps racing before answering InsufficientStock
AGGREGATE = "reservation"
Available = repo.Available


# --- errors -------------------------------------------------------------------------------


class ReservationNotFound(NotFound):
    code = "reservation_not_found"
    title = "Reservation not found"


class ReservationInvalid(ValidationFailed):
    code = "reservation_invalid"
    title = "Reservation request is not valid"


class _ExceedsReserved(Conflict):
    verb = "move"

    def __init__(self, sku: str, requested: int, held: int, location_id: str | None = None) -> None:
        where = f" at {location_id}" if location_id else ""
        extra: dict[str, Any] = {"sku": sku, "requested": requested, "held": held}
        if location_id:
            extra["location_id"] = location_id
        super().__init__(
            f"cannot {self.verb} {requested} of {sku}{where}: the reservation holds {held}",
            **extra,
        )


class TransferExceedsReserved(_ExceedsReserved):
    code = "transfer_exceeds_reserved"
    title = "Transfer exceeds the units held"
    verb = "transfer"


class FulfillExceedsReserved(_ExceedsReserved):
    code = "fulfill_exceeds_reserved"
    title = "Fulfillment exceeds the units held"
    verb = "fulfill"


class ReleaseExceedsReserved(_ExceedsReserved):
    code = "release_exceeds_reserved"
    title = "Release exceeds the units held"
    verb = "release"


# --- reserve ------------------------------------------------------------------------------


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
    `request_hash` differs. Emits `reservation.created`.
    """
    requested = _check_items(items)
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
    scope = _Scope(allow_partial=allow_partial, can_ship=can_ship, check=check)
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
            available = _read_location(conn, location_id, list(requested))
            if sum(atf for _, atf in available.get(hold.sku, ())) < hold.quantity:
                raise InsufficientStock(_shortfall(requested, available, holds[:done]))
        else:
            raise InsufficientStock([Shortfall(hold.sku, hold.quantity, hold.quantity - 1)])
    return ReserveResult(reservation, replayed=False)


@dataclass(frozen=True, slots=True)
class _Scope:
    """How a planned reservation reads and judges its scope (see `reserve`)."""

    allow_partial: bool
    can_ship: bool
    check: Callable[[Available], None] | None


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
            available = _read_location(conn, location_id, skus)
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
        holds, short = _plan(requested, available, allow_partial=allow_partial)
        if _hold_all(session, conn, holds):
            reservation = _store(session, conn, outbox, row, holds, short)
            return ReserveResult(reservation, replayed=False, shortfall=tuple(short))
        available = read()
    raise InsufficientStock(
        _shortfall(requested, available, ())
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
    short = _shortfall(requested, available, ())
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
    payload = _scope_payload(reservation)
    payload["expires_at"] = _iso(reservation.expires_at)
    payload["lines"] = [_hold_payload(h.sku, h.location_id, h.quantity) for h in holds]
    if short:
        payload["shortfall"] = [
            {"sku": s.sku, "requested": s.requested, "available": max(s.available, 0)}
            for s in short
        ]
    outbox.record(session, [_event("reservation.created", reservation, payload)])
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


def _read_location(conn: Connection, location_id: str, skus: Sequence[str]) -> Available:
    available = repo.available_at_location(conn, location_id, skus)
    if available is None:
        raise LocationNotFound(f"no location {location_id!r}", location_id=location_id)
    return available


def _shortfall(
    requested: Mapping[str, int],
    available: Mapping[str, Sequence[tuple[str, int]]],
    own: Iterable[Hold],
) -> list[Shortfall]:
    """Short SKUs, counting units this call already holds (`own`) as available to it."""
    totals = {sku: sum(max(atf, 0) for _, atf in available.get(sku, ())) for sku in requested}
    for hold in own:
        totals[hold.sku] += hold.quantity
    return [Shortfall(s, q, totals[s]) for s, q in requested.items() if totals[s] < q]


# --- transfer, fulfill, release, expire ---------------------------------------------------


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
    payload = _scope_payload(reservation)
    payload["to_location_id"] = to_location_id
    payload["moves"] = [
        {"sku": line.sku, "from_location_id": line.location_id, "quantity": n} for line, n in takes
    ]
    outbox.record(session, [_event("reservation.transferred", reservation, payload)])
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
                raise _out_of_step(change)
        elif not (target_active and repo.hold(conn, change)):
            available = _read_location(conn, to_location_id, list(moved))
            raise InsufficientStock(_shortfall(moved, available, ()) or [_short_by_one(change)])


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
            wanted[(sku, location_id)] += _positive(sku, units)
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
            raise _out_of_step(Hold(line.sku, line.location_id, units), shipping=True)
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
    error: type[_ExceedsReserved],
    *,
    keep: Callable[[ReservationLine], bool],
) -> list[tuple[ReservationLine, int]]:
    """Which units of which lines: all held on the kept lines, or per SKU in line order."""
    eligible = [line for line in lines if line.quantity > 0 and keep(line)]
    if items is None:
        return [(line, line.quantity) for line in eligible]
    takes = []
    for sku, units in _check_items(items).items():
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
            raise _out_of_step(hold)
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
    payload = _scope_payload(reservation)
    payload["lines"] = [_hold_payload(line.sku, line.location_id, n) for line, n in takes]
    payload.update(why or {})
    outbox.record(session, [_event(name, reservation, payload)])
    session.flush()
    return reservation


# --- small helpers ------------------------------------------------------------------------


def _check_items(items: Mapping[str, int]) -> dict[str, int]:
    if not items:
        raise ReservationInvalid("a reservation needs at least one item", field="items")
    return {sku: _positive(sku, units) for sku, units in items.items()}


def _positive(sku: str, units: int) -> int:
    if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
        raise QuantityInvalid(f"quantity of {sku} must be a positive whole number", sku=sku)
    return units


def _short_by_one(hold: Hold) -> Shortfall:
    # The conditional update refused, so at that instant fewer than `quantity` were free.
    return Shortfall(hold.sku, hold.quantity, hold.quantity - 1)


def _out_of_step(hold: Hold, *, shipping: bool = False) -> QuantityInvariantViolated:
    # The record holds less than the reservation's lines say (or, shipping, has less on
    # hand than is being shipped): refuse rather than drive a figure negative.
    what = "on hand or reserved" if shipping else "reserved"
    return QuantityInvariantViolated(
        f"inventory record {hold.location_id}/{hold.sku} has less {what} than the "
        f"{hold.quantity} units this reservation holds there",
        sku=hold.sku,
        location_id=hold.location_id,
    )


def _event(name: str, reservation: Reservation, payload: dict[str, Any]) -> DomainEvent:
    return DomainEvent(name, AGGREGATE, reservation.id, payload, reservation.order_summary_id)


def _scope_payload(reservation: Reservation) -> dict[str, Any]:
    return {
        "reservation_id": reservation.id,
        "status": reservation.status,
        "location_group_id": reservation.location_group_id,
        "location_id": reservation.location_id,
    }


def _hold_payload(sku: str, location_id: str, quantity: int) -> dict[str, Any]:
    return {"sku": sku, "location_id": location_id, "quantity": quantity}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None

"""Many reservations at single locations in one transaction (group commit, see
batching.py): what `reserve(..., location_id=...)` does for one request, done for a batch
with a fixed number of statements, in two phases.

Outside the record locks (another batch may hold them meanwhile):
1. the locations are read; a request at an unknown or inactive one is refused
   (`LocationNotFound`, `InsufficientStock`) unless its key already has a reservation;
2. one multi-row INSERT claims the reservations; a key that already has one (a repeat,
   inside the batch or of an earlier one) inserts nothing and is a replay;
3. their lines in one INSERT, their `reservation.created` events in one outbox call.

Under the record locks (held until the COMMIT):
4. the batch's inventory records are locked once (SELECT … FOR UPDATE, sorted; SQLite's
   writer holds the database already) and every claimed request is judged in arrival
   order against what they have available, less what earlier requests of the batch took;
5. the API's stored answers of the accepted, when given, in one multi-row INSERT;
6. what the refused (and those whose stored answer was taken) wrote in phase 1 is deleted,
   so a refused request leaves nothing;
7. one guarded `UPDATE` per record for the batch's total there (it cannot refuse: the rows
   are locked and the total fits; if it ever did, the whole batch fails).

Outcomes are per request, in order: a `ReserveResult` or the exception for that request.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, class_mapper
from sqlalchemy.orm.attributes import set_committed_value

from openoms.adapters.db.ids import new_id
from openoms.adapters.db.models import Reservation, ReservationLine, utcnow
from openoms.adapters.db.repositories import reservation_batches as repo
from openoms.adapters.db.repositories import reservations as reservations_repo
from openoms.adapters.outbox import Outbox
from openoms.domain.errors import DomainError, IdempotencyKeyReused
from openoms.domain.inventory import InsufficientStock, ReservationStatus, Shortfall
from openoms.services.inventory.location_data import LocationNotFound
from openoms.services.inventory.reservation_common import (
    ReservationInvalid,
    check_items,
    hold_payload,
    iso,
    reservation_event,
    scope_payload,
)
from openoms.services.inventory.reserving import ReserveResult


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """An API answer stored with the reservation, in its transaction (the idempotency
    record of `POST /reservations`); `body(reservation)` builds it from what the batch
    holds (JSON-ready)."""

    api_key_id: str
    key: str
    method: str
    path: str
    request_hash: str
    status: int
    body: Callable[[Reservation], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class ReserveRequest:
    """One `reserve` of `items` (SKU → units) at one location, all or nothing."""

    owner: str
    idempotency_key: str
    request_hash: str
    items: Mapping[str, int]
    location_id: str
    order_summary_id: str | None = None
    expires_at: datetime | None = None
    answer: StoredAnswer | None = None


class AnswerTaken(Exception):
    """The API key's idempotency key was stored by a concurrent request of another kind:
    nothing was reserved; run the request the ordinary way (it replays or refuses)."""


class Resubmit(Exception):
    """The request's key was claimed by an earlier request of the same batch that was then
    refused: nothing was done for it; submit it again (the batcher does)."""


Outcome = ReserveResult | Exception


@dataclass(slots=True)
class _Entry:
    index: int
    request: ReserveRequest
    requested: dict[str, int]
    row: dict[str, Any]
    reservation: Reservation | None = None
    body: dict[str, Any] | None = None
    event_id: int | None = None
    outcome: Outcome | None = field(default=None)

    @property
    def key(self) -> tuple[str, str]:
        return (self.request.owner, self.request.idempotency_key)


def reserve_batch(
    session: Session,
    outbox: Outbox,
    requests: Sequence[ReserveRequest],
    *,
    guarded: bool = True,
    locking: Callable[[], None] | None = None,
) -> list[Outcome]:
    """Run `requests` in the caller's transaction (see the module docstring); the outcome of
    each, in order. `locking()` is called when the first phase is done, before the records
    are locked (the batcher then lets the next batch form). `guarded=False` judges every
    request against the records as read at the start of the batch and updates them
    unconditionally: it exists only to show the oversell checks fail then
    (bench/reservation_load.py --loosen-guard, the tests)."""
    entries: list[_Entry] = []
    outcomes: list[Outcome | None] = [None] * len(requests)
    now = utcnow()
    for index, request in enumerate(requests):
        try:
            entries.append(_entry(index, request, now))
        except DomainError as exc:
            outcomes[index] = exc
    conn = session.connection()
    usable, replays = _at_usable_locations(conn, entries)
    claimed = repo.claim_many(conn, [e.row for e in usable])
    fresh = [e for e in usable if e.row["id"] in claimed]
    replays += [e for e in usable if e.row["id"] not in claimed]
    _write(conn, session, outbox, fresh)
    places = {(e.request.location_id, sku) for e in fresh for sku in e.requested}
    if locking is not None:
        locking()
    available = repo.lock_available(conn, places)  # held until the COMMIT
    accepted = _store_answers(conn, _judge(available, fresh, guarded=guarded))
    dropped = [e for e in fresh if e.outcome is not None]
    repo.drop_reservations(
        conn, [e.row["id"] for e in dropped], [e.event_id for e in dropped if e.event_id]
    )
    _hold(conn, accepted, guarded=guarded)
    for entry in accepted:
        entry.outcome = ReserveResult(entry.reservation or _reservation(entry), replayed=False)
    for entry in replays:
        entry.outcome = _replay(session, entry)
    for entry in entries:
        outcomes[entry.index] = entry.outcome
    if any(o is None for o in outcomes):
        raise AssertionError("a request of the batch has no outcome")
    return [o for o in outcomes if o is not None]


def _entry(index: int, request: ReserveRequest, now: datetime) -> _Entry:
    requested = check_items(request.items)
    if request.expires_at is not None and request.expires_at.tzinfo is None:
        raise ReservationInvalid("expires_at needs a time zone", field="expires_at")
    row = {
        "id": new_id("res"),
        "owner": request.owner,
        "idempotency_key": request.idempotency_key,
        "request_hash": request.request_hash,
        "location_group_id": None,
        "location_id": request.location_id,
        "order_summary_id": request.order_summary_id,
        "status": ReservationStatus.ACTIVE.value,
        "expires_at": request.expires_at,
        "created_at": now,
        "updated_at": now,
    }
    return _Entry(index, request, requested, row)


def _at_usable_locations(
    conn: Connection, entries: list[_Entry]
) -> tuple[list[_Entry], list[_Entry]]:
    """The requests at active locations; and, of the others, those whose key already has a
    reservation (replays: a repeat replays before anything is judged). The rest are
    refused: nothing is available at an inactive location."""
    active = repo.locations_active(conn, {e.request.location_id for e in entries})
    unusable = [e for e in entries if not active.get(e.request.location_id)]
    taken = repo.claimed_keys(conn, {e.key for e in unusable})
    for entry in unusable:
        location_id = entry.request.location_id
        if entry.key in taken:
            continue
        if location_id not in active:
            entry.outcome = LocationNotFound(
                f"no location {location_id!r}", location_id=location_id
            )
        else:
            entry.outcome = InsufficientStock(
                [Shortfall(s, q, 0) for s, q in entry.requested.items()]
            )
    usable = [e for e in entries if active.get(e.request.location_id)]
    return usable, [e for e in unusable if e.key in taken]


def _judge(
    available: dict[tuple[str, str], int], entries: list[_Entry], *, guarded: bool
) -> list[_Entry]:
    """Accept or refuse each request in order (its outcome: the refusal); the accepted."""
    accepted = []
    for entry in entries:
        location_id = entry.request.location_id
        have = {sku: available.get((location_id, sku), 0) for sku in entry.requested}
        short = [
            Shortfall(s, q, max(have[s], 0)) for s, q in entry.requested.items() if have[s] < q
        ]
        if short:
            entry.outcome = InsufficientStock(short)
            continue
        for sku, units in entry.requested.items():  # gone for the next ones
            available[(location_id, sku)] -= units if guarded else 0
        accepted.append(entry)
    return accepted


def _store_answers(conn: Connection, entries: list[_Entry]) -> list[_Entry]:
    """Build each reservation, store the API answers; drop those whose key was taken."""
    rows = []
    for entry in entries:
        answer = entry.request.answer
        if answer is not None:
            entry.body = json.loads(
                json.dumps(answer.body(entry.reservation or _reservation(entry)))
            )
            rows.append(
                {
                    "api_key_id": answer.api_key_id,
                    "key": answer.key,
                    "method": answer.method,
                    "path": answer.path[:500],
                    "request_hash": answer.request_hash,
                    "status_code": answer.status,
                    "response_body": entry.body,
                }
            )
    stored = repo.store_answers(conn, rows)
    for entry in entries:
        answer = entry.request.answer
        if answer is not None and (answer.api_key_id, answer.key) not in stored:
            entry.outcome = AnswerTaken(f"idempotency key {answer.key!r} is taken")
    return [e for e in entries if e.outcome is None]


def _reservation(entry: _Entry) -> Reservation:
    """The reservation and its lines as objects (line ids come with the INSERT), built as
    the ORM builds what it loads (attributes straight into the instance's dict, about a
    tenth of the cost of the constructor): they are what the database will hold."""
    reservation = _RESERVATIONS.new_instance()
    reservation.__dict__.update(entry.row)
    lines = []
    for sku, units in sorted(entry.requested.items()):
        line = _LINES.new_instance()
        line.__dict__.update(
            reservation_id=entry.row["id"],
            sku=sku,
            location_id=entry.request.location_id,
            quantity=units,
            fulfilled=0,
            released=0,
        )
        lines.append(line)
    set_committed_value(reservation, "lines", lines)
    return reservation


_RESERVATIONS = class_mapper(Reservation).class_manager
_LINES = class_mapper(ReservationLine).class_manager


def _hold(conn: Connection, entries: list[_Entry], *, guarded: bool) -> None:
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for entry in entries:
        for sku, units in entry.requested.items():
            totals[(entry.request.location_id, sku)] += units
    for place in sorted(totals):
        if not repo.hold_total(conn, place, totals[place], guarded=guarded):
            # The rows are locked and the total was judged against them: never expected.
            raise RuntimeError(f"the batch's hold of {totals[place]} at {place} was refused")


def _write(conn: Connection, session: Session, outbox: Outbox, entries: list[_Entry]) -> None:
    """The reservations as objects, their lines (one INSERT), their events (one outbox
    call)."""
    for entry in entries:
        entry.reservation = _reservation(entry)
    reservations = [e.reservation for e in entries if e.reservation is not None]
    lines = [line for r in reservations for line in r.lines]
    line_rows = [
        {
            "reservation_id": line.reservation_id,
            "sku": line.sku,
            "location_id": line.location_id,
            "quantity": line.quantity,
            "fulfilled": 0,
            "released": 0,
        }
        for line in lines
    ]
    ids = repo.insert_lines(conn, line_rows)
    for line in lines:
        line.__dict__["id"] = ids[(line.reservation_id, line.sku)]
    events = []
    for reservation in reservations:
        payload = scope_payload(reservation)
        payload["expires_at"] = iso(reservation.expires_at)
        payload["lines"] = [
            hold_payload(line.sku, line.location_id, line.quantity) for line in reservation.lines
        ]
        events.append(reservation_event("reservation.created", reservation, payload))
    for entry, recorded in zip(entries, outbox.record(session, events), strict=True):
        entry.event_id = recorded.id


def _replay(session: Session, entry: _Entry) -> Outcome:
    existing = reservations_repo.by_key(session, *entry.key)
    if existing is None:  # the batch's first request with the key was refused
        return Resubmit(f"idempotency key {entry.request.idempotency_key!r}: submit again")
    if existing.request_hash != entry.request.request_hash:
        return IdempotencyKeyReused(
            f"idempotency key {entry.request.idempotency_key!r} was already used for a "
            f"different reservation ({existing.id})",
            reservation_id=existing.id,
        )
    return ReserveResult(existing, replayed=True)

"""Many reservations at single locations in one transaction (group commit, see
batching.py): what `reserve(..., location_id=...)` does for one request, done for a batch
with a fixed number of statements.

1. the requests whose (owner, idempotency_key) already has a reservation are replays;
2. the batch's inventory records are locked once (SELECT … FOR UPDATE, sorted; SQLite's
   writer holds the database already) and every other request is judged in arrival order
   against what they have available, less what earlier requests of the batch took. A
   refused request gets its own `InsufficientStock` (or `LocationNotFound`) and writes
   nothing;
3. one multi-row INSERT claims the accepted reservations (a key a concurrent writer
   committed meanwhile, or a repeat inside the batch, inserts nothing: a replay);
4. the API's stored answers, when given, in one multi-row INSERT;
5. one guarded `UPDATE` per record for the batch's total there (it cannot refuse: the rows
   are locked and the total fits; if it ever did, the whole batch fails);
6. the lines in one INSERT, the `reservation.created` events in one outbox call.

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
from sqlalchemy.orm import Session
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


Outcome = ReserveResult | Exception


@dataclass(slots=True)
class _Entry:
    index: int
    request: ReserveRequest
    requested: dict[str, int]
    row: dict[str, Any]
    reservation: Reservation | None = None
    body: dict[str, Any] | None = None
    outcome: Outcome | None = field(default=None)

    @property
    def key(self) -> tuple[str, str]:
        return (self.request.owner, self.request.idempotency_key)


def reserve_batch(
    session: Session, outbox: Outbox, requests: Sequence[ReserveRequest], *, guarded: bool = True
) -> list[Outcome]:
    """Run `requests` in the caller's transaction (see the module docstring); the outcome of
    each, in order. `guarded=False` judges every request against the records as read at the
    start of the batch and updates them unconditionally: it exists only to show the oversell
    checks fail then (bench/reservation_load.py --loosen-guard, the tests)."""
    entries: list[_Entry] = []
    outcomes: list[Outcome | None] = [None] * len(requests)
    now = utcnow()
    for index, request in enumerate(requests):
        try:
            entries.append(_entry(index, request, now))
        except DomainError as exc:
            outcomes[index] = exc
    conn = session.connection()
    taken = repo.claimed_keys(conn, {e.key for e in entries})
    replays = [e for e in entries if e.key in taken]
    accepted = _judge(conn, [e for e in entries if e.key not in taken], guarded=guarded)
    claimed = repo.claim_many(conn, [e.row for e in accepted])
    replays += [e for e in accepted if e.row["id"] not in claimed]
    accepted = _store_answers(conn, [e for e in accepted if e.row["id"] in claimed])
    _hold(conn, accepted, guarded=guarded)
    _write(conn, session, outbox, accepted)
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


def _judge(conn: Connection, entries: list[_Entry], *, guarded: bool) -> list[_Entry]:
    """Lock the records, then accept or refuse each request in order; the accepted."""
    active = repo.locations_active(conn, {e.request.location_id for e in entries})
    places = {
        (e.request.location_id, sku)
        for e in entries
        if active.get(e.request.location_id)
        for sku in e.requested
    }
    available = repo.lock_available(conn, places)
    accepted = []
    for entry in entries:
        location_id = entry.request.location_id
        if location_id not in active:
            entry.outcome = LocationNotFound(
                f"no location {location_id!r}", location_id=location_id
            )
            continue
        have = {
            sku: available.get((location_id, sku), 0) if active[location_id] else 0
            for sku in entry.requested
        }
        short = [
            Shortfall(s, q, max(have[s], 0)) for s, q in entry.requested.items() if have[s] < q
        ]
        if short:
            entry.outcome = InsufficientStock(short)
            continue
        if guarded:  # what this request takes is gone for the next ones
            for sku, units in entry.requested.items():
                available[(location_id, sku)] -= units
        accepted.append(entry)
    return accepted


def _store_answers(conn: Connection, entries: list[_Entry]) -> list[_Entry]:
    """Build each reservation, store the API answers; drop those whose key was taken."""
    rows = []
    for entry in entries:
        entry.reservation = _reservation(entry)
        answer = entry.request.answer
        if answer is not None:
            entry.body = json.loads(json.dumps(answer.body(entry.reservation)))
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
    lost = []
    for entry in entries:
        answer = entry.request.answer
        if answer is not None and (answer.api_key_id, answer.key) not in stored:
            entry.outcome = AnswerTaken(f"idempotency key {answer.key!r} is taken")
            lost.append(entry)
    repo.drop_reservations(conn, [e.row["id"] for e in lost])
    return [e for e in entries if e.outcome is None]


def _reservation(entry: _Entry) -> Reservation:
    """The reservation and its lines as objects (line ids come with the INSERT)."""
    reservation = Reservation(**entry.row)
    lines = [
        ReservationLine(
            reservation_id=entry.row["id"],
            sku=sku,
            location_id=entry.request.location_id,
            quantity=units,
            fulfilled=0,
            released=0,
        )
        for sku, units in sorted(entry.requested.items())
    ]
    set_committed_value(reservation, "lines", lines)
    return reservation


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
    """The lines (one INSERT), the events (one outbox call); each caller's result."""
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
    for line, line_id in zip(lines, reservations_repo.insert_lines(conn, line_rows), strict=True):
        line.id = line_id
    events = []
    for reservation in reservations:
        payload = scope_payload(reservation)
        payload["expires_at"] = iso(reservation.expires_at)
        payload["lines"] = [
            hold_payload(line.sku, line.location_id, line.quantity) for line in reservation.lines
        ]
        events.append(reservation_event("reservation.created", reservation, payload))
    outbox.record(session, events)
    for entry, reservation in zip(entries, reservations, strict=True):
        entry.outcome = ReserveResult(reservation, replayed=False)


def _replay(session: Session, entry: _Entry) -> Outcome:
    existing = reservations_repo.by_key(session, *entry.key)
    if existing is None:
        return AssertionError("the reservation claim conflicted but no reservation exists")
    if existing.request_hash != entry.request.request_hash:
        return IdempotencyKeyReused(
            f"idempotency key {entry.request.idempotency_key!r} was already used for a "
            f"different reservation ({existing.id})",
            reservation_id=existing.id,
        )
    return ReserveResult(existing, replayed=True)

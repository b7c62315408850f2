"""`Idempotency-Key` for POST endpoints, scoped per API key.

The first request with a key runs; its answer is stored in the same transaction as the
business change; a retry with the same key and the same request replays that answer (with
the header `Idempotent-Replayed: true`) and changes nothing; the same key with a different
request (method, path with query, canonical JSON body or raw bytes) is a 409
`idempotency_key_reused`. Only successful answers are stored: an operation that raises rolls
back with nothing recorded, so a retry runs again. Records are kept until purged
by the worker after `RETENTION` (adapters/db/repositories/idempotency.py).

An endpoint (a plain `def`: the database is synchronous) uses it in a few lines; `respond`
sets the status and, on a replay, the `Idempotent-Replayed: true` header:

    @router.post("/reservations", status_code=201, response_model=Reservation)
    def create_reservation(
        payload: ReservationCreate, request: Request, response: Response,
        principal: Annotated[Principal, Depends(require_scope(Scope.STOREFRONT))],
        db: Annotated[Database, Depends(get_db)], idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        def operation(session: Session) -> tuple[int, dict[str, Any]]:
            return 201, reserve(session, ...)

        result = run_idempotent(
            db, principal, idempotency_key, request, payload.model_dump(mode="json"),
            operation, required=True,
        )
        return respond(response, result)

The request body is passed in (the parsed payload, or the raw bytes for non-JSON bodies)
because a sync endpoint cannot read it from the `Request`.

Concurrent duplicates: the key is claimed (inserted) before the operation runs, in the same
transaction. A second request with the key waits on that row (PostgreSQL: the unique index;
SQLite: the write lock), then either replays the winner's committed answer or, when its
insert fails on the unique constraint, retries once as a lookup and replays it. The
operation never runs twice for one key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, NamedTuple

from fastapi import Header, Request, Response
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from openoms.adapters.db.models import IdempotencyRecord
from openoms.adapters.db.session import Database, retry_transient
from openoms.api.deps import get_db
from openoms.domain.errors import IdempotencyKeyInvalid, IdempotencyKeyMissing, IdempotencyKeyReused
from openoms.schemas.common import control_character
from openoms.services.access import Principal

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=IDEMPOTENCY_HEADER,
        description="Makes the POST safe to retry: the same key replays the first answer.",
    ),
]
"""The header parameter for endpoints (documents it in OpenAPI; validated by run_idempotent)."""

RequiredIdempotencyKey = Annotated[
    str,
    Header(
        alias=IDEMPOTENCY_HEADER,
        description="Required: this POST moves money or stock. A retry with the same key "
        "replays the first answer and moves nothing again.",
    ),
]
"""The header parameter of the POSTs that move money or stock: OpenAPI marks it required,
and a request without it is 400 `idempotency_key_required` (see `missing_key`), changing
nothing. They pass `required=True` to `run_idempotent` too."""

Operation = Callable[[Session], tuple[int, dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    body: dict[str, Any]


class IdempotentResult(NamedTuple):
    status: int
    body: dict[str, Any]
    replayed: bool


def request_hash(method: str, path: str, body: Any, query: str = "") -> str:
    """sha256 over method, path (with query) and the body: bytes as they are, anything else
    as canonical JSON (sorted keys, no whitespace)."""
    if isinstance(body, bytes):
        canonical = body
    else:
        canonical = json.dumps(
            body, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    target = f"{path}?{query}" if query else path
    digest = hashlib.sha256(f"{method.upper()}\n{target}\n".encode())
    digest.update(canonical)
    return digest.hexdigest()


def check_key(key: str | None, *, required: bool = False) -> str | None:
    """The key if usable; None when absent and optional; else IdempotencyKeyInvalid (400)."""
    if key is None:
        if required:
            raise key_required()
        return None
    if not key.strip():
        raise IdempotencyKeyInvalid(f"The {IDEMPOTENCY_HEADER} header is empty.")
    if len(key) > MAX_KEY_LENGTH:
        raise IdempotencyKeyInvalid(
            f"The {IDEMPOTENCY_HEADER} header is {len(key)} characters long; "
            f"the limit is {MAX_KEY_LENGTH}."
        )
    found = control_character(key)
    if found:
        raise IdempotencyKeyInvalid(
            f"The {IDEMPOTENCY_HEADER} header holds a control character ({found})."
        )
    return key


def key_required() -> IdempotencyKeyMissing:
    return IdempotencyKeyMissing(f"This endpoint needs an {IDEMPOTENCY_HEADER} header.")


def missing_key(errors: Sequence[Any]) -> IdempotencyKeyMissing | None:
    """The 400 to answer when request validation `errors` include a missing required
    `Idempotency-Key` header (it takes precedence over any payload error)."""
    for error in errors:
        loc = tuple(error.get("loc", ()))
        if error.get("type") == "missing" and loc == ("header", IDEMPOTENCY_HEADER):
            return key_required()
    return None


def lookup(
    session: Session, principal: Principal, key: str, method: str, path: str, request_hash: str
) -> StoredResponse | None:
    """The stored answer for this key of this API key, or None; a different request with the
    same key raises `IdempotencyKeyReused`."""
    record = session.scalars(
        select(IdempotencyRecord).where(
            IdempotencyRecord.api_key_id == principal.api_key_id, IdempotencyRecord.key == key
        )
    ).one_or_none()
    if record is None:
        return None
    if record.request_hash != request_hash:
        raise IdempotencyKeyReused(
            f"{IDEMPOTENCY_HEADER} {key!r} was already used for a different request "
            f"({record.method} {record.path}).",
        )
    return StoredResponse(record.status_code, record.response_body)


def store(
    session: Session,
    principal: Principal,
    key: str,
    method: str,
    path: str,
    request_hash: str,
    status: int,
    body: dict[str, Any],
) -> IdempotencyRecord:
    """Record the answer (flushes; a concurrent holder of the key makes this raise
    IntegrityError). `run_idempotent` claims the key before the operation instead."""
    record = IdempotencyRecord(
        api_key_id=principal.api_key_id,
        key=key,
        method=method,
        path=path[:500],
        request_hash=request_hash,
        status_code=status,
        response_body=body,
    )
    session.add(record)
    session.flush()
    return record


def run_idempotent(
    db: Database,
    principal: Principal,
    key: str | None,
    request: Request,
    body: Any,
    operation: Operation,
    *,
    required: bool = False,
) -> IdempotentResult:
    """Run `operation(session) -> (status, JSON-ready body)` in one transaction, at most once
    per idempotency key of this API key; a repeat replays the stored answer. `body` is the
    request's parsed payload (or raw bytes); without a key (allowed unless `required`) the
    operation just runs."""
    key = check_key(key, required=required)
    if key is None:

        def run_plain() -> IdempotentResult:
            with db.transaction() as session:
                status, answer = operation(session)
                return IdempotentResult(status, _json_ready(answer), replayed=False)

        return retry_transient(run_plain)
    method, path = request.method, request.url.path
    fingerprint = request_hash(method, path, body, request.url.query)
    args = (db, principal, key, method, path, fingerprint, operation)

    def run_keyed() -> IdempotentResult:
        try:
            return _run_once(*args)
        except IntegrityError:
            # A concurrent request claimed the key and committed: this lookup replays its
            # answer. (A violation raised by the operation itself gets one clean re-run,
            # which is right for races on business keys, such as an external reference.)
            return _run_once(*args)

    # Deadlocks and serialization failures abort the whole transaction: run it afresh.
    return retry_transient(run_keyed)


def _run_once(
    db: Database,
    principal: Principal,
    key: str,
    method: str,
    path: str,
    fingerprint: str,
    operation: Operation,
) -> IdempotentResult:
    with db.transaction() as session:
        stored = lookup(session, principal, key, method, path, fingerprint)
        if stored is not None:
            return IdempotentResult(stored.status, stored.body, replayed=True)
        # Claim first, so a concurrent duplicate blocks here instead of running too.
        record = store(session, principal, key, method, path, fingerprint, 0, {})
        status, answer = operation(session)
        record.status_code, record.response_body = status, _json_ready(answer)
        return IdempotentResult(status, record.response_body, replayed=False)


def remember(
    db: Database, principal: Principal, key: str, status: int, body: dict[str, Any]
) -> None:
    """Store the final answer for a key claimed by `run_idempotent`, replacing the one the
    operation gave, so a retry replays what the request finally answered (used where the
    work goes on after that transaction: a label, a gateway call)."""

    def write() -> None:
        with db.transaction() as session:
            session.execute(
                update(IdempotencyRecord)
                .where(IdempotencyRecord.api_key_id == principal.api_key_id)
                .where(IdempotencyRecord.key == key)
                .values(status_code=status, response_body=body)
            )

    retry_transient(write)


_CLAIMED: dict[str, Any] = {"claimed": True}
_CLAIM_STATUS = 102  # never an answer: marks a key claimed by `run_claimed`, not yet answered


def run_claimed(
    db: Database,
    principal: Principal,
    key: str | None,
    request: Request,
    body: Any,
    act: Callable[[], tuple[int, dict[str, Any]]],
    *,
    required: bool = True,
) -> IdempotentResult:
    """For an action that calls outside systems or runs many transactions, and so holds no
    transaction while it runs (ensure-funds, ensure-refunds, a routing run): claim the key,
    run `act() -> (status, body)`, store its answer. A retry replays that answer. A request
    finding the key claimed but not answered (a concurrent duplicate, or a crash between
    the two) runs `act` too: it must be safe to repeat, as those actions are (they only do
    what is still owed). When `act` raises, the claim is dropped, as `run_idempotent`
    stores nothing for a failed operation. Without a key (allowed unless `required`) `act`
    just runs."""
    key = check_key(key, required=required)
    if key is None:
        status, answer = act()
        return IdempotentResult(status, _json_ready(answer), replayed=False)
    claimed = run_idempotent(
        db,
        principal,
        key,
        request,
        body,
        lambda _session: (_CLAIM_STATUS, dict(_CLAIMED)),
        required=True,
    )
    if claimed.replayed and claimed.body != _CLAIMED:
        return claimed
    try:
        status, answer = act()
    except Exception:
        _drop_claim(db, principal, key)
        raise
    ready = _json_ready(answer)
    remember(db, principal, key, status, ready)
    return IdempotentResult(status, ready, replayed=False)


def _drop_claim(db: Database, principal: Principal, key: str) -> None:
    def drop() -> None:
        with db.transaction() as session:
            session.execute(
                delete(IdempotencyRecord)
                .where(IdempotencyRecord.api_key_id == principal.api_key_id)
                .where(IdempotencyRecord.key == key)
                .where(IdempotencyRecord.status_code == _CLAIM_STATUS)
            )

    retry_transient(drop)


def answer_idempotent(
    request: Request,
    response: Response,
    principal: Principal,
    key: str | None,
    body: Any,
    operation: Operation,
    *,
    required: bool = False,
) -> dict[str, Any]:
    """`run_idempotent` on the app's database, answered through the endpoint's `Response`
    (see `respond`): what an idempotent POST returns."""
    db = get_db(request)
    result = run_idempotent(db, principal, key, request, body, operation, required=required)
    return respond(response, result)


def respond(response: Response, result: IdempotentResult) -> dict[str, Any]:
    """Set the answer's status and, on a replay, `Idempotent-Replayed: true` on the
    endpoint's injected `Response`; returns the body for the endpoint to return."""
    response.status_code = result.status
    if result.replayed:
        response.headers[REPLAYED_HEADER] = "true"
    return result.body


def _json_ready(body: dict[str, Any]) -> dict[str, Any]:
    # Round-trip so the first answer is exactly what a replay will return.
    ready = json.loads(json.dumps(body))
    if not isinstance(ready, dict):
        raise TypeError("an idempotent operation must return a JSON object body")
    return ready

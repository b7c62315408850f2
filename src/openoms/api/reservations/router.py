"""Reservations: hold stock, transfer, fulfill, release (DESIGN.md §12)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from openoms.adapters.db.models import utcnow
from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.api.auth import require_scope
from openoms.api.deps import get_db, reservation_batcher
from openoms.api.errors import PROBLEM_JSON
from openoms.api.idempotency import (
    IdempotentResult,
    RequiredIdempotencyKey,
    answer_idempotent,
    check_key,
    lookup,
    request_hash,
    respond,
)
from openoms.schemas.reservations import (
    Reservation as ReservationOut,
)
from openoms.schemas.reservations import (
    ReservationCreate,
    ReservationFulfill,
    ReservationRelease,
    ReservationTransfer,
)
from openoms.services import inventory as service
from openoms.services.access import Principal, Scope

router = APIRouter(prefix="/api/v1", tags=["reservations"])

PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": {PROBLEM_JSON: {}}}
    for status, text in {
        400: "A business rule is broken, or the Idempotency-Key is missing (stable `code`).",
        401: "No valid API key.",
        403: "The API key lacks the scope.",
        404: "Unknown reservation, location or location group.",
        409: "Not enough stock (`insufficient_stock` with `shortfall`), more than held, "
        "or a status that does not allow the action.",
        422: "The payload does not match the schema.",
    }.items()
}

Reserver = Annotated[Principal, Depends(require_scope(Scope.STOREFRONT, Scope.AGENT))]
Reader = Annotated[
    Principal, Depends(require_scope(Scope.STOREFRONT, Scope.WAREHOUSE, Scope.AGENT))
]
Fulfiller = Annotated[Principal, Depends(require_scope(Scope.WAREHOUSE, Scope.AGENT))]
Manager = Annotated[Principal, Depends(require_scope(Scope.AGENT))]


@router.post("/reservations", status_code=201, response_model=ReservationOut, responses=PROBLEMS)
def create_reservation(
    payload: ReservationCreate,
    request: Request,
    response: Response,
    principal: Reserver,
    idempotency_key: RequiredIdempotencyKey,
) -> dict[str, Any]:
    """Hold stock against a location group (spread over its active locations, deepest stock
    first) or one location. All or nothing: a shortage answers 409 `insufficient_stock`
    with `shortfall` per SKU and reserves nothing. Needs an `Idempotency-Key`."""
    outbox: Outbox = request.app.state.outbox
    body = payload.model_dump(mode="json")
    fingerprint = request_hash(request.method, request.url.path, body, request.url.query)
    if payload.location is not None:
        # One location: through the app's batcher, many requests per commit (group commit).
        answered = _reserve_batched(request, response, principal, idempotency_key, payload)
        if answered is not None:
            return answered

    def operation(session: Session) -> tuple[int, dict[str, Any]]:
        group_id = (
            service.group_id_by_ref(session, payload.location_group)
            if payload.location_group
            else None
        )
        location_id = (
            service.location_id_by_ref(session, payload.location) if payload.location else None
        )
        expires_at = (
            utcnow() + timedelta(seconds=payload.expires_in_seconds)
            if payload.expires_in_seconds
            else None
        )
        result = service.reserve(
            session,
            outbox,
            owner=principal.api_key_id,
            idempotency_key=idempotency_key,
            request_hash=fingerprint,
            items={item.sku: item.quantity for item in payload.items},
            location_group_id=group_id,
            location_id=location_id,
            expires_at=expires_at,
        )
        return 201, service.reservation_view(session, result.reservation)

    return answer_idempotent(
        request, response, principal, idempotency_key, body, operation, required=True
    )


@router.get("/reservations/{reservation_id}", response_model=ReservationOut, responses=PROBLEMS)
def get_reservation(
    reservation_id: str, _: Reader, db: Annotated[Database, Depends(get_db)]
) -> dict[str, Any]:
    """The reservation and, per SKU and location, the units held, fulfilled and released."""
    with db.reading() as session:
        return service.reservation_view(session, service.get_reservation(session, reservation_id))


@router.post(
    "/reservations/{reservation_id}/actions/transfer",
    response_model=ReservationOut,
    responses=PROBLEMS,
)
def transfer_reservation(
    reservation_id: str,
    payload: ReservationTransfer,
    request: Request,
    response: Response,
    principal: Manager,
    idempotency_key: RequiredIdempotencyKey,
) -> dict[str, Any]:
    """Move held units to `to_location` (all, or `items`). Only the units moved need stock
    there; a shortage answers 409 `insufficient_stock` and nothing moves; more than held is
    409 `transfer_exceeds_reserved`."""

    def operation(session: Session) -> tuple[int, dict[str, Any]]:
        reservation = service.transfer(
            session,
            request.app.state.outbox,
            reservation_id,
            to_location_id=service.location_id_by_ref(session, payload.to_location),
            items=_per_sku(payload.items),
            from_location_id=(
                service.location_id_by_ref(session, payload.from_location)
                if payload.from_location
                else None
            ),
        )
        return 200, service.reservation_view(session, reservation)

    body = payload.model_dump(mode="json")
    return answer_idempotent(
        request, response, principal, idempotency_key, body, operation, required=True
    )


@router.post(
    "/reservations/{reservation_id}/actions/fulfill",
    response_model=ReservationOut,
    responses=PROBLEMS,
)
def fulfill_reservation(
    reservation_id: str,
    request: Request,
    response: Response,
    principal: Fulfiller,
    idempotency_key: RequiredIdempotencyKey,
    payload: ReservationFulfill | None = None,
) -> dict[str, Any]:
    """Ship held units: on hand and reserved both go down. Without `items`, everything
    held. Once nothing is held the reservation is FULFILLED; more than held is 409
    `fulfill_exceeds_reserved`."""
    payload = payload or ReservationFulfill()

    def operation(session: Session) -> tuple[int, dict[str, Any]]:
        items = None
        if payload.items is not None:
            ids = service.location_ids_by_ref(session, {item.location for item in payload.items})
            items = [(item.sku, ids[item.location], item.quantity) for item in payload.items]
        reservation = service.fulfill(
            session, request.app.state.outbox, reservation_id, items=items
        )
        return 200, service.reservation_view(session, reservation)

    body = payload.model_dump(mode="json")
    return answer_idempotent(
        request, response, principal, idempotency_key, body, operation, required=True
    )


@router.post(
    "/reservations/{reservation_id}/actions/release",
    response_model=ReservationOut,
    responses=PROBLEMS,
)
def release_reservation(
    reservation_id: str,
    request: Request,
    response: Response,
    principal: Manager,
    idempotency_key: RequiredIdempotencyKey,
    payload: ReservationRelease | None = None,
) -> dict[str, Any]:
    """Give back held units: everything, or `items`. Once nothing is held the reservation
    is RELEASED; more than held is 409 `release_exceeds_reserved`."""
    payload = payload or ReservationRelease()

    def operation(session: Session) -> tuple[int, dict[str, Any]]:
        reservation = service.release(
            session,
            request.app.state.outbox,
            reservation_id,
            items=_per_sku(payload.items),
            location_id=service.location_id_by_ref(session, payload.location)
            if payload.location
            else None,
        )
        return 200, service.reservation_view(session, reservation)

    body = payload.model_dump(mode="json")
    return answer_idempotent(
        request, response, principal, idempotency_key, body, operation, required=True
    )


def _reserve_batched(
    request: Request,
    response: Response,
    principal: Principal,
    idempotency_key: str,
    payload: ReservationCreate,
) -> dict[str, Any] | None:
    """The answer of a reservation at one location, through the batcher, with the same
    idempotency as `answer_idempotent`: the stored answer commits with the reservation, a
    repeat replays it. None when the key turns out to be taken (a repeat that raced, or
    the key of another request): the ordinary path then replays or refuses."""
    key = check_key(idempotency_key, required=True) or idempotency_key
    method, path = request.method, request.url.path
    body = payload.model_dump(mode="json")
    fingerprint = request_hash(method, path, body, request.url.query)
    with get_db(request).reading() as session:
        stored = lookup(session, principal, key, method, path, fingerprint)
        if stored is not None:
            return respond(response, IdempotentResult(stored.status, stored.body, replayed=True))
        location_id = service.location_id_by_ref(session, payload.location or "")
    refs = {location_id: payload.location or ""}
    expires_in = payload.expires_in_seconds
    answer = service.StoredAnswer(
        api_key_id=principal.api_key_id,
        key=key,
        method=method,
        path=path,
        request_hash=fingerprint,
        status=201,
        body=lambda reservation: service.reservation_body(reservation, refs),
    )
    try:
        result = reservation_batcher(request).submit(
            service.ReserveRequest(
                owner=principal.api_key_id,
                idempotency_key=key,
                request_hash=fingerprint,
                items={item.sku: item.quantity for item in payload.items},
                location_id=location_id,
                expires_at=utcnow() + timedelta(seconds=expires_in) if expires_in else None,
                answer=answer,
            )
        )
    except service.AnswerTaken:
        return None
    if result.replayed:
        return None
    return respond(
        response, IdempotentResult(201, service.reservation_body(result.reservation, refs), False)
    )


def _per_sku(items: list[Any] | None) -> dict[str, int] | None:
    return None if items is None else {item.sku: item.quantity for item in items}

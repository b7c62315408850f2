"""Fulfillment orders and shipments at the warehouse (DESIGN.md §12).

The warehouse reports progress with one action per step — `assign`, `pick-complete`,
`pack-complete` — rather than a generic status change: each is a fixed, documented move of
the transition table, and shipping, canceling lines and rejecting have their own actions
because they move quantities and stock. Every POST honours `Idempotency-Key`; `ship` and
`cancel-lines`, which move stock, require it.

Shipping is two steps: the shipment is committed first (stock leaves, the FO moves), then
the label is requested from the carrier outside the transaction. The answer is 201 with the
tracking number, or 202 with status LABEL_PENDING when the carrier did not answer (a job
retries with backoff) or refused (a carrier process exception is open, `label_error` says
why). A retry with the same key replays that answer and ships nothing twice.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from sqlalchemy.orm import Session

from openoms.adapters.carriers import Carriers
from openoms.adapters.carriers import carriers_of as app_carriers
from openoms.adapters.db.models import FulfillmentOrder
from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.api.auth import require_scope
from openoms.api.cursors import decode_cursor, encode_cursor
from openoms.api.deps import get_db
from openoms.api.errors import PROBLEM_JSON
from openoms.api.idempotency import (
    IdempotencyKey,
    RequiredIdempotencyKey,
    answer_idempotent,
    remember,
    respond,
    run_idempotent,
)
from openoms.api.params import WHOLE_NUMBER
from openoms.domain.errors import ValidationFailed
from openoms.domain.fulfillment import FulfillmentOrderStatus, ShipmentStatus
from openoms.domain.ports import CarrierChoice, CarrierSelector
from openoms.schemas.fulfillment import (
    FulfillmentOrderCancelLines,
    FulfillmentOrderOut,
    FulfillmentOrderPage,
    FulfillmentOrderReject,
    ShipmentCreate,
    ShipmentOut,
    TrackingUpdate,
)
from openoms.services import fulfillment as labels
from openoms.services import fulfillment as service
from openoms.services import fulfillment as shipping
from openoms.services.access import Principal, Scope

router = APIRouter(prefix="/api/v1", tags=["fulfillment"])
log = logging.getLogger(__name__)

PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": {PROBLEM_JSON: {}}}
    for status, text in {
        400: "A business rule is broken (stable `code`).",
        401: "No valid API key.",
        403: "The API key lacks the warehouse (or agent) scope.",
        404: "Unknown fulfillment order, shipment or location.",
        409: "Not allowed in the current status (`illegal_transition`), or more than is left "
        "(`shipment_exceeds_fulfillment_order`, `cancel_exceeds_unshipped`).",
        422: "The payload does not match the schema.",
    }.items()
}

Warehouse = Annotated[Principal, Depends(require_scope(Scope.WAREHOUSE, Scope.AGENT))]
# The label job waits this long before its first try: the API asks the carrier itself first.
LABEL_GRACE = shipping.LABEL_GRACE
S = FulfillmentOrderStatus


def carriers_of(app: FastAPI) -> Carriers:
    """The app's carriers (adapters.carriers.carriers_of: the console ships through the
    same ones)."""
    return app_carriers(app.state)


# --- reading ------------------------------------------------------------------------------


@router.get("/fulfillment-orders", response_model=FulfillmentOrderPage, responses=PROBLEMS)
def list_fulfillment_orders(
    _: Warehouse,
    db: Annotated[Database, Depends(get_db)],
    location: Annotated[str | None, Query(description="Location ref.")] = None,
    status: FulfillmentOrderStatus | None = None,
    order_summary_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200), WHOLE_NUMBER] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page.")] = None,
) -> dict[str, Any]:
    """A location's work queue: fulfillment orders oldest first, filtered, one page at a
    time. An unknown location is 404 rather than an empty queue."""
    with db.reading() as session:
        fos = service.list_fulfillment_orders(
            session,
            location_ref=location,
            status=status.value if status else None,
            order_summary_id=order_summary_id,
            limit=limit + 1,
            after_id=decode_cursor(cursor),
        )
        page = fos[:limit]
        items = _views(session, page)
    more = len(fos) > limit
    return {"items": items, "next_cursor": encode_cursor(page[-1].id) if more and page else None}


@router.get("/fulfillment-orders/{fo_id}", response_model=FulfillmentOrderOut, responses=PROBLEMS)
def get_fulfillment_order(
    fo_id: str, _: Warehouse, db: Annotated[Database, Depends(get_db)]
) -> dict[str, Any]:
    """The fulfillment order: its lines (original, canceled, shipped, unshipped units) and
    shipments."""
    with db.reading() as session:
        return _views(session, [service.get_fulfillment_order(session, fo_id)])[0]


@router.get("/shipments/{shipment_id}", response_model=ShipmentOut, responses=PROBLEMS)
def get_shipment(
    shipment_id: str, _: Warehouse, db: Annotated[Database, Depends(get_db)]
) -> dict[str, Any]:
    """A shipment: carrier, service, tracking number, label and the items in it."""
    with db.reading() as session:
        return shipping.shipment_view(shipping.get_shipment(session, shipment_id))


# --- status steps -------------------------------------------------------------------------


@router.post(
    "/fulfillment-orders/{fo_id}/actions/assign",
    response_model=FulfillmentOrderOut,
    responses=PROBLEMS,
)
def assign(
    fo_id: str,
    request: Request,
    response: Response,
    principal: Warehouse,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """ALLOCATED → ASSIGNED: the location accepted the work."""
    return _change(request, response, principal, idempotency_key, fo_id, S.ASSIGNED)


@router.post(
    "/fulfillment-orders/{fo_id}/actions/pick-complete",
    response_model=FulfillmentOrderOut,
    responses=PROBLEMS,
)
def pick_complete(
    fo_id: str,
    request: Request,
    response: Response,
    principal: Warehouse,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """ASSIGNED → PICK_COMPLETE: every unit is picked."""
    return _change(request, response, principal, idempotency_key, fo_id, S.PICK_COMPLETE)


@router.post(
    "/fulfillment-orders/{fo_id}/actions/pack-complete",
    response_model=FulfillmentOrderOut,
    responses=PROBLEMS,
)
def pack_complete(
    fo_id: str,
    request: Request,
    response: Response,
    principal: Warehouse,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """PICK_COMPLETE → PACK_COMPLETE: packed and ready to ship."""
    return _change(request, response, principal, idempotency_key, fo_id, S.PACK_COMPLETE)


def _change(
    request: Request,
    response: Response,
    principal: Principal,
    key: str | None,
    fo_id: str,
    target: FulfillmentOrderStatus,
) -> dict[str, Any]:
    def operation(session: Session) -> tuple[int, dict[str, Any]]:
        fo = service.change_status(session, _outbox(request), fo_id, target, by=principal.actor)
        return 200, _views(session, [fo])[0]

    return answer_idempotent(request, response, principal, key, {}, operation)


# --- cancel lines, reject -----------------------------------------------------------------


@router.post(
    "/fulfillment-orders/{fo_id}/actions/cancel-lines",
    response_model=FulfillmentOrderOut,
    responses=PROBLEMS,
)
def cancel_lines(
    fo_id: str,
    payload: FulfillmentOrderCancelLines,
    request: Request,
    response: Response,
    principal: Warehouse,
    idempotency_key: RequiredIdempotencyKey,
) -> dict[str, Any]:
    """Cancel unshipped units, by line `id` or by `sku`: the item's allocated units go down
    (available to fulfil again) and the reservation releases them at the location. With
    nothing left to ship the FO is CANCELED (FULFILLED if part of it shipped). More than a
    line's unshipped units is 409 `cancel_exceeds_unshipped` and nothing changes."""

    def operation(session: Session) -> tuple[int, dict[str, Any]]:
        fo = service.get_fulfillment_order(session, fo_id)
        items = [(_line_id(fo, item.id, item.sku), item.quantity) for item in payload.items]
        fo = service.cancel_lines(session, _outbox(request), fo_id, items)
        return 200, _views(session, [fo])[0]

    body = payload.model_dump(mode="json")
    return answer_idempotent(
        request, response, principal, idempotency_key, body, operation, required=True
    )


@router.post(
    "/fulfillment-orders/{fo_id}/actions/reject",
    response_model=FulfillmentOrderOut,
    responses=PROBLEMS,
)
def reject(
    fo_id: str,
    payload: FulfillmentOrderReject,
    request: Request,
    response: Response,
    principal: Warehouse,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """The location cannot fulfil: REJECTED (only before anything shipped), its units go
    back to available-to-fulfil, the stock stays held for routing to move, and the delivery
    group is routed again without this location."""

    def operation(session: Session) -> tuple[int, dict[str, Any]]:
        fo = service.reject(
            session, _outbox(request), fo_id, reason=payload.reason, by=principal.actor
        )
        return 200, _views(session, [fo])[0]

    body = payload.model_dump(mode="json")
    return answer_idempotent(request, response, principal, idempotency_key, body, operation)


# --- ship ---------------------------------------------------------------------------------


@router.post(
    "/fulfillment-orders/{fo_id}/actions/ship",
    status_code=201,
    response_model=ShipmentOut,
    responses={
        202: {"description": "Shipped; the label is pending (carrier down or refused)."},
        **PROBLEMS,
    },
)
def ship(
    fo_id: str,
    request: Request,
    response: Response,
    principal: Warehouse,
    idempotency_key: RequiredIdempotencyKey,
    payload: ShipmentCreate | None = None,
) -> dict[str, Any]:
    """Ship `items` (default: everything left): on hand and reserved go down at the
    location, the items' quantity_fulfilled goes up, the FO becomes FULFILLED (or
    PACK_COMPLETE while some is left). 201 with carrier and tracking number; 202 with
    status LABEL_PENDING when the carrier is unavailable (retried later) or refused.
    More than the FO holds is 409 `shipment_exceeds_fulfillment_order`, nothing shipped."""
    payload = payload or ShipmentCreate()
    db, outbox, carriers = get_db(request), _outbox(request), carriers_of(request.app)
    choice: CarrierChoice | CarrierSelector = carriers
    if payload.carrier is not None:
        carriers.get(payload.carrier)  # CarrierUnknown (400) before anything moves
        choice = CarrierChoice(payload.carrier, payload.service)
    items = None if payload.items is None else [(i.sku, i.quantity) for i in payload.items]

    def operation(session: Session) -> tuple[int, dict[str, Any]]:
        shipment = shipping.ship(
            session,
            outbox,
            fo_id,
            items=items,
            carrier_choice=choice,
            label_after=LABEL_GRACE,
            by=principal.actor,
        )
        return 202, shipping.shipment_view(shipment)

    body = payload.model_dump(mode="json")
    result = run_idempotent(db, principal, idempotency_key, request, body, operation, required=True)
    if result.replayed or result.body["status"] != ShipmentStatus.LABEL_PENDING:
        return respond(response, result)
    # Committed: now the label, with no transaction held. Whatever the carrier adapter does,
    # the shipment stands; the create_label job retries what fails here.
    try:
        attempt = labels.request_label(db, outbox, carriers, result.body["id"])
    except Exception:
        log.exception("label for shipment %s failed; the job will retry", result.body["id"])
        attempt = labels.LabelAttempt(labels.LabelOutcome.PENDING, "label request failed")
    with db.reading() as session:
        answer = shipping.shipment_view(shipping.get_shipment(session, result.body["id"]))
    if attempt.outcome is labels.LabelOutcome.REJECTED:
        answer["label_error"] = attempt.detail
    status = 202 if answer["status"] == ShipmentStatus.LABEL_PENDING else 201
    remember(db, principal, idempotency_key, status, answer)
    response.status_code = status
    return answer


@router.post(
    "/shipments/{shipment_id}/actions/update-tracking",
    response_model=ShipmentOut,
    responses=PROBLEMS,
)
def update_tracking(
    shipment_id: str,
    payload: TrackingUpdate,
    request: Request,
    response: Response,
    principal: Warehouse,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """The parcel is IN_TRANSIT or DELIVERED. Idempotent: a repeat, or an update the
    shipment has passed, changes nothing. A shipment without a label cannot move (409)."""

    def operation(session: Session) -> tuple[int, dict[str, Any]]:
        shipment = shipping.track_shipment(
            session, _outbox(request), shipment_id, ShipmentStatus(payload.status)
        )
        return 200, shipping.shipment_view(shipment)

    body = payload.model_dump(mode="json")
    return answer_idempotent(request, response, principal, idempotency_key, body, operation)


# --- helpers ------------------------------------------------------------------------------


def _views(session: Session, fos: list[FulfillmentOrder]) -> list[dict[str, Any]]:
    shipments = shipping.shipments_of(session, [fo.id for fo in fos])
    return service.fulfillment_order_views(session, fos, shipments)


def _line_id(fo: FulfillmentOrder, line_id: str | None, sku: str | None) -> str:
    if line_id is not None:
        return line_id
    matches = [line.id for line in fo.lines if line.sku == sku]
    if len(matches) != 1:
        found = "no line" if not matches else f"{len(matches)} lines"
        raise ValidationFailed(
            f"fulfillment order {fo.id} has {found} of {sku}; name the line by id",
            field="items",
        )
    return matches[0]


def _outbox(request: Request) -> Outbox:
    outbox: Outbox = request.app.state.outbox
    return outbox

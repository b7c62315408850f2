"""Actions on the warehouse queue, for warehouse users (at their locations) and admin:
ship a fulfillment order (the carrier chosen by the rules, or named) and reject one with a
reason. Each runs the service the API's action runs (`actions/ship`, `actions/reject`).

Every POST checks its CSRF token, the role, and that the fulfillment order is at a location
the user works at (403, nothing changed, otherwise), in the transaction that acts. A refused
action re-renders the queue with the API's sentence beside the fulfillment order's forms.

Shipping is the API's two steps: the shipment is committed (stock leaves, the order moves),
then the label is asked of the carrier outside the transaction; when the carrier does not
answer, the label job retries (the queue then says the tracking is pending). The services
ship and reject take no actor, so neither records the user (nor the API key) who acted.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from openoms.adapters.carriers import carriers_of
from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.console.auth import WAREHOUSE, PageForbidden, Visitor, console_db, require_action
from openoms.console.fulfillment import QueueView, queue_page
from openoms.console.render import with_query
from openoms.domain.errors import DomainError, ValidationFailed
from openoms.domain.fulfillment import ShipmentStatus
from openoms.domain.ports import CarrierChoice, CarrierSelector
from openoms.services import fulfillment as warehouse
from openoms.services.fulfillment import (
    LABEL_GRACE,
    fulfillment_order_views,
    get_fulfillment_order,
    request_label,
    ship,
)

router = APIRouter(prefix="/console")
log = logging.getLogger(__name__)
Staff = Annotated[Visitor, Depends(require_action(*WAREHOUSE))]
Db = Annotated[Database, Depends(console_db)]
FoId = Annotated[str, Path(max_length=60)]
Field = Annotated[str, Form(max_length=200)]


@router.post("/fulfillment/{fo_id}/ship", include_in_schema=False)
def ship_order(
    request: Request,
    fo_id: FoId,
    visitor: Staff,
    db: Db,
    carrier: Field = "",
    service: Field = "",
    status: Field = "",
) -> Response:
    """Ship everything the fulfillment order has left, then ask the carrier for its label;
    back to the queue, which shows the tracking number."""
    carriers = carriers_of(request.app.state)
    location = ""
    try:
        with db.transaction() as session:
            location = _location_checked(session, visitor, fo_id)
            choice: CarrierChoice | CarrierSelector = carriers
            if service and not carrier:  # as the API's payload: a service needs its carrier
                raise ValidationFailed(
                    "service is chosen with carrier; give both or neither", field="service"
                )
            if carrier:
                carriers.get(carrier)  # CarrierUnknown before anything moves
                choice = CarrierChoice(carrier, service or None)
            shipment = ship(
                session, _outbox(request), fo_id, carrier_choice=choice, label_after=LABEL_GRACE
            )
            shipment_id, pending = shipment.id, shipment.status == ShipmentStatus.LABEL_PENDING
    except DomainError as exc:
        return _refused(request, visitor, db, QueueView(location, status), fo_id, exc)
    if pending:
        try:
            request_label(db, _outbox(request), carriers, shipment_id)
        except Exception:  # the shipment stands; the create_label job retries
            log.exception("label for shipment %s failed; the job will retry", shipment_id)
    target = {"location": location, "status": status, "shipment": shipment_id}
    return RedirectResponse(with_query("/console/fulfillment", target), status_code=303)


@router.post("/fulfillment/{fo_id}/reject", include_in_schema=False)
def reject_order(
    request: Request,
    fo_id: FoId,
    visitor: Staff,
    db: Db,
    reason: Annotated[str, Form(max_length=500)] = "",
    status: Field = "",
) -> Response:
    """The location cannot fulfil it: rejected, its units routed again elsewhere."""
    location = ""
    try:
        with db.transaction() as session:
            location = _location_checked(session, visitor, fo_id)
            # `reject` is also a module's name: the face's function, by its area.
            warehouse.reject(session, _outbox(request), fo_id, reason=reason)
    except DomainError as exc:
        return _refused(request, visitor, db, QueueView(location, status), fo_id, exc)
    target = {"location": location, "status": status, "done": "rejected"}
    return RedirectResponse(with_query("/console/fulfillment", target), status_code=303)


def _location_checked(session: Session, visitor: Visitor, fo_id: str) -> str:
    """The fulfillment order's location, which must be one the user works at."""
    fo = get_fulfillment_order(session, fo_id)
    location: str = fulfillment_order_views(session, [fo], {fo.id: []})[0]["location"]
    if not visitor.identity.sees_location(location):
        works_at = ", ".join(visitor.identity.locations or ())
        raise PageForbidden(
            f"Fulfillment order {fo_id} is at {location}; you work at {works_at}. "
            "Nothing was changed."
        )
    return location


def _refused(
    request: Request,
    visitor: Visitor,
    db: Database,
    view: QueueView,
    fo_id: str,
    exc: DomainError,
) -> HTMLResponse:
    return queue_page(
        request, visitor, db, view, status_code=exc.status, errors={fo_id: exc.detail}
    )


def _outbox(request: Request) -> Outbox:
    outbox: Outbox = request.app.state.outbox
    return outbox

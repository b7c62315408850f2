"""Actions on the warehouse queue, for warehouse users (at their locations) and admin:
the steps assign, pick and pack (the API's `actions/assign`, `pick-complete`,
`pack-complete`), ship everything left or some units of each line (the carrier chosen by
the rules, or named) and reject with a reason. Each runs the service the API's action runs
and records the user who acted (`user:<email>`, where the API records `api_key:<id>`) on
its events, which the order's timeline shows.

Every POST checks its CSRF token, the role, and that the fulfillment order is at a location
the user works at (403, nothing changed, otherwise), in the transaction that acts. A refused
action re-renders the queue with the API's sentence beside the fulfillment order's forms.

Shipping is the API's two steps: the shipment is committed (stock leaves, the order moves),
then the label is asked of the carrier outside the transaction; when the carrier does not
answer, the label job retries (the queue then says the tracking is pending).
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
from openoms.console.auth import WAREHOUSE, PageForbidden, Visitor, require_action
from openoms.console.fulfillment import QueueView, queue_page
from openoms.console.params import Db
from openoms.console.render import with_query
from openoms.domain.errors import DomainError, ValidationFailed
from openoms.domain.fulfillment import FulfillmentOrderStatus, ShipmentStatus
from openoms.domain.ports import CarrierChoice, CarrierSelector
from openoms.services import fulfillment as warehouse
from openoms.services.fulfillment import (
    LABEL_GRACE,
    change_status,
    fulfillment_order_views,
    get_fulfillment_order,
    request_label,
    ship,
)

router = APIRouter(prefix="/console")
log = logging.getLogger(__name__)
Staff = Annotated[Visitor, Depends(require_action(*WAREHOUSE))]
FoId = Annotated[str, Path(max_length=60)]
Field = Annotated[str, Form(max_length=200)]
# A partial shipment's field per line: units.<sku>, the units of that SKU to ship.
UNITS = "units."
# The warehouse's steps, by the path segment of their form: (status reached, page notice).
STEPS = {
    "assign": (FulfillmentOrderStatus.ASSIGNED, "assigned"),
    "pick": (FulfillmentOrderStatus.PICK_COMPLETE, "picked"),
    "pack": (FulfillmentOrderStatus.PACK_COMPLETE, "packed"),
}


class UnitsInvalid(ValidationFailed):
    code = "quantity_invalid"
    title = "Units to ship not understood"


@router.post("/fulfillment/{fo_id}/assign", include_in_schema=False)
def assign(request: Request, fo_id: FoId, visitor: Staff, db: Db, status: Field = "") -> Response:
    """ALLOCATED → ASSIGNED: the location takes the work."""
    return _step(request, fo_id, visitor, db, status, "assign")


@router.post("/fulfillment/{fo_id}/pick", include_in_schema=False)
def pick(request: Request, fo_id: FoId, visitor: Staff, db: Db, status: Field = "") -> Response:
    """ASSIGNED → PICK_COMPLETE: every unit is picked."""
    return _step(request, fo_id, visitor, db, status, "pick")


@router.post("/fulfillment/{fo_id}/pack", include_in_schema=False)
def pack(request: Request, fo_id: FoId, visitor: Staff, db: Db, status: Field = "") -> Response:
    """PICK_COMPLETE → PACK_COMPLETE: packed, ready to ship."""
    return _step(request, fo_id, visitor, db, status, "pack")


def _step(
    request: Request, fo_id: str, visitor: Visitor, db: Database, status: str, step: str
) -> Response:
    """One step through the transition table (the API's `change_status`); a step out of
    turn is refused with the table's sentence, nothing changed."""
    target, done = STEPS[step]
    location = ""
    try:
        with db.transaction() as session:
            location = location_checked(session, visitor, fo_id)
            change_status(session, _outbox(request), fo_id, target, by=visitor.identity.actor)
    except DomainError as exc:
        return _refused(request, visitor, db, QueueView(location, status), fo_id, exc)
    back = {"location": location, "status": status, "done": done, "fo": fo_id}
    return RedirectResponse(with_query("/console/fulfillment", back), status_code=303)


@router.post("/fulfillment/{fo_id}/ship", include_in_schema=False)
def ship_order(
    request: Request,
    fo_id: FoId,
    visitor: Staff,
    db: Db,
    carrier: Field = "",
    service: Field = "",
    status: Field = "",
    units: Annotated[list[tuple[str, str]], Depends(units_fields)] = [],  # noqa: B006
) -> Response:
    """Ship everything the fulfillment order has left, or the units the form's `units.<sku>`
    fields name (a partial shipment: the rest stays to ship later), then ask the carrier for
    its label; back to the queue, which shows the tracking number."""
    carriers = carriers_of(request.app.state)
    location = ""
    try:
        items = _units(units)
        with db.transaction() as session:
            location = location_checked(session, visitor, fo_id)
            choice: CarrierChoice | CarrierSelector = carriers
            if service and not carrier:  # as the API's payload: a service needs its carrier
                raise ValidationFailed(
                    "service is chosen with carrier; give both or neither", field="service"
                )
            if carrier:
                carriers.get(carrier)  # CarrierUnknown before anything moves
                choice = CarrierChoice(carrier, service or None)
            shipment = ship(
                session,
                _outbox(request),
                fo_id,
                items=items,
                carrier_choice=choice,
                label_after=LABEL_GRACE,
                by=visitor.identity.actor,
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
            location = location_checked(session, visitor, fo_id)
            # `reject` is also a module's name: the face's function, by its area.
            warehouse.reject(
                session, _outbox(request), fo_id, reason=reason, by=visitor.identity.actor
            )
    except DomainError as exc:
        return _refused(request, visitor, db, QueueView(location, status), fo_id, exc)
    target = {"location": location, "status": status, "done": "rejected"}
    return RedirectResponse(with_query("/console/fulfillment", target), status_code=303)


async def units_fields(request: Request) -> list[tuple[str, str]]:
    """The form's `units.<sku>` fields, as sent (read before the action runs)."""
    form = await request.form()
    return [
        (name.removeprefix(UNITS), value.strip())
        for name, value in form.multi_items()
        if name.startswith(UNITS) and isinstance(value, str)
    ]


def _units(fields: list[tuple[str, str]]) -> list[tuple[str, int]] | None:
    """A partial shipment's (sku, units), or None (no such field: everything left)."""
    if not fields:
        return None
    items = []
    for sku, value in fields:
        if not value:  # blank: none of that SKU
            continue
        if not value.isdigit() or len(value) > 9:
            raise UnitsInvalid(
                f"units of {sku} must be a whole number, not {value!r}", field="items"
            )
        if int(value) > 0:
            items.append((sku, int(value)))
    if not items:
        raise UnitsInvalid("choose at least one unit to ship", field="items")
    return items


def location_checked(session: Session, visitor: Visitor, fo_id: str, *, acting: bool = True) -> str:
    """The fulfillment order's location, which must be one the user works at (PageForbidden
    otherwise; an unknown one is the service's NotFound)."""
    fo = get_fulfillment_order(session, fo_id)
    location: str = fulfillment_order_views(session, [fo], {fo.id: []})[0]["location"]
    if not visitor.identity.sees_location(location):
        works_at = ", ".join(visitor.identity.locations or ())
        unchanged = " Nothing was changed." if acting else ""
        raise PageForbidden(
            f"Fulfillment order {fo_id} is at {location}; you work at {works_at}.{unchanged}"
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

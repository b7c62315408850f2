"""Fulfillment orders by location and status: the warehouse's queue (its actions:
warehouse_actions.py; each order's packing slip: packing_slip.py). A warehouse user limited
to locations sees those locations only."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from openoms.adapters.carriers import carriers_of
from openoms.adapters.db.session import Database
from openoms.console.auth import (
    WAREHOUSE,
    PageForbidden,
    PageNotFound,
    Visitor,
    require_role,
)
from openoms.console.paging import PAGE_SIZE, SearchInvalid, decode_cursor, encode_cursor
from openoms.console.params import Db, Text
from openoms.console.render import page
from openoms.domain.errors import NotFound
from openoms.domain.fulfillment import FULFILLMENT_ORDER_TRANSITIONS, FulfillmentOrderStatus
from openoms.services.fulfillment import (
    fulfillment_order_views,
    get_shipment,
    list_fulfillment_orders,
    shipment_view,
    shipments_of,
)
from openoms.services.inventory import list_locations

router = APIRouter(prefix="/console")


@dataclass
class Queue:
    """A page of one location's fulfillment orders, or why the query cannot be used."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    next_cursor: str | None = None
    error: str = ""


@router.get("/fulfillment", response_class=HTMLResponse, include_in_schema=False)
def fulfillment_orders(
    request: Request,
    visitor: Annotated[Visitor, Depends(require_role(*WAREHOUSE))],
    db: Db,
    location: Text = "",
    status: Text = "",
    cursor: Text = "",
    limit: Annotated[int, Query(ge=1, le=200)] = PAGE_SIZE,
    shipment: Annotated[str, Query(max_length=60)] = "",
    done: Annotated[str, Query(max_length=60)] = "",
    fo: Annotated[str, Query(max_length=60)] = "",
) -> HTMLResponse:
    """One location's fulfillment orders oldest first (the order a warehouse works them),
    by status, `limit` a page. `shipment` (after shipping) and `done` with `fo` (after a
    step or a rejection) say what the last action did (warehouse_actions.py)."""
    view = QueueView(location, status, cursor, limit)
    return queue_page(request, visitor, db, view, notice=_notice(db, shipment, done, fo))


@dataclass(frozen=True)
class QueueView:
    """Which queue the page shows: its query parameters."""

    location: str = ""
    status: str = ""
    cursor: str = ""
    limit: int = PAGE_SIZE


def queue_page(
    request: Request,
    visitor: Visitor,
    db: Database,
    view: QueueView,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    notice: str = "",
) -> HTMLResponse:
    """The queue page; `errors` puts a refused action's sentence beside its fulfillment
    order's forms (keyed by its id)."""
    identity = visitor.identity
    with db.reading() as session:
        refs = [loc.ref for loc in list_locations(session) if identity.sees_location(loc.ref)]
        chosen = view.location or (refs[0] if refs else "")
        if chosen and not identity.sees_location(chosen):
            raise PageForbidden(f"You work at {', '.join(refs)}; not at {chosen}.")
        queue = _queue(session, chosen, view.status, view.cursor, view.limit) if chosen else Queue()
    return page(
        request,
        "fulfillment.html",
        visitor,
        status_code=400 if queue.error else status_code,
        title="Fulfillment orders",
        locations=refs,
        location=chosen,
        status=view.status,
        statuses=[s.value for s in FulfillmentOrderStatus],
        rows=queue.rows,
        next_cursor=queue.next_cursor,
        limit=view.limit if view.limit != PAGE_SIZE else "",
        error=queue.error,
        errors=errors or {},
        notice=notice,
        carriers=carrier_names(request),
        shippable=SHIPPABLE,
        rejectable=REJECTABLE,
        steps=NEXT_STEP,
    )


# The statuses a fulfillment order ships from (shipping completes the steps before it) and
# may be rejected from: the transition table's, so a form is offered only where it can work.
_S = FulfillmentOrderStatus
SHIPPABLE = frozenset(
    s.value for s, moves in FULFILLMENT_ORDER_TRANSITIONS.items() if _S.FULFILLED in moves
) | {_S.ALLOCATED.value, _S.ASSIGNED.value, _S.PICK_COMPLETE.value}
REJECTABLE = frozenset(
    s.value for s, moves in FULFILLMENT_ORDER_TRANSITIONS.items() if _S.REJECTED in moves
)


# The step form each status offers (warehouse_actions.py): (path segment, button), the
# table's move from that status along the warehouse's path.
NEXT_STEP = {
    _S.ALLOCATED.value: ("assign", "Assign"),
    _S.ASSIGNED.value: ("pick", "Picked"),
    _S.PICK_COMPLETE.value: ("pack", "Packed"),
}
# What the page says after a step or a rejection (`done`), of fulfillment order `fo`.
DONE = {
    "assigned": "{fo} is assigned to this location.",
    "picked": "{fo} is picked.",
    "packed": "{fo} is packed and ready to ship.",
}


def carrier_names(request: Request) -> list[str]:
    return carriers_of(request.app.state).names()


def _notice(db: Database, shipment_id: str, done: str, fo_id: str) -> str:
    if done == "rejected":
        return "The fulfillment order is rejected; its units are routed again."
    if done in DONE and fo_id:
        return DONE[done].format(fo=fo_id)
    if not shipment_id:
        return ""
    with db.reading() as session:
        try:
            shipment = shipment_view(get_shipment(session, shipment_id))
        except NotFound:
            return ""
    tracking = shipment["tracking_number"] or "not assigned yet (the label is pending)"
    return (
        f"Shipped {shipment['fulfillment_order_id']} with {shipment['carrier'] or 'a carrier'}"
        f": tracking {tracking}."
    )


def _queue(session: Session, location: str, status: str, cursor: str, limit: int) -> Queue:
    try:
        if status and status not in {s.value for s in FulfillmentOrderStatus}:
            raise SearchInvalid(f"Status {status!r} is not a fulfillment order status.")
        found = list_fulfillment_orders(
            session,
            location_ref=location,
            status=status or None,
            after_id=decode_cursor(cursor, prefix="fo_"),
            limit=limit + 1,
        )
    except SearchInvalid as exc:
        return Queue(error=str(exc))
    except NotFound as exc:
        raise PageNotFound(exc.detail) from None
    shown = found[:limit]
    rows = fulfillment_order_views(session, shown, shipments_of(session, [fo.id for fo in shown]))
    more = encode_cursor(shown[-1].id) if len(found) > limit else None
    return Queue(rows=rows, next_cursor=more)

"""Fulfillment orders by location and status: the warehouse's list (read-only for now).
A warehouse user limited to locations sees those locations only."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from openoms.adapters.db.session import Database
from openoms.console.auth import (
    WAREHOUSE,
    PageForbidden,
    PageNotFound,
    Visitor,
    console_db,
    require_role,
)
from openoms.console.paging import PAGE_SIZE, SearchInvalid, decode_cursor, encode_cursor
from openoms.console.render import page
from openoms.domain.errors import NotFound
from openoms.domain.fulfillment import FulfillmentOrderStatus
from openoms.services.fulfillment import (
    fulfillment_order_views,
    list_fulfillment_orders,
    shipments_of,
)
from openoms.services.inventory import list_locations

router = APIRouter(prefix="/console")
Text = Annotated[str, Query(max_length=200)]


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
    db: Annotated[Database, Depends(console_db)],
    location: Text = "",
    status: Text = "",
    cursor: Text = "",
    limit: Annotated[int, Query(ge=1, le=200)] = PAGE_SIZE,
) -> HTMLResponse:
    """One location's fulfillment orders oldest first (the order a warehouse works them),
    by status, `limit` a page."""
    identity = visitor.identity
    with db.reading() as session:
        refs = [loc.ref for loc in list_locations(session) if identity.sees_location(loc.ref)]
        chosen = location or (refs[0] if refs else "")
        if chosen and not identity.sees_location(chosen):
            raise PageForbidden(f"You work at {', '.join(refs)}; not at {chosen}.")
        queue = _queue(session, chosen, status, cursor, limit) if chosen else Queue()
    return page(
        request,
        "fulfillment.html",
        visitor,
        status_code=400 if queue.error else 200,
        title="Fulfillment orders",
        locations=refs,
        location=chosen,
        status=status,
        statuses=[s.value for s in FulfillmentOrderStatus],
        rows=queue.rows,
        next_cursor=queue.next_cursor,
        limit=limit if limit != PAGE_SIZE else "",
        error=queue.error,
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

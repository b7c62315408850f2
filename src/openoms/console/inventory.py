"""Inventory: a SKU's availability at each location and location group (the figures of the
API's get-availability) and the reservations holding it, a page at a time.

Every role may look. A warehouse user limited to locations sees those locations and the
reservations held there only, and no location group (a group's sum would tell the stock of
locations they do not work at)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from openoms.adapters.db.session import Database
from openoms.console.auth import ANYONE, ORDER_DESK, Visitor, console_db, require_role
from openoms.console.paging import PAGE_SIZE, SearchInvalid, decode_cursor, encode_cursor
from openoms.console.render import page
from openoms.services.inventory import list_groups, list_locations
from openoms.services.views import sku_availability, sku_reservations

router = APIRouter(prefix="/console")
CURSOR_PREFIX = "rl_"


@router.get("/inventory", response_class=HTMLResponse, include_in_schema=False)
def inventory(
    request: Request,
    visitor: Annotated[Visitor, Depends(require_role(*ANYONE))],
    db: Annotated[Database, Depends(console_db)],
    sku: Annotated[str, Query(max_length=100)] = "",
    cursor: Annotated[str, Query(max_length=200)] = "",
    limit: Annotated[int, Query(ge=1, le=200)] = PAGE_SIZE,
) -> HTMLResponse:
    """`sku`'s availability and reservations (the reservation lines holding it now, `limit`
    a page)."""
    identity = visitor.identity
    sku = sku.strip()
    places: list[dict[str, Any]] = []
    groups: list[dict[str, Any]] = []
    held: list[dict[str, Any]] = []
    next_cursor = None
    error = ""
    if sku:
        with db.reading() as session:
            refs = [loc.ref for loc in list_locations(session) if identity.sees_location(loc.ref)]
            group_refs = (
                [g.ref for g, _ in list_groups(session)] if identity.locations is None else []
            )
            places, groups = sku_availability(
                session,
                sku,
                locations=refs,
                location_groups=group_refs,
                today=datetime.now(UTC).date(),
            )
            try:
                after = _line_id(cursor)
            except SearchInvalid as exc:
                error = str(exc)
            else:
                found = sku_reservations(
                    session,
                    sku,
                    locations=None if identity.locations is None else refs,
                    after_id=after,
                    limit=limit + 1,
                )
                held = found[:limit]
                if len(found) > limit:
                    next_cursor = encode_cursor(f"{CURSOR_PREFIX}{held[-1]['line_id']}")
    return page(
        request,
        "inventory.html",
        visitor,
        status_code=400 if error else 200,
        title=f"Inventory {sku}" if sku else "Inventory",
        sku=sku,
        places=places,
        groups=groups,
        held=held,
        next_cursor=next_cursor,
        first_page=not cursor,
        limit=limit if limit != PAGE_SIZE else "",
        error=error,
        limited=identity.locations is not None,
        sees_orders=identity.allows(*ORDER_DESK),
    )


def _line_id(cursor: str) -> int | None:
    value = decode_cursor(cursor, prefix=CURSOR_PREFIX)
    if value is None:
        return None
    number = value.removeprefix(CURSOR_PREFIX)
    if not number.isdigit() or len(number) > 18:
        raise SearchInvalid("The page link is broken; start the search again.")
    return int(number)

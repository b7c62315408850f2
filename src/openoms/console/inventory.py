"""Inventory: a SKU's availability at each location and location group (the figures of the
API's get-availability) and the reservations holding it, a page at a time; without a SKU,
the SKUs that have stock records, a page at a time.

Every role may look. A warehouse user limited to locations sees those locations and the
reservations held there only, and no location group (a group's sum would tell the stock of
locations they do not work at)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from openoms.console.auth import ANYONE, ORDER_DESK, Visitor, require_role
from openoms.console.paging import PAGE_SIZE, SearchInvalid, decode_cursor, encode_cursor
from openoms.console.params import Db, Text
from openoms.console.render import page
from openoms.services.access import ConsoleIdentity
from openoms.services.inventory import list_groups, list_locations
from openoms.services.views import known_skus, sku_availability, sku_reservations

router = APIRouter(prefix="/console")
LINE_PREFIX = "rl_"
SKU_PREFIX = "sku:"


@router.get("/inventory", response_class=HTMLResponse, include_in_schema=False)
def inventory(
    request: Request,
    visitor: Annotated[Visitor, Depends(require_role(*ANYONE))],
    db: Db,
    sku: Annotated[str, Query(max_length=100)] = "",
    cursor: Text = "",
    limit: Annotated[int, Query(ge=1, le=200)] = PAGE_SIZE,
) -> HTMLResponse:
    """`sku`'s availability and reservations (the reservation lines holding it now, `limit`
    a page); without one, the SKUs that have stock records, `limit` a page."""
    identity = visitor.identity
    sku = sku.strip()
    with db.reading() as session:
        try:
            if sku:
                shown = _sku(session, identity, sku, cursor, limit)
            else:
                shown = _skus(session, identity, cursor, limit)
        except SearchInvalid as exc:
            shown = {"error": str(exc)}
    return page(
        request,
        "inventory.html",
        visitor,
        status_code=400 if shown.get("error") else 200,
        title=f"Inventory {sku}" if sku else "Inventory",
        sku=sku,
        **{"skus": [], "places": [], "groups": [], "held": [], "next_cursor": None, **shown},
        first_page=not cursor,
        limit=limit if limit != PAGE_SIZE else "",
        limited=identity.locations is not None,
        sees_orders=identity.allows(*ORDER_DESK),
    )


def _skus(session: Session, identity: ConsoleIdentity, cursor: str, limit: int) -> dict[str, Any]:
    after = decode_cursor(cursor, prefix=SKU_PREFIX)
    found = known_skus(
        session,
        locations=None if identity.locations is None else _refs(session, identity),
        after=after.removeprefix(SKU_PREFIX) if after else None,
        limit=limit + 1,
    )
    skus = found[:limit]
    more = encode_cursor(f"{SKU_PREFIX}{skus[-1]}") if len(found) > limit else None
    return {"skus": skus, "next_cursor": more}


def _sku(
    session: Session, identity: ConsoleIdentity, sku: str, cursor: str, limit: int
) -> dict[str, Any]:
    after = _line_id(cursor)
    refs = _refs(session, identity)
    limited = identity.locations is not None
    places, groups = sku_availability(
        session,
        sku,
        locations=refs,
        location_groups=[] if limited else [g.ref for g, _ in list_groups(session)],
        today=datetime.now(UTC).date(),
    )
    found = sku_reservations(
        session, sku, locations=refs if limited else None, after_id=after, limit=limit + 1
    )
    held = found[:limit]
    more = encode_cursor(f"{LINE_PREFIX}{held[-1]['line_id']}") if len(found) > limit else None
    return {"places": places, "groups": groups, "held": held, "next_cursor": more}


def _refs(session: Session, identity: ConsoleIdentity) -> list[str]:
    """The refs of the locations the user sees (every one unless limited)."""
    return [loc.ref for loc in list_locations(session) if identity.sees_location(loc.ref)]


def _line_id(cursor: str) -> int | None:
    value = decode_cursor(cursor, prefix=LINE_PREFIX)
    if value is None:
        return None
    number = value.removeprefix(LINE_PREFIX)
    if not number.isdigit() or len(number) > 18:
        raise SearchInvalid("The page link is broken; start the search again.")
    return int(number)

"""The event catalog (`openoms.schemas.events`): every event type with its version,
aggregate, when it fires and its payload's JSON Schema. Catalog data: any valid key may
read it, whatever its scope or channels."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from openoms.api.auth import require_scope
from openoms.api.errors import PROBLEM_JSON
from openoms.schemas.events import EVENT_TYPES, EventTypeList, EventTypeOut
from openoms.services.access import Principal

router = APIRouter(prefix="/api/v1", tags=["events"])

PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": {PROBLEM_JSON: {}}}
    for status, text in {
        401: "No valid API key.",
    }.items()
}

AnyKey = Annotated[Principal, Depends(require_scope())]

CATALOG = EventTypeList(items=[EventTypeOut.of(t) for t in EVENT_TYPES])


@router.get("/event-types", response_model=EventTypeList, responses=PROBLEMS)
def list_event_types(_: AnyKey) -> EventTypeList:
    """Every event type openoms records to its outbox (and so sends to its consumers), sorted
    by name: name, version, aggregate type, when it fires and the JSON Schema of its
    payload. Money in payloads is a decimal string, except refunds' `amount` in minor
    units. See docs/events.md."""
    return CATALOG

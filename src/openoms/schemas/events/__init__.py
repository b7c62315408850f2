"""The event catalog: every event openoms writes to its outbox, declared once.

Each `EventType` names an event, its version, the aggregate it belongs to, when it fires
and a pydantic model of its JSON payload exactly as the services write it (field names,
types, optional and nullable fields). The services build their payloads as plain dicts and
never import this package (an import contract forbids it): the catalog describes them,
and tests/integration/platform/test_event_catalog.py checks that what real flows store
validates against it.

Money in payloads comes in two forms, as the code writes it: `Amount` is the API's decimal
string in the order's currency ("20.55", "-5.00"); `MinorUnits` is an integer count of the
currency's minor units (refund events only). Quantities are whole units.

Fixed payloads forbid unknown fields (`extra="forbid"`) and are strict (an integer is not
a string), so a renamed, missing or retyped field fails validation. A field marked
"only when …" is absent otherwise (not null). `docs/events.md` is generated from this
package: `python scripts/events_doc.py`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from openoms.schemas.events import (
    exceptions,
    finance,
    flows,
    fulfillment,
    inventory,
    orders,
    payments,
    returns,
    webhooks,
)
from openoms.schemas.events.base import AMOUNT_PATTERN, TIMESTAMP_PATTERN, EventPayload, EventType
from openoms.schemas.events.orders import OrderSummaryCreated

EVENT_TYPES: tuple[EventType, ...] = tuple(
    sorted(
        [
            *orders.TYPES,
            *inventory.TYPES,
            *fulfillment.TYPES,
            *finance.TYPES,
            *flows.TYPES,
            *payments.TYPES,
            *returns.TYPES,
            *exceptions.TYPES,
            *webhooks.TYPES,
        ],
        key=lambda t: t.name,
    )
)

BY_NAME: dict[str, EventType] = {t.name: t for t in EVENT_TYPES}


# --- the API's answer ---------------------------------------------------------------------


class EventTypeOut(BaseModel):
    """One event type of the catalog."""

    name: str = Field(description="The event's name, `area.verb_past`.")
    version: int = Field(description="The payload's version.")
    aggregate_type: str = Field(description="The kind of object the event is about.")
    description: str = Field(description="When the event fires.")
    payload_schema: dict[str, Any] = Field(description="The payload's JSON Schema.")

    @classmethod
    def of(cls, event_type: EventType) -> EventTypeOut:
        return cls(
            name=event_type.name,
            version=event_type.version,
            aggregate_type=event_type.aggregate_type,
            description=event_type.description,
            payload_schema=event_type.payload.model_json_schema(),
        )


class EventTypeList(BaseModel):
    """Every event type openoms records to its outbox, sorted by name."""

    items: list[EventTypeOut]


__all__ = [
    "AMOUNT_PATTERN",
    "BY_NAME",
    "EVENT_TYPES",
    "TIMESTAMP_PATTERN",
    "EventPayload",
    "EventType",
    "EventTypeList",
    "EventTypeOut",
    "OrderSummaryCreated",
]

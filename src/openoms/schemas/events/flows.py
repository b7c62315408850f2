"""The events of automation flows: payload models and declarations."""

from __future__ import annotations

from pydantic import Field

from openoms.schemas.events.base import EventPayload, EventType


class FlowUpserted(EventPayload):
    flow_id: str
    ref: str
    version: int = Field(description="The version this PUT stored (1 for a new flow).")
    trigger: str
    enabled: bool
    created: bool = Field(description="True when this PUT created the flow.")


TYPES: tuple[EventType, ...] = (
    EventType(
        "flow.upserted",
        "flow",
        FlowUpserted,
        "An automation flow was stored as a new version (PUT /api/v1/flows/{ref}).",
    ),
)

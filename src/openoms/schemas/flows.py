"""Automation flows on the wire (docs/flows.md), and the trigger catalog flows are checked
against: every event type of `openoms.schemas.events`, with the JSON Schema of the event as
delivered."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel, Field

from openoms.domain.flows import envelope_schema
from openoms.schemas.common import Payload
from openoms.schemas.events import EVENT_TYPES
from openoms.services.flows import FlowDocument, TriggerCatalog, TriggerSpec


@cache
def trigger_catalog() -> TriggerCatalog:
    """Every event type a flow may run on, built once from the event catalog."""
    catalog = {}
    for event_type in EVENT_TYPES:
        payload = event_type.payload.model_json_schema()
        catalog[event_type.name] = TriggerSpec(
            version=event_type.version,
            schema=envelope_schema(payload),
            order_bound="order_summary_id" in payload.get("properties", {}),
        )
    return catalog


class FlowIn(Payload):
    """A flow: on each event of `trigger` that matches `when`, apply `actions` in order."""

    description: str | None = Field(default=None, max_length=2000)
    trigger: str = Field(
        description="An event type of the catalog (GET /api/v1/event-types).",
        examples=["order_summary.created"],
    )
    when: dict[str, Any] | None = Field(
        default=None,
        description="The condition: `all` / `any` / `not` over `{field, op, value}`, fields "
        "being dotted paths into the event as delivered (`data.totals.grand_total`); ops eq "
        "ne gt ge lt le in not_in contains exists. Null: every event matches.",
        examples=[{"all": [{"field": "data.totals.grand_total", "op": "gt", "value": "100.00"}]}],
    )
    actions: list[Any] = Field(
        description="What to do, in order: objects with a `type` (hold, release_hold, "
        "raise_exception, add_note, set_routing_strategy, cancel_order, ensure_refunds) and "
        "its parameters (docs/flows.md).",
        examples=[[{"type": "hold", "reason": "manual review over 100"}]],
    )
    enabled: bool = Field(default=True, description="A disabled flow runs on nothing.")

    def to_document(self) -> FlowDocument:
        return FlowDocument(
            trigger=self.trigger,
            actions=list(self.actions),
            when=self.when,
            enabled=self.enabled,
            description=self.description,
        )


class FlowVersionOut(BaseModel):
    """One stored version of a flow: what its PUT said, actions with their defaults."""

    version: int
    description: str | None
    trigger: str
    when: dict[str, Any] | None
    actions: list[dict[str, Any]]
    enabled: bool
    stored_at: str


class FlowOut(FlowVersionOut):
    """A flow with its current version."""

    id: str
    ref: str
    created_at: str
    updated_at: str


class FlowDetail(FlowOut):
    """A flow, its current version and every version stored, newest first."""

    versions: list[FlowVersionOut]


class FlowList(BaseModel):
    items: list[FlowOut] = Field(description="Every flow by ref, with its current version.")


class FlowRunOut(BaseModel):
    """A flow's run on one event: the version that ran, matched or not, what was done."""

    id: int
    flow: str
    version: int
    event_id: str
    event_type: str
    order_summary_id: str | None
    matched: bool
    status: str = Field(description="not_matched, succeeded, failed (retried) or canceled.")
    actions_done: list[dict[str, Any]] = Field(
        description="Each action applied: its index, type and result."
    )
    errors: list[dict[str, Any]] = Field(
        description="Each failure: the action's index and type, the error, when."
    )
    attempts: int
    created_at: str
    updated_at: str


class FlowRunPage(BaseModel):
    items: list[FlowRunOut] = Field(description="Newest first.")
    next_cursor: str | None


class FlowTestIn(Payload):
    """The event to try the flow on: `event_id`, or an order and a trigger (default the
    flow's), meaning the order's latest event of that type."""

    event_id: str | None = None
    order_summary_id: str | None = None
    trigger: str | None = None


class FlowTestOut(BaseModel):
    """What the flow's current version would do on the event; nothing was changed."""

    flow: str
    version: int
    enabled: bool
    event: dict[str, Any] = Field(description="The event as a flow receives it.")
    matched: bool
    actions: list[dict[str, Any]] = Field(description="What it would apply (none unless matched).")
    already_ran: bool = Field(description="Whether the flow has run on this event.")

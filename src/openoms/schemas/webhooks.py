"""Webhook endpoints and their delivery log on the wire. An endpoint's secret appears only
in the answers of create and rotate-secret."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from openoms.schemas.common import Identifier, IsoDateTime, Payload

Url = Annotated[
    str, Field(min_length=1, max_length=2000, examples=["https://erp.example.com/hooks"])
]
EVENT_TYPES_HELP = (
    "Event types to send (names from `GET /api/v1/event-types`); leave out or null for every event."
)
CHANNELS_HELP = (
    "Send only events of orders from these channels; leave out or null for every channel "
    "(and events of no order)."
)


class WebhookEndpointCreate(Payload):
    """A receiver to send events to: an http(s) URL on a public address (loopback, private
    and link-local targets are refused unless OPENOMS_WEBHOOK_ALLOW_PRIVATE=true)."""

    url: Url
    event_types: list[Identifier] | None = Field(default=None, description=EVENT_TYPES_HELP)
    channels: list[Identifier] | None = Field(default=None, description=CHANNELS_HELP)
    description: str = Field(default="", max_length=500)


class WebhookEndpointUpdate(Payload):
    """Fields to change; those left out keep their value. `enabled: true` on a disabled
    endpoint clears its failure record (replay what failed meanwhile)."""

    url: Url | None = None
    event_types: list[Identifier] | None = Field(default=None, description=EVENT_TYPES_HELP)
    channels: list[Identifier] | None = Field(default=None, description=CHANNELS_HELP)
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = None


class WebhookEndpointOut(BaseModel):
    """An endpoint as listed: never its secret."""

    id: str
    url: str
    description: str
    event_types: list[str] | None = Field(description="null: every event.")
    channels: list[str] | None = Field(description="null: every channel.")
    enabled: bool
    disabled_reason: str | None = Field(
        description="Why it is disabled (410, 5 days failing, an admin)."
    )
    failing_since: str | None = Field(
        description="The first failed attempt since the last success."
    )
    previous_secret_until: str | None = Field(
        description="After a rotation: until when the previous secret also signs."
    )
    created_at: str
    updated_at: str


class WebhookEndpointWithSecret(WebhookEndpointOut):
    """The endpoint with its signing secret (create and rotate-secret only)."""

    secret: str | None = Field(
        description="`whsec_…`: verify signatures with it (Standard Webhooks). Shown in this "
        "answer only: null when an Idempotency-Key retry replays it (rotate to get a new one)."
    )


class WebhookEndpointList(BaseModel):
    items: list[WebhookEndpointOut] = Field(description="Oldest first.")


class WebhookAttemptOut(BaseModel):
    """One HTTP attempt of a delivery."""

    attempted_at: str | None
    status_code: int | None = Field(description="null: no answer (see `error`).")
    latency_ms: int
    response_body: str | None = Field(description="The first 1 kB of the answer.")
    error: str | None


class WebhookDeliveryOut(BaseModel):
    """One event for one endpoint, with every attempt."""

    id: int
    endpoint_id: str
    event_id: str
    event_type: str
    webhook_id: str = Field(description="The `webhook-id` header: the same on every retry.")
    order_summary_id: str | None
    status: str = Field(description="pending, succeeded or failed.")
    attempt_count: int
    next_attempt_at: str | None
    last_status_code: int | None
    last_error: str | None
    created_at: str | None
    completed_at: str | None
    attempts: list[WebhookAttemptOut] = Field(description="Oldest first.")


class WebhookDeliveryPage(BaseModel):
    items: list[WebhookDeliveryOut] = Field(description="Newest first.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class WebhookReplay(Payload):
    """Send again every failed delivery of the endpoint created at or after `since`."""

    since: IsoDateTime = Field(examples=["2026-12-01T00:00:00Z"])


class WebhookReplayed(BaseModel):
    replayed: int = Field(description="How many failed deliveries were queued again.")
    delivery_ids: list[int]

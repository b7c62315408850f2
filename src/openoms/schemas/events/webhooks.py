"""The events of webhooks: payload models and declarations."""

from __future__ import annotations

from openoms.schemas.events.base import EventPayload, EventType


class WebhookTest(EventPayload):
    webhook_endpoint_id: str
    message: str


class WebhookEndpointDisabled(EventPayload):
    webhook_endpoint_id: str
    url: str
    reason: str


TYPES: tuple[EventType, ...] = (
    EventType(
        "webhook.test",
        "webhook_endpoint",
        WebhookTest,
        "An admin sent a test event to one webhook endpoint (it goes to that endpoint only).",
    ),
    EventType(
        "webhook_endpoint.disabled",
        "webhook_endpoint",
        WebhookEndpointDisabled,
        "openoms gave up on a webhook endpoint: it answered 410, or failed every attempt for "
        "5 days.",
    ),
)

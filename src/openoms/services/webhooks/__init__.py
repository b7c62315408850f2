"""Webhooks: endpoints that receive every event (or the types and channels they pick),
signed to the Standard Webhooks spec, retried on a schedule, in order per order, with a
delivery log, retry, replay and purge (docs/webhooks.md). This area knows only exceptions
below it: events reach it through its outbox consumer, sends run as jobs.

This is the area's face: other areas, the API, the CLI and the worker import only these
names.
"""

from openoms.services.webhooks.endpoints import (
    UNSET,
    EndpointChanges,
    check_url,
    create_endpoint,
    delete_endpoint,
    endpoint_view,
    get_endpoint,
    list_endpoints,
    rotate_secret,
    update_endpoint,
)
from openoms.services.webhooks.fanout import (
    TEST_EVENT,
    WEBHOOK_CONSUMER,
    WEBHOOK_JOB,
    send_event_to_endpoint,
    send_test,
    webhook_consumer,
)
from openoms.services.webhooks.log import (
    DELIVERY_STATUSES,
    delivery_views,
    get_delivery,
    list_deliveries,
    purge_deliveries,
    replay_failed,
    retry_delivery,
)
from openoms.services.webhooks.sending import WebhookSender
from openoms.services.webhooks.settings import WebhookSettings

__all__ = [
    "DELIVERY_STATUSES",
    "TEST_EVENT",
    "UNSET",
    "WEBHOOK_CONSUMER",
    "WEBHOOK_JOB",
    "EndpointChanges",
    "WebhookSender",
    "WebhookSettings",
    "check_url",
    "create_endpoint",
    "delete_endpoint",
    "delivery_views",
    "endpoint_view",
    "get_delivery",
    "get_endpoint",
    "list_deliveries",
    "list_endpoints",
    "purge_deliveries",
    "replay_failed",
    "retry_delivery",
    "rotate_secret",
    "send_event_to_endpoint",
    "send_test",
    "update_endpoint",
    "webhook_consumer",
]

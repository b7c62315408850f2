"""Channel adapters: a channel's platform (Shopify), its webhook inbox, the processing of
each delivery (orders captured, cancelled, refunds recorded) and the sync back of
shipments and cancellations through the channel's connector (docs/channels.md).

This area sits on top of the layers: it captures through `orders`, cancels through
`service_actions` and raises through `exceptions`; nothing below imports it.

This is the area's face: the API, the CLI and the worker import only these names.
"""

from openoms.services.channels.inbox import (
    INBOX_JOB,
    Received,
    ShopifyDelivery,
    WebhookDeliveryInvalid,
    WebhookUnauthenticated,
    receive_shopify,
)
from openoms.services.channels.processing import (
    inbox_job,
    process_delivery,
)
from openoms.services.channels.settings import (
    AdapterInvalid,
    AdapterSettings,
    adapter_view,
    set_adapter,
)
from openoms.services.channels.sync import (
    SYNC_JOB,
    sync_consumer,
    sync_job,
)

__all__ = [
    "INBOX_JOB",
    "SYNC_JOB",
    "AdapterInvalid",
    "AdapterSettings",
    "Received",
    "ShopifyDelivery",
    "WebhookDeliveryInvalid",
    "WebhookUnauthenticated",
    "adapter_view",
    "inbox_job",
    "process_delivery",
    "receive_shopify",
    "set_adapter",
    "sync_consumer",
    "sync_job",
]

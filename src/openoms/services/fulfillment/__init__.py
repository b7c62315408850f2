"""Fulfillment: fulfillment orders through their lifecycle (assign, pick, pack, cancel,
reject), shipping them, and buying carrier labels. A rejection is an event; routing and
reships react to it (worker/consumers.py).

This is the area's face: other areas, the API, the CLI and the worker import only these
names.
"""

from openoms.services.fulfillment.cancel import (
    cancel_lines,
)
from openoms.services.fulfillment.fulfillment import (
    CancelExceedsUnshipped,
    FulfillmentLineUnknown,
    FulfillmentOrderNotFound,
    FulfillmentStatusInvalid,
    fulfillment_order_views,
    get_fulfillment_order,
    list_fulfillment_orders,
)
from openoms.services.fulfillment.labels import (
    LabelAttempt,
    LabelOutcome,
    label_job,
    raise_carrier_exception,
    refresh_tracking,
    request_label,
)
from openoms.services.fulfillment.reject import (
    reject,
)
from openoms.services.fulfillment.shipping import (
    LABEL_GRACE,
    LABEL_JOB,
    ShipmentExceedsFulfillmentOrder,
    get_shipment,
    mark_delivered,
    ship,
    shipment_view,
    shipments_of,
    track_shipment,
)
from openoms.services.fulfillment.status import (
    change_status,
    walk_status,
)

__all__ = [
    "LABEL_GRACE",
    "LABEL_JOB",
    "CancelExceedsUnshipped",
    "FulfillmentLineUnknown",
    "FulfillmentOrderNotFound",
    "FulfillmentStatusInvalid",
    "LabelAttempt",
    "LabelOutcome",
    "ShipmentExceedsFulfillmentOrder",
    "cancel_lines",
    "change_status",
    "fulfillment_order_views",
    "get_fulfillment_order",
    "get_shipment",
    "label_job",
    "list_fulfillment_orders",
    "mark_delivered",
    "raise_carrier_exception",
    "refresh_tracking",
    "reject",
    "request_label",
    "ship",
    "shipment_view",
    "shipments_of",
    "track_shipment",
    "walk_status",
]

"""The events of fulfillment orders and shipments: payload models and declarations."""

from __future__ import annotations

from pydantic import Field

from openoms.schemas.events.base import EventPayload, EventType, FulfillmentOrderLine, Quantity

# Who acted, when a person or an API key did (routing and the worker record none).
BY = Field(
    default=None,
    description="Who did it: `api_key:<id>` through the API, `user:<email>` in the console.",
)


class FulfillmentOrderCreated(EventPayload):
    fulfillment_order_id: str
    order_summary_id: str
    delivery_group_summary_id: str
    delivery_group: str
    location_id: str
    location: str = Field(description="The location's ref.")
    status: str
    status_category: str
    routing_round: int
    reservation_id: str | None
    lines: list[FulfillmentOrderLine]


class FulfillmentOrderStatusChanged(EventPayload):
    fulfillment_order_id: str
    location_id: str
    from_: str = Field(alias="from")
    to: str
    by: str | None = BY


class FulfillmentOrderLinesCanceled(EventPayload):
    fulfillment_order_id: str
    location_id: str
    lines: list[FulfillmentOrderLine]


class FulfillmentOrderRejected(EventPayload):
    fulfillment_order_id: str
    location_id: str
    reason: str
    lines: list[FulfillmentOrderLine] = Field(description="The open lines given back.")
    by: str | None = BY


class ShippedItem(EventPayload):
    fulfillment_order_line_item_id: str
    order_item_summary_id: str
    sku: str
    quantity: Quantity


class FulfillmentOrderShipped(EventPayload):
    fulfillment_order_id: str
    location_id: str
    shipment_id: str
    carrier: str
    service: str | None
    complete: bool = Field(description="True when every line of the order has shipped.")
    items: list[ShippedItem]
    by: str | None = BY


class ShipmentLabelCreated(EventPayload):
    shipment_id: str
    fulfillment_order_id: str
    carrier: str
    service: str | None
    tracking_number: str
    label_url: str | None


class ShipmentTracked(EventPayload):
    shipment_id: str
    fulfillment_order_id: str
    from_: str = Field(alias="from")
    to: str
    tracking_number: str | None


TYPES: tuple[EventType, ...] = (
    EventType(
        "fulfillment_order.created",
        "fulfillment_order",
        FulfillmentOrderCreated,
        "Routing (or a reship) allocated units to a location as a new fulfillment order.",
    ),
    EventType(
        "fulfillment_order.lines_canceled",
        "fulfillment_order",
        FulfillmentOrderLinesCanceled,
        "Unshipped units of a fulfillment order were canceled.",
    ),
    EventType(
        "fulfillment_order.rejected",
        "fulfillment_order",
        FulfillmentOrderRejected,
        "A location rejected a fulfillment order; its open units go back to routing.",
    ),
    EventType(
        "fulfillment_order.shipped",
        "fulfillment_order",
        FulfillmentOrderShipped,
        "Units of a fulfillment order were shipped as a new shipment.",
    ),
    EventType(
        "fulfillment_order.status_changed",
        "fulfillment_order",
        FulfillmentOrderStatusChanged,
        "A fulfillment order moved from one status to another.",
    ),
    EventType(
        "shipment.delivered",
        "shipment",
        ShipmentTracked,
        "The carrier (or store) reported a shipment delivered.",
    ),
    EventType(
        "shipment.in_transit",
        "shipment",
        ShipmentTracked,
        "The carrier reported a shipment in transit.",
    ),
    EventType(
        "shipment.label_created",
        "shipment",
        ShipmentLabelCreated,
        "A carrier label (tracking number) was stored for a shipment.",
    ),
)

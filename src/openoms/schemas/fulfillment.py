"""Fulfillment order and shipment payloads and bodies (DESIGN.md §12). Structure is checked
here (422); business rules (positive quantities, what is left to ship or cancel, legal
status moves) by the services (400/409)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from openoms.schemas.common import Identifier, Payload, Quantity

Sku = Annotated[Identifier, Field(min_length=1, max_length=100)]
Name = Annotated[Identifier, Field(min_length=1, max_length=50)]
MAX_ITEMS = 500


# --- payloads -----------------------------------------------------------------------------


class CancelLineIn(Payload):
    id: Identifier | None = Field(
        default=None, max_length=40, description="Fulfillment order line id."
    )
    sku: Sku | None = Field(
        default=None, description="Or the SKU, when the fulfillment order has one line of it."
    )
    quantity: Quantity = Field(description="Unshipped units to cancel; a positive whole number.")

    @model_validator(mode="after")
    def _one_key(self) -> CancelLineIn:
        if (self.id is None) == (self.sku is None):
            raise ValueError("give exactly one of id or sku")
        return self


class FulfillmentOrderCancelLines(Payload):
    """Cancel unshipped units: they go back to the item's available-to-fulfil and the
    reservation releases them at the location."""

    items: list[CancelLineIn] = Field(min_length=1, max_length=MAX_ITEMS)


class FulfillmentOrderReject(Payload):
    """The location cannot fulfil this order; it is routed again elsewhere."""

    reason: str = Field(min_length=1, max_length=500)


class ShipItemIn(Payload):
    sku: Sku
    quantity: Quantity = Field(description="Units shipped; a positive whole number.")


class ShipmentCreate(Payload):
    """Ship part of a fulfillment order (`items`) or, without items, everything left.
    The carrier is chosen by the configured rules unless `carrier` names one."""

    items: list[ShipItemIn] | None = Field(default=None, min_length=1, max_length=MAX_ITEMS)
    carrier: Name | None = Field(default=None, description="A registered carrier's name.")
    service: Name | None = Field(default=None, description="Service level to ask the carrier.")

    @model_validator(mode="after")
    def _service_needs_carrier(self) -> ShipmentCreate:
        if self.service is not None and self.carrier is None:
            raise ValueError("service is chosen with carrier; give both or neither")
        return self


class TrackingUpdate(Payload):
    """A carrier's (or store's) report of where the parcel is. Idempotent."""

    status: Literal["IN_TRANSIT", "DELIVERED"]


# --- bodies -------------------------------------------------------------------------------


class ShipmentItemOut(BaseModel):
    sku: str
    quantity: int
    order_item_summary_id: str
    fulfillment_order_line_item_id: str


class ShipmentOut(BaseModel):
    id: str
    fulfillment_order_id: str
    order_summary_id: str
    status: str = Field(
        description="LABEL_PENDING (carrier not yet answered), SHIPPED, IN_TRANSIT, "
        "DELIVERED or CANCELED."
    )
    carrier: str
    service: str | None
    tracking_number: str | None = Field(description="Set once the carrier issued the label.")
    label_url: str | None
    items: list[ShipmentItemOut]
    created_at: str
    updated_at: str
    label_error: str | None = Field(
        default=None,
        description="Only on the ship answer: why the carrier refused the label (a carrier "
        "process exception is open).",
    )


class FulfillmentOrderLineOut(BaseModel):
    id: str
    order_item_summary_id: str
    sku: str
    original_quantity: int
    quantity: int = Field(description="Original quantity less canceled.")
    shipped: int
    canceled: int
    unshipped: int = Field(description="Left to ship: quantity less shipped.")


class FulfillmentOrderOut(BaseModel):
    id: str
    order_summary_id: str
    delivery_group_summary_id: str
    delivery_group: str | None = Field(description="Ref of the delivery group.")
    location: str | None = Field(description="Ref of the location that fulfils it.")
    status: str = Field(
        description="DRAFT, ALLOCATED, ASSIGNED, PICK_COMPLETE, PACK_COMPLETE, FULFILLED, "
        "CANCELED or REJECTED."
    )
    status_category: str
    routing_round: int
    reason: str | None
    reservation_id: str | None
    lines: list[FulfillmentOrderLineOut]
    shipments: list[ShipmentOut]
    created_at: str
    updated_at: str


class FulfillmentOrderPage(BaseModel):
    items: list[FulfillmentOrderOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")

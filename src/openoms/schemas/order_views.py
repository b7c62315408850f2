"""Response schemas of order summaries, for validation of what we send and for /docs."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from openoms.schemas.finance import DocumentOut


class TotalsOut(BaseModel):
    product: str = Field(description="Σ quantity × unit_price of product items.")
    delivery: str = Field(description="Σ delivery charges.")
    adjustments: str = Field(description="Σ line and order-level adjustments (negative).")
    tax: str
    grand_total: str = Field(description="product + delivery + adjustments + tax.")


class CustomerOut(BaseModel):
    name: str
    email: str | None


class ChargeOut(BaseModel):
    amount: str
    tax: str


class DeliveryGroupOut(BaseModel):
    id: str
    ref: str
    method: str
    service: str | None
    pickup_location: str | None
    recipient: dict[str, Any] | None
    delivery_charge: ChargeOut


class ItemSummaryOut(BaseModel):
    """An OrderItemSummary: its counters, the quantities derived from them, and its status."""

    id: str
    type: str = Field(description="product or delivery_charge")
    sku: str
    name: str | None
    delivery_group: str
    status: str
    unit_price: str
    total_price: str
    adjustments: str
    tax: str
    total: str
    quantity_ordered: int
    quantity_canceled: int
    quantity_returned: int
    quantity_return_initiated: int
    quantity_allocated: int
    quantity_fulfilled: int
    quantity_reshipped: int
    quantity: int = Field(description="ordered − (canceled + returned)")
    quantity_net_ordered: int = Field(description="ordered − canceled")
    quantity_available_to_fulfill: int = Field(description="ordered − (canceled + allocated)")
    quantity_available_to_cancel: int = Field(description="= available_to_fulfill")
    quantity_available_to_return: int = Field(description="fulfilled − return_initiated")
    quantity_available_to_reship: int = Field(
        description="fulfilled − (reshipped + return_initiated)"
    )


class AuthorizationOut(BaseModel):
    id: str
    amount: str
    status: str
    gateway_reference: str | None


class PaymentSummaryOut(BaseModel):
    id: str
    gateway: str
    method: str = Field(description="Masked payment method; the token itself is never shown.")
    authorized: str
    captured: str
    refunded: str
    reversed: str
    pending_capture: str
    pending_refund: str
    available_to_capture: str
    available_to_refund: str
    authorizations: list[AuthorizationOut]


class EventOut(BaseModel):
    id: str
    name: str
    occurred_at: str
    payload: dict[str, Any]


class OrderSummaryBrief(BaseModel):
    id: str
    status: str = Field(
        description="Derived: CREATED, WAITING_TO_FULFILL, PARTIALLY_FULFILLED, FULFILLED, "
        "CANCELED or CLOSED."
    )
    lifecycle: str
    channel: str
    external_reference: str
    currency: str
    ordered_at: str
    customer: CustomerOut
    totals: TotalsOut
    routing_attempts: int
    active_process_exception_count: int
    created_at: str


class HoldOut(BaseModel):
    """A hold on the order: while one is active (`released_at` null), routing waits."""

    id: str
    reason: str
    held_by: str = Field(description="Who placed it: `api_key:<id>`, `flow:<ref>`, ….")
    held_at: str
    released_at: str | None = Field(description="Null while the hold is active.")
    released_by: str | None
    release_reason: str | None


class OrderSummaryOut(OrderSummaryBrief):
    """The living view of an order: the original plus every change order."""

    delivery_groups: list[DeliveryGroupOut]
    items: list[ItemSummaryOut]
    fulfillment_orders: list[dict[str, Any]]
    payment_summaries: list[PaymentSummaryOut]
    change_orders: list[dict[str, Any]] = Field(
        description="Every cancel, return, discount or addition, oldest first, signed."
    )
    invoices: list[DocumentOut]
    credit_memos: list[DocumentOut]
    return_orders: list[dict[str, Any]]
    process_exceptions: list[dict[str, Any]]
    on_hold: bool = Field(description="True while any hold is active: routing waits.")
    holds: list[HoldOut] = Field(description="Every hold, active or released, oldest first.")
    events: list[EventOut]


class OrderSummaryPage(BaseModel):
    items: list[OrderSummaryBrief]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )

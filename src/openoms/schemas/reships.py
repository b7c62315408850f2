"""Payloads and answers of reship and exchange (DESIGN.md §9). Structure is checked here
(422); whether the units are available and the amounts allowed is the domain's business
(409/400 with a stable code)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from openoms.schemas.common import (
    LAX,
    UNSIGNED_AMOUNT_PATTERN,
    Identifier,
    Payload,
    Quantity,
    Text,
)
from openoms.schemas.service_actions import ChangeOrderOut, ItemChangeIn
from openoms.services.service_actions import ReshipReason

Amount = Annotated[
    str,
    Field(
        pattern=UNSIGNED_AMOUNT_PATTERN,
        description='Decimal string in the order\'s currency, e.g. "12.34" (not negative).',
        examples=["12.34"],
    ),
]


# --- reship -------------------------------------------------------------------------------


class ReshipIn(Payload):
    """Units to send again at no charge, and why."""

    items: list[ItemChangeIn] = Field(min_length=1, max_length=500)
    reason: Annotated[ReshipReason, LAX] = Field(
        description="lost_in_transit, damaged, wrong_item or other (details in `note`)."
    )
    note: str | None = Field(default=None, max_length=500, description="Free text for people.")


class ReshipLineOut(BaseModel):
    order_item_summary_id: str
    sku: str
    quantity: int
    reason: str | None


class ReshipOut(BaseModel):
    """What the reship did (submit) or would do (preview): the units reshipped, and the
    order summary after it. The replacement fulfillment orders are made by the routing job
    queued with it (`fulfillment_orders` of type reship on the summary once it ran)."""

    order_summary_id: str
    preview: bool
    reship_id: str | None = Field(description="Null in a preview.")
    reason: str
    note: str | None
    items: list[ReshipLineOut]
    messages: list[str] = Field(default_factory=list)
    order_summary: dict[str, Any]


# --- exchange -----------------------------------------------------------------------------


class ExchangeNewItemIn(Payload):
    sku: Identifier = Field(min_length=1, max_length=100)
    quantity: Quantity = Field(description="Units, a positive whole number.")
    unit_price: Amount
    tax: Amount = Field(default="0", description="Tax for the whole line.")
    name: Text | None = Field(default=None, max_length=300)
    delivery_group: Identifier | None = Field(
        default=None,
        max_length=100,
        description="Ref of the delivery group; default the first returned item's group.",
    )


class ExchangeIn(Payload):
    """Items coming back and the items sent instead, in one action."""

    return_items: list[ItemChangeIn] = Field(min_length=1, max_length=500)
    new_items: list[ExchangeNewItemIn] = Field(min_length=1, max_length=100)
    reason: str | None = Field(default=None, max_length=500)
    expected_location: Identifier | None = Field(
        default=None, max_length=100, description="Ref of the location the return goes to."
    )


class ExchangeOut(BaseModel):
    """What the exchange did (submit) or would do (preview): its return order, the change
    order adding the new items, the money each way, and the order summary after it."""

    order_summary_id: str
    preview: bool
    return_order_id: str | None = Field(description="Null in a preview.")
    change_orders: list[ChangeOrderOut]
    new_items: list[dict[str, Any]]
    returned_value: str = Field(description="What the returned units will be credited.")
    new_items_total: str = Field(description="What the new items cost.")
    difference: str = Field(
        description="new_items_total − returned_value: positive is captured when the new "
        "items ship, negative refunded once the return is received and the new items "
        "are invoiced (estimate: the credit is worked out at receipt)."
    )
    messages: list[str] = Field(default_factory=list)
    order_summary: dict[str, Any]

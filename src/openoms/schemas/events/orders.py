"""The events of order summaries: payload models and declarations."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from openoms.schemas.events.base import (
    Amount,
    EventPayload,
    EventType,
    ItemLine,
    Quantity,
    SkuQuantity,
    StatusMove,
    Timestamp,
)


class BackorderedLine(EventPayload):
    delivery_group: str
    sku: str
    quantity: Quantity


class OrderTotals(EventPayload):
    """The order's totals at capture, named as in the order summary view."""

    product: Amount = Field(description="The products' prices.")
    delivery: Amount = Field(description="The delivery charges.")
    adjustments: Amount = Field(description="Discounts and other adjustments (negative).")
    tax: Amount = Field(description="Tax on all of the above.")
    grand_total: Amount


class OrderSummaryCreated(EventPayload):
    order_summary_id: str
    channel: str
    external_reference: str
    lifecycle: str = Field(description="`MANAGED` or `UNMANAGED`.")
    currency: str
    grand_total: Amount
    totals: OrderTotals
    delivery_groups: list[str] = Field(description="The delivery groups' refs.")
    reservations: dict[str, str] = Field(
        description="Delivery group ref → the id of the reservation made for it at capture."
    )
    backordered: list[BackorderedLine]


class OrderSummaryNoteAdded(EventPayload):
    order_summary_id: str
    note: str
    author: str = Field(description="Who wrote it: `flow:<ref>` for an automation flow.")


class OrderSummaryRoutingStrategySet(EventPayload):
    order_summary_id: str
    strategy: str = Field(description="The routing strategy this order's routing uses.")
    previous: str | None = Field(description="The order's override before; null: none.")
    set_by: str = Field(description="Who set it: `flow:<ref>` for an automation flow.")


class OrderSummaryStatusChanged(StatusMove):
    """`from` and `to` are order summary statuses."""


class ChangeLinePayload(EventPayload):
    order_item_summary_id: str
    sku: str
    quantity: int = Field(description="Signed: negative for a cancel or return.")
    total: Amount


class OrderSummaryChanged(EventPayload):
    order_summary_id: str
    change_order_id: str
    change_kind: Literal["cancel", "return", "adjust", "add"]
    reason: str
    stage: str | None = Field(description="A discount's part (pre_fulfillment, …); else null.")
    grand_total: Amount = Field(description="The change order's total (signed).")
    credit_memo_id: str | None
    lines: list[ChangeLinePayload]
    requested_by: str | None = Field(
        default=None,
        description="Cancels, discounts, returns and exchanges: who asked (`api_key:<id>`, "
        "or `user:<email>` from the console).",
    )


class OrderSummaryRouted(EventPayload):
    order_summary_id: str
    delivery_group_summary_id: str
    delivery_group: str
    routing_round: int
    strategy: str
    reason: str
    fulfillment_order_ids: list[str]
    status: str = Field(description="The order summary's status.")


class OrderSummaryPartiallyRouted(OrderSummaryRouted):
    waiting: list[SkuQuantity] = Field(description="Units left unplaced, by SKU.")


class OrderSummaryRerouteRequested(EventPayload):
    order_summary_id: str
    delivery_group_summary_id: str
    rejected_fulfillment_order_id: str
    location_id: str
    routing_round: int
    reason: str


class ExchangeNewItem(EventPayload):
    order_item_summary_id: str
    sku: str
    quantity: Quantity
    delivery_group: str


class OrderSummaryExchanged(EventPayload):
    order_summary_id: str
    return_order_id: str
    change_order_id: str
    new_items: list[ExchangeNewItem]
    returned_value: Amount
    new_items_total: Amount
    requested_by: str | None = Field(
        default=None,
        description="Who asked: `api_key:<id>` through the API, `user:<email>` in the console.",
    )


class ReshipLinePayload(ItemLine):
    reason: str | None


class OrderSummaryReshipped(EventPayload):
    order_summary_id: str
    reship_id: str
    reason: str
    note: str | None
    items: list[ReshipLinePayload]
    requested_by: str | None = Field(
        default=None,
        description="Who asked: `api_key:<id>` through the API, `user:<email>` in the console.",
    )


class OrderSummaryReshipRouted(EventPayload):
    order_summary_id: str
    reship_id: str
    round: int
    delivery_group_summary_id: str
    delivery_group: str
    strategy: str
    reason: str
    fulfillment_order_ids: list[str]


class OrderSummaryReshipRerouteRequested(EventPayload):
    order_summary_id: str
    reship_id: str
    round: int
    delivery_group_summary_id: str
    rejected_fulfillment_order_id: str
    location_id: str
    reason: str
    lines: list[ItemLine]


class OrderSummaryHeld(EventPayload):
    order_summary_id: str
    hold_id: str
    reason: str
    by: str = Field(description="Who placed the hold: `api_key:<id>`, `flow:<ref>`, ….")
    at: Timestamp


class OrderSummaryReleased(EventPayload):
    order_summary_id: str
    hold_id: str
    reason: str | None = Field(description="Why it was released; null when not said.")
    hold_reason: str = Field(description="Why the hold was placed.")
    by: str = Field(description="Who released it.")
    at: Timestamp
    on_hold: bool = Field(
        description="Whether the order still has an active hold; false: its routing resumes."
    )


TYPES: tuple[EventType, ...] = (
    EventType(
        "order_summary.changed",
        "order_summary",
        OrderSummaryChanged,
        "A change order (cancel, return, adjustment or added items) was recorded against an order.",
    ),
    EventType(
        "order_summary.created",
        "order_summary",
        OrderSummaryCreated,
        "An order was captured from a channel.",
    ),
    EventType(
        "order_summary.exchanged",
        "order_summary",
        OrderSummaryExchanged,
        "An agent's exchange returned items and added their replacements.",
    ),
    EventType(
        "order_summary.held",
        "order_summary",
        OrderSummaryHeld,
        "A hold was placed on an order: its routing waits until every hold is released.",
    ),
    EventType(
        "order_summary.note_added",
        "order_summary",
        OrderSummaryNoteAdded,
        "A note was added to the order's timeline (by an automation flow's `add_note`).",
    ),
    EventType(
        "order_summary.partially_routed",
        "order_summary",
        OrderSummaryPartiallyRouted,
        "Routing placed part of a delivery group; the rest waits for stock.",
    ),
    EventType(
        "order_summary.released",
        "order_summary",
        OrderSummaryReleased,
        "A hold on an order was released (one event per hold released).",
    ),
    EventType(
        "order_summary.reroute_requested",
        "order_summary",
        OrderSummaryRerouteRequested,
        "A rejected fulfillment order's group was queued for a new routing round.",
    ),
    EventType(
        "order_summary.reship_reroute_requested",
        "order_summary",
        OrderSummaryReshipRerouteRequested,
        "A rejected reship fulfillment order's units were queued for a new round.",
    ),
    EventType(
        "order_summary.reship_routed",
        "order_summary",
        OrderSummaryReshipRouted,
        "A reship's replacement units were allocated to locations.",
    ),
    EventType(
        "order_summary.reshipped",
        "order_summary",
        OrderSummaryReshipped,
        "An agent ordered replacement units sent at no charge.",
    ),
    EventType(
        "order_summary.routed",
        "order_summary",
        OrderSummaryRouted,
        "Routing placed every open unit of a delivery group.",
    ),
    EventType(
        "order_summary.routing_strategy_set",
        "order_summary",
        OrderSummaryRoutingStrategySet,
        "The order's routing strategy was set, overriding its channel's for its routing.",
    ),
    EventType(
        "order_summary.status_changed",
        "order_summary",
        OrderSummaryStatusChanged,
        "An order summary's derived status changed.",
    ),
)

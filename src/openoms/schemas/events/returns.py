"""The events of return orders: payload models and declarations."""

from __future__ import annotations

from pydantic import Field

from openoms.schemas.events.base import Amount, EventPayload, EventType, Quantity


class ReturnOrderPayload(EventPayload):
    return_order_id: str
    order_summary_id: str
    status: str = Field(description="The return order's status after the change.")
    by: str | None = Field(
        default=None,
        description="Who did it: `api_key:<id>` through the API, `user:<email>` in the "
        "console (absent when the worker or the CLI acted).",
    )


class ReturnLineBrief(EventPayload):
    return_order_line_item_id: str
    order_item_summary_id: str
    sku: str
    quantity: Quantity


class ReturnOrderCreated(ReturnOrderPayload):
    lines: list[ReturnLineBrief]


class ReceiptBrief(EventPayload):
    return_order_line_item_id: str
    sku: str
    quantity: Quantity
    condition: str
    disposition: str
    location: str | None = Field(description="The receiving location's ref.")


class ReturnOrderReceived(ReturnOrderPayload):
    receipts: list[ReceiptBrief] | None = Field(
        default=None,
        description="Only when units were received (absent when a return that expects "
        "nothing back moves to RECEIVED by itself).",
    )


class CanceledReturnLine(EventPayload):
    return_order_line_item_id: str
    sku: str
    quantity: Quantity


class ReturnOrderCanceled(ReturnOrderPayload):
    canceled: list[CanceledReturnLine]


class CreditedLine(EventPayload):
    return_order_line_item_id: str
    quantity: Quantity


class ReturnOrderCredited(ReturnOrderPayload):
    change_order_id: str
    credit_memo_id: str | None
    credited: Amount
    lines: list[CreditedLine]


class ReturnlessValue(EventPayload):
    return_order_line_item_id: str
    sku: str
    quantity: Quantity
    unit_value: Amount


class ReturnOrderReturnlessRefunded(ReturnOrderPayload):
    threshold: Amount
    currency: str
    refunded: list[ReturnlessValue]
    expected_back: list[ReturnlessValue]
    change_order_id: str
    credit_memo_id: str | None
    credited: Amount


TYPES: tuple[EventType, ...] = (
    EventType(
        "return_order.approved",
        "return_order",
        ReturnOrderPayload,
        "A return order was approved.",
    ),
    EventType(
        "return_order.canceled",
        "return_order",
        ReturnOrderCanceled,
        "Units a return order still expected were canceled.",
    ),
    EventType(
        "return_order.closed",
        "return_order",
        ReturnOrderPayload,
        "A received return order was closed.",
    ),
    EventType(
        "return_order.created",
        "return_order",
        ReturnOrderCreated,
        "A return order (RMA) was created in DRAFT.",
    ),
    EventType(
        "return_order.credited",
        "return_order",
        ReturnOrderCredited,
        "Returned units reached the refund-eligible status and were credited.",
    ),
    EventType(
        "return_order.marked_in_transit",
        "return_order",
        ReturnOrderPayload,
        "A return order's parcel is on its way back.",
    ),
    EventType(
        "return_order.received",
        "return_order",
        ReturnOrderReceived,
        "Returned units arrived, or a return expecting nothing back became RECEIVED.",
    ),
    EventType(
        "return_order.returnless_refunded",
        "return_order",
        ReturnOrderReturnlessRefunded,
        "Lines worth less than the channel's threshold were credited without being sent back.",
    ),
    EventType(
        "return_order.submitted",
        "return_order",
        ReturnOrderPayload,
        "A return order was submitted.",
    ),
)

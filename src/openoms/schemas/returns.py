"""Return orders (RMAs) and simple returns (DESIGN.md §4, §9, §12): payloads and bodies.
Structure is checked here (422); whether the units may be returned is the domain's
business (409/400 with a stable code)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from openoms.domain.returns import ReturnCondition, ReturnDisposition
from openoms.schemas.common import LAX, Identifier, Payload, Quantity
from openoms.schemas.service_actions import ItemChangeIn, ServiceActionOut
from openoms.services.returns import ReceiptRequest, ReturnLineRequest, SimpleReturnLine

Condition = Annotated[ReturnCondition, LAX]
Disposition = Annotated[ReturnDisposition, LAX]
Id = Annotated[Identifier, Field(min_length=1, max_length=40)]
LocationRef = Annotated[Identifier, Field(min_length=1, max_length=100)]


class ReturnOrderCreate(Payload):
    """A new RMA: items expected back. `submit` false keeps it a DRAFT (holding nothing)."""

    order_summary_id: Id
    items: list[ItemChangeIn] = Field(min_length=1, max_length=500)
    reason: str | None = Field(default=None, max_length=500)
    expected_location: LocationRef | None = Field(
        default=None,
        description="Where the units are expected (a location ref); receipts default to it.",
    )
    submit: bool = Field(
        default=True,
        description="Submit at once (the units are held as return initiated, and returnless "
        "lines are refunded); false: a DRAFT.",
    )
    refund_shipping: bool = Field(
        default=False,
        description="When the return is credited (at its refund-eligible status), also "
        "refund the delivery charge of each delivery group with nothing left with the "
        "customer or to ship.",
    )

    def lines(self) -> list[ReturnLineRequest]:
        return [
            ReturnLineRequest(i.order_item_summary_id, i.quantity, i.reason) for i in self.items
        ]


class ReceiptIn(Payload):
    return_order_line_item_id: Id
    quantity: Quantity = Field(description="Units received, a positive whole number.")
    condition: Condition = ReturnCondition.NEW
    disposition: Disposition = Field(
        default=ReturnDisposition.RESTOCK,
        description="restock: back on hand at the receiving location; damaged or discard: "
        "written off.",
    )
    location: LocationRef | None = Field(
        default=None,
        description="Where the units arrived (a location ref); default: the return's "
        "expected location.",
    )


class ReceiveIn(Payload):
    """Units that arrived, per return line."""

    items: list[ReceiptIn] = Field(min_length=1, max_length=500)

    def lines(self) -> list[ReceiptRequest]:
        return [
            ReceiptRequest(
                i.return_order_line_item_id, i.quantity, i.condition, i.disposition, i.location
            )
            for i in self.items
        ]


class CancelLineIn(Payload):
    return_order_line_item_id: Id
    quantity: Quantity = Field(description="Units no longer expected, a positive whole number.")


class CancelIn(Payload):
    """Units to cancel; no items: every unit still expected (and not refunded)."""

    items: list[CancelLineIn] | None = Field(default=None, min_length=1, max_length=500)


class SimpleReturnItemIn(ItemChangeIn):
    condition: Condition = ReturnCondition.NEW
    disposition: Disposition = Field(
        default=ReturnDisposition.RESTOCK,
        description="restock (at `location`), damaged or discard (written off).",
    )


class SubmitReturnIn(Payload):
    """A return of units already back (in store): received, restocked or written off, and
    refunded in one call."""

    items: list[SimpleReturnItemIn] = Field(min_length=1, max_length=500)
    reason: str | None = Field(default=None, max_length=500)
    location: LocationRef | None = Field(
        default=None,
        description="Where the units were received (a location ref); needed to restock.",
    )
    refund_shipping: bool = Field(
        default=False,
        description="Also refund the delivery charge of each delivery group with nothing "
        "left with the customer or to ship.",
    )

    def lines(self) -> list[SimpleReturnLine]:
        return [
            SimpleReturnLine(
                i.order_item_summary_id, i.quantity, i.reason, i.condition, i.disposition
            )
            for i in self.items
        ]


class ReturnReceiptOut(BaseModel):
    location: str | None
    quantity: int
    condition: str
    disposition: str
    received_at: str


class ReturnOrderLineOut(BaseModel):
    id: str | None
    order_item_summary_id: str
    sku: str
    reason: str | None
    quantity_expected: int = Field(description="Units expected back (0 for a returnless line).")
    quantity_received: int
    quantity_canceled: int
    quantity_credited: int = Field(description="Units turned into a return change order.")
    returnless: bool = Field(description="Refunded without being sent back.")
    receipts: list[ReturnReceiptOut]


class ReturnOrderOut(BaseModel):
    """A return order (RMA). `messages`: what an action decided (returnless refunds, restocks,
    return fee); empty on a read."""

    id: str | None
    order_summary_id: str
    status: str
    reason: str | None
    expected_location: str | None
    refund_eligible_status: str
    refund_shipping: bool = Field(
        description="Delivery charges of groups the return empties are refunded with it."
    )
    exchange_change_order_id: str | None
    lines: list[ReturnOrderLineOut]
    created_at: str
    updated_at: str
    messages: list[str] = Field(default_factory=list)


class ReturnOrderPage(BaseModel):
    items: list[ReturnOrderOut]
    next_cursor: str | None


class SubmitReturnOut(ServiceActionOut):
    """A simple return's (or its preview's) answer: the service action body and the return
    order it made (ids null in a preview)."""

    return_order: dict[str, Any]

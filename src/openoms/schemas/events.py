"""The event catalog: every event openoms writes to its outbox, declared once.

Each `EventType` names an event, its version, the aggregate it belongs to, when it fires
and a pydantic model of its JSON payload exactly as the services write it (field names,
types, optional and nullable fields). The services build their payloads as plain dicts and
never import this module (an import contract forbids it): the catalog describes them, and
tests/integration/events/ checks that what real flows store validates against it.

Money in payloads comes in two forms, as the code writes it: `Amount` is the API's decimal
string in the order's currency ("20.55", "-5.00"); `MinorUnits` is an integer count of the
currency's minor units (refund events only). Quantities are whole units.

Fixed payloads forbid unknown fields (`extra="forbid"`) and are strict (an integer is not
a string), so a renamed, missing or retyped field fails validation. A field marked
"only when …" is absent otherwise (not null). `docs/events.md` is generated from this
module: `python scripts/events_doc.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

VERSION = 1
AMOUNT_PATTERN = r"^-?\d+(\.\d+)?$"
TIMESTAMP_PATTERN = r"Z$"

Amount = Annotated[
    str,
    Field(
        pattern=AMOUNT_PATTERN,
        description="A decimal string in the order's currency, e.g. `20.55`.",
    ),
]
MinorUnits = Annotated[int, Field(description="An amount in the currency's minor units.")]
Quantity = Annotated[int, Field(description="Whole units.")]
Timestamp = Annotated[
    str, Field(description="An ISO 8601 UTC timestamp ending in `Z`.", pattern=TIMESTAMP_PATTERN)
]


class EventPayload(BaseModel):
    """Base of every payload model: unknown fields refused, strict JSON types."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=False)


# --- shared parts -------------------------------------------------------------------------


class SkuQuantity(EventPayload):
    sku: str
    quantity: Quantity


class StatusMove(EventPayload):
    """A lifecycle step: the status before and after."""

    from_: str = Field(alias="from")
    to: str


class FulfillmentOrderLine(EventPayload):
    id: str = Field(description="The fulfillment order line item's id.")
    order_item_summary_id: str
    sku: str
    quantity: Quantity


class ItemLine(EventPayload):
    order_item_summary_id: str
    sku: str
    quantity: Quantity


# --- order summaries ----------------------------------------------------------------------


class BackorderedLine(EventPayload):
    delivery_group: str
    sku: str
    quantity: Quantity


class OrderSummaryCreated(EventPayload):
    order_summary_id: str
    channel: str
    external_reference: str
    lifecycle: str = Field(description="`MANAGED` or `UNMANAGED`.")
    currency: str
    grand_total: Amount
    delivery_groups: list[str] = Field(description="The delivery groups' refs.")
    reservations: dict[str, str] = Field(
        description="Delivery group ref → the id of the reservation made for it at capture."
    )
    backordered: list[BackorderedLine]


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


class ReshipLinePayload(ItemLine):
    reason: str | None


class OrderSummaryReshipped(EventPayload):
    order_summary_id: str
    reship_id: str
    reason: str
    note: str | None
    items: list[ReshipLinePayload]


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


# --- fulfillment orders and shipments -----------------------------------------------------


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


class FulfillmentOrderLinesCanceled(EventPayload):
    fulfillment_order_id: str
    location_id: str
    lines: list[FulfillmentOrderLine]


class FulfillmentOrderRejected(EventPayload):
    fulfillment_order_id: str
    location_id: str
    reason: str
    lines: list[FulfillmentOrderLine] = Field(description="The open lines given back.")


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


# --- inventory, reservations, locations, channels -----------------------------------------


class InventoryImported(EventPayload):
    import_id: str
    mode: Literal["delta", "full"]
    records: int
    applied: int
    skipped_duplicates: int
    zeroed: int
    locations_touched: int


class RestockedLine(EventPayload):
    location: str = Field(description="The location's ref.")
    sku: str
    quantity: Quantity


class InventoryRestocked(EventPayload):
    return_order_id: str
    lines: list[RestockedLine]


class HoldLine(EventPayload):
    sku: str
    location_id: str
    quantity: Quantity


class ReservationScope(EventPayload):
    reservation_id: str
    status: str = Field(description="The reservation's status after the change.")
    location_group_id: str | None
    location_id: str | None


class ReservationShortfall(EventPayload):
    sku: str
    requested: Quantity
    available: Quantity


class ReservationCreated(ReservationScope):
    expires_at: Timestamp | None
    lines: list[HoldLine]
    shortfall: list[ReservationShortfall] | None = Field(
        default=None, description="Only when a partial reservation could not hold everything."
    )


class TransferMove(EventPayload):
    sku: str
    from_location_id: str
    quantity: Quantity


class ReservationTransferred(ReservationScope):
    to_location_id: str
    moves: list[TransferMove]


class ReservationSettled(ReservationScope):
    lines: list[HoldLine] = Field(description="The units taken off the reservation.")


class ReservationReleased(ReservationSettled):
    reason: Literal["routing_failed"] | None = Field(
        default=None, description="Only when routing gave the units back."
    )
    delivery_group_summary_id: str | None = Field(
        default=None, description="Only when routing gave the units back: the group it gave up."
    )


class LocationUpserted(EventPayload):
    ref: str
    created: bool
    type: str
    active: bool
    can_ship: bool
    can_pickup: bool
    groups: list[str] = Field(description="The refs of the location's groups.")


class LocationGroupUpserted(EventPayload):
    ref: str
    name: str
    created: bool
    locations: list[str] = Field(description="The refs of the group's locations.")


class ChannelUpserted(EventPayload):
    ref: str
    created: bool
    location_group: str | None
    shortage_policy: str
    routing_strategy: str
    max_splits: int
    capture_policy: str
    returnless_threshold: dict[str, MinorUnits] = Field(description="Currency → minor units.")
    return_fee: dict[str, MinorUnits] = Field(description="Currency → minor units.")
    refund_eligible_status: str
    verify_authorizations: bool


# --- invoices and credit memos ------------------------------------------------------------


class InvoiceCreated(EventPayload):
    invoice_id: str
    order_summary_id: str
    shipment_id: str | None = Field(
        default=None, description="Only for a shipment's invoice (exactly one of the two)."
    )
    return_order_id: str | None = Field(
        default=None, description="Only for a return fee's invoice (exactly one of the two)."
    )
    currency: str
    grand_total: Amount

    @model_validator(mode="after")
    def _one_source(self) -> InvoiceCreated:
        if (self.shipment_id is None) == (self.return_order_id is None):
            raise ValueError("exactly one of shipment_id and return_order_id")
        return self


class InvoiceCreditApplied(EventPayload):
    invoice_id: str
    order_summary_id: str
    credit_memo_id: str
    currency: str
    amount: Amount
    balance: Amount = Field(description="The invoice's balance after.")


class InvoiceExcessApplied(EventPayload):
    invoice_id: str
    order_summary_id: str
    amount: Amount
    balance: Amount = Field(description="The invoice's balance after.")


class InvoicePaid(EventPayload):
    invoice_id: str
    order_summary_id: str


class CreditMemoCreated(EventPayload):
    credit_memo_id: str
    order_summary_id: str
    change_order_id: str | None
    currency: str
    grand_total: Amount


# --- payments and refunds -----------------------------------------------------------------


class PaymentAuthorized(EventPayload):
    order_summary_id: str
    payment_authorization_id: str
    order_payment_summary_id: str
    requested: Amount
    amount: Amount = Field(description="What the gateway authorized (may be less).")
    currency: str


class PaymentCaptured(EventPayload):
    order_summary_id: str
    payment_id: str
    order_payment_summary_id: str
    invoice_id: str | None
    amount: Amount
    currency: str
    gateway_reference: str | None


class PaymentAuthorizationReversed(EventPayload):
    order_summary_id: str
    payment_authorization_id: str
    order_payment_summary_id: str
    amount: Amount
    currency: str
    gateway_reference: str | None


class VerifiedAuthorization(EventPayload):
    gateway: str
    reference: str
    amount: Amount
    currency: str


class PaymentAuthorizationsVerified(EventPayload):
    order_summary_id: str
    authorizations: list[VerifiedAuthorization]


class RefundPayload(EventPayload):
    refund_id: str
    order_summary_id: str
    order_payment_summary_id: str
    payment_id: str
    credit_memo_id: str | None
    amount: MinorUnits
    status: str


class RefundRequested(RefundPayload):
    kind: Literal["agent"] | None = Field(default=None, description="Only for an agent's refund.")
    reason: str | None = Field(default=None, description="Only for an agent's refund.")


class RefundFailed(RefundPayload):
    reason: str = Field(description="The gateway's message.")


# --- returns ------------------------------------------------------------------------------


class ReturnOrderPayload(EventPayload):
    return_order_id: str
    order_summary_id: str
    status: str = Field(description="The return order's status after the change.")


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


# --- process exceptions -------------------------------------------------------------------


class ProcessExceptionPayload(EventPayload):
    process_exception_id: str
    order_summary_id: str | None
    category: str
    severity: str
    status: str
    message: str
    occurrences: int


class ProcessExceptionResolved(ProcessExceptionPayload):
    note: str | None
    previous_status: str | None = Field(
        default=None, description="Only when an agent resolved it (not the failure going away)."
    )


class ProcessExceptionMoved(ProcessExceptionPayload):
    note: str | None
    previous_status: str


class ProcessExceptionRetryRequested(ProcessExceptionPayload):
    note: str | None
    job_kind: str


# --- the catalog --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventType:
    """One kind of event: its name, version, aggregate, when it fires, its payload."""

    name: str
    aggregate_type: str
    payload: type[BaseModel]
    description: str
    version: int = VERSION


def _moved(verb: str) -> EventType:
    return EventType(
        f"process_exception.{verb}",
        "process_exception",
        ProcessExceptionMoved,
        f"An agent moved a process exception to {verb.upper()}.",
    )


_RESERVATION_DONE = "A reservation gave back units"

EVENT_TYPES: tuple[EventType, ...] = tuple(
    sorted(
        [
            EventType(
                "channel.upserted",
                "channel",
                ChannelUpserted,
                "A channel's policy was created or replaced (PUT) and something changed.",
            ),
            EventType(
                "credit_memo.created",
                "credit_memo",
                CreditMemoCreated,
                "A credit memo was posted for what a change order owes the customer back.",
            ),
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
                "inventory.imported",
                "inventory_import",
                InventoryImported,
                "An inventory import (delta or full) was applied.",
            ),
            EventType(
                "inventory.restocked",
                "return_order",
                InventoryRestocked,
                "Returned units received in sellable condition went back on hand.",
            ),
            EventType(
                "invoice.created",
                "invoice",
                InvoiceCreated,
                "An invoice was posted: for a shipment's units, or for a return's fee.",
            ),
            EventType(
                "invoice.credit_applied",
                "invoice",
                InvoiceCreditApplied,
                "A credit memo's balance paid part of an invoice instead of a capture.",
            ),
            EventType(
                "invoice.excess_applied",
                "invoice",
                InvoiceExcessApplied,
                "Funds captured beyond earlier invoices paid part of an invoice.",
            ),
            EventType(
                "invoice.paid",
                "invoice",
                InvoicePaid,
                "An invoice's balance reached zero.",
            ),
            EventType(
                "location.upserted",
                "location",
                LocationUpserted,
                "A location was created or replaced (PUT or import) and something changed.",
            ),
            EventType(
                "location_group.upserted",
                "location_group",
                LocationGroupUpserted,
                "A location group was created or replaced and something changed.",
            ),
            EventType(
                "order_summary.changed",
                "order_summary",
                OrderSummaryChanged,
                "A change order (cancel, return, adjustment or added items) was recorded "
                "against an order.",
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
                "order_summary.partially_routed",
                "order_summary",
                OrderSummaryPartiallyRouted,
                "Routing placed part of a delivery group; the rest waits for stock.",
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
                "order_summary.status_changed",
                "order_summary",
                OrderSummaryStatusChanged,
                "An order summary's derived status changed.",
            ),
            EventType(
                "payment.authorization_reversed",
                "payment",
                PaymentAuthorizationReversed,
                "The gateway reversed (voided) an authorization no longer needed.",
            ),
            EventType(
                "payment.authorizations_verified",
                "order_summary",
                PaymentAuthorizationsVerified,
                "The authorizations reported at capture were verified with their gateways; "
                "the order may be routed.",
            ),
            EventType(
                "payment.authorized",
                "payment",
                PaymentAuthorized,
                "A gateway authorized a payment that was pending at capture.",
            ),
            EventType(
                "payment.captured",
                "payment",
                PaymentCaptured,
                "A gateway captured funds (for an invoice, on order, or an agent's capture).",
            ),
            EventType(
                "process_exception.raised",
                "process_exception",
                ProcessExceptionPayload,
                "A new process exception was opened for a failure that needs attention.",
            ),
            _moved("ignored"),
            _moved("paused"),
            _moved("triaged"),
            _moved("voided"),
            EventType(
                "process_exception.resolved",
                "process_exception",
                ProcessExceptionResolved,
                "A process exception was resolved: its failure went away, or an agent resolved it.",
            ),
            EventType(
                "process_exception.retry_requested",
                "process_exception",
                ProcessExceptionRetryRequested,
                "An agent asked for an open exception's failed job to run again.",
            ),
            EventType(
                "refund.failed",
                "refund",
                RefundFailed,
                "A gateway refused a refund for good.",
            ),
            EventType(
                "refund.processed",
                "refund",
                RefundPayload,
                "A gateway refunded the money.",
            ),
            EventType(
                "refund.requested",
                "refund",
                RefundRequested,
                "A refund was queued for a gateway (owed by a credit memo, excess funds, "
                "or an agent's refund).",
            ),
            EventType(
                "reservation.created",
                "reservation",
                ReservationCreated,
                "Stock was reserved (at capture, by routing or a reship, or by the "
                "reservations API).",
            ),
            EventType(
                "reservation.expired",
                "reservation",
                ReservationSettled,
                f"{_RESERVATION_DONE} because it expired.",
            ),
            EventType(
                "reservation.fulfilled",
                "reservation",
                ReservationSettled,
                f"{_RESERVATION_DONE} because they shipped.",
            ),
            EventType(
                "reservation.released",
                "reservation",
                ReservationReleased,
                f"{_RESERVATION_DONE} to free stock (a cancel, a rejection, routing giving "
                "up, or the API).",
            ),
            EventType(
                "reservation.transferred",
                "reservation",
                ReservationTransferred,
                "Held units moved from some locations to another.",
            ),
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
                "Lines worth less than the channel's threshold were credited without being "
                "sent back.",
            ),
            EventType(
                "return_order.submitted",
                "return_order",
                ReturnOrderPayload,
                "A return order was submitted.",
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
        ],
        key=lambda t: t.name,
    )
)

BY_NAME: dict[str, EventType] = {t.name: t for t in EVENT_TYPES}


# --- the API's answer ---------------------------------------------------------------------


class EventTypeOut(BaseModel):
    """One event type of the catalog."""

    name: str = Field(description="The event's name, `area.verb_past`.")
    version: int = Field(description="The payload's version.")
    aggregate_type: str = Field(description="The kind of object the event is about.")
    description: str = Field(description="When the event fires.")
    payload_schema: dict[str, Any] = Field(description="The payload's JSON Schema.")

    @classmethod
    def of(cls, event_type: EventType) -> EventTypeOut:
        return cls(
            name=event_type.name,
            version=event_type.version,
            aggregate_type=event_type.aggregate_type,
            description=event_type.description,
            payload_schema=event_type.payload.model_json_schema(),
        )


class EventTypeList(BaseModel):
    """Every event type openoms records to its outbox, sorted by name."""

    items: list[EventTypeOut]

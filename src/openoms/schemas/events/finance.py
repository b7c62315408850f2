"""The events of invoices and credit memos: payload models and declarations."""

from __future__ import annotations

from pydantic import Field, model_validator

from openoms.schemas.events.base import Amount, EventPayload, EventType


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


TYPES: tuple[EventType, ...] = (
    EventType(
        "credit_memo.created",
        "credit_memo",
        CreditMemoCreated,
        "A credit memo was posted for what a change order owes the customer back.",
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
)

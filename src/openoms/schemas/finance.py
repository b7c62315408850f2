"""Response schemas of invoices, credit memos, refunds and reconciliation (DESIGN.md §12)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class DocumentTotalsOut(BaseModel):
    product: str
    delivery: str
    adjustments: str
    tax: str


class DocumentLineOut(BaseModel):
    order_item_summary_id: str | None
    type: str = Field(description="product, delivery_charge or fee.")
    sku: str | None
    quantity: int
    total_price: str
    adjustments: str
    tax: str
    total: str = Field(description="total_price + adjustments + tax.")


class DocumentOut(BaseModel):
    """An invoice (owed: for a shipment) or a credit memo (owed back: cancel, return,
    discount). `balance` is what captures (invoice) or refunds (credit memo) have not yet
    covered."""

    id: str
    status: str = Field(
        description="Invoice: POSTED, PAID. Credit memo: POSTED, REFUNDED, APPLIED (its "
        "balance paid invoices: an exchange's new items, a return fee)."
    )
    source_key: str
    change_order_id: str | None = Field(
        default=None, description="Credit memo: the change order it credits."
    )
    return_order_id: str | None = Field(
        default=None, description="Credit memo: the return order whose units it credits."
    )
    currency: str
    totals: DocumentTotalsOut
    grand_total: str
    balance: str
    created_at: str
    lines: list[DocumentLineOut]


class RefundOut(BaseModel):
    id: str
    status: str = Field(description="PENDING, PROCESSED or FAILED.")
    amount: str
    payment_id: str
    credit_memo_id: str | None = Field(description="Null for a refund of excess funds.")
    gateway_reference: str | None


class EnsureRefundsOut(BaseModel):
    order_summary_id: str
    processed: list[RefundOut]
    pending: list[RefundOut] = Field(description="Declined or unanswered: retried later.")
    failed: list[RefundOut] = Field(description="Refused for good: a process exception is open.")
    shortfall: str = Field(description="Owed back but not refundable against any payment.")


class ReconciliationRow(BaseModel):
    order_summary_id: str | None = Field(description="Null on the totals row.")
    currency: str
    authorized: str
    captured: str
    refunded: str
    invoiced: str
    credited: str
    outstanding: str = Field(description="invoiced − credited − captured + refunded.")
    mismatches: list[str]


class ReconciliationOut(BaseModel):
    orders: list[ReconciliationRow]
    totals: list[ReconciliationRow] = Field(description="One row per currency.")
    mismatches: int = Field(description="How many orders have at least one mismatch.")

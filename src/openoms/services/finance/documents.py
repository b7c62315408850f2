"""What invoices and credit memos share (DESIGN.md §3): their statuses, how their lines and
totals are built from the order's items, what each item has been billed so far, and their
public bodies."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.repositories import finance as repo
from openoms.adapters.db.repositories import fulfillment as fulfillment_repo
from openoms.domain.errors import OrderSummaryNotFound
from openoms.domain.finance import Amounts, DocumentLine
from openoms.domain.money import format_minor
from openoms.domain.order import ItemType


class InvoiceStatus:
    POSTED = "POSTED"
    PAID = "PAID"


class CreditMemoStatus:
    POSTED = "POSTED"
    REFUNDED = "REFUNDED"
    APPLIED = "APPLIED"  # its balance paid invoices (an exchange, a return fee)


def billed_per_item(session: Session, order_summary_id: str) -> dict[str, Amounts]:
    """Per item summary id: units invoiced, and amounts invoiced less amounts credited by
    change orders. Only a change order lowers the item's own amounts, so only its credit
    memos are netted: a credit with no change order behind it (goodwill) must not make the
    item's next shipment bill the credited amount again."""
    invoiced = repo.invoiced_per_item(session, order_summary_id)
    credited = repo.change_credited_per_item(session, order_summary_id)
    billed: dict[str, Amounts] = {}
    for item_id, quantity, price, adjustments, tax in invoiced:
        if item_id is not None:
            billed[item_id] = Amounts(int(quantity), int(price), int(adjustments), int(tax))
    for item_id, price, adjustments, tax in credited:
        if item_id is not None:
            billed[item_id] = billed.get(item_id, Amounts()) - Amounts(
                0, int(price), int(adjustments), int(tax)
            )
    return billed


def running_amounts(item: m.OrderItemSummary) -> Amounts:
    return Amounts(
        item.quantity_ordered - item.quantity_canceled,
        item.total_price,
        item.adjustments,
        item.tax,
    )


_L = TypeVar("_L", m.InvoiceLine, m.CreditMemoLine)


def document_line(model: type[_L], line: DocumentLine, item: m.OrderItemSummary) -> _L:
    return model(
        order_item_summary_id=item.id,
        type=item.type,
        sku=item.sku,
        quantity=line.quantity,
        total_price=line.total_price,
        adjustments=line.adjustments,
        tax=line.tax,
    )


def set_totals(
    document: m.Invoice | m.CreditMemo, lines: Sequence[m.InvoiceLine | m.CreditMemoLine]
) -> None:
    document.total_product = sum(
        ln.total_price for ln in lines if ln.type == ItemType.PRODUCT.value
    )
    document.total_delivery = sum(
        ln.total_price for ln in lines if ln.type == ItemType.DELIVERY_CHARGE.value
    )
    document.total_adjustments = sum(ln.adjustments for ln in lines)
    document.total_tax = sum(ln.tax for ln in lines)
    document.grand_total = (
        document.total_product
        + document.total_delivery
        + document.total_adjustments
        + document.total_tax
    )


def lock_summary(session: Session, order_summary_id: str) -> m.OrderSummary:
    summary = fulfillment_repo.lock_summary(session, order_summary_id)
    if summary is None:
        raise OrderSummaryNotFound(f"order summary '{order_summary_id}' does not exist")
    return summary


def documents_of(
    session: Session, order_summary_id: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The order's invoices and credit memos (public bodies, oldest first), one query each."""
    invoices: dict[str, tuple[m.Invoice, list[m.InvoiceLine]]] = {}
    for invoice, inv_line in repo.invoices_with_lines(session, order_summary_id):
        invoices.setdefault(invoice.id, (invoice, []))[1].extend([inv_line] if inv_line else [])
    memos: dict[str, tuple[m.CreditMemo, list[m.CreditMemoLine]]] = {}
    for memo, cm_line in repo.credit_memos_with_lines(session, order_summary_id):
        memos.setdefault(memo.id, (memo, []))[1].extend([cm_line] if cm_line else [])
    return (
        [document_view(doc, lines) for doc, lines in invoices.values()],
        [document_view(doc, lines) for doc, lines in memos.values()],
    )


def document_view(
    document: m.Invoice | m.CreditMemo, lines: Sequence[m.InvoiceLine | m.CreditMemoLine]
) -> dict[str, Any]:
    """The public body of an invoice or credit memo."""

    def money(minor: int) -> str:
        return format_minor(minor, document.currency)

    links = {}
    if isinstance(document, m.CreditMemo):
        links = {
            "change_order_id": document.change_order_id,
            "return_order_id": document.return_order_id,
        }
    return {
        "id": document.id,
        "status": document.status,
        "source_key": document.source_key,
        **links,
        "currency": document.currency,
        "totals": {
            "product": money(document.total_product),
            "delivery": money(document.total_delivery),
            "adjustments": money(document.total_adjustments),
            "tax": money(document.total_tax),
        },
        "grand_total": money(document.grand_total),
        "balance": money(document.balance),
        "created_at": document.created_at.isoformat().replace("+00:00", "Z"),
        "lines": [
            {
                "order_item_summary_id": line.order_item_summary_id,
                "type": line.type,
                "sku": line.sku,
                "quantity": line.quantity,
                "total_price": money(line.total_price),
                "adjustments": money(line.adjustments),
                "tax": money(line.tax),
                "total": money(line.total_price + line.adjustments + line.tax),
            }
            for line in lines
        ],
    }

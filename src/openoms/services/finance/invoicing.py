"""Invoices for what shipped (DESIGN.md §3, §7); credit memos are in finance/credit_memos.py.

A shipment is invoiced by the `invoicing` consumer of `fulfillment_order.shipped`, in the
delivery's own transaction: one POSTED invoice per shipment (source_key `shipment:{id}`,
unique, so a retried delivery finds it instead of invoicing twice), with the shipped items'
shares of their amounts and, on the group's first invoice, its delivery charge. A credit
memo is made by the service action that changed the order (cancel, return, discount) with
`create_credit_memo`. Both lock the order summary first, so what an item has been billed
is read and written by one writer at a time.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.ids import new_id
from openoms.adapters.db.repositories import finance as repo
from openoms.adapters.db.repositories import fulfillment as fulfillment_repo
from openoms.adapters.outbox import Consumer, Outbox
from openoms.domain.errors import ValidationFailed
from openoms.domain.events import DomainEvent
from openoms.domain.finance import Amounts, DocumentLine, invoice_lines_for_shipment
from openoms.domain.fulfillment import RESHIP
from openoms.domain.money import format_minor
from openoms.domain.order import ItemType
from openoms.services.finance.documents import (
    InvoiceStatus,
    billed_per_item,
    document_line,
    lock_summary,
    running_amounts,
    set_totals,
)


def shipment_source_key(shipment_id: str) -> str:
    return f"shipment:{shipment_id}"


# --- invoices -----------------------------------------------------------------------------


def invoice_shipment(session: Session, outbox: Outbox, shipment_id: str) -> m.Invoice | None:
    """The shipment's invoice, made now or found made. Emits `invoice.created` when new.
    A reshipment (replacement goods at no charge) is not invoiced: None."""
    source_key = shipment_source_key(shipment_id)
    existing = repo.invoice_by_source(session, source_key)
    if existing is not None:
        return existing
    shipment = fulfillment_repo.get_shipment(session, shipment_id)
    if shipment is None:
        raise ValidationFailed(f"no shipment {shipment_id!r} to invoice")
    summary = lock_summary(session, shipment.order_summary_id)
    existing = repo.invoice_by_source(session, source_key)  # made while we waited for the lock
    if existing is not None:
        return existing
    fo = session.get(m.FulfillmentOrder, shipment.fulfillment_order_id)
    assert fo is not None  # foreign key
    if fo.type == RESHIP:
        return None
    items, lines = _shipment_lines(session, summary.id, fo, shipment)
    invoice = m.Invoice(
        id=new_id("inv"),
        order_summary_id=summary.id,
        source_key=source_key,
        currency=summary.currency,
        status=InvoiceStatus.POSTED,
    )
    invoice.lines = [document_line(m.InvoiceLine, line, items[line.item]) for line in lines]
    set_totals(invoice, invoice.lines)
    invoice.balance = invoice.grand_total
    session.add(invoice)
    session.flush()
    outbox.record(session, [_invoice_created(invoice, summary.id, shipment_id)])
    return invoice


def _shipment_lines(
    session: Session, summary_id: str, fo: m.FulfillmentOrder, shipment: m.Shipment
) -> tuple[dict[str, m.OrderItemSummary], list[DocumentLine]]:
    """The order's items by id, and the lines billing what the shipment carries: the
    shipped items' shares of their amounts and, on the group's first invoice, its delivery
    charge (unless canceled)."""
    items = {i.id: i for i in fulfillment_repo.summary_items(session, summary_id)}
    billed = billed_per_item(session, summary_id)
    charge = next(
        (
            i
            for i in items.values()
            if i.type == ItemType.DELIVERY_CHARGE.value
            and i.delivery_group_summary_id == fo.delivery_group_summary_id
            and billed.get(i.id, Amounts()).quantity == 0
            and i.quantity_ordered > i.quantity_canceled  # not canceled with a refund
        ),
        None,
    )
    lines = invoice_lines_for_shipment(
        [(si.order_item_summary_id, si.quantity) for si in shipment.items],
        {i.id: running_amounts(i) for i in items.values()},
        billed,
        delivery_charge=(charge.id, running_amounts(charge)) if charge is not None else None,
    )
    return items, lines


def _invoice_created(invoice: m.Invoice, summary_id: str, shipment_id: str) -> DomainEvent:
    return DomainEvent(
        "invoice.created",
        "invoice",
        invoice.id,
        {
            "invoice_id": invoice.id,
            "order_summary_id": summary_id,
            "shipment_id": shipment_id,
            "currency": invoice.currency,
            "grand_total": format_minor(invoice.grand_total, invoice.currency),
        },
        summary_id,
    )


def invoicing_consumers(outbox: Outbox) -> list[Consumer]:
    """The `invoicing` consumer: invoices each shipment in the delivery's transaction (a
    retried delivery finds the invoice). `outbox` writes `invoice.created`; build it over
    the registry these consumers join."""

    def on_shipped(session: Session, event: m.Event) -> None:
        invoice_shipment(session, outbox, event.payload["shipment_id"])

    return [Consumer("invoicing", ("fulfillment_order.shipped",), on_shipped)]

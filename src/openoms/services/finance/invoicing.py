"""Invoices for what shipped, credit memos for what is owed back (DESIGN.md §3, §7).

A shipment is invoiced by the `invoicing` consumer of `fulfillment_order.shipped`, in the
delivery's own transaction: one POSTED invoice per shipment (source_key `shipment:{id}`,
unique, so a retried delivery finds it instead of invoicing twice), with the shipped items'
shares of their amounts and, on the group's first invoice, its delivery charge. A credit
memo is made by the service action that changed the order (cancel, return, discount) with
`create_credit_memo`. Both lock the order summary first, so what an item has been billed
is read and written by one writer at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.ids import new_id
from openoms.adapters.db.repositories import fulfillment as fulfillment_repo
from openoms.adapters.outbox import Consumer, Outbox
from openoms.domain.errors import OrderSummaryNotFound, ValidationFailed
from openoms.domain.events import DomainEvent
from openoms.domain.finance import Amounts, DocumentLine, invoice_lines_for_shipment
from openoms.domain.fulfillment import RESHIP
from openoms.domain.money import format_minor
from openoms.domain.order import ItemType


class InvoiceStatus:
    POSTED = "POSTED"
    PAID = "PAID"


class CreditMemoStatus:
    POSTED = "POSTED"
    REFUNDED = "REFUNDED"
    APPLIED = "APPLIED"  # its balance paid invoices (an exchange, a return fee)


def shipment_source_key(shipment_id: str) -> str:
    return f"shipment:{shipment_id}"


# --- invoices -----------------------------------------------------------------------------


def invoice_shipment(session: Session, outbox: Outbox, shipment_id: str) -> m.Invoice | None:
    """The shipment's invoice, made now or found made. Emits `invoice.created` when new.
    A reshipment (replacement goods at no charge) is not invoiced: None."""
    source_key = shipment_source_key(shipment_id)
    existing = _invoice_by_source(session, source_key)
    if existing is not None:
        return existing
    shipment = fulfillment_repo.get_shipment(session, shipment_id)
    if shipment is None:
        raise ValidationFailed(f"no shipment {shipment_id!r} to invoice")
    summary = _lock_summary(session, shipment.order_summary_id)
    existing = _invoice_by_source(session, source_key)  # made while we waited for the lock
    if existing is not None:
        return existing
    fo = session.get(m.FulfillmentOrder, shipment.fulfillment_order_id)
    assert fo is not None  # foreign key
    if fo.type == RESHIP:
        return None
    items = {i.id: i for i in fulfillment_repo.summary_items(session, summary.id)}
    billed = billed_per_item(session, summary.id)
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
        {i.id: _running(i) for i in items.values()},
        billed,
        delivery_charge=(charge.id, _running(charge)) if charge is not None else None,
    )
    invoice = m.Invoice(
        id=new_id("inv"),
        order_summary_id=summary.id,
        source_key=source_key,
        currency=summary.currency,
        status=InvoiceStatus.POSTED,
    )
    invoice.lines = [_line(m.InvoiceLine, line, items[line.item]) for line in lines]
    _set_totals(invoice, invoice.lines)
    invoice.balance = invoice.grand_total
    session.add(invoice)
    session.flush()
    outbox.record(
        session,
        [
            DomainEvent(
                "invoice.created",
                "invoice",
                invoice.id,
                {
                    "invoice_id": invoice.id,
                    "order_summary_id": summary.id,
                    "shipment_id": shipment_id,
                    "currency": invoice.currency,
                    "grand_total": format_minor(invoice.grand_total, invoice.currency),
                },
                summary.id,
            )
        ],
    )
    return invoice


# --- credit memos -------------------------------------------------------------------------


def create_credit_memo(
    session: Session,
    outbox: Outbox,
    order_summary_id: str,
    change_order_id: str | None,
    lines: Sequence[DocumentLine],
    *,
    source_key: str,
) -> m.CreditMemo:
    """A POSTED credit memo of `lines` (item key or item summary id, positive amounts owed
    back; see `openoms.domain.finance.credit_memo_lines`), balance = grand total. The same
    `source_key` again returns the memo already made. Emits `credit_memo.created`, which
    queues ensure-refunds."""
    summary = _lock_summary(session, order_summary_id)
    existing = session.scalars(
        select(m.CreditMemo).where(m.CreditMemo.source_key == source_key)
    ).one_or_none()
    if existing is not None:
        return existing
    items = fulfillment_repo.summary_items(session, order_summary_id)
    by_ref = {i.id: i for i in items} | {i.key: i for i in items}
    unknown = sorted({line.item for line in lines} - set(by_ref))
    if unknown:
        raise ValidationFailed(f"credit memo names items not on the order: {', '.join(unknown)}")
    memo = m.CreditMemo(
        id=new_id("cm"),
        order_summary_id=summary.id,
        change_order_id=change_order_id,
        source_key=source_key,
        currency=summary.currency,
        status=CreditMemoStatus.POSTED,
    )
    memo.lines = [_line(m.CreditMemoLine, line, by_ref[line.item]) for line in lines]
    _set_totals(memo, memo.lines)
    if memo.grand_total < 0:
        raise ValidationFailed("a credit memo cannot owe the customer less than nothing")
    memo.balance = memo.grand_total
    session.add(memo)
    session.flush()
    outbox.record(
        session,
        [
            DomainEvent(
                "credit_memo.created",
                "credit_memo",
                memo.id,
                {
                    "credit_memo_id": memo.id,
                    "order_summary_id": summary.id,
                    "change_order_id": change_order_id,
                    "currency": memo.currency,
                    "grand_total": format_minor(memo.grand_total, memo.currency),
                },
                summary.id,
            )
        ],
    )
    return memo


def apply_credit(
    session: Session,
    outbox: Outbox,
    invoice: m.Invoice,
    memo: m.CreditMemo,
    amount: int,
) -> int:
    """Pay up to `amount` of `invoice` from `memo`'s balance instead of capturing and
    refunding it: both balances go down, a CreditApplication records it (what reconciliation
    and excess funds count), `invoice.credit_applied` is emitted, and `invoice.paid` when
    the invoice is covered. The caller holds the order summary's lock. Returns what was
    applied (never more than either balance)."""
    if memo.order_summary_id != invoice.order_summary_id or memo.currency != invoice.currency:
        raise ValidationFailed("a credit memo pays only invoices of its own order and currency")
    amount = min(amount, memo.balance, invoice.balance)
    if amount <= 0:
        return 0
    memo.balance -= amount
    invoice.balance -= amount
    application = session.scalars(
        select(m.CreditApplication).where(
            m.CreditApplication.credit_memo_id == memo.id,
            m.CreditApplication.invoice_id == invoice.id,
        )
    ).one_or_none()
    if application is None:
        application = m.CreditApplication(
            order_summary_id=invoice.order_summary_id,
            credit_memo_id=memo.id,
            invoice_id=invoice.id,
            amount=0,
        )
        session.add(application)
    application.amount += amount
    currency = invoice.currency
    events = [
        DomainEvent(
            "invoice.credit_applied",
            "invoice",
            invoice.id,
            {
                "invoice_id": invoice.id,
                "order_summary_id": invoice.order_summary_id,
                "credit_memo_id": memo.id,
                "currency": currency,
                "amount": format_minor(amount, currency),
                "balance": format_minor(invoice.balance, currency),
            },
            invoice.order_summary_id,
        )
    ]
    if invoice.balance == 0 and invoice.status != InvoiceStatus.PAID:
        invoice.status = InvoiceStatus.PAID
        events.append(
            DomainEvent(
                "invoice.paid",
                "invoice",
                invoice.id,
                {"invoice_id": invoice.id, "order_summary_id": invoice.order_summary_id},
                invoice.order_summary_id,
            )
        )
    if memo.balance == 0:
        memo.status = CreditMemoStatus.APPLIED
    session.flush()
    outbox.record(session, events)
    return amount


def credit_applied(session: Session, order_summary_id: str) -> dict[str, int]:
    """Per credit memo id of the order: how much of it paid invoices."""
    rows = session.execute(
        select(m.CreditApplication.credit_memo_id, func.sum(m.CreditApplication.amount))
        .where(m.CreditApplication.order_summary_id == order_summary_id)
        .group_by(m.CreditApplication.credit_memo_id)
    ).all()
    return {memo_id: int(total) for memo_id, total in rows}


# --- shared -------------------------------------------------------------------------------


def billed_per_item(session: Session, order_summary_id: str) -> dict[str, Amounts]:
    """Per item summary id: units invoiced, and amounts invoiced less amounts credited by
    change orders. Only a change order lowers the item's own amounts, so only its credit
    memos are netted: a credit with no change order behind it (goodwill) must not make the
    item's next shipment bill the credited amount again."""
    inv, cm = m.InvoiceLine, m.CreditMemoLine
    invoiced = session.execute(
        select(
            inv.order_item_summary_id,
            func.sum(inv.quantity),
            func.sum(inv.total_price),
            func.sum(inv.adjustments),
            func.sum(inv.tax),
        )
        .join(m.Invoice, m.Invoice.id == inv.invoice_id)
        .where(m.Invoice.order_summary_id == order_summary_id)
        .group_by(inv.order_item_summary_id)
    ).all()
    credited = session.execute(
        select(
            cm.order_item_summary_id,
            func.sum(cm.total_price),
            func.sum(cm.adjustments),
            func.sum(cm.tax),
        )
        .join(m.CreditMemo, m.CreditMemo.id == cm.credit_memo_id)
        .where(
            m.CreditMemo.order_summary_id == order_summary_id,
            m.CreditMemo.change_order_id.is_not(None),
        )
        .group_by(cm.order_item_summary_id)
    ).all()
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


def _running(item: m.OrderItemSummary) -> Amounts:
    return Amounts(
        item.quantity_ordered - item.quantity_canceled,
        item.total_price,
        item.adjustments,
        item.tax,
    )


_L = TypeVar("_L", m.InvoiceLine, m.CreditMemoLine)


def _line(model: type[_L], line: DocumentLine, item: m.OrderItemSummary) -> _L:
    return model(
        order_item_summary_id=item.id,
        type=item.type,
        sku=item.sku,
        quantity=line.quantity,
        total_price=line.total_price,
        adjustments=line.adjustments,
        tax=line.tax,
    )


def _set_totals(
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


def _invoice_by_source(session: Session, source_key: str) -> m.Invoice | None:
    return session.scalars(select(m.Invoice).where(m.Invoice.source_key == source_key)).first()


def _lock_summary(session: Session, order_summary_id: str) -> m.OrderSummary:
    summary = fulfillment_repo.lock_summary(session, order_summary_id)
    if summary is None:
        raise OrderSummaryNotFound(f"order summary '{order_summary_id}' does not exist")
    return summary


def invoicing_consumers(outbox: Outbox) -> list[Consumer]:
    """The `invoicing` consumer: invoices each shipment in the delivery's transaction (a
    retried delivery finds the invoice). `outbox` writes `invoice.created`; build it over
    the registry these consumers join."""

    def on_shipped(session: Session, event: m.Event) -> None:
        invoice_shipment(session, outbox, event.payload["shipment_id"])

    return [Consumer("invoicing", ("fulfillment_order.shipped",), on_shipped)]


def documents_of(
    session: Session, order_summary_id: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The order's invoices and credit memos (public bodies, oldest first), one query each."""
    invoices: dict[str, tuple[m.Invoice, list[m.InvoiceLine]]] = {}
    for invoice, inv_line in session.execute(
        select(m.Invoice, m.InvoiceLine)
        .outerjoin(m.InvoiceLine, m.InvoiceLine.invoice_id == m.Invoice.id)
        .where(m.Invoice.order_summary_id == order_summary_id)
        .order_by(m.Invoice.created_at, m.Invoice.id, m.InvoiceLine.id)
    ):
        invoices.setdefault(invoice.id, (invoice, []))[1].extend([inv_line] if inv_line else [])
    memos: dict[str, tuple[m.CreditMemo, list[m.CreditMemoLine]]] = {}
    for memo, cm_line in session.execute(
        select(m.CreditMemo, m.CreditMemoLine)
        .outerjoin(m.CreditMemoLine, m.CreditMemoLine.credit_memo_id == m.CreditMemo.id)
        .where(m.CreditMemo.order_summary_id == order_summary_id)
        .order_by(m.CreditMemo.created_at, m.CreditMemo.id, m.CreditMemoLine.id)
    ):
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

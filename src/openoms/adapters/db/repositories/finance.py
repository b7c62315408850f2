"""Queries for finance: invoices, credit memos and what they bill, exchange credit, and the
grouped sums reconciliation reads."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, ScalarSelect, func, select
from sqlalchemy.orm import Session

from openoms.adapters.db import models as m

POSTED = "POSTED"


# --- documents -----------------------------------------------------------------------------


def invoice_by_source(session: Session, source_key: str) -> m.Invoice | None:
    return session.scalars(select(m.Invoice).where(m.Invoice.source_key == source_key)).first()


def credit_memo_by_source(session: Session, source_key: str) -> m.CreditMemo | None:
    return session.scalars(
        select(m.CreditMemo).where(m.CreditMemo.source_key == source_key)
    ).one_or_none()


def credit_application(
    session: Session, memo_id: str, invoice_id: str
) -> m.CreditApplication | None:
    """What the credit memo has paid of the invoice so far, if anything."""
    return session.scalars(
        select(m.CreditApplication).where(
            m.CreditApplication.credit_memo_id == memo_id,
            m.CreditApplication.invoice_id == invoice_id,
        )
    ).one_or_none()


def credit_applied_per_memo(session: Session, summary_id: str) -> dict[str, int]:
    """Per credit memo id of the order: how much of it paid invoices."""
    rows = session.execute(
        select(m.CreditApplication.credit_memo_id, func.sum(m.CreditApplication.amount))
        .where(m.CreditApplication.order_summary_id == summary_id)
        .group_by(m.CreditApplication.credit_memo_id)
    ).all()
    return {memo_id: int(total) for memo_id, total in rows}


def invoiced_per_item(session: Session, summary_id: str) -> list[tuple[Any, ...]]:
    """(item summary id, units, total price, adjustments, tax) invoiced per item of the order."""
    inv = m.InvoiceLine
    return [
        tuple(row)
        for row in session.execute(
            select(
                inv.order_item_summary_id,
                func.sum(inv.quantity),
                func.sum(inv.total_price),
                func.sum(inv.adjustments),
                func.sum(inv.tax),
            )
            .join(m.Invoice, m.Invoice.id == inv.invoice_id)
            .where(m.Invoice.order_summary_id == summary_id)
            .group_by(inv.order_item_summary_id)
        ).all()
    ]


def change_credited_per_item(session: Session, summary_id: str) -> list[tuple[Any, ...]]:
    """(item summary id, total price, adjustments, tax) credited per item of the order by
    credit memos of change orders."""
    cm = m.CreditMemoLine
    return [
        tuple(row)
        for row in session.execute(
            select(
                cm.order_item_summary_id,
                func.sum(cm.total_price),
                func.sum(cm.adjustments),
                func.sum(cm.tax),
            )
            .join(m.CreditMemo, m.CreditMemo.id == cm.credit_memo_id)
            .where(
                m.CreditMemo.order_summary_id == summary_id,
                m.CreditMemo.change_order_id.is_not(None),
            )
            .group_by(cm.order_item_summary_id)
        ).all()
    ]


def document_sums(
    session: Session, document: type[m.Invoice] | type[m.CreditMemo], summary_id: str
) -> tuple[int, int]:
    """(grand totals, balances) of the order's invoices or credit memos, 0 when none."""
    total, balance = session.execute(
        select(
            func.coalesce(func.sum(document.grand_total), 0),
            func.coalesce(func.sum(document.balance), 0),
        ).where(document.order_summary_id == summary_id)
    ).one()
    return int(total), int(balance)


def invoices_with_lines(
    session: Session, summary_id: str
) -> list[tuple[m.Invoice, m.InvoiceLine | None]]:
    """The order's invoices, oldest first, each joined with its lines (None: no line)."""
    rows = session.execute(
        select(m.Invoice, m.InvoiceLine)
        .outerjoin(m.InvoiceLine, m.InvoiceLine.invoice_id == m.Invoice.id)
        .where(m.Invoice.order_summary_id == summary_id)
        .order_by(m.Invoice.created_at, m.Invoice.id, m.InvoiceLine.id)
    )
    return [(invoice, line) for invoice, line in rows]


def credit_memos_with_lines(
    session: Session, summary_id: str
) -> list[tuple[m.CreditMemo, m.CreditMemoLine | None]]:
    """The order's credit memos, oldest first, each joined with its lines (None: no line)."""
    rows = session.execute(
        select(m.CreditMemo, m.CreditMemoLine)
        .outerjoin(m.CreditMemoLine, m.CreditMemoLine.credit_memo_id == m.CreditMemo.id)
        .where(m.CreditMemo.order_summary_id == summary_id)
        .order_by(m.CreditMemo.created_at, m.CreditMemo.id, m.CreditMemoLine.id)
    )
    return [(memo, line) for memo, line in rows]


# --- exchange credit -----------------------------------------------------------------------


def exchange_returns(session: Session, summary_id: str) -> list[tuple[str, str]]:
    """(return order id, exchange change order id) of the order's exchanges."""
    rows = session.execute(
        select(m.ReturnOrder.id, m.ReturnOrder.exchange_change_order_id).where(
            m.ReturnOrder.order_summary_id == summary_id,
            m.ReturnOrder.exchange_change_order_id.is_not(None),
        )
    ).all()
    return [(ro, change) for ro, change in rows if change is not None]


def change_order_items(session: Session, change_order_ids: Sequence[str]) -> list[tuple[str, str]]:
    """(change order id, item summary id) of the items these change orders added."""
    rows = session.execute(
        select(m.OrderItem.order_id, m.OrderItem.order_item_summary_id).where(
            m.OrderItem.order_id.in_(list(change_order_ids))
        )
    )
    return [(order_id, item_id) for order_id, item_id in rows]


def credit_event_payloads(
    session: Session, summary_id: str, names: Sequence[str], aggregate_ids: Sequence[str]
) -> list[tuple[str, dict[str, Any]]]:
    """(aggregate id, payload) of the order's events with these names about these
    aggregates, in event order."""
    rows = session.execute(
        select(m.Event.aggregate_id, m.Event.payload)
        .where(
            m.Event.order_summary_id == summary_id,
            m.Event.name.in_(list(names)),
            m.Event.aggregate_id.in_(list(aggregate_ids)),
        )
        .order_by(m.Event.id)
    )
    return [(aggregate_id, payload) for aggregate_id, payload in rows]


def count_unpaid_invoices_billing(
    session: Session, summary_id: str, item_ids: Sequence[str]
) -> int:
    """Lines of the order's POSTED invoices with a balance left that bill any of these items."""
    unpaid = session.scalar(
        select(func.count())
        .select_from(m.Invoice)
        .join(m.InvoiceLine, m.InvoiceLine.invoice_id == m.Invoice.id)
        .where(
            m.Invoice.order_summary_id == summary_id,
            m.Invoice.status == POSTED,
            m.Invoice.balance > 0,
            m.InvoiceLine.order_item_summary_id.in_(list(item_ids)),
        )
    )
    return int(unpaid or 0)


def invoice_line_totals(session: Session, invoice_id: str) -> list[tuple[str, int]]:
    """(item summary id, total price + adjustments + tax) of each line of the invoice."""
    rows = session.execute(
        select(
            m.InvoiceLine.order_item_summary_id,
            m.InvoiceLine.total_price + m.InvoiceLine.adjustments + m.InvoiceLine.tax,
        ).where(m.InvoiceLine.invoice_id == invoice_id)
    ).all()
    return [(str(item_id), int(total)) for item_id, total in rows]


# --- reconciliation ------------------------------------------------------------------------


def _ordered_in(
    ordered_from: datetime | None, ordered_to: datetime | None
) -> list[ColumnElement[bool]]:
    where = []
    if ordered_from is not None:
        where.append(m.OrderSummary.ordered_at >= ordered_from)
    if ordered_to is not None:
        where.append(m.OrderSummary.ordered_at < ordered_to)
    return where


def _ids_ordered_in(
    ordered_from: datetime | None, ordered_to: datetime | None
) -> ScalarSelect[str]:
    return select(m.OrderSummary.id).where(*_ordered_in(ordered_from, ordered_to)).scalar_subquery()


def summaries_ordered_in(
    session: Session, ordered_from: datetime | None, ordered_to: datetime | None
) -> list[tuple[str, str, str, int]]:
    """(id, currency, status, grand total) of the order summaries ordered in [from, to),
    in order."""
    rows = session.execute(
        select(m.OrderSummary.id, m.OrderSummary.currency, m.OrderSummary.status)
        .add_columns(m.OrderSummary.grand_total)
        .where(*_ordered_in(ordered_from, ordered_to))
        .order_by(m.OrderSummary.ordered_at, m.OrderSummary.id)
    ).all()
    return [(sid, currency, status, grand_total) for sid, currency, status, grand_total in rows]


def payment_summary_amounts(
    session: Session, ordered_from: datetime | None, ordered_to: datetime | None
) -> Sequence[Any]:
    """Rows (order_summary_id, id, authorized, captured, refunded, reversed) of the payment
    summaries of the orders ordered in [from, to)."""
    ops = m.OrderPaymentSummary
    return session.execute(
        select(
            ops.order_summary_id,
            ops.id,
            ops.authorized,
            ops.captured,
            ops.refunded,
            ops.reversed,
        ).where(ops.order_summary_id.in_(_ids_ordered_in(ordered_from, ordered_to)))
    ).all()


def processed_refunds_keyed(
    session: Session,
    ordered_from: datetime | None,
    ordered_to: datetime | None,
    *,
    key_prefix: str,
    processed: str,
) -> dict[str, int]:
    """Per order summary ordered in [from, to): its refunds in status `processed` with no
    credit memo and a key starting `key_prefix`, summed."""
    ops = m.OrderPaymentSummary
    rows = session.execute(
        select(ops.order_summary_id, func.sum(m.Refund.amount))
        .join(ops, ops.id == m.Refund.order_payment_summary_id)
        .where(
            ops.order_summary_id.in_(_ids_ordered_in(ordered_from, ordered_to)),
            m.Refund.status == processed,
            m.Refund.credit_memo_id.is_(None),
            m.Refund.idempotency_key.startswith(key_prefix, autoescape=True),
        )
        .group_by(ops.order_summary_id)
    )
    return {summary_id: int(total) for summary_id, total in rows}


def invoiced_per_summary(
    session: Session, ordered_from: datetime | None, ordered_to: datetime | None
) -> dict[str, int]:
    """Per order summary ordered in [from, to) with invoices: their grand totals, summed."""
    rows = session.execute(
        select(m.Invoice.order_summary_id, func.sum(m.Invoice.grand_total))
        .where(m.Invoice.order_summary_id.in_(_ids_ordered_in(ordered_from, ordered_to)))
        .group_by(m.Invoice.order_summary_id)
    )
    return {summary_id: int(total) for summary_id, total in rows}


def fees_invoiced_per_summary(
    session: Session, ordered_from: datetime | None, ordered_to: datetime | None
) -> dict[str, int]:
    """Per order summary ordered in [from, to): its invoices' fee lines (price + tax), summed."""
    rows = session.execute(
        select(m.Invoice.order_summary_id, func.sum(m.InvoiceLine.total_price + m.InvoiceLine.tax))
        .join(m.InvoiceLine, m.InvoiceLine.invoice_id == m.Invoice.id)
        .where(
            m.Invoice.order_summary_id.in_(_ids_ordered_in(ordered_from, ordered_to)),
            m.InvoiceLine.type == "fee",
        )
        .group_by(m.Invoice.order_summary_id)
    )
    return {summary_id: int(total) for summary_id, total in rows}


def credited_per_summary(
    session: Session, ordered_from: datetime | None, ordered_to: datetime | None
) -> dict[str, int]:
    """Per order summary ordered in [from, to) with credit memos: their grand totals, summed."""
    rows = session.execute(
        select(m.CreditMemo.order_summary_id, func.sum(m.CreditMemo.grand_total))
        .where(m.CreditMemo.order_summary_id.in_(_ids_ordered_in(ordered_from, ordered_to)))
        .group_by(m.CreditMemo.order_summary_id)
    )
    return {summary_id: int(total) for summary_id, total in rows}

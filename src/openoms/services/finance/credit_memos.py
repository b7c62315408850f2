"""Credit memos for what is owed back (DESIGN.md §3, §7), and paying invoices from them.

A credit memo is made by the service action that changed the order (cancel, return,
discount) with `create_credit_memo`, under the order summary's lock; its `credit_memo.created`
queues ensure-refunds. `apply_credit` pays an invoice from a memo's balance instead (an
exchange's new items, a return fee).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.ids import new_id
from openoms.adapters.db.repositories import finance as repo
from openoms.adapters.db.repositories import fulfillment as fulfillment_repo
from openoms.adapters.outbox import Outbox
from openoms.domain.errors import ValidationFailed
from openoms.domain.events import DomainEvent
from openoms.domain.finance import DocumentLine
from openoms.domain.money import format_minor
from openoms.services.finance.documents import (
    CreditMemoStatus,
    InvoiceStatus,
    document_line,
    lock_summary,
    set_totals,
)


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
    summary = lock_summary(session, order_summary_id)
    existing = repo.credit_memo_by_source(session, source_key)
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
    memo.lines = [document_line(m.CreditMemoLine, line, by_ref[line.item]) for line in lines]
    set_totals(memo, memo.lines)
    if memo.grand_total < 0:
        raise ValidationFailed("a credit memo cannot owe the customer less than nothing")
    memo.balance = memo.grand_total
    session.add(memo)
    session.flush()
    outbox.record(session, [_memo_created(memo, change_order_id)])
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
    _record_application(session, invoice, memo, amount)
    events = [_credit_applied(invoice, memo, amount)]
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


def _record_application(
    session: Session, invoice: m.Invoice, memo: m.CreditMemo, amount: int
) -> None:
    """Add `amount` to what the memo has paid of the invoice (one row per pair)."""
    application = repo.credit_application(session, memo.id, invoice.id)
    if application is None:
        application = m.CreditApplication(
            order_summary_id=invoice.order_summary_id,
            credit_memo_id=memo.id,
            invoice_id=invoice.id,
            amount=0,
        )
        session.add(application)
    application.amount += amount


def _credit_applied(invoice: m.Invoice, memo: m.CreditMemo, amount: int) -> DomainEvent:
    currency = invoice.currency
    return DomainEvent(
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


def _memo_created(memo: m.CreditMemo, change_order_id: str | None) -> DomainEvent:
    return DomainEvent(
        "credit_memo.created",
        "credit_memo",
        memo.id,
        {
            "credit_memo_id": memo.id,
            "order_summary_id": memo.order_summary_id,
            "change_order_id": change_order_id,
            "currency": memo.currency,
            "grand_total": format_minor(memo.grand_total, memo.currency),
        },
        memo.order_summary_id,
    )


def credit_applied(session: Session, order_summary_id: str) -> dict[str, int]:
    """Per credit memo id of the order: how much of it paid invoices."""
    return repo.credit_applied_per_memo(session, order_summary_id)

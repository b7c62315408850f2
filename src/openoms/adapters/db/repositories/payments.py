"""Queries for payments: authorizations, captures, invoices awaiting funds, refunds, gateway
logs, what says an order is settled, and the payment jobs' rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Subquery, func, select, update
from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.domain.order import ItemType
from openoms.domain.payments import AuthorizationStatus, PaymentStatus

POSTED = "POSTED"
PAID = "PAID"


def payment_summaries(session: Session, summary_id: str) -> Sequence[m.OrderPaymentSummary]:
    return session.scalars(
        select(m.OrderPaymentSummary)
        .where(m.OrderPaymentSummary.order_summary_id == summary_id)
        .order_by(m.OrderPaymentSummary.position)
        .execution_options(populate_existing=True)
    ).all()


def authorizations(
    session: Session, payment_summary_ids: Sequence[str], status: AuthorizationStatus
) -> Sequence[m.PaymentAuthorization]:
    """Authorizations in `status`, oldest first."""
    return session.scalars(
        select(m.PaymentAuthorization)
        .where(
            m.PaymentAuthorization.order_payment_summary_id.in_(payment_summary_ids),
            m.PaymentAuthorization.status == status.value,
        )
        .order_by(m.PaymentAuthorization.created_at, m.PaymentAuthorization.id)
        .execution_options(populate_existing=True)
    ).all()


def used_per_authorization(session: Session, authorization_ids: Sequence[str]) -> dict[str, int]:
    """Captured or being captured against each authorization (failed captures moved nothing)."""
    rows = session.execute(
        select(m.Payment.payment_authorization_id, func.sum(m.Payment.amount))
        .where(
            m.Payment.payment_authorization_id.in_(authorization_ids),
            m.Payment.status != PaymentStatus.FAILED.value,
        )
        .group_by(m.Payment.payment_authorization_id)
    ).all()
    return {auth_id: int(total) for auth_id, total in rows if auth_id is not None}


def payments(
    session: Session, payment_summary_ids: Sequence[str], *, status: PaymentStatus | None = None
) -> Sequence[m.Payment]:
    query = select(m.Payment).where(m.Payment.order_payment_summary_id.in_(payment_summary_ids))
    if status is not None:
        query = query.where(m.Payment.status == status.value)
    return session.scalars(
        query.order_by(m.Payment.created_at, m.Payment.id).execution_options(populate_existing=True)
    ).all()


def count_payments(session: Session, *, invoice_id: str | None, authorization_id: str) -> int:
    """Captures ever made for this invoice (None: outside any invoice) on this authorization."""
    query = select(func.count()).where(m.Payment.payment_authorization_id == authorization_id)
    if invoice_id is None:
        query = query.where(m.Payment.invoice_id.is_(None))
    else:
        query = query.where(m.Payment.invoice_id == invoice_id)
    return session.scalar(query) or 0


def open_invoices(
    session: Session, summary_id: str, invoice_id: str | None = None
) -> Sequence[m.Invoice]:
    """POSTED invoices with a balance left, oldest first."""
    query = select(m.Invoice).where(
        m.Invoice.order_summary_id == summary_id,
        m.Invoice.status == POSTED,
        m.Invoice.balance > 0,
    )
    if invoice_id is not None:
        query = query.where(m.Invoice.id == invoice_id)
    return session.scalars(
        query.order_by(m.Invoice.created_at, m.Invoice.id).execution_options(populate_existing=True)
    ).all()


def refused_attempts(session: Session, key_prefix: str) -> int:
    """Gateway calls with keys starting `key_prefix` answered DECLINE or PERMANENT_FAIL: each
    such answer is final for its key, so the next attempt needs a new one."""
    return (
        session.scalar(
            select(func.count()).where(
                m.PaymentGatewayLog.idempotency_key.startswith(key_prefix, autoescape=True),
                m.PaymentGatewayLog.result.in_(["DECLINE", "PERMANENT_FAIL"]),
            )
        )
        or 0
    )


def gateway_logs(
    session: Session, payment_summary_ids: Sequence[str]
) -> Sequence[m.PaymentGatewayLog]:
    return session.scalars(
        select(m.PaymentGatewayLog)
        .where(m.PaymentGatewayLog.order_payment_summary_id.in_(payment_summary_ids))
        .order_by(m.PaymentGatewayLog.id)
    ).all()


def has_pending_authorizations(
    session: Session, summary_id: str, *, unless_job: str | None = None
) -> bool:
    """Whether the order has PENDING authorizations (and, with `unless_job`, no job under
    that dedupe key, in any status: the job that authorizes them), in one statement."""
    query = (
        select(m.PaymentAuthorization.id)
        .join(
            m.OrderPaymentSummary,
            m.OrderPaymentSummary.id == m.PaymentAuthorization.order_payment_summary_id,
        )
        .where(
            m.OrderPaymentSummary.order_summary_id == summary_id,
            m.PaymentAuthorization.status == AuthorizationStatus.PENDING.value,
        )
    )
    if unless_job is not None:
        query = query.where(~select(m.Job.id).where(m.Job.dedupe_key == unless_job).exists())
    return session.scalar(query.limit(1)) is not None


# --- captures ------------------------------------------------------------------------------


def count_payments_keyed(session: Session, key_prefix: str) -> int:
    """Captures whose idempotency key starts with `key_prefix` (every attempt of a key)."""
    return (
        session.scalar(
            select(func.count()).where(
                m.Payment.idempotency_key.startswith(key_prefix, autoescape=True)
            )
        )
        or 0
    )


def unpaid_invoice_ids(session: Session, summary_id: str) -> Sequence[str]:
    """Invoices of the order not PAID and with a balance left (any other status included)."""
    return session.scalars(
        select(m.Invoice.id).where(
            m.Invoice.order_summary_id == summary_id,
            m.Invoice.status != PAID,
            m.Invoice.balance > 0,
        )
    ).all()


# --- refunds -------------------------------------------------------------------------------


def lock_payment_summaries(session: Session, summary_id: str) -> Sequence[m.OrderPaymentSummary]:
    """The order's payment summaries, locked FOR UPDATE (unordered)."""
    return session.scalars(
        select(m.OrderPaymentSummary)
        .where(m.OrderPaymentSummary.order_summary_id == summary_id)
        .with_for_update()
    ).all()


def _refunded_per_payment() -> Subquery:
    """Per payment id: what every refund that is not FAILED took from it."""
    return (
        select(m.Refund.payment_id, func.sum(m.Refund.amount).label("amount"))
        .where(m.Refund.status != PaymentStatus.FAILED)
        .group_by(m.Refund.payment_id)
        .subquery()
    )


def refundable_payments(session: Session, summary_id: str) -> list[tuple[m.Payment, int]]:
    """The order's PROCESSED payments, oldest first, each with what its refunds that are not
    FAILED took from it."""
    refunded = _refunded_per_payment()
    rows = session.execute(
        select(m.Payment, func.coalesce(refunded.c.amount, 0))
        .join(m.OrderPaymentSummary, m.OrderPaymentSummary.id == m.Payment.order_payment_summary_id)
        .outerjoin(refunded, refunded.c.payment_id == m.Payment.id)
        .where(
            m.OrderPaymentSummary.order_summary_id == summary_id,
            m.Payment.status == "PROCESSED",
        )
        .order_by(m.Payment.created_at, m.Payment.id)
    )
    return [(p, int(done)) for p, done in rows]


def refundable_payments_of(
    session: Session, payment_summary_id: str
) -> list[tuple[m.Payment, int]]:
    """One payment summary's PROCESSED payments, oldest first, each with what its refunds that
    are not FAILED took from it."""
    taken = _refunded_per_payment()
    rows = session.execute(
        select(m.Payment, func.coalesce(taken.c.amount, 0))
        .outerjoin(taken, taken.c.payment_id == m.Payment.id)
        .where(
            m.Payment.order_payment_summary_id == payment_summary_id,
            m.Payment.status == PaymentStatus.PROCESSED.value,
        )
        .order_by(m.Payment.created_at, m.Payment.id)
    )
    return [(p, int(done)) for p, done in rows]


def refundable_memos(session: Session, summary_id: str) -> Sequence[m.CreditMemo]:
    """The order's POSTED credit memos with a balance left, oldest first."""
    return session.scalars(
        select(m.CreditMemo)
        .where(
            m.CreditMemo.order_summary_id == summary_id,
            m.CreditMemo.status == POSTED,
            m.CreditMemo.balance > 0,
        )
        .order_by(m.CreditMemo.created_at, m.CreditMemo.id)
    ).all()


def take_memo_balance(session: Session, memo_id: str, amount: int) -> bool:
    """Take `amount` off the memo's balance if it still has it, in one conditional UPDATE
    (not synchronized into the session): True when it did."""
    result = session.execute(
        update(m.CreditMemo)
        .where(m.CreditMemo.id == memo_id, m.CreditMemo.balance >= amount)
        .values(balance=m.CreditMemo.balance - amount)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def give_memo_balance(session: Session, memo_id: str, amount: int) -> None:
    """Put `amount` back on the memo's balance (one UPDATE, not synchronized)."""
    session.execute(
        update(m.CreditMemo)
        .where(m.CreditMemo.id == memo_id)
        .values(balance=m.CreditMemo.balance + amount)
        .execution_options(synchronize_session=False)
    )


def count_refunds_of_pair(session: Session, memo_id: str | None, payment_id: str) -> int:
    """Refunds ever made of this credit memo (None: without one) to this payment."""
    taken = session.scalar(
        select(func.count()).where(
            m.Refund.payment_id == payment_id,
            (m.Refund.credit_memo_id == memo_id) if memo_id else m.Refund.credit_memo_id.is_(None),
        )
    )
    return int(taken or 0)


def count_refunds_keyed(session: Session, payment_id: str, key_prefix: str) -> int:
    """Refunds of this payment whose idempotency key starts with `key_prefix`."""
    n = session.scalar(
        select(func.count()).where(
            m.Refund.payment_id == payment_id,
            m.Refund.idempotency_key.startswith(key_prefix, autoescape=True),
        )
    )
    return int(n or 0)


def unleased_refunds(
    session: Session, payment_summary_ids: Sequence[str], leased_before: datetime
) -> Sequence[m.Refund]:
    """PENDING refunds of these payment summaries whose lease ran out (`updated_at` at or
    before `leased_before`), oldest first."""
    return session.scalars(
        select(m.Refund)
        .where(
            m.Refund.order_payment_summary_id.in_(list(payment_summary_ids)),
            m.Refund.status == PaymentStatus.PENDING,
            m.Refund.updated_at <= leased_before,
        )
        .order_by(m.Refund.created_at, m.Refund.id)
    ).all()


def lock_unleased_refunds(
    session: Session, refund_ids: Sequence[str], leased_before: datetime
) -> Sequence[m.Refund]:
    """Those of `refund_ids` still PENDING whose lease ran out, oldest first, locked FOR
    UPDATE and refreshed."""
    return session.scalars(
        select(m.Refund)
        .where(
            m.Refund.id.in_(refund_ids),
            m.Refund.status == PaymentStatus.PENDING.value,
            m.Refund.updated_at <= leased_before,
        )
        .order_by(m.Refund.created_at, m.Refund.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()


def payments_by_id(session: Session, payment_ids: Sequence[str]) -> dict[str, m.Payment]:
    return {
        p.id: p for p in session.scalars(select(m.Payment).where(m.Payment.id.in_(payment_ids)))
    }


def lock_refund(session: Session, refund_id: str) -> m.Refund:
    """The refund, locked FOR UPDATE and refreshed; raises when there is none."""
    return session.scalars(
        select(m.Refund)
        .where(m.Refund.id == refund_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def memo_refund_payment_ids(session: Session, memo_id: str | None) -> Sequence[str]:
    """The payments the credit memo's refunds went to, each once."""
    return session.scalars(
        select(m.Refund.payment_id).where(m.Refund.credit_memo_id == memo_id).distinct()
    ).all()


def count_pending_memo_refunds(session: Session, memo_id: str) -> int:
    """The credit memo's refunds still PENDING."""
    in_flight = session.scalar(
        select(func.count()).where(
            m.Refund.credit_memo_id == memo_id, m.Refund.status == PaymentStatus.PENDING
        )
    )
    return int(in_flight or 0)


def set_memo_status_if_empty(session: Session, memo_id: str, status: str) -> str | None:
    """Set the memo to `status` if its balance is 0 (one UPDATE, not synchronized); its
    status as the database now has it."""
    session.execute(
        update(m.CreditMemo)
        .where(m.CreditMemo.id == memo_id, m.CreditMemo.balance == 0)
        .values(status=status)
        .execution_options(synchronize_session=False)
    )
    return session.scalar(select(m.CreditMemo.status).where(m.CreditMemo.id == memo_id))


def refunds_with_currency(
    session: Session, refund_ids: Sequence[str]
) -> list[tuple[m.Refund, str]]:
    """These refunds, oldest first, each with its order's currency."""
    rows = session.execute(
        select(m.Refund, m.OrderSummary.currency)
        .join(m.OrderPaymentSummary, m.OrderPaymentSummary.id == m.Refund.order_payment_summary_id)
        .join(m.OrderSummary, m.OrderSummary.id == m.OrderPaymentSummary.order_summary_id)
        .where(m.Refund.id.in_(list(refund_ids)))
        .order_by(m.Refund.created_at, m.Refund.id)
    )
    return [(r, currency) for r, currency in rows]


def refunds_of_summary(session: Session, summary_id: str) -> list[tuple[m.Refund, str]]:
    """Every refund of the order summary, oldest first, each with the order's currency."""
    rows = session.execute(
        select(m.Refund, m.OrderSummary.currency)
        .join(m.OrderPaymentSummary, m.OrderPaymentSummary.id == m.Refund.order_payment_summary_id)
        .join(m.OrderSummary, m.OrderSummary.id == m.OrderPaymentSummary.order_summary_id)
        .where(m.OrderSummary.id == summary_id)
        .order_by(m.Refund.created_at, m.Refund.id)
    )
    return [(r, currency) for r, currency in rows]


# --- reversals -----------------------------------------------------------------------------


def product_item_progress(session: Session, summary_id: str) -> list[tuple[int, int, int, int]]:
    """(ordered, canceled, allocated, fulfilled) of each product item of the order."""
    rows = session.execute(
        select(
            m.OrderItemSummary.quantity_ordered,
            m.OrderItemSummary.quantity_canceled,
            m.OrderItemSummary.quantity_allocated,
            m.OrderItemSummary.quantity_fulfilled,
        ).where(
            m.OrderItemSummary.order_summary_id == summary_id,
            m.OrderItemSummary.type == ItemType.PRODUCT.value,
        )
    )
    return [(o, c, a, f) for o, c, a, f in rows]


def invoice_sources(session: Session, summary_id: str) -> list[tuple[str, str]]:
    """(source_key, status) of each invoice of the order."""
    rows = session.execute(
        select(m.Invoice.source_key, m.Invoice.status).where(
            m.Invoice.order_summary_id == summary_id
        )
    ).all()
    return [(source_key, status) for source_key, status in rows]


def shipment_ids(session: Session, summary_id: str) -> Sequence[str]:
    return session.scalars(
        select(m.Shipment.id).where(m.Shipment.order_summary_id == summary_id)
    ).all()


def gateway_logs_of(
    session: Session, payment_summary_ids: Sequence[str], operation: str
) -> Sequence[m.PaymentGatewayLog]:
    """Gateway calls of one operation on these payment summaries, in log order."""
    return session.scalars(
        select(m.PaymentGatewayLog)
        .where(
            m.PaymentGatewayLog.order_payment_summary_id.in_(payment_summary_ids),
            m.PaymentGatewayLog.operation == operation,
        )
        .order_by(m.PaymentGatewayLog.id)
    ).all()


def succeeded_before(session: Session, idempotency_key: str, operation: str) -> bool:
    """A SUCCESS answer is logged already for this key and operation."""
    found = session.scalar(
        select(m.PaymentGatewayLog.id)
        .where(
            m.PaymentGatewayLog.idempotency_key == idempotency_key,
            m.PaymentGatewayLog.operation == operation,
            m.PaymentGatewayLog.result == "SUCCESS",
        )
        .limit(1)
    )
    return found is not None


# --- verifying reported authorizations -----------------------------------------------------


def reported_authorizations(
    session: Session, summary_id: str, references: Sequence[str]
) -> list[tuple[str, str | None, int, str]]:
    """(gateway, gateway reference, amount, order currency) of the order's authorizations
    with these references, by payment summary position."""
    rows = session.execute(
        select(
            m.OrderPaymentSummary.gateway,
            m.PaymentAuthorization.gateway_reference,
            m.PaymentAuthorization.amount,
            m.OrderSummary.currency,
        )
        .join(
            m.OrderPaymentSummary,
            m.OrderPaymentSummary.id == m.PaymentAuthorization.order_payment_summary_id,
        )
        .join(m.OrderSummary, m.OrderSummary.id == m.OrderPaymentSummary.order_summary_id)
        .where(
            m.OrderPaymentSummary.order_summary_id == summary_id,
            m.PaymentAuthorization.gateway_reference.in_(references),
        )
        .order_by(m.OrderPaymentSummary.position)
    )
    return [(gateway, reference, amount, currency) for gateway, reference, amount, currency in rows]


# --- jobs ----------------------------------------------------------------------------------


def mark_job_done(session: Session, dedupe_key: str) -> None:
    """The job with this key is done, its last error cleared (one UPDATE)."""
    session.execute(
        update(m.Job).where(m.Job.dedupe_key == dedupe_key).values(status="done", last_error=None)
    )


def replace_job_payload(session: Session, job_id: int, payload: dict[str, Any]) -> None:
    """The job's payload becomes `payload` (one UPDATE, not synchronized)."""
    session.execute(
        update(m.Job)
        .where(m.Job.id == job_id)
        .values(payload=payload)
        .execution_options(synchronize_session=False)
    )


def refunds_keyed(
    session: Session, payment_summary_ids: Sequence[str], key_prefix: str
) -> Sequence[m.Refund]:
    """The payment summaries' refunds whose idempotency key starts with `key_prefix`."""
    return session.scalars(
        select(m.Refund)
        .where(
            m.Refund.order_payment_summary_id.in_(payment_summary_ids),
            m.Refund.idempotency_key.startswith(key_prefix, autoescape=True),
        )
        .order_by(m.Refund.id)
    ).all()

"""Queries for payments: authorizations, captures, invoices awaiting funds, gateway logs."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
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


def has_pending_authorizations(session: Session, summary_id: str) -> bool:
    found = session.scalar(
        select(m.PaymentAuthorization.id)
        .join(
            m.OrderPaymentSummary,
            m.OrderPaymentSummary.id == m.PaymentAuthorization.order_payment_summary_id,
        )
        .where(
            m.OrderPaymentSummary.order_summary_id == summary_id,
            m.PaymentAuthorization.status == AuthorizationStatus.PENDING.value,
        )
        .limit(1)
    )
    return found is not None

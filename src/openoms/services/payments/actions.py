"""An agent's capture or refund on one payment method, outside any document (DESIGN.md §12).

`prepare_capture` records PENDING captures in the caller's transaction (the API runs it
under the request's `Idempotency-Key`), `send_pending` calls the gateway with no
transaction open and settles. The funds captured become excess that later invoices use
first (see `ensure_funds`).

`prepare_refund` / `send_pending_refunds` do the same for a refund: money given back by an
agent's decision, with no credit memo behind it (a goodwill gesture, a price match). It is
planned over the payment summary's PROCESSED captures with `plan_refunds` (exact match,
else the smallest covering, else several, largest first), each part a PENDING Refund with
`credit_memo_id` NULL and the key `refund:agent:{payment_id}:{n}`, settled by the same
`settle_refund` as a memo's refund. An unanswered or soft-declined one stays PENDING and
the ensure-refunds job resends it with its key. Reconciliation lists these refunds as
"refunded without credit memo" (services/finance/reconciliation.py): no document owes them, so
they are set aside from `outstanding` rather than reported as a mismatch.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.ids import new_id
from openoms.adapters.db.models import utcnow
from openoms.adapters.db.repositories import payments as repo
from openoms.adapters.db.session import Database, retry_transient
from openoms.adapters.jobs import enqueue
from openoms.adapters.outbox import Outbox
from openoms.adapters.payments import Gateways
from openoms.domain.errors import (
    AmountInvalid,
    Conflict,
    CurrencyMismatch,
    DomainError,
    NotFound,
    RefundExceedsCaptured,
)
from openoms.domain.events import DomainEvent
from openoms.domain.finance import plan_refunds
from openoms.domain.money import Money, format_minor
from openoms.domain.payments import (
    PaymentStatus,
    agent_refund_key,
    plan_captures,
)
from openoms.domain.ports import GatewayRequest, GatewayResponse
from openoms.services.orders import locked_summary
from openoms.services.payments.funds import (
    available_by_authorization,
    capture_call,
    new_capture,
    send_captures,
)
from openoms.services.payments.gateway_calls import (
    GatewayCall,
    GatewayOperation,
    balance_of,
    send_and_settle,
)
from openoms.services.payments.refunds import LEASE, REFUND_JOB, settle_refund


class PaymentSummaryNotFound(NotFound):
    code = "payment_summary_not_found"
    title = "Payment summary not found"


class CaptureExceedsAuthorized(Conflict):
    code = "capture_exceeds_authorized"
    title = "Capture exceeds what is authorized"


class PaymentDeclined(DomainError):
    code = "payment_declined"
    status = 402
    title = "The payment gateway refused the capture"


class RefundDeclined(DomainError):
    code = "refund_declined"
    status = 402
    title = "The payment gateway refused the refund"


def prepare_capture(
    session: Session, order_summary_id: str, payment_summary_id: str, amount: Money
) -> list[str]:
    """Record PENDING captures of `amount` on one payment summary (sent by `send_pending`);
    the funds become excess that later invoices use first. Returns the payment ids.
    More than available to capture → 409 `capture_exceeds_authorized`, nothing recorded."""
    summary, by_id, ps = _checked(session, order_summary_id, payment_summary_id, amount)
    available = available_by_authorization(session, by_id, only=ps.id)
    plan = plan_captures(amount.minor, 0, list(available.items()))
    if plan.shortfall:
        can = format_minor(amount.minor - plan.shortfall, summary.currency)
        raise CaptureExceedsAuthorized(
            f"cannot capture {amount} {summary.currency}: {can} is available to capture on "
            f"payment summary {ps.id}",
            available_to_capture=can,
        )
    return [
        new_capture(session, by_id, c.authorization_id, c.amount, None).id for c in plan.captures
    ]


def send_pending(
    db: Database, outbox: Outbox, gateways: Gateways, order_summary_id: str, payment_ids: list[str]
) -> list[tuple[GatewayCall, GatewayResponse]]:
    """Send those of `payment_ids` still PENDING (with their own keys) and settle them."""

    def prepare() -> list[GatewayCall]:
        with db.transaction() as session:
            summary = locked_summary(session, order_summary_id)
            by_id = {ps.id: ps for ps in repo.payment_summaries(session, summary.id)}
            pending = repo.payments(session, list(by_id), status=PaymentStatus.PENDING)
            return [
                capture_call(session, summary, by_id, p) for p in pending if p.id in payment_ids
            ]

    return send_captures(db, outbox, gateways, order_summary_id, retry_transient(prepare))


def capture_payment(
    db: Database,
    outbox: Outbox,
    gateways: Gateways,
    order_summary_id: str,
    payment_summary_id: str,
    amount: Money,
) -> list[str]:
    """Capture `amount` on a payment summary now (prepare, send, settle); the payment ids."""

    def prepare() -> list[str]:
        with db.transaction() as session:
            return prepare_capture(session, order_summary_id, payment_summary_id, amount)

    ids = retry_transient(prepare)
    send_pending(db, outbox, gateways, order_summary_id, ids)
    return ids


def _checked(
    session: Session, order_summary_id: str, payment_summary_id: str, amount: Money
) -> tuple[m.OrderSummary, dict[str, m.OrderPaymentSummary], m.OrderPaymentSummary]:
    """The locked summary, its payment summaries by id and the one asked for, once the
    payment summary is the order's and the amount positive in the order's currency."""
    summary = locked_summary(session, order_summary_id)
    by_id = {ps.id: ps for ps in repo.payment_summaries(session, summary.id)}
    ps = by_id.get(payment_summary_id)
    if ps is None:
        raise PaymentSummaryNotFound(
            f"order summary {summary.id} has no payment summary {payment_summary_id}",
            payment_summary_id=payment_summary_id,
        )
    if amount.currency != summary.currency:
        raise CurrencyMismatch(
            f"the order is in {summary.currency}, not {amount.currency}", field="currency"
        )
    if amount.minor <= 0:
        raise AmountInvalid("amount must be positive", field="amount")
    return summary, by_id, ps


# --- an agent's refund ----------------------------------------------------------------------


def prepare_refund(
    session: Session,
    outbox: Outbox,
    order_summary_id: str,
    payment_summary_id: str,
    amount: Money,
    reason: str | None = None,
) -> list[str]:
    """Record PENDING refunds of `amount` on one payment summary, with no credit memo (sent
    by `send_pending_refunds`); returns the refund ids. More than available to refund
    (captured + pending capture − refunded − pending refund), or than its PROCESSED
    captures still hold, → 409 `refund_exceeds_captured`, nothing recorded."""
    summary, _, ps = _checked(session, order_summary_id, payment_summary_id, amount)
    currency = summary.currency
    available = balance_of(ps).available_to_refund
    if amount.minor > available:
        raise RefundExceedsCaptured(
            f"cannot refund {amount} {currency}: {format_minor(available, currency)} is "
            f"available to refund on payment summary {ps.id}",
            available_to_refund=format_minor(available, currency),
        )
    payments = _refundable(session, ps.id)
    plan = plan_refunds(amount.minor, [(p.id, left) for p, left in payments.values()])
    if plan.shortfall:
        settled = format_minor(amount.minor - plan.shortfall, currency)
        raise RefundExceedsCaptured(
            f"cannot refund {amount} {currency} yet: only {settled} is captured and settled on "
            f"payment summary {ps.id}; the rest is still being captured",
            available_to_refund=settled,
        )
    now = utcnow()
    ids = []
    for payment_id, part in plan.parts:
        payment = payments[payment_id][0]
        prefix = agent_refund_key(payment.id, 0)[:-1]
        n = session.scalar(
            select(func.count()).where(
                m.Refund.payment_id == payment.id,
                m.Refund.idempotency_key.startswith(prefix, autoescape=True),
            )
        )
        refund = m.Refund(
            id=new_id("rf"),
            order_payment_summary_id=ps.id,
            payment_id=payment.id,
            credit_memo_id=None,
            amount=part,
            status=PaymentStatus.PENDING.value,
            idempotency_key=agent_refund_key(payment.id, int(n or 0) + 1),
            created_at=now,
            updated_at=now - LEASE,  # not leased: `send_pending_refunds` (or the job) takes it
        )
        session.add(refund)
        ps.pending_refund += part
        session.flush()
        payload = {
            "refund_id": refund.id,
            "order_summary_id": summary.id,
            "order_payment_summary_id": ps.id,
            "payment_id": payment.id,
            "credit_memo_id": None,
            "amount": part,
            "status": refund.status,
            "kind": "agent",
            "reason": reason,
        }
        event = DomainEvent("refund.requested", "refund", refund.id, payload, summary.id)
        outbox.record(session, [event])
        ids.append(refund.id)
    return ids


def _refundable(session: Session, payment_summary_id: str) -> dict[str, tuple[m.Payment, int]]:
    """The payment summary's PROCESSED captures with what is left to refund on each (amount
    less every refund that is not FAILED), oldest first."""
    taken = (
        select(m.Refund.payment_id, func.sum(m.Refund.amount).label("amount"))
        .where(m.Refund.status != PaymentStatus.FAILED.value)
        .group_by(m.Refund.payment_id)
        .subquery()
    )
    rows = session.execute(
        select(m.Payment, func.coalesce(taken.c.amount, 0))
        .outerjoin(taken, taken.c.payment_id == m.Payment.id)
        .where(
            m.Payment.order_payment_summary_id == payment_summary_id,
            m.Payment.status == PaymentStatus.PROCESSED.value,
        )
        .order_by(m.Payment.created_at, m.Payment.id)
    )
    return {p.id: (p, p.amount - int(done)) for p, done in rows}


def send_pending_refunds(
    db: Database, outbox: Outbox, gateways: Gateways, order_summary_id: str, refund_ids: list[str]
) -> list[tuple[GatewayCall, GatewayResponse]]:
    """Send those of `refund_ids` still PENDING and not leased by another caller (each with
    its own key), with no transaction open, and settle them. One left PENDING (soft decline,
    no answer) queues the ensure-refunds job, which resends it with the same key."""

    def prepare() -> list[GatewayCall]:
        with db.transaction() as session:
            return _lease_refunds(session, order_summary_id, refund_ids)

    return send_and_settle(
        db, outbox, gateways, order_summary_id, retry_transient(prepare), _settle_agent_refund
    )


def _lease_refunds(
    session: Session, order_summary_id: str, refund_ids: list[str]
) -> list[GatewayCall]:
    summary = locked_summary(session, order_summary_id)
    now = utcnow()
    refunds = session.scalars(
        select(m.Refund)
        .where(
            m.Refund.id.in_(refund_ids),
            m.Refund.status == PaymentStatus.PENDING.value,
            m.Refund.updated_at <= now - LEASE,
        )
        .order_by(m.Refund.created_at, m.Refund.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    calls = []
    for refund in refunds:
        ps = session.get(m.OrderPaymentSummary, refund.order_payment_summary_id)
        payment = session.get(m.Payment, refund.payment_id)
        assert ps is not None
        assert payment is not None
        if ps.order_summary_id != summary.id:
            continue
        refund.updated_at = now
        request = GatewayRequest(
            refund.idempotency_key,
            ps.token,
            refund.amount,
            summary.currency,
            payment.gateway_reference,
        )
        calls.append(GatewayCall(refund.id, ps.id, ps.gateway, GatewayOperation.REFUND, request))
    session.flush()
    return calls


def _settle_agent_refund(
    session: Session,
    outbox: Outbox,
    order_summary_id: str,
    call: GatewayCall,
    response: GatewayResponse,
) -> None:
    status = settle_refund(session, outbox, call, response, now=utcnow())
    if status == PaymentStatus.PENDING:  # no job owns it yet: queue one to resend it
        enqueue(
            session,
            REFUND_JOB,
            f"{REFUND_JOB}:{order_summary_id}:refund:{call.row_id}",
            {"order_summary_id": order_summary_id},
            available_at=utcnow() + timedelta(seconds=30),
        )


def refund_payment(
    db: Database,
    outbox: Outbox,
    gateways: Gateways,
    order_summary_id: str,
    payment_summary_id: str,
    amount: Money,
    reason: str | None = None,
) -> list[str]:
    """Refund `amount` on a payment summary now, with no credit memo (prepare, send,
    settle); returns the refund ids."""

    def prepare() -> list[str]:
        with db.transaction() as session:
            return prepare_refund(
                session, outbox, order_summary_id, payment_summary_id, amount, reason
            )

    ids = retry_transient(prepare)
    send_pending_refunds(db, outbox, gateways, order_summary_id, ids)
    return ids

"""An agent's refund on one payment method, outside any document (DESIGN.md §12).

`prepare_refund` / `send_pending_refunds` work like an agent's capture (payments/actions.py):
money given back by an agent's decision, with no credit memo behind it (a goodwill gesture,
a price match). It is planned over the payment summary's PROCESSED captures with
`plan_refunds` (exact match, else the smallest covering, else several, largest first), each
part a PENDING Refund with `credit_memo_id` NULL and the key `refund:agent:{payment_id}:{n}`,
settled by the same `settle_refund` as a memo's refund. An unanswered or soft-declined one
stays PENDING and the ensure-refunds job resends it with its key. Reconciliation lists these
refunds as "refunded without credit memo" (services/finance/reconciliation.py): no document
owes them, so they are set aside from `outstanding` rather than reported as a mismatch.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.ids import new_id
from openoms.adapters.db.models import utcnow
from openoms.adapters.db.repositories import payments as repo
from openoms.adapters.db.session import Database, retry_transient
from openoms.adapters.jobs import enqueue
from openoms.adapters.outbox import Outbox
from openoms.adapters.payments import Gateways
from openoms.domain.errors import DomainError, RefundExceedsCaptured
from openoms.domain.events import DomainEvent
from openoms.domain.finance import plan_refunds
from openoms.domain.money import Money, format_minor
from openoms.domain.payments import PaymentStatus, agent_refund_key
from openoms.domain.ports import GatewayRequest, GatewayResponse
from openoms.services.orders import locked_summary
from openoms.services.payments.actions import checked_payment_summary
from openoms.services.payments.gateway_calls import (
    GatewayCall,
    GatewayOperation,
    balance_of,
    send_and_settle,
)
from openoms.services.payments.refund_keys import LEASE, REFUND_JOB
from openoms.services.payments.refund_settlement import settle_refund


class RefundDeclined(DomainError):
    code = "refund_declined"
    status = 402
    title = "The payment gateway refused the refund"


def prepare_refund(
    session: Session,
    outbox: Outbox,
    order_summary_id: str,
    payment_summary_id: str,
    amount: Money,
    reason: str | None = None,
    requested_by: str | None = None,
) -> list[str]:
    """Record PENDING refunds of `amount` on one payment summary, with no credit memo (sent
    by `send_pending_refunds`); returns the refund ids. `requested_by` (`api_key:<id>`,
    `user:<email>`) goes on each `refund.requested` event. More than available to refund
    (captured + pending capture − refunded − pending refund), or than its PROCESSED
    captures still hold, → 409 `refund_exceeds_captured`, nothing recorded."""
    summary, _, ps = checked_payment_summary(session, order_summary_id, payment_summary_id, amount)
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
    return [
        _new_agent_refund(
            session, outbox, summary, ps, payments[payment_id][0], part, (reason, requested_by), now
        )
        for payment_id, part in plan.parts
    ]


def _new_agent_refund(
    session: Session,
    outbox: Outbox,
    summary: m.OrderSummary,
    ps: m.OrderPaymentSummary,
    payment: m.Payment,
    part: int,
    why: tuple[str | None, str | None],
    now: datetime,
) -> str:
    """One PENDING refund of `part` on `payment`, keyed `refund:agent:{payment_id}:{n}`, with
    its `refund.requested` event; returns its id."""
    prefix = agent_refund_key(payment.id, 0)[:-1]
    n = repo.count_refunds_keyed(session, payment.id, prefix)
    refund = m.Refund(
        id=new_id("rf"),
        order_payment_summary_id=ps.id,
        payment_id=payment.id,
        credit_memo_id=None,
        amount=part,
        status=PaymentStatus.PENDING.value,
        idempotency_key=agent_refund_key(payment.id, n + 1),
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
        "reason": why[0],
    }
    if why[1]:
        payload["requested_by"] = why[1]
    event = DomainEvent("refund.requested", "refund", refund.id, payload, summary.id)
    outbox.record(session, [event])
    return refund.id


def _refundable(session: Session, payment_summary_id: str) -> dict[str, tuple[m.Payment, int]]:
    """The payment summary's PROCESSED captures with what is left to refund on each (amount
    less every refund that is not FAILED), oldest first."""
    rows = repo.refundable_payments_of(session, payment_summary_id)
    return {p.id: (p, p.amount - done) for p, done in rows}


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
    refunds = repo.lock_unleased_refunds(session, refund_ids, now - LEASE)
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
